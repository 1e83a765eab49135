"""Deep Compression's accuracy step by step, cross-validated on the digits set (bench/reproduce.py, DC).

The 450-image test split resolves 0.22 points per image, too coarse to tell a half-point loss
from noise. Here every setting runs on the 4 folds of ``load_digits_split(fold=k)`` (disjoint
test sets, 1797 images together), each fold with its own float model trained by the examples'
recipe (``examples/make_examples.py``: 30 epochs, lr 0.05, seed = fold; fold 0's is
``examples/digits_*.ir`` bit for bit, checked). Each (fold, seed) run goes through hwq's own
stages (``hwq.compress.stages``, the ones ``compress_model`` chains) and scores the test images
after each:

* ``pruned``    -- pruning with its retraining rounds (float weights);
* ``shared``    -- k-means sharing without fine-tuning (the same clustering, retraining off);
* ``finetuned`` -- sharing with centroid fine-tuning (what the method outputs, float semantics);
* ``int8``      -- the golden integer model (``run_int``) after 8-bit activation calibration.

``check_method`` runs one setting through ``hwq compress --method deep-compression``'s code
path and requires the same integer-model accuracy, so the staged numbers are the method's.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np

from hwq import ir
from hwq.compress.methods.options import MethodParams
from hwq.compress.methods.run import compress_model_method
from hwq.compress.pipeline import CompressOptions
from hwq.compress.stages import State, float_model
from hwq.compress.stages.calibrate import calibrate
from hwq.compress.stages.encode import encode
from hwq.compress.stages.prune import prune
from hwq.compress.stages.quantize import quantize
from hwq.compress.stages.report import summary
from hwq.data.digits import load_digits_split
from hwq.train.evaluate import accuracy
from hwq.train.sgd import to_float_model, train
from hwq.train.zoo import lenet5_digits, mlp_300_100

ROOT = Path(__file__).resolve().parents[1]
FOLDS = 4
STAGES = ("float", "pruned", "shared", "finetuned", "int8")
_SPLITS = [load_digits_split(fold=k) for k in range(FOLDS)]
_FLOAT: dict = {}


def split(fold: int):
    return _SPLITS[fold]


def float_net(kind: str, fold: int) -> ir.Model:
    """The float model of ``fold`` (``kind`` "mlp" or "lenet"), trained as the examples are."""
    if (kind, fold) not in _FLOAT:
        d = split(fold)
        m = (mlp_300_100 if kind == "mlp" else lenet5_digits)(fold)
        m = to_float_model(m, train(m, d.x_train, d.y_train, epochs=30, lr=0.05, seed=fold))
        if fold == 0:  # the shipped example is this recipe on fold 0
            shipped = ir.load(ROOT / "examples" / f"digits_{kind}.ir")
            assert all(np.array_equal(a.weight.dense_float(), b.weight.dense_float())
                       for a, b in zip(m.weighted(), shipped.weighted())), f"fold 0 != digits_{kind}.ir"
        _FLOAT[kind, fold] = m
    return _FLOAT[kind, fold]


def _correct(model, d, mode="float") -> int:
    return int(round(accuracy(model, d.x_test, d.y_test, mode) * len(d.y_test)))


def staged(model: ir.Model, d, opts: CompressOptions) -> dict:
    """Test images right after each stage, and the rates of the result."""
    plan = opts.plan(model)
    st = State.of(model)
    base = float_model(model, st)
    out = {"float": _correct(model, d)}
    prune(plan, base, st, d, None)
    out["pruned"] = _correct(float_model(base, st), d)
    no_ft = copy.deepcopy(st)
    quantize(dataclasses.replace(plan, retrain_epochs=0), base, no_ft, d, None)
    out["shared"] = _correct(float_model(base, no_ft), d)
    specs = quantize(plan, base, st, d, None)
    out["finetuned"] = _correct(float_model(base, st), d)
    enc = encode(plan, base, st, specs)
    out["int8"] = _correct(calibrate(plan, enc, d.x_train), d, "int")
    s = summary(enc, None)
    out.update(n=len(d.y_test), rate=1 / s["rate"], rate_h=1 / s["rate_huffman"],
               rate32=1 / s["rate_codebook_32"], rate32_h=1 / s["rate_huffman_codebook_32"])
    return out


def options(seed: int, **kw) -> CompressOptions:
    """The method's settings as CompressOptions (deep_compression.compress builds the same)."""
    return CompressOptions(data="digits", seed=seed, act_bits=8, **kw)


def cross_validate(kind: str, seeds, **kw) -> dict:
    """Every fold x seed; per stage the accuracy pooled over the 1797 images (mean over seeds),
    and per seed the pooled loss of the int8 model against float (points)."""
    rows = {s: [staged(float_net(kind, k), split(k), options(s, **kw)) for k in range(FOLDS)] for s in seeds}
    n = sum(r["n"] for r in rows[seeds[0]])
    pooled = {st: [100 * sum(r[st] for r in rows[s]) / n for s in seeds] for st in STAGES}
    every = [r for s in seeds for r in rows[s]]
    return {"acc": {st: float(np.mean(v)) for st, v in pooled.items()},
            "loss": [pooled["int8"][i] - pooled["float"][i] for i in range(len(seeds))],
            "loss_ft": [pooled["finetuned"][i] - pooled["float"][i] for i in range(len(seeds))],
            "per_fold": [[100 * (r["int8"] - r["float"]) / r["n"] for r in rows[s]] for s in seeds],
            **{k: float(np.mean([r[k] for r in every])) for k in ("rate", "rate_h", "rate32", "rate32_h")},
            "images": n}


def check_method(kind: str, seed: int = 0, **kw) -> None:
    """``--method deep-compression`` on fold 0 gives the staged run's integer-model accuracy."""
    d = split(0)
    got = staged(float_net(kind, 0), d, options(seed, **kw))["int8"]
    p = MethodParams(method="deep-compression", data="digits", seed=seed, act_bits=8,
                     **{k: v for k, v in kw.items()})
    res = compress_model_method(float_net(kind, 0), d, p)
    assert _correct(res.model, d, "int") == got, "the staged run is not the method's"
