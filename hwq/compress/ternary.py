"""Ternary quantization {-s_neg, 0, +s_pos}: TWN's threshold with TTQ/MLQ-style asymmetric scales."""

from __future__ import annotations

import numpy as np

from hwq.compress.checks import as_finite
from hwq.compress.int8 import symmetric_scale
from hwq.golden.fixedpoint import round_half_away
from hwq.errors import HwqError


def quantize_ternary(w, delta_ratio: float = 0.7, mask=None) -> tuple[np.ndarray, float, float]:
    """Codes (int8, shaped like w) in {-1, 0, 1} and the float scales ``s_pos``, ``s_neg``.

    Threshold Delta = delta_ratio * mean|w|: code +1 where w > Delta, -1 where w < -Delta,
    else 0. s_pos (s_neg) is the mean |w| of the +1 (-1) weights -- TWN's optimal scale,
    computed per sign so the two magnitudes may differ. With ``mask``, only kept weights
    count for Delta and the scales (pruned zeros are not weights) and pruned codes are 0.
    A side with no weights gets scale 0.
    """
    w = as_finite(w)
    if not 0 <= delta_ratio < np.inf:
        raise HwqError(f"ternary delta_ratio {delta_ratio!r} must be finite and >= 0")
    keep = np.ones(w.shape, bool) if mask is None else np.asarray(mask, bool)
    kept = np.abs(w[keep])
    delta = delta_ratio * kept.mean() if kept.size else 0.0
    pos, neg = keep & (w > delta), keep & (w < -delta)
    codes = pos.astype(np.int8) - neg.astype(np.int8)
    s_pos = float(w[pos].mean()) if pos.any() else 0.0
    s_neg = float(-w[neg].mean()) if neg.any() else 0.0
    return codes, s_pos, s_neg


def integerize_ternary(s_pos: float, s_neg: float, value_bits: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Integer magnitudes [pos, neg] (int16, int32 above 16 bits) and one float32 scale (1,).

    scale = max(s_pos, s_neg) / (2^(value_bits-1) - 1): the larger side uses the full range,
    the other is rounded (half away from zero) on the same grid.
    """
    if not 2 <= value_bits <= 32:
        raise HwqError(f"ternary value_bits {value_bits!r} not in [2, 32]")
    s = as_finite([s_pos, s_neg], "ternary scales")
    if (s < 0).any():
        raise HwqError(f"ternary scales must be >= 0, got {s_pos}, {s_neg}")
    lim = (1 << (value_bits - 1)) - 1
    scale = symmetric_scale([s.max()], lim)
    mags = np.clip(round_half_away(s / float(scale[0])), 0, lim)
    return mags.astype(np.int16 if value_bits <= 16 else np.int32), scale
