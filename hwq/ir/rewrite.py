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


def branches(models: dict[str, Model], name: str = "merged") -> Model:
    """One model running every model of ``models`` as a branch of the first one's graph
    input (layer names prefixed ``<key>_``, every output kept): back ends check or measure
    many layers with one build and one run. The inputs must have the same shape; the first
    one's quantization is used."""
    from hwq.ir.layers import Input  # noqa: PLC0415 - local: layers import this module's peers

    first = next(iter(models.values()))
    inp = first.inputs[0]
    out = Model(name, {inp.name: inp}, [], {"source": "branches of " + ", ".join(models)})
    for prefix, m in models.items():
        (own,) = m.inputs
        rename = {own.name: inp.name}
        for layer in m.topo_order():
            if isinstance(layer, Input):
                continue
            rename[layer.name] = f"{prefix}_{layer.name}"
            out.layers[rename[layer.name]] = replace(layer, name=rename[layer.name],
                                                     inputs=[rename[i] for i in layer.inputs])
        out.outputs += [rename[o] for o in m.outputs]
    return out
