"""Symmetric int8 quantization (w ~ q * scale, q in [-127, 127]) and shared scale helpers."""

from __future__ import annotations

import numpy as np

from hwq.compress.checks import as_finite
from hwq.errors import HwqError
from hwq.golden.fixedpoint import round_half_away


def symmetric_scale(maxabs, limit: int) -> np.ndarray:
    """float32 scale mapping ``maxabs`` onto the integer ``limit``.

    Rounded to float32 *before* integerizing, so ``w_int * stored_scale`` is exactly the
    quantized weight. A zero (or float32-underflowing) range gets scale 1.0: the IR wants
    positive scales, and every value in such a range rounds to 0 anyway.
    """
    m = np.asarray(maxabs, dtype=np.float64)
    s = (m / limit).astype(np.float32)
    # round the scale *up* if float32 rounded it down, so maxabs / scale <= limit: nothing
    # then clips by more than half a step (matters for wide value_bits, beyond float32's 24 bits)
    s = np.where(s.astype(np.float64) * limit < m, np.nextafter(s, np.float32(np.inf)), s)
    if not np.isfinite(s).all():
        raise HwqError(f"weight magnitude {float(np.max(maxabs)):g} exceeds the float32 range")
    return np.where(s > 0, s, np.float32(1.0)).astype(np.float32)


def quantize_int8(w, per_channel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8: scale = max|w| / 127 per tensor ((1,)) or per output channel ((O,), axis 0).

    Returns ``(q int8 shaped like w, scale float32)``; q = round-half-away(w / scale),
    clipped to [-127, 127] (-128 is never used: the range stays symmetric).
    """
    w = as_finite(w)
    if per_channel:
        if w.ndim < 1 or w.shape[0] == 0:
            raise HwqError(f"per-channel int8 needs an output axis, weight shape is {w.shape}")
        maxabs = np.abs(w.reshape(w.shape[0], -1)).max(axis=1, initial=0.0)
    else:
        maxabs = np.array([np.abs(w).max(initial=0.0)])
    scale = symmetric_scale(maxabs, 127)
    s = scale.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1)) if per_channel else float(scale[0])
    q = np.clip(round_half_away(w / s), -127, 127).astype(np.int8)
    return q, scale
