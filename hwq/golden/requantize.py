"""Accumulator -> output activation, exactly as docs/semantics.md section 'Requantization'."""

from __future__ import annotations

import numpy as np

from hwq.golden.fixedpoint import multiply_by_quantized_multiplier, saturate, shift_requantize
from hwq.ir.quant import QuantParams, Requant


def rescale(acc: np.ndarray, rq: Requant, channel_axis: int) -> np.ndarray:
    """Apply the per-channel requant factor; channels run along ``channel_axis`` of ``acc``."""
    shape = [1] * acc.ndim
    shape[channel_axis] = rq.channels
    exp = rq.exponent.astype(np.int64).reshape(shape)
    if rq.mode == "shift":
        return shift_requantize(acc, exp)
    return multiply_by_quantized_multiplier(acc, rq.multiplier.astype(np.int64).reshape(shape), exp)


def to_output(rescaled: np.ndarray, q: QuantParams) -> np.ndarray:
    """Add the output zero point and clamp to the output range (exact, then clamped)."""
    return saturate(rescaled + q.zero_point, q.qmin, q.qmax)
