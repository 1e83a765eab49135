"""Deep Compression (seed 002, Han, Mao, Dally) as one method: iterative pruning with
retraining, k-means weight sharing with centroid fine-tuning, Huffman sizing.

It chains hwq's existing steps (``hwq.compress.pipeline.compress_model``): ``--prune-steps S``
rounds of magnitude pruning toward the per-layer rates r_l, the round-s rate being
1 - (1 - r_l)^(s/S) (geometric, so every round removes the same fraction of what is left),
each followed by masked retraining (``--retrain-epochs``); the last round also shares the
surviving weights (``--share-bits``, ``--init``) and fine-tunes the centroids. Pruned layers
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
    if p.prune_steps > 1 and p.prune is None:
        raise HwqError("--prune-steps works with --prune rates, not --prune-quality")
    names = [l.name for l in model.weighted()]
    current = model
    common = dict(init=p.init, sparse=p.sparse, index_bits=p.index_bits, value_bits=p.value_bits,
                  retrain_epochs=p.retrain_epochs,
                  lr=p.lr, data=p.data, seed=p.seed)
    if p.prune is not None:
        final = _rates(p.prune, names)
        for s in range(1, p.prune_steps):
            rates = {n: 1 - (1 - r) ** (s / p.prune_steps) for n, r in final.items()}
            if log:
                log(f"prune round {s}/{p.prune_steps}: " + ", ".join(f"{n} {r:.3f}" for n, r in rates.items()))
            current = compress_model(current, CompressOptions(prune=rates, **common), data, log)
        prune = final
    else:
        prune = None
    out = compress_model(current, CompressOptions(prune=prune, prune_quality=p.prune_quality,
                                                  share_bits=p.share_bits, **common), data, log)
    report = [f"{'layer':8}{'#weights':>10}{'weights%':>10}{'wbits':>7}{'wbits H':>8}{'ibits':>7}"
              f"{'ibits H':>8}{'rate':>8}{'rate H':>8}"]
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
                      f"{b['index_bits_huffman']:>8.2f}{compression_rate(s):>8.2%}{compression_rate(s, True):>8.2%}")
    report.append(f"Deep Compression rate {1 / compression_rate(total):.1f}x (P+Q), "
                  f"{1 / compression_rate(total, True):.1f}x (P+Q+H)")
    prov = {"prune": prune, "prune_quality": p.prune_quality, "prune_steps": p.prune_steps,
            "share_bits": p.share_bits, "init": p.init, "retrain_epochs": p.retrain_epochs,
            "index_bits": p.index_bits, "value_bits": p.value_bits,
            "table": {n: {"weights_pct": s.nnz / (s.dense_float_bits // 32), **bits_per_weight(s),
                          "rate": compression_rate(s), "rate_huffman": compression_rate(s, True)}
                      for n, s in rows.items()}}
    return MethodResult(out, report, prov)
