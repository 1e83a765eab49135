"""The calibrate stage: activation ranges from unlabeled samples, then integer requantization.

The samples are ``--calib x.npy`` or, without it, the training rows of ``--data``; at most
``--calib-samples`` of them (default 512), spread evenly over the set (rows 0, n/N, 2n/N, ...),
so the choice is deterministic and does not depend on how the file is sorted.
"""

from __future__ import annotations

import numpy as np

from hwq.compress.calibrate import calibrate as calibrate_model
from hwq.compress.plan import Plan
from hwq.ir.model import Model

CALIBRATION_SAMPLES = 512


def calibration_batch(model: Model, x: np.ndarray, samples: int = CALIBRATION_SAMPLES) -> np.ndarray:
    """At most ``samples`` rows of ``x``, evenly spread, in the model's input shape."""
    x = np.asarray(x)
    if len(x) > samples:
        x = x[np.linspace(0, len(x) - 1, samples).round().astype(np.int64)]
    return x.reshape((-1,) + tuple(model.inputs[0].shape))


def calibrate(plan: Plan, model: Model, x, samples: int = CALIBRATION_SAMPLES) -> Model:
    if plan.act_bits is None:
        return model
    return calibrate_model(model, calibration_batch(model, x, samples), act_bits=plan.act_bits,
                           pow2_scales=plan.pow2_act)
