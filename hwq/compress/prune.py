"""Magnitude pruning: boolean keep-masks (True = the weight survives).

Two rules, both one-shot on a weight tensor (re-training between rounds is the caller's
business):

* :func:`prune_rate` keeps the largest-|w| ``1 - rate`` fraction -- an exact budget,
  the natural knob for reproducing a target "Weights%" column.
* :func:`prune_quality` keeps ``|w| > quality * std(w)`` -- the rule of Han et al. 2015,
  "Learning both weights and connections": the threshold is a quality parameter times
  the standard deviation of the layer's weights, so one knob adapts to every layer.
"""

from __future__ import annotations

import math

import numpy as np

from hwq.compress.checks import as_finite
from hwq.errors import HwqError


def _number(x, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(x)):
        raise HwqError(f"prune: {what} {x!r} is not a finite number")
    return float(x)


def prune_rate(w, rate: float) -> np.ndarray:
    """Keep the ``n - floor(rate * n)`` largest-|w| elements of ``w`` (``rate`` in [0, 1)).

    Ties are broken deterministically: a stable argsort of |w| prunes, among equal
    magnitudes, the element with the lower flat (C-order) index first. The kept fraction
    is ``1 - rate`` rounded up to a whole element.
    """
    rate = _number(rate, "rate")
    if not 0.0 <= rate < 1.0:
        raise HwqError(f"prune: rate {rate} not in [0, 1)")
    w = as_finite(w, "prune")
    flat = np.abs(w).ravel()
    n_prune = int(math.floor(rate * flat.size))
    keep = np.ones(flat.size, dtype=bool)
    keep[np.argsort(flat, kind="stable")[:n_prune]] = False
    return keep.reshape(w.shape)


def prune_quality(w, quality: float) -> np.ndarray:
    """Keep ``|w| > quality * std(w)`` (population std, ddof = 0; ``quality`` >= 0).

    Strictly greater, as in the reference implementations: with ``quality = 0`` only
    exact zeros are dropped, and a constant tensor (std 0) keeps its non-zeros.
    """
    quality = _number(quality, "quality")
    if quality < 0:
        raise HwqError(f"prune: quality {quality} must be >= 0")
    w = as_finite(w, "prune")
    if w.size == 0:
        return np.zeros(w.shape, dtype=bool)
    return np.abs(w) > quality * float(np.std(w))
