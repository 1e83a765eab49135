"""The float view of a model under compression: weights, keep-masks, biases per weighted layer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.ir.model import Model
from hwq.ir.rewrite import with_float_weights


@dataclass
class State:
    weights: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    biases: dict[str, np.ndarray | None]

    @classmethod
    def of(cls, model: Model) -> "State":
        layers = model.weighted()
        return cls(weights={l.name: l.weight.dense_float() for l in layers},
                   masks={l.name: np.ones(l.weight.shape, bool) for l in layers},
                   biases={l.name: None if l.bias is None else l.bias.astype(np.float64) for l in layers})


def float_model(model: Model, st: State) -> Model:
    """``model`` with the state's current float weights and biases."""
    return with_float_weights(model, st.weights, st.biases)
