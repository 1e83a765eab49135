"""Semantic validation of a Model: fields, graph, shapes, encodings, quantization.

Runs on every load and save, and on in-memory models: everything ``ir.load`` would reject
in a file, ``validate`` rejects in memory (types and dtypes of every field, integer
ranges, the container's caps), so ``save`` never writes a file that ``load`` refuses.
Each error names the place, e.g. ``fc2.weight.indices: value 17 >= codebook size 16``.
The cost is linear in the number of layers and stored entries.
"""

from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np

from hwq.errors import IRError
from hwq.ir.container import check_tensor_caps
from hwq.ir.layers import (LAYER_TYPES, Add, AvgPool, Conv2d, Dense, Flatten, Input, Layer, MaxPool,
                           Pool, ReLU, Softmax, WeightedLayer)
from hwq.ir.manifest import MAX_INT, TUPLE_ATTRS, is_int, to_manifest
from hwq.ir.model import Model
from hwq.ir.names import check_name
from hwq.ir.quant import QuantParams, Requant
from hwq.ir.sparse import SparseIndex
from hwq.ir.values import VALUE_TYPES, Values
from hwq.ir.weight import Weight

MAX_ELEMENTS = 1 << 28  # per activation tensor: keeps a hostile shape from exhausting memory
MAX_PROVENANCE_BYTES = 1 << 20  # provenance as JSON: far below the manifest cap
PASS_THROUGH = (ReLU, MaxPool, AvgPool, Flatten)


def validate(model: Model) -> Model:
    check_name(model.name, "model name")
    _check_fields(model)
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
    # one backward sweep in reverse file order (a topological order): linear in the graph
    reach = set(model.outputs)
    for name in reversed(list(model.layers)):
        if name in reach:
            reach.update(model.layers[name].inputs)
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


# ------------------------------------------------------------------ field types (what load checks)

def _int_ok(v, where: str, lo: int = -MAX_INT, hi: int = MAX_INT) -> None:
    if not is_int(v) or not lo <= v <= hi:
        raise IRError(f"{where}: {str(v)[:40]!r} must be an integer in [{lo}, {hi}]")


def _array_ok(arr, where: str, dtypes: tuple[str, ...], ndim: int | None = 1) -> None:
    if not isinstance(arr, np.ndarray):
        raise IRError(f"{where}: must be a NumPy array, not {type(arr).__name__}")
    if arr.dtype.name not in dtypes:
        raise IRError(f"{where}: dtype {arr.dtype.name} not one of {', '.join(dtypes)}")
    if (ndim is not None and arr.ndim != ndim) or arr.ndim > 6:
        raise IRError(f"{where}: must be {ndim}-D, shape is {arr.shape}")


def _requant_ok(r, where: str) -> None:
    if not isinstance(r, Requant):
        raise IRError(f"{where}: must be a Requant, not {type(r).__name__}")
    _array_ok(r.exponent, f"{where}.exponent", ("int32",))
    if r.multiplier is not None:
        _array_ok(r.multiplier, f"{where}.multiplier", ("int32",))
    r.check(where)


def _values_ok(v, where: str) -> None:
    cls = VALUE_TYPES.get(getattr(v, "TYPE", None))
    if not isinstance(v, Values) or type(v) is not cls:
        raise IRError(f"{where}.values: {type(v).__name__} is not an IR value codec")
    for a in cls.ATTRS:
        _int_ok(getattr(v, a), f"{where}.values.{a}")
    for t, dtypes in cls.TENSORS.items():
        _array_ok(getattr(v, t), f"{where}.{t}", dtypes,
                  None if t in ("codebook", "assignments") else 1)


def _weight_ok(w, where: str) -> None:
    if not isinstance(w, Weight):
        raise IRError(f"{where}: missing" if w is None else f"{where}: must be a Weight")
    if not isinstance(w.shape, (tuple, list)) or len(w.shape) not in (2, 4) \
            or not all(is_int(d) and 0 < d <= MAX_INT for d in w.shape):
        raise IRError(f"{where}.shape: must be 2 or 4 positive integers below 2^31")
    _values_ok(w.values, where)
    sp = w.sparse
    if sp is not None:
        if not isinstance(sp, SparseIndex):
            raise IRError(f"{where}.sparse: must be a SparseIndex")
        _array_ok(sp.ptr, f"{where}.ptr", ("int32",))
        _array_ok(sp.rel, f"{where}.rel", ("uint8", "uint16"))


