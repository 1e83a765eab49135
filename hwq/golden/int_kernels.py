"""Integer kernels of the golden model, one per layer kind (docs/semantics.md).

Inputs and outputs are int64 arrays with a leading batch axis holding values of the
declared activation width; weights are used through ``int_matmul.PreparedWeight`` (exact
products, sparse weights kept sparse).
"""

from __future__ import annotations

import numpy as np

from hwq.errors import SemanticsError
from hwq.golden.fixedpoint import divide_round_half_away, saturate
from hwq.golden.requantize import rescale, to_output
from hwq.golden.int_matmul import ExactSum, PreparedWeight
from hwq.golden.windows import im2col_blocks, pad_nchw, windows
from hwq.ir.layers import Add, AvgPool, Conv2d, Dense, WeightedLayer
from hwq.ir.quant import QuantParams

def prepare(layer: WeightedLayer, in_q: QuantParams) -> PreparedWeight:
    """The layer's weight ready for exact products with inputs of ``in_q``'s range."""
    return PreparedWeight(layer.weight, in_q.qmax - in_q.qmin + 1)


def _overflows(layer: WeightedLayer, acc: ExactSum) -> tuple[np.ndarray, dict[int, int]]:
    """(int64 accumulators, {batch index: exact value of its first overflowing element})."""
    lo, hi = -(1 << (layer.acc_bits - 1)), (1 << (layer.acc_bits - 1)) - 1
    ok = acc.representable()
    val = acc.values(ok)
    bad = ~ok | (val < lo) | (val > hi)
    found = {}
    if bad.any():
        flat = bad.reshape(bad.shape[0], -1)
        for n in np.flatnonzero(flat.any(axis=1)):
            where = np.unravel_index(n * flat.shape[1] + int(np.argmax(flat[n])), bad.shape)
            found[int(n)] = acc.exact(where)
    return val, found


def _raise_overflow(layer: WeightedLayer, found: dict[int, int], first_sample: int) -> None:
    if found:
        samples = tuple(sorted(found))
        n = samples[0]
        raise SemanticsError(f"{layer.name}: accumulator value {found[n]} overflows acc_bits = "
                             f"{layer.acc_bits} (sample {n + first_sample})", layer=layer.name,
                             sample=n + first_sample, samples=tuple(i + first_sample for i in samples))


def check_accumulator(layer: WeightedLayer, acc: ExactSum, first_sample: int = 0) -> np.ndarray:
    """The exact sum must fit acc_bits (docs/semantics.md section 6); returns it as int64.

    ``acc`` has the batch on axis 0 (sample ``first_sample`` first). An overflow raises
    SemanticsError naming the lowest overflowing batch index (``err.sample``) and carrying
    all of them (``err.samples``).
    """
    val, found = _overflows(layer, acc)
    _raise_overflow(layer, found, first_sample)
    return val


def _bias(layer: WeightedLayer) -> np.ndarray | None:
    return None if layer.bias_q is None else layer.bias_q.astype(np.int64)


def accumulate_dense(layer: Dense, x: np.ndarray, in_q: QuantParams, pw: PreparedWeight | None = None,
                     first_sample: int = 0) -> np.ndarray:
    pw = pw or prepare(layer, in_q)
    return check_accumulator(layer, pw.matmul(x - in_q.zero_point, _bias(layer)), first_sample)


def dense(layer: Dense, x: np.ndarray, in_q: QuantParams, pw: PreparedWeight | None = None,
          first_sample: int = 0) -> np.ndarray:
    acc = accumulate_dense(layer, x, in_q, pw, first_sample)
    return to_output(rescale(acc, layer.requant, channel_axis=1), layer.quant)


def accumulate_conv(layer: Conv2d, x: np.ndarray, in_q: QuantParams, pw: PreparedWeight | None = None,
                    first_sample: int = 0) -> np.ndarray:
    pw = pw or prepare(layer, in_q)
    # padding holds the real zero, i.e. (x - zero_point) == 0
    xz = pad_nchw(x - in_q.zero_point, layer.padding, 0)
    n = x.shape[0]
    _, oh, ow = layer.out_shape([x.shape[1:]])
    acc = np.empty((n, layer.out_channels, oh, ow), np.int64)
    bias = _bias(layer)
    found: dict[int, int] = {}
    for p0, p1, cols in im2col_blocks(xz, layer.kernel, layer.stride):
        s = pw.matmul(cols, bias)  # (N * rows * OW, O)
        shape = (n, p1 - p0, ow, -1)
        part = ExactSum(s.top.reshape(shape), s.low if isinstance(s.low, int) else s.low.reshape(shape), s.shift)
        val, bad = _overflows(layer, part)
        acc[:, :, p0:p1] = val.transpose(0, 3, 1, 2)
        for k, v in bad.items():  # the first block (lowest rows) of a sample names its value
            found.setdefault(k, v)
    _raise_overflow(layer, found, first_sample)
    return acc


def conv2d(layer: Conv2d, x: np.ndarray, in_q: QuantParams, pw: PreparedWeight | None = None,
           first_sample: int = 0) -> np.ndarray:
    acc = accumulate_conv(layer, x, in_q, pw, first_sample)
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
