"""Deep Compression (seed 002, Han, Mao, Dally) as one method: iterative pruning with
retraining, k-means weight sharing with centroid fine-tuning, Huffman sizing.

It is hwq's plain pipeline (``hwq.compress.pipeline.compress_model``) with Deep Compression's
settings: ``--prune-steps S`` rounds of magnitude pruning toward the per-layer rates r_l, the
round-s rate being 1 - (1 - r_l)^(s/S) (geometric, so every round removes the same fraction of
what is left), each followed by masked retraining (``--retrain-epochs``; the prune stage,
``hwq/compress/stages/prune.py``); then sharing of the surviving weights (``--share-bits``,
``--init``) and centroid fine-tuning. Pruned layers
are stored CSC with ``--index-bits`` relative indices; Huffman coding is sized on the real
histograms (``hwq.ir.huffman``).

The report is the paper's per-layer table (Tables 2-5): weights %, weight bits (P+Q and
P+Q+H), index bits (P+Q and P+Q+H), and the compress rate with and without Huffman.
"""

from __future__ import annotations

from hwq.compress.methods.result import MethodResult
from hwq.errors import HwqError
from hwq.ir.storage import StorageBits, bits_per_weight, compression_rate, layer_storage


def _rates(prune, names):
    from hwq.compress.pipeline import for_layer

    return {n: float(for_layer(prune, n, 0.0)) for n in names}


def compress(model, data, p, log=None) -> MethodResult:
    from hwq.compress.pipeline import CompressOptions, compress_model

    if p.share_bits is None:
        raise HwqError("--method deep-compression needs --share-bits (e.g. 5, or conv1=8,*=5)")
    if p.prune is None and p.prune_quality is None:
        raise HwqError("--method deep-compression needs --prune RATE (or per layer fc1=0.92,*=0.9)")
    names = [l.name for l in model.weighted()]
    prune = _rates(p.prune, names) if p.prune is not None else None
    opts = CompressOptions(prune=prune, prune_quality=p.prune_quality, prune_steps=p.prune_steps,
                           share_bits=p.share_bits, init=p.init or "linear", sparse=p.sparse, index_bits=p.index_bits,
                           value_bits=p.value_bits, retrain_epochs=p.retrain_epochs, lr=p.lr, data=p.data,
                           seed=p.seed)
    opts.check()  # --prune-steps with --prune-quality, and the rest, refused in one line
    out = compress_model(model, opts, data, log)
    report = [f"{'layer':8}{'#weights':>10}{'weights%':>10}{'wbits':>7}{'wbits H':>8}{'ibits':>7}"
              f"{'ibits H':>8}{'rate':>8}{'rate H':>8}{'rate32':>8}{'rate32 H':>9}"]
    total = StorageBits()
    rows = {}
    for l in out.weighted():
        s = layer_storage(l)
        total = total + s
        rows[l.name] = s
    for name, s in [*rows.items(), ("total", total)]:
        b = bits_per_weight(s)
        report.append(f"{name:8}{s.dense_float_bits // 32:>10}{s.nnz / (s.dense_float_bits // 32):>10.1%}"
                      f"{b['weight_bits']:>7.2f}{b['weight_bits_huffman']:>8.2f}{b['index_bits']:>7.2f}"
                      f"{b['index_bits_huffman']:>8.2f}{compression_rate(s):>8.2%}{compression_rate(s, True):>8.2%}"
                      f"{compression_rate(s, codebook_32=True):>8.2%}{compression_rate(s, True, True):>9.2%}")
    report.append(f"Deep Compression rate {1 / compression_rate(total):.1f}x (P+Q), "
                  f"{1 / compression_rate(total, True):.1f}x (P+Q+H); with the paper's 32-bit codebook entries "
                  f"(rate32) {1 / compression_rate(total, codebook_32=True):.1f}x / "
                  f"{1 / compression_rate(total, True, True):.1f}x")
    report.append(f"retraining: {p.prune_steps} prune round{'s' if p.prune_steps > 1 else ''} and the "
                  f"centroid fine-tuning, {p.retrain_epochs} epochs each at lr {p.lr:g}" if p.retrain_epochs
                  else "no retraining (give --data to retrain)")
    prov = {"prune": prune, "prune_quality": p.prune_quality, "prune_steps": p.prune_steps,
            "share_bits": p.share_bits, "init": p.init or "linear", "retrain_epochs": p.retrain_epochs, "lr": p.lr,
            "index_bits": p.index_bits, "value_bits": p.value_bits,
            "table": {n: {"weights_pct": s.nnz / (s.dense_float_bits // 32), **bits_per_weight(s),
                          "rate": compression_rate(s), "rate_huffman": compression_rate(s, True),
                          "rate_codebook_32": compression_rate(s, codebook_32=True),
                          "rate_huffman_codebook_32": compression_rate(s, True, True)}
                      for n, s in rows.items()}}
    return MethodResult(out, report, prov)