def _layer_fields_ok(layer: Layer) -> None:
    n = layer.name
    cls = LAYER_TYPES.get(getattr(layer, "KIND", None))
    if type(layer) is not cls:
        raise IRError(f"{n}: {type(layer).__name__} is not an IR layer kind")
    if not isinstance(layer.inputs, list) or len(layer.inputs) != cls.N_INPUTS:
        raise IRError(f"{n}.inputs: a {cls.KIND} layer takes {cls.N_INPUTS} input(s)")
    for src in layer.inputs:
        check_name(src, f"{n}.inputs entry")
    for a in cls.ATTRS:
        v = getattr(layer, a)
        if a in TUPLE_ATTRS:
            if not isinstance(v, (tuple, list)) or len(v) > 6 or not all(is_int(x) and abs(x) <= MAX_INT for x in v):
                raise IRError(f"{n}.{a}: must be a list of at most 6 integers below 2^31")
        else:
            _int_ok(v, f"{n}.{a}")
    if layer.quant is not None:
        if not isinstance(layer.quant, QuantParams):
            raise IRError(f"{n}.quant: must be QuantParams")
        layer.quant.check(f"{n}.quant")
    if isinstance(layer, WeightedLayer):
        _weight_ok(layer.weight, f"{n}.weight")
        if layer.bias is not None:
            _array_ok(layer.bias, f"{n}.bias", ("float32",))
        if layer.bias_q is not None:
            _array_ok(layer.bias_q, f"{n}.bias_q", ("int32",))
        if layer.requant is not None:
            _requant_ok(layer.requant, f"{n}.requant")
    if isinstance(layer, Add) and layer.requant is not None:
        if not isinstance(layer.requant, (list, tuple)) or len(layer.requant) != 2:
            raise IRError(f"{n}.requant: must be None or a list of two requants")
        for k, r in enumerate(layer.requant):
            if r is None:
                raise IRError(f"{n}.requant: both entries must be set")
            _requant_ok(r, f"{n}.requant{k}")


def _check_fields(model: Model) -> None:
    """The checks ``ir.load`` makes while reading a manifest, made on the objects."""
    if not isinstance(model.layers, dict) or not model.layers:
        raise IRError("model: has no layers")
    for key, layer in model.layers.items():
        if not isinstance(layer, Layer) or key != layer.name:
            raise IRError(f"layers: entry {str(key)[:40]!r} does not hold the layer of that name")
        check_name(layer.name, "layer name")
        _layer_fields_ok(layer)
    if not isinstance(model.outputs, list) or not model.outputs \
            or not all(isinstance(o, str) for o in model.outputs):
        raise IRError("outputs: must be a non-empty list of layer names")
    _provenance_ok(model.provenance)
    _container_caps_ok(model)


def _provenance_ok(prov) -> None:
    if not isinstance(prov, dict):
        raise IRError("provenance: must be a dict")
    try:
        text = json.dumps(prov, allow_nan=False)
        same = json.loads(text) == prov
    except (TypeError, ValueError, RecursionError) as e:
        raise IRError(f"provenance: not plain JSON data ({str(e)[:80]})") from None
    if not same:
        raise IRError("provenance: does not survive a JSON round trip (tuples, non-string keys?)")
    if len(text.encode()) > MAX_PROVENANCE_BYTES:
        raise IRError(f"provenance: {len(text.encode())} bytes as JSON, over the cap of {MAX_PROVENANCE_BYTES}")


def _container_caps_ok(model: Model) -> None:
    """The reader's caps on entries and tensor sizes (docs/ir-format.md, Container)."""
    tensors = to_manifest(model)[1]
    check_tensor_caps({name: (a.dtype.name, a.shape) for name, a in tensors.items()}, "model")
