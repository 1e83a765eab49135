"""Checks of the run-wide compression options (retraining, calibration, activation bits) that
the plain pipeline (``hwq.compress.pipeline``) and the seed methods (``hwq.compress.methods``)
share: one rule, one message per mistake, before any work."""

from __future__ import annotations

from hwq.errors import HwqError


def check_run_options(o) -> None:
    """``o`` has ``retrain_epochs``, ``lr``, ``act_bits``, ``data``, ``calib``, ``calib_samples``."""
    if o.act_bits is not None and not 2 <= o.act_bits <= 16:
        raise HwqError(f"--act-bits {o.act_bits}: must be in [2, 16]")
    if o.retrain_epochs < 0:
        raise HwqError("--retrain-epochs must be >= 0")
    if not o.lr > 0:
        raise HwqError("--lr must be positive")
    if o.retrain_epochs and o.data is None:
        raise HwqError("--retrain-epochs needs a data set (--data digits, or an .npz with labels)")
    if o.act_bits is not None and o.data is None and o.calib is None:
        raise HwqError("--act-bits needs a data set (--data digits) or calibration samples (--calib x.npy)")
    if o.calib_samples < 1:
        raise HwqError(f"--calib-samples {o.calib_samples}: must be >= 1")
