"""The loss of a float model on a fixed batch, and quantization-loss scores built on it.

SLQ's loss-based partition (seed 003, eq. 1) ranks clusters, MLQ's incremental layer
compensation (eq. 7) ranks layers, by the *quantization loss* EQ: how much the network's loss
rises when only that group of weights is snapped to its value, everything else unchanged.
"""

from __future__ import annotations

import numpy as np

from hwq.golden.run import run_float
from hwq.ir.layers import Softmax
from hwq.ir.model import Model
from hwq.ir.rewrite import with_float_weights
from hwq.train.layers import softmax_cross_entropy


class LossProbe:
    """Cross-entropy of ``model`` with substituted float weights on a fixed batch (x, y)."""

    def __init__(self, model: Model, x: np.ndarray, y: np.ndarray, biases: dict):
        self.model, self.biases = model, biases
        self.x = np.asarray(x, np.float64).reshape((len(x),) + tuple(model.inputs[0].shape))
        self.y = np.asarray(y, np.int64)
        out = model.layers[model.outputs[0]]
        self.logits = out.inputs[0] if isinstance(out, Softmax) else out.name

    def loss(self, weights: dict[str, np.ndarray]) -> float:
        m = with_float_weights(self.model, weights, self.biases)
        vals = run_float(m, self.x, keep_all=True)
        return softmax_cross_entropy(vals[self.logits], self.y)[0]

    def increase(self, weights: dict[str, np.ndarray], name: str, snapped: np.ndarray, base: float) -> float:
        """EQ of replacing layer ``name``'s weight by ``snapped`` (all else as in ``weights``)."""
        return self.loss({**weights, name: snapped}) - base
