"""Model-to-model rewrites shared by calibration, compression and training."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hwq.ir.layers import Add, WeightedLayer
from hwq.ir.model import Model
from hwq.ir.values import Float32Values
from hwq.ir.weight import Weight


def strip_quant(model: Model) -> Model:
    """A copy without any activation quantization (quant, requant, bias_q): a float model."""
    layers = {}
    for name, layer in model.layers.items():
        layer = replace(layer, quant=None)
        if isinstance(layer, WeightedLayer):
            layer = replace(layer, bias_q=None, requant=None)
        elif isinstance(layer, Add):
            layer = replace(layer, requant=None)
        layers[name] = layer
    return replace(model, layers=layers)


def with_weights(model: Model, weights: dict[str, Weight], biases: dict[str, np.ndarray | None]) -> Model:
    """A float copy of ``model`` with new weights and float32 biases (absent bias: none).

    Activation quantization is dropped: new weights no longer match the old integer grid,
    and a model is quantized everywhere or nowhere.
    """
    layers = {}
    for name, layer in model.layers.items():
        if isinstance(layer, WeightedLayer):
            b = biases.get(name)
            layer = replace(layer, weight=weights[name],
                            bias=None if b is None else np.asarray(b, dtype=np.float32))
        layers[name] = layer
    return strip_quant(replace(model, layers=layers))


def with_float_weights(model: Model, weights: dict[str, np.ndarray],
                       biases: dict[str, np.ndarray | None]) -> Model:
    """:func:`with_weights` for dense float weights (stored as float32)."""
    return with_weights(model, {n: Weight(tuple(w.shape), Float32Values(np.asarray(w, np.float32).ravel()))
                                for n, w in weights.items()}, biases)
