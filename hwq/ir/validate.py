"""Semantic validation of a Model: graph, shapes, encodings, quantization.

Runs on every load and save. Each error names the place, e.g.
``fc2.weight.indices: value 17 >= codebook size 16``.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from hwq.errors import IRError
from hwq.ir.layers import (Add, AvgPool, Conv2d, Dense, Flatten, Input, MaxPool, Pool, ReLU,
                           Softmax, WeightedLayer)
from hwq.ir.model import Model
from hwq.ir.names import check_name

MAX_ELEMENTS = 1 << 28  # per activation tensor: keeps a hostile shape from exhausting memory
PASS_THROUGH = (ReLU, MaxPool, AvgPool, Flatten)


def validate(model: Model) -> Model:
    check_name(model.name, "model name")
    _check_graph(model)
    _check_shapes(model)
    quantized = _check_quant_presence(model)
    for layer in model.layers.values():
        if isinstance(layer, WeightedLayer):
            _check_weighted(layer, quantized)
        if isinstance(layer, Add) and not quantized and layer.requant is not None:
            raise IRError(f"{layer.name}.requant: present in a model without activation quantization")
    if quantized:
        _check_pass_through(model)
    return model


def _check_graph(model: Model) -> None:
    seen: set[str] = set()
    for layer in model.layers.values():
        check_name(layer.name, "layer name")
        for src in layer.inputs:
            if src not in model.layers:
                raise IRError(f"{layer.name}.inputs: unknown layer {src!r}")
            if src == layer.name:
                raise IRError(f"{layer.name}.inputs: a layer cannot read itself")
            if src not in seen:  # file order is a topological order (docs/ir-format.md)
                raise IRError(f"{layer.name}.inputs: {src} is listed after its consumer "
                              "(layers must be in topological order)")
        seen.add(layer.name)
    if not model.inputs:
        raise IRError("graph: no input layer")
    for out in model.outputs:
        if out not in model.layers:
            raise IRError(f"outputs: unknown layer {out!r}")
    if len(set(model.outputs)) != len(model.outputs):
        raise IRError("outputs: listed twice")
    g = model.graph  # acyclic: every edge points forward in file order (checked above)
    if not nx.is_weakly_connected(g):
        parts = sorted(sorted(c) for c in nx.weakly_connected_components(g))
        raise IRError(f"graph: not connected ({parts[1][0]} is cut off from {parts[0][0]})")
    reach = set()
    for out in model.outputs:
        reach |= nx.ancestors(g, out) | {out}
    dead = [n for n in model.layers if n not in reach]
    if dead:
        raise IRError(f"{dead[0]}: does not lead to any output")
    for layer in model.layers.values():
        if isinstance(layer, Softmax) and g.out_degree(layer.name):
            raise IRError(f"{layer.name}: softmax is float-only and must be a model output")


def _check_shapes(model: Model) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in model.topo_order():
        ins = [shapes[i] for i in layer.inputs]
        n = layer.name
        if isinstance(layer, Input):
            if len(layer.shape) not in (1, 3) or not all(0 < d < 1 << 31 for d in layer.shape):
                raise IRError(f"{n}.shape: {list(layer.shape)} must be [F] or [C, H, W], "
                              "positive sizes below 2^31 (docs/semantics.md section 1)")
        elif isinstance(layer, Dense):
            if layer.in_features <= 0 or layer.out_features <= 0:
                raise IRError(f"{n}: in_features and out_features must be positive")
            if ins[0] != (layer.in_features,):
                raise IRError(f"{n}: input {layer.inputs[0]} has shape {list(ins[0])}, "
                              f"expected [{layer.in_features}] (add a flatten layer?)")
            _want_weight(layer, (layer.out_features, layer.in_features))
        elif isinstance(layer, Conv2d):
            _want_lengths(layer, kernel=2, stride=2, padding=4)
            if len(ins[0]) != 3 or ins[0][0] != layer.in_channels:
                raise IRError(f"{n}: input {layer.inputs[0]} has shape {list(ins[0])}, "
                              f"expected [{layer.in_channels}, H, W]")
            if min(layer.kernel) < 1 or min(layer.stride) < 1 or min(layer.padding) < 0:
                raise IRError(f"{n}: kernel and stride must be >= 1, padding >= 0")
            t, l, b, r = layer.padding
            if max(t, b) >= layer.kernel[0] or max(l, r) >= layer.kernel[1]:
                raise IRError(f"{n}.padding: {list(layer.padding)} must be smaller than the kernel "
                              f"{list(layer.kernel)} on each side (a window never lies in padding only)")
            _want_weight(layer, (layer.out_channels, layer.in_channels) + tuple(layer.kernel))
        elif isinstance(layer, Pool):
            _want_lengths(layer, kernel=2, stride=2)
            if len(ins[0]) != 3:
                raise IRError(f"{n}: {layer.KIND} needs a [C, H, W] input, got {list(ins[0])}")
            if min(layer.kernel) < 1 or min(layer.stride) < 1:
                raise IRError(f"{n}: kernel and stride must be >= 1")
        elif isinstance(layer, Add):
            if ins[0] != ins[1]:
                raise IRError(f"{n}: input shapes {list(ins[0])} and {list(ins[1])} differ")
        elif isinstance(layer, Softmax):
            if len(ins[0]) != 1:
                raise IRError(f"{n}: softmax needs a 1-D input, got {list(ins[0])}")
        out = tuple(int(d) for d in layer.out_shape(ins))
        if not all(d >= 1 for d in out):
            raise IRError(f"{n}: output shape {list(out)} is empty (kernel larger than input?)")
        if math.prod(out) > MAX_ELEMENTS:
            raise IRError(f"{n}: output shape {list(out)} exceeds {MAX_ELEMENTS} elements")
        shapes[n] = out
    return shapes


def _want_lengths(layer, **lengths: int) -> None:
    for attr, n in lengths.items():
        if len(getattr(layer, attr)) != n:
            raise IRError(f"{layer.name}.{attr}: needs {n} values, has {len(getattr(layer, attr))}")


def _want_weight(layer: WeightedLayer, shape: tuple[int, ...]) -> None:
    if layer.weight is None:
        raise IRError(f"{layer.name}.weight: missing")
    if tuple(layer.weight.shape) != shape:
        raise IRError(f"{layer.name}.weight.shape: {list(layer.weight.shape)} != {list(shape)}")


def _check_quant_presence(model: Model) -> bool:
    """A model is float (no quant anywhere) or quantized (every non-softmax layer)."""
    flags = {l.name: l.quant is not None for l in model.layers.values() if not isinstance(l, Softmax)}
    for l in model.layers.values():
        if isinstance(l, Softmax) and l.quant is not None:
            raise IRError(f"{l.name}.quant: softmax output is float and carries no quant")
    if all(flags.values()):
        return True
    if any(flags.values()):
        missing = next(n for n, f in flags.items() if not f)
        raise IRError(f"{missing}.quant: missing (a model is quantized everywhere or nowhere)")
    return False


def _check_weighted(layer: WeightedLayer, quantized: bool) -> None:
    n, w = layer.name, layer.weight
    assert w is not None
    w.check(f"{n}.weight")
    o = w.channels
    if not isinstance(layer.acc_bits, int) or not 8 <= layer.acc_bits <= 32:
        raise IRError(f"{n}.acc_bits: {layer.acc_bits!r} not in [8, 32]")
    if layer.bias is not None:
        if layer.bias.shape != (o,):
            raise IRError(f"{n}.bias: shape {layer.bias.shape} != ({o},)")
        if not np.isfinite(layer.bias).all():
            raise IRError(f"{n}.bias: values must be finite")
    if layer.bias_q is not None and layer.bias_q.size:
        lo, hi = -(1 << (layer.acc_bits - 1)), (1 << (layer.acc_bits - 1)) - 1
        bq = layer.bias_q.astype(np.int64)
        if int(bq.min()) < lo or int(bq.max()) > hi:
            raise IRError(f"{n}.bias_q: a value does not fit acc_bits = {layer.acc_bits} "
                          f"([{lo}, {hi}])")
    if not quantized:
        for part in ("bias_q", "requant"):
            if getattr(layer, part) is not None:
                raise IRError(f"{n}.{part}: present in a model without activation quantization")
        return
    if not w.is_integer:
        raise IRError(f"{n}.weight: float32 weights in a quantized model (quantize the weights too)")
    if layer.requant is None:
        raise IRError(f"{n}.requant: missing in a quantized model")
    if layer.requant.channels not in (1, o):
        raise IRError(f"{n}.requant: {layer.requant.channels} channels, expected 1 or {o}")
    if (layer.bias is None) != (layer.bias_q is None):
        raise IRError(f"{n}.bias_q: a quantized layer with a bias needs bias_q and the reverse")
    if layer.bias_q is not None and layer.bias_q.shape != (o,):
        raise IRError(f"{n}.bias_q: shape {layer.bias_q.shape} != ({o},)")


def _check_pass_through(model: Model) -> None:
    for layer in model.layers.values():
        if isinstance(layer, AvgPool):
            # the window sum of (x - zx) must fit int32 (docs/semantics.md, avgpool)
            area = layer.kernel[0] * layer.kernel[1]
            if area << layer.quant.bits >= 1 << 31:
                raise IRError(f"{layer.name}: a {layer.kernel[0]}x{layer.kernel[1]} window of "
                              f"{layer.quant.bits}-bit values can overflow the int32 window sum")
        if isinstance(layer, PASS_THROUGH):
            src = model.layers[layer.inputs[0]]
            if src.quant != layer.quant:
                raise IRError(f"{layer.name}.quant: must equal its input's quant ({layer.KIND} does not rescale)")
        if isinstance(layer, Add) and layer.requant is None:
            raise IRError(f"{layer.name}.requant: missing in a quantized model")
        if isinstance(layer, Add):
            for r in layer.requant:  # type: ignore[union-attr]
                if r.channels != 1:
                    raise IRError(f"{layer.name}.requant: add rescales per tensor (1 channel)")
