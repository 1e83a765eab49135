"""Integer kernels of the golden model, one per layer kind (docs/semantics.md).

Inputs and outputs are int64 arrays with a leading batch axis holding values of the
declared activation width; weights come from ``Weight.dense_int()``.
"""

from __future__ import annotations

import numpy as np

from hwq.errors import SemanticsError
from hwq.golden.fixedpoint import divide_round_half_away, saturate
from hwq.golden.requantize import rescale, to_output
from hwq.golden.windows import pad_nchw, windows
from hwq.ir.layers import Add, AvgPool, Conv2d, Dense, WeightedLayer
from hwq.ir.quant import QuantParams

def _int_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w.T exactly, whatever the magnitudes (int64 container values).

    Every partial sum is bounded by max|x| * max_o sum_i |w[o, i]|, estimated in float64
    (relative error far below the 1% margin). Below 2^52 a float64 BLAS product is exact;
    below 2^62 int64 is; beyond that (e.g. 7-bit pow2 codes, w = 2^62) Python integers are.
    """
    xmax = float(np.abs(x).max(initial=0))
    wsum = float(np.abs(w.astype(np.float64)).sum(axis=1).max(initial=0.0))
    bound = xmax * wsum * 1.01
    if bound < 2.0**52:
        return np.rint(x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)
    if bound < 2.0**62:
        return x @ w.T
    return x.astype(object) @ w.T.astype(object)


def check_accumulator(layer: WeightedLayer, acc: np.ndarray) -> np.ndarray:
    """The exact sum must fit acc_bits (docs/semantics.md section 6); returns it as int64.

    ``acc`` has the batch on axis 0. An overflow raises SemanticsError naming the lowest
    overflowing batch index (``err.sample``) and carrying all of them (``err.samples``).
    """
    lo, hi = -(1 << (layer.acc_bits - 1)), (1 << (layer.acc_bits - 1)) - 1
    if acc.size:
        flat = acc.reshape(acc.shape[0], -1)
        top, bottom = flat.max(axis=1), flat.min(axis=1)
        bad = (top > hi) | (bottom < lo)
        if bad.any():
            samples = tuple(int(i) for i in np.flatnonzero(bad))
            n = samples[0]
            value = int(top[n]) if top[n] > hi else int(bottom[n])
            raise SemanticsError(f"{layer.name}: accumulator value {value} overflows acc_bits = "
                                 f"{layer.acc_bits} (sample {n})", layer=layer.name, sample=n,
                                 samples=samples)
    return acc.astype(np.int64)


def accumulate_dense(layer: Dense, x: np.ndarray, in_q: QuantParams) -> np.ndarray:
    w = layer.weight.dense_int()
    acc = _int_matmul(x - in_q.zero_point, w)
    if layer.bias_q is not None:
        acc = acc + layer.bias_q.astype(np.int64)
    return check_accumulator(layer, acc)


def dense(layer: Dense, x: np.ndarray, in_q: QuantParams) -> np.ndarray:
    acc = accumulate_dense(layer, x, in_q)
    return to_output(rescale(acc, layer.requant, channel_axis=1), layer.quant)


def accumulate_conv(layer: Conv2d, x: np.ndarray, in_q: QuantParams) -> np.ndarray:
    # padding holds the real zero, i.e. (x - zero_point) == 0
    xz = pad_nchw(x - in_q.zero_point, layer.padding, 0)
    cols = windows(xz, layer.kernel, layer.stride)  # (N, OH, OW, C, KH, KW)
    n, oh, ow = cols.shape[:3]
    w = layer.weight.dense_int().reshape(layer.out_channels, -1)
    acc = _int_matmul(cols.reshape(n * oh * ow, -1), w)  # (N*OH*OW, O)
    acc = acc.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)
    if layer.bias_q is not None:
        acc = acc + layer.bias_q.astype(np.int64).reshape(1, -1, 1, 1)
    return check_accumulator(layer, acc)


def conv2d(layer: Conv2d, x: np.ndarray, in_q: QuantParams) -> np.ndarray:
    acc = accumulate_conv(layer, x, in_q)
    return to_output(rescale(acc, layer.requant, channel_axis=1), layer.quant)


def relu(x: np.ndarray, q: QuantParams) -> np.ndarray:
    return np.maximum(x, q.zero_point)


def avgpool(layer: AvgPool, x: np.ndarray, q: QuantParams) -> np.ndarray:
    s = windows(x - q.zero_point, layer.kernel, layer.stride).sum(axis=(4, 5))
    avg = divide_round_half_away(s, layer.kernel[0] * layer.kernel[1]) + q.zero_point
    return saturate(avg, q.qmin, q.qmax).transpose(0, 3, 1, 2)


def add(layer: Add, a: np.ndarray, qa: QuantParams, b: np.ndarray, qb: QuantParams) -> np.ndarray:
    ra = rescale(a - qa.zero_point, layer.requant[0], channel_axis=0)
    rb = rescale(b - qb.zero_point, layer.requant[1], channel_axis=0)
    return saturate(ra + rb + layer.quant.zero_point, layer.quant.qmin, layer.quant.qmax)
