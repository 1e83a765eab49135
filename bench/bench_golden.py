"""Golden model speed: integer semantics vs the float64 reference, and the matmul fast path.

1. ``hwq.golden.run_int`` vs ``run_float`` on the shipped int8 digits models, whole
   450-sample test set per call: samples/s of each and the int/float time ratio (the
   price of bit-exact fixed-point requantization over plain float64).
2. ``hwq.golden.int_matmul.PreparedWeight`` (exact-bound check, then float64 BLAS) vs the
   exact int64 ``x @ w.T`` it replaces, on an int8 x int8 layer cut from a 4096x4096
   EIE-class layer: time ratio, and the two results must be identical.
"""

from __future__ import annotations

import numpy as np

from _common import EXAMPLES, Row, check, side_by_side

TITLE = "golden: run_int vs run_float, int matmul fast path"


def _models(quick: bool):
    from hwq import ir
    x = np.load(EXAMPLES / "digits_test_x.npy")
    out = []
    for stem in ("digits_mlp_int8", "digits_lenet_int8"):
        model = ir.load(EXAMPLES / f"{stem}.ir")
        shape = tuple(model.inputs[0].shape)
        out.append((stem, model, x.reshape((x.shape[0],) + shape)))
    return out


def bench_run(quick: bool) -> list[Row]:
    from hwq import golden
    rows = []
    repeat = 3 if quick else 15
    for stem, model, xs in _models(quick):
        n = xs.shape[0]
        t = side_by_side({"int": lambda: golden.run_int(model, xs),
                          "float": lambda: golden.run_float(model, xs)}, repeat)
        # sanity: both agree on most predictions (the int model is a quantized approximation)
        out = model.outputs[0]
        yi = golden.run_int(model, xs)[out]
        yf = golden.run_float(model, xs)[out]
        agree = float(np.mean(np.argmax(yi, axis=1) == np.argmax(yf, axis=1)))
        check(agree > 0.9, f"{stem}: int and float predictions agree on only {agree:.0%}")
        rows += [Row(stem, "run_int", n / t["int"], "samples/s"),
                 Row(stem, "run_float", n / t["float"], "samples/s"),
                 Row(stem, "int/float time", t["int"] / t["float"], "x"),
                 Row(stem, "argmax agreement", f"{agree:.1%}", "")]
    return rows


def bench_matmul(quick: bool) -> list[Row]:
    from hwq.golden.int_matmul import PreparedWeight
    from hwq.ir import Int8Values, Weight
    rng = np.random.default_rng(0)
    shapes = [(256, 1024, 64)] if quick else [(256, 1024, 64), (1024, 4096, 64)]
    rows = []
    for o, i, b in shapes:
        x = rng.integers(-128, 128, (b, i), dtype=np.int64)   # int8 activations - zero point
        w = rng.integers(-127, 128, (o, i), dtype=np.int64)   # int8 weights
        bound = int(np.abs(x).max()) * int(np.abs(w).sum(axis=1).max())
        check(bound * 1.01 < 2**52, "test layer must take the float64 fast path")
        pw = PreparedWeight(Weight((o, i), Int8Values(w.astype(np.int8).ravel(), np.ones(1, np.float32))), 256)
        _int_matmul = lambda x, w: pw.matmul(x).top  # noqa: E731  (one float64 limb: exact)
        fast = _int_matmul(x, w)
        exact = x @ w.T
        case = f"W {o}x{i}, batch {b}"
        rows.append(Row(case, "fast == exact", check(np.array_equal(fast, exact)
                                                     and fast.dtype == exact.dtype,
                                                     f"{case}: float64 fast path differs"), ""))
        t = side_by_side({"fast": lambda: _int_matmul(x, w), "exact": lambda: x @ w.T},
                         5 if quick else 9)
        macs = o * i * b
        rows += [Row(case, "fast path (f64 BLAS)", macs / t["fast"] / 1e9, "GMAC/s"),
                 Row(case, "exact int64 matmul", macs / t["exact"] / 1e9, "GMAC/s"),
                 Row(case, "exact/fast time", t["exact"] / t["fast"], "x")]
    return rows


def run(quick: bool = False) -> list[Row]:
    return bench_run(quick) + bench_matmul(quick)
