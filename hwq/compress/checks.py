"""Argument checks shared by the quantizers."""

from __future__ import annotations

import numpy as np

from hwq.errors import HwqError


def as_finite(w, what: str = "weight") -> np.ndarray:
    """``w`` as float64, or HwqError naming the first NaN/Inf (a quantizer cannot place it)."""
    w = np.asarray(w, dtype=np.float64)
    bad = ~np.isfinite(w)
    if bad.any():
        k = int(np.flatnonzero(bad.ravel())[0])
        raise HwqError(f"{what}: element {k} is {w.ravel()[k]} (weights must be finite)")
    return w
