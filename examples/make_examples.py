"""Regenerate the example models in this folder, deterministically.

Trains the two float models on scikit-learn's digits (offline; the data ships with
scikit-learn), compresses each into several variants with ``hwq.compress``, and writes
``*.ir``, the test split as ``digits_test_x.npy`` / ``digits_test_y.npy``, ``results.json`` and
the accuracy table in ``README.md``. Run: ``python examples/make_examples.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from hwq import ir
from hwq.compress.pipeline import CompressOptions, compress_model, summary
from hwq.data.digits import load_digits_split
from hwq.ir.storage import StorageBits, layer_storage
from hwq.train.sgd import to_float_model, train
from hwq.train.zoo import lenet5_digits, mlp_300_100

HERE = Path(__file__).resolve().parent
SEED = 0

# name -> (base model, options); act_bits 8 everywhere so every variant runs bit-exactly
VARIANTS = {
    "mlp_int8": ("mlp", CompressOptions(int8=True, act_bits=8, data="digits")),
    "mlp_pruned_shared": ("mlp", CompressOptions(prune=0.9, share_bits=5, retrain_epochs=8, lr=0.02,
                                                 act_bits=8, data="digits")),
    "mlp_pow2": ("mlp", CompressOptions(prune=0.8, pow2_bits=5, retrain_epochs=8, lr=0.02,
                                        act_bits=8, pow2_act=True, data="digits")),
    # Q-CNN fixes the sub-vector dimension per layer: 4 subspaces of 64/4, 300/4 and 100/4 inputs
    "mlp_pq": ("mlp", CompressOptions(scheme="fc1=pq:16:32,fc2=pq:75:32,fc3=pq:25:32", retrain_epochs=8,
                                      lr=0.02, act_bits=8, data="digits")),
    "lenet_int8": ("lenet", CompressOptions(int8=True, act_bits=8, data="digits")),
    "lenet_pruned_shared": ("lenet", CompressOptions(prune=0.7, share_bits=5, retrain_epochs=8, lr=0.02,
                                                     act_bits=8, data="digits")),
    "lenet_pow2": ("lenet", CompressOptions(prune=0.5, pow2_bits=5, retrain_epochs=8, lr=0.02,
                                            act_bits=8, pow2_act=True, data="digits")),
}


def train_base(data):
    mlp = mlp_300_100(SEED)
    mlp = to_float_model(mlp, train(mlp, data.x_train, data.y_train, epochs=30, lr=0.05, seed=SEED))
    lenet = lenet5_digits(SEED)
    lenet = to_float_model(lenet, train(lenet, data.x_train, data.y_train, epochs=30, lr=0.05, seed=SEED))
    mlp.name, lenet.name = "digits_mlp", "digits_lenet"
    for m in (mlp, lenet):
        m.provenance = {**m.provenance, "data": "sklearn digits, hwq.data.digits split seed 0",
                        "trained": "hwq.train.sgd 30 epochs lr 0.05 momentum 0.9 batch 64"}
    return {"mlp": mlp, "lenet": lenet}


def row(name, model, data):
    s = summary(model, data)
    total = sum((layer_storage(l) for l in model.weighted()), StorageBits())
    return {"file": f"digits_{name}.ir", "acc_float": s["acc_float"], "acc_int": s["acc_int"],
            "storage_bytes": (total.total + 7) // 8, "compression": 1 / s["rate"],
            "compression_huffman": 1 / s["rate_huffman"], "density": total.nnz / (total.dense_float_bits // 32)}


def main(out: Path = HERE) -> None:
    data = load_digits_split(seed=SEED)
    bases = train_base(data)
    results = {}
    for key, m in bases.items():
        ir.save(m, out / f"digits_{key}.ir")
        results[key] = row(key, m, data)
        print(key, results[key], flush=True)
    for name, (base, opts) in VARIANTS.items():
        m = compress_model(bases[base], opts, data)
        m.name = f"digits_{name}"
        ir.save(m, out / f"digits_{name}.ir")
        results[name] = row(name, m, data)
        print(name, results[name], flush=True)
    np.save(out / "digits_test_x.npy", data.x_test.astype(np.float32))
    np.save(out / "digits_test_y.npy", data.y_test.astype(np.int64))
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    write_readme(out, results)
    if out == HERE:
        update_top_readme(results)


def table(results: dict) -> list[str]:
    lines = ["| file | density | storage (bytes) | compression | + Huffman | acc float | acc int |",
             "|---|---|---|---|---|---|---|"]
    for r in results.values():
        acc_i = f"{r['acc_int']:.2%}" if r["acc_int"] is not None else "-"
        lines.append(f"| `{r['file']}` | {r['density']:.1%} | {r['storage_bytes']} | {r['compression']:.1f}x | "
                     f"{r['compression_huffman']:.1f}x | {r['acc_float']:.2%} | {acc_i} |")
    return lines


def update_top_readme(results: dict) -> None:
    """Refresh the table between the markers in the project README (only for this folder)."""
    readme = HERE.parent / "README.md"
    text = readme.read_text()
    start, end = "<!-- examples-table -->", "<!-- /examples-table -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(head + start + "\n" + "\n".join(table(results)) + "\n" + end + tail)


def write_readme(out: Path, results: dict) -> None:
    lines = ["# Example models (scikit-learn digits)", "",
             "Generated by `python examples/make_examples.py` (deterministic; `make examples`).",
             "Test split: 450 of the 1797 8x8 digits, stratified (`hwq.data.digits`, seed 0).",
             "Accuracy: *float* = `hwq.golden.run_float` (the weights as encoded, no activation",
             "rounding); *int* = `hwq.golden.run_int`, the bit-exact integer model every back end must",
             "match. Compression = dense float32 weights / (payload + index + codebook bits), Deep",
             "Compression's accounting (see `hwq/ir/storage.py`); storage counts every part incl.",
             "pointers and biases.", ""] + table(results)
    lines += ["", "Variants: `int8` = per-channel int8 weights; `pruned_shared` = magnitude pruning +",
              "5-bit k-means weight sharing (index 0 = zero) with centroid fine-tuning, CSC with 4-bit",
              "relative indices; `pow2` = pruning + 5-bit power-of-two weights quantized incrementally",
              "(INQ) with power-of-two activation scales, so every requantization is a shift;",
              "`pq` = Q-CNN product quantization, 4 subspaces x 32 sub-codewords per layer, with",
              "codebook fine-tuning.",
              "All variants use 8-bit activations.", ""]
    (out / "README.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
