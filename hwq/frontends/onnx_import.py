"""ONNX -> hwq IR importer (float models only; quantization happens later in hwq).

    from hwq.frontends.onnx_import import import_onnx
    model = import_onnx("net.onnx")          # or the serialized bytes

The ONNX graph is walked once in node order (ONNX requires topological order). Tensors
are either *constants* (initializers, Constant nodes) or *activations* produced by an IR
layer; every supported op becomes at most one IR layer (BatchNormalization and constant
Adds become none: they are folded into the Conv/Gemm right before them), with two exact
lowerings of ops the IR has no kind for:

* a BatchNormalization that cannot be folded (after a ReLU, on a shared output, on the
  input) becomes its per-channel affine map as a diagonal layer: a 1x1 Conv2d with weight
  diag(s / sqrt(var + eps)) on [C, H, W], a Dense on [F];
* a padded MaxPool (ResNet's stem) becomes a zero-padding layer, then the unpadded pool.
  The padding layer is an identity Conv2d: the IR's padding must be smaller than the kernel,
  so pads (t, l, b, r) take a (t+b+1) x (l+r+1) kernel with padding t+b on top and bottom,
  l+r left and right, and the one tap of channel c -> c at (b, r) (out[i, j] = x[i-t, j-l]).
  ONNX pads MaxPool with -inf; zero padding is the same only when the input is non-negative,
  so this is done after a ReLU (or a pool of one) and refused otherwise.

Both are weights with one non-zero per output channel (the affine map's scale, or 1.0):
pruning at any rate below 1 - 1/(C KH KW) keeps them intact, and int8 stores 1.0 exactly.

Shape arithmetic of older torch exports (``x.view(x.size(0), -1)``: Shape -> Gather ->
Unsqueeze -> Concat -> Reshape) is evaluated symbolically: shape tensors hold the batch
size as a symbol and the per-sample sizes as numbers, and a Reshape whose target is
[batch, -1] or [batch, features] is a flatten. Shapes are
tracked per sample (the batch axis is dropped) using the IR layers' own ``out_shape``, so
the importer needs no ONNX shape inference and never disagrees with the back ends about
a shape.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from hwq import ir
from hwq.errors import HwqError
from hwq.ir.names import Taken, sanitize

SUPPORTED = ("Gemm", "MatMul", "Conv", "BatchNormalization", "Relu", "MaxPool", "AveragePool",
             "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Add", "Softmax",
             "Identity", "Dropout", "Constant", "Shape", "Gather", "Unsqueeze", "Concat", "Cast")
_MIN_INPUTS = {"Gemm": 2, "MatMul": 2, "Conv": 2, "BatchNormalization": 5, "Add": 2,
               "Reshape": 2, "Constant": 0, "Gather": 2}
BATCH = "N"  # the batch size inside a symbolic shape tensor
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                onnx.TensorProto.BFLOAT16}


def import_onnx(source: str | os.PathLike | bytes, name: str | None = None) -> ir.Model:
    """Read an ONNX model (file path or serialized bytes) into a validated float IR model.

    ``name`` overrides the model name (default: the ONNX graph name, else the file stem).
    Every problem with the input raises :class:`HwqError` with a one-line message.
    """
    label, proto = _load(source)
    g = proto.graph
    opset = _opset(proto)
    b = _Builder(proto, opset)
    b.add_inputs()
    for node in g.node:
        b.add_node(node)
    outputs = b.graph_outputs()
    model_name = sanitize(name or g.name or (Path(label).stem if label != "<bytes>" else "") or
                          "onnx_model", set())
    producer = _bounded(f"{proto.producer_name} {proto.producer_version}".strip())
    model = ir.Model(model_name, b.prune(outputs), outputs,
                     provenance={"source": "onnx", "producer": producer, "opset": int(opset)})
    return ir.validate(model)


# ---------------------------------------------------------------------------- loading


def _opset(proto: onnx.ModelProto) -> int:
    """The default-domain opset: it must be declared and known to the installed onnx."""
    versions = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise HwqError("ONNX model declares no opset for the default domain (opset_import is empty)")
    newest = onnx.defs.onnx_opset_version()
    if not 1 <= versions[0] <= newest:
        raise HwqError(f"ONNX opset {versions[0]} is not supported (1 to {newest}, the installed onnx's newest)")
    return int(versions[0])


def _check_unique(g) -> None:
    """Each tensor name has one definition: an initializer, a graph input or one node output."""
    seen: dict[str, str] = {}
    inits = set()
    for t in g.initializer:
        if t.name in inits:
            raise HwqError(f"ONNX initializer {t.name!r} is defined twice")
        inits.add(t.name)
        seen[t.name] = "an initializer"
    for vi in g.input:
        seen.setdefault(vi.name, "a graph input")
    for n in g.node:
        for o in n.output:
            if o == "":
                continue
            if o in seen:
                raise HwqError(f"{_where(n)}: output {o!r} is already {seen[o]}")
            seen[o] = f"the output of {_where(n)}"


MAX_PROVENANCE_TEXT = 128  # characters of a free-text ONNX field copied into the IR


def _bounded(text: str) -> str:
    """A free-text field of the (untrusted) ONNX file as provenance: one line, at most 128 chars."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text[: 4 * MAX_PROVENANCE_TEXT]).split())
    return text if len(text) <= MAX_PROVENANCE_TEXT else text[: MAX_PROVENANCE_TEXT - 3] + "..."


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _load(source) -> tuple[str, onnx.ModelProto]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        label, data = "<bytes>", bytes(source)
    else:
        label = os.fspath(source)
        try:
            data = Path(label).read_bytes()
        except OSError as e:
            raise HwqError(f"{label}: cannot read ({_one_line(e)})") from None
    # Parse the bytes ourselves instead of onnx.load(path): that would follow external-data
    # paths named inside the (untrusted) file. External tensors are rejected in _tensor.
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf raises DecodeError, RuntimeWarning-ish errors, ...
        raise HwqError(f"{label}: not a readable ONNX model ({_one_line(e)})") from None
    if not proto.HasField("graph") or not proto.graph.input:
        # Random bytes occasionally decode as a (meaningless) protobuf message.
        raise HwqError(f"{label}: not a readable ONNX model (no graph with inputs)")
    _check_text(label, proto)
    return label, proto


def _check_text(label: str, proto: onnx.ModelProto) -> None:
    """ONNX is proto2, so invalid UTF-8 in a string field parses and reads back as bytes."""
    g = proto.graph
    texts = [proto.producer_name, proto.producer_version, g.name]
    texts += [v.name for v in (*g.input, *g.output, *g.initializer)]
    for n in g.node:
        texts += [n.name, n.op_type, n.domain, *n.input, *n.output, *(a.name for a in n.attribute)]
    if not all(isinstance(t, str) for t in texts):
        raise HwqError(f"{label}: not a readable ONNX model (a name is not valid UTF-8)")


def _tensor(t: onnx.TensorProto) -> np.ndarray:
    if t.data_location == onnx.TensorProto.EXTERNAL:
        raise HwqError(f"tensor {t.name!r}: external data is not supported "
                       "(save the model with all tensors inside the file)")
    try:
        return numpy_helper.to_array(t)
    except Exception as e:
        raise HwqError(f"tensor {t.name!r}: unreadable ({_one_line(e)})") from None


# ---------------------------------------------------------------------------- building


@dataclass
class _Builder:
    proto: onnx.ModelProto
    opset: int
    layers: dict[str, ir.Layer] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # per layer
    acts: dict[str, str] = field(default_factory=dict)  # ONNX tensor -> IR layer
    produced: dict[str, str] = field(default_factory=dict)  # IR layer -> its own ONNX output
    consts: dict[str, np.ndarray] = field(default_factory=dict)  # ONNX tensor -> value
    shape_vals: dict[str, np.ndarray] = field(default_factory=dict)  # ONNX tensor -> symbolic shape (object)
    pad_layers: set = field(default_factory=set)  # zero-padding layers made for padded MaxPools
    taken: Taken = field(default_factory=Taken)
    uses: dict[str, int] = field(default_factory=dict)  # ONNX tensor -> consumer count

    def __post_init__(self):
        g = self.proto.graph
        _check_unique(g)
        for t in g.initializer:
            self.consts[t.name] = _tensor(t)
        for n in g.node:
            for i in n.input:
                self.uses[i] = self.uses.get(i, 0) + 1
        for o in g.output:
            self.uses[o.name] = self.uses.get(o.name, 0) + 1

    # -- helpers

    def add_layer(self, layer: ir.Layer, out_tensor: str) -> None:
        self.shapes[layer.name] = tuple(int(d) for d in
                                        layer.out_shape([self.shapes[i] for i in layer.inputs]))
        self.layers[layer.name] = layer
        self.acts[out_tensor] = layer.name
        self.produced[layer.name] = out_tensor

    def act(self, node, k: int = 0) -> tuple[str, tuple[int, ...]]:
        """The IR layer feeding input ``k`` of ``node`` and its per-sample shape."""
        t = node.input[k] if k < len(node.input) else ""
        if t not in self.acts:
            what = "a constant" if t in self.consts else "not produced by any earlier node"
            raise HwqError(f"{_where(node)}: input {t!r} must be an activation, but it is {what}")
        src = self.acts[t]
        return src, self.shapes[src]

    def const(self, node, k: int, what: str, optional: bool = False) -> np.ndarray | None:
        t = node.input[k] if k < len(node.input) else ""
        if t == "" and optional:
            return None
        if t not in self.consts:
            raise HwqError(f"{_where(node)}: {what} {t!r} must be an initializer or Constant "
                           "(computed weights are not supported)")
        return self.consts[t]

    def weight(self, node, k: int, what: str, optional: bool = False) -> np.ndarray | None:
        w = self.const(node, k, what, optional)
        if w is None:
            return None
        if w.dtype.kind != "f" and w.dtype.name not in ("bfloat16", "float16"):
            raise HwqError(f"{_where(node)}: {what} {node.input[k]!r} has dtype {w.dtype}, "
                           "expected float")
        w = w.astype(np.float64)  # float16 / bfloat16 (torch half exports) widen exactly
        if not np.isfinite(w).all():
            raise HwqError(f"{_where(node)}: {what} {node.input[k]!r} contains NaN or Inf "
                           "(weights must be finite)")
        return w.astype(np.float64)

    def foldable(self, node, k: int) -> ir.Dense | ir.Conv2d | None:
        """The Dense/Conv2d producing input ``k`` of ``node``, if it may absorb ``node``."""
        t = node.input[k]
        src = self.acts.get(t)
        # Folding changes the layer's output, so nothing else may read it (not even an alias).
        sole = src is not None and self.produced.get(src) == t and self.uses.get(t, 0) == 1
        layer = self.layers.get(src) if sole else None
        return layer if isinstance(layer, (ir.Dense, ir.Conv2d)) else None

    def folded(self, layer: ir.Layer, node) -> None:
        # The layer now computes node's output: later folds (Conv + Add + BN) chain on it.
        self.acts[node.output[0]] = layer.name
        self.produced[layer.name] = node.output[0]

    def new_name(self, node) -> str:
        # The torch module path reads best ("/fc1/Gemm" -> "fc1", "/layer1/layer1.0/conv1/Conv"
        # -> "layer1_0_conv1"); else the node name; else its output tensor; else the op type.
        # sanitize() makes it a valid, unused identifier.
        out = node.output[0] if node.output else ""
        return sanitize(_module_name(node) or node.name or out or node.op_type.lower(), self.taken)

    # -- graph inputs / outputs

    def add_inputs(self) -> None:
        for vi in self.proto.graph.input:
            if vi.name in self.consts:  # IR version < 4 lists initializers as inputs too
                continue
            tt = vi.type.tensor_type
            if not vi.type.HasField("tensor_type") or tt.elem_type not in _FLOAT_TYPES:
                raise HwqError(f"graph input {vi.name!r}: must be a float tensor")
            dims = list(tt.shape.dim)
            if len(dims) < 2:
                raise HwqError(f"graph input {vi.name!r}: expected [N, ...] with a batch axis, "
                               f"got rank {len(dims)}")
            # dims[0] is the batch axis: symbolic or any number; the rest must be fixed.
            shape = []
            for d in dims[1:]:
                if not d.HasField("dim_value") or d.dim_value <= 0:
                    raise HwqError(f"graph input {vi.name!r}: non-batch dimensions must be fixed "
                                   f"positive sizes, got {_dims(dims)}")
                shape.append(int(d.dim_value))
            layer = ir.Input(sanitize(vi.name or "input", self.taken), [], shape=tuple(shape))
            self.add_layer(layer, vi.name)

    def graph_outputs(self) -> list[str]:
        outs: list[str] = []
        for vi in self.proto.graph.output:
            if vi.name not in self.acts:
                raise HwqError(f"graph output {vi.name!r}: is not computed from the inputs")
            if self.acts[vi.name] not in outs:  # two ONNX outputs may alias one layer
                outs.append(self.acts[vi.name])
        return outs

    def prune(self, outputs: list[str]) -> dict[str, ir.Layer]:
        """Drop layers no output depends on (dead ONNX nodes); graph inputs are kept."""
        live, stack = set(), list(outputs)
        while stack:
            n = stack.pop()
            if n not in live:
                live.add(n)
                stack.extend(self.layers[n].inputs)
        return {n: l for n, l in self.layers.items() if n in live or isinstance(l, ir.Input)}

    # -- nodes

    def add_node(self, node) -> None:
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED:
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            raise HwqError(f"unsupported ONNX op {op!r} (node {node.name!r}); "
                           f"supported: {', '.join(SUPPORTED)}")
        if len(node.input) < _MIN_INPUTS.get(node.op_type, 1) or not node.output:
            raise HwqError(f"{_where(node)}: malformed node (too few inputs or no output)")
        getattr(self, "op_" + node.op_type)(node, _attrs(node))

    def op_Constant(self, node, a) -> None:
        if "value" in a:
            v = _tensor(a["value"])
        elif set(a) & {"value_float", "value_floats", "value_int", "value_ints"}:
            key = next(k for k in ("value_float", "value_floats", "value_int", "value_ints") if k in a)
            v = np.array(a[key], dtype=np.float32 if "float" in key else np.int64)
        else:
            raise HwqError(f"{_where(node)}: only tensor and numeric Constant values are supported")
        self.consts[node.output[0]] = v

    def op_Identity(self, node, a) -> None:
        # Pass-through: the output names the same layer (or the same constant).
        t = node.input[0]
        if t in self.consts:
            self.consts[node.output[0]] = self.consts[t]
        else:
            self.acts[node.output[0]] = self.act(node)[0]

    def op_Dropout(self, node, a) -> None:
        # Inference: identity. A used mask output or training_mode=True cannot be honoured.
        if len(node.output) > 1 and node.output[1] and self.uses.get(node.output[1]):
            raise HwqError(f"{_where(node)}: the Dropout mask output is not supported")
        if len(node.input) > 2 and node.input[2]:
            mode = self.const(node, 2, "training_mode")
            if bool(np.asarray(mode).any()):
                raise HwqError(f"{_where(node)}: training_mode=True is not supported")
        self.acts[node.output[0]] = self.act(node)[0]

    def op_Gemm(self, node, a) -> None:
        _only(node, a, transA=0)
        src, shape = self.act(node, 0)
        b = self.weight(node, 1, "weight")
        c = self.weight(node, 2, "bias", optional=True)
        if b.ndim != 2:
            raise HwqError(f"{_where(node)}: weight must be 2-D, got shape {list(b.shape)}")
        w = b if a.get("transB", 0) else b.T  # IR layout is (O, I) = ONNX B with transB=1
        w = w * a.get("alpha", 1.0)
        bias = None if c is None else a.get("beta", 1.0) * _bias(node, c, (1, w.shape[0]))
        self._dense(node, src, shape, w, bias)

    def op_MatMul(self, node, a) -> None:
        src, shape = self.act(node, 0)
        b = self.weight(node, 1, "weight")
        if b.ndim != 2:
            raise HwqError(f"{_where(node)}: weight must be 2-D (I, O), got shape {list(b.shape)}")
        self._dense(node, src, shape, b.T, None)  # ONNX MatMul weight is (I, O)

    def _dense(self, node, src, shape, w, bias) -> None:
        o, i = w.shape
        if shape != (i,):
            raise HwqError(f"{_where(node)}: input has per-sample shape {list(shape)}, "
                           f"expected [{i}] (flatten first?)")
        self.add_layer(ir.Dense(self.new_name(node), [src], in_features=i, out_features=o,
                                weight=_w(w), bias=_b(bias)), node.output[0])

    def op_Conv(self, node, a) -> None:
        _only(node, a, group=1, dilations=1)
        src, shape = self.act(node, 0)
        w = self.weight(node, 1, "weight")
        bias = self.weight(node, 2, "bias", optional=True)
        if w.ndim != 4 or len(shape) != 3:
            raise HwqError(f"{_where(node)}: only 2-D convolution on [N, C, H, W] is supported")
        o, c, kh, kw = w.shape
        if c != shape[0]:
            raise HwqError(f"{_where(node)}: weight expects {c} input channels, input has {shape[0]}")
        if list(a.get("kernel_shape", [kh, kw])) != [kh, kw]:
            raise HwqError(f"{_where(node)}: kernel_shape {a['kernel_shape']} != weight shape")
        stride = _pair(node, a, "strides")
        pads = _pads(node, a, shape[1:], (kh, kw), stride)
        self.add_layer(ir.Conv2d(self.new_name(node), [src], in_channels=c, out_channels=o,
                                 kernel=(kh, kw), stride=stride, padding=pads, weight=_w(w),
                                 bias=_b(None if bias is None else _bias(node, bias, (o,)))),
                       node.output[0])

    def op_Relu(self, node, a) -> None:
        src, _ = self.act(node)
        self.add_layer(ir.ReLU(self.new_name(node), [src]), node.output[0])

    def op_MaxPool(self, node, a) -> None:
        if len(node.output) > 1 and node.output[1]:
            raise HwqError(f"{_where(node)}: the MaxPool Indices output is not supported")
        self._pool(node, a, ir.MaxPool, dilations=1)

    def non_negative(self, layer: str) -> bool:
        """True when the layer's output is >= 0 for every input (a ReLU, or pools/flattens of one)."""
        l = self.layers[layer]
        if isinstance(l, ir.ReLU):
            return True
        if isinstance(l, (ir.MaxPool, ir.AvgPool, ir.Flatten)) or layer in self.pad_layers:
            return self.non_negative(l.inputs[0])
        return False

    def zero_pad(self, node, src: str, shape, pads, pool_name: str) -> str:
        """A 1x1 identity Conv2d with ``pads`` in front of a padded MaxPool (module docstring)."""
        if not self.non_negative(src):
            raise HwqError(f"{_where(node)}: padded MaxPool is supported only on a non-negative input "
                           f"(after a ReLU), where zero padding equals ONNX's -inf padding; its input "
                           f"{src!r} is a {self.layers[src].KIND} layer")
        c = shape[0]
        t, l, b, r = pads
        kh, kw = t + b + 1, l + r + 1
        eye = np.zeros((c, c, kh, kw))
        eye[np.arange(c), np.arange(c), b, r] = 1.0
        pad = ir.Conv2d(sanitize(f"{pool_name}_pad", self.taken), [src], in_channels=c,
                        out_channels=c, kernel=(kh, kw), stride=(1, 1), padding=(t + b, l + r, t + b, l + r),
                        weight=_w(eye))
        self.add_layer(pad, f"{node.output[0]}#pad")
        self.pad_layers.add(pad.name)
        return pad.name

    def op_AveragePool(self, node, a) -> None:
        # count_include_pad only matters with padding, which is rejected below.
        a.pop("count_include_pad", None)
        self._pool(node, a, ir.AvgPool)

    def _pool(self, node, a, cls, **defaults) -> None:
        _only(node, a, ceil_mode=0, **defaults)
        src, shape = self.act(node)
        if len(shape) != 3 or len(a.get("kernel_shape", [])) != 2:
            raise HwqError(f"{_where(node)}: only 2-D pooling on [N, C, H, W] is supported")
        k = tuple(int(v) for v in a["kernel_shape"])
        stride = _pair(node, a, "strides")
        # The IR pools have no padding (hardware windows stay inside the tensor).
        pads = _pads(node, a, shape[1:], k, stride)
        name = self.new_name(node)
        if any(pads):
            if cls is not ir.MaxPool:
                raise HwqError(f"{_where(node)}: padded average pooling is not supported (pads must be 0)")
            if max(pads[0], pads[2]) >= k[0] or max(pads[1], pads[3]) >= k[1]:
                raise HwqError(f"{_where(node)}: pads {list(pads)} must be smaller than the kernel {list(k)}")
            src = self.zero_pad(node, src, shape, pads, name)
        self.add_layer(cls(name, [src], kernel=k, stride=stride), node.output[0])

    def op_GlobalAveragePool(self, node, a) -> None:
        self._global_pool(node, ir.AvgPool)

    def op_GlobalMaxPool(self, node, a) -> None:
        self._global_pool(node, ir.MaxPool)

    def _global_pool(self, node, cls) -> None:
        # One window over the whole map; ONNX keeps the axes, so (C, H, W) -> (C, 1, 1).
        src, shape = self.act(node)
        if len(shape) != 3:
            raise HwqError(f"{_where(node)}: only 2-D pooling on [N, C, H, W] is supported")
        self.add_layer(cls(self.new_name(node), [src], kernel=(shape[1], shape[2]), stride=(1, 1)),
                       node.output[0])

    def op_Flatten(self, node, a) -> None:
        _only(node, a, axis=1)
        src, _ = self.act(node)
        self.add_layer(ir.Flatten(self.new_name(node), [src]), node.output[0])

    def op_Reshape(self, node, a) -> None:
        # Only the "flatten to [batch, features]" reshape exporters emit before a classifier.
        # A fixed batch size in the target (e.g. [1, -1]) is accepted: the IR is batch-free.
        src, shape = self.act(node)
        feats = math.prod(shape)
        if node.input[1] in self.shape_vals:  # x.view(x.size(0), -1): [BATCH, -1] or [BATCH, feats]
            target = self.shape_vals[node.input[1]]
            if target.shape == (2,) and target[0] is BATCH and target[1] in (-1, feats):
                self.add_layer(ir.Flatten(self.new_name(node), [src]), node.output[0])
                return
            raise HwqError(f"{_where(node)}: only Reshape to [N, -1] / [N, {feats}] (a flatten) "
                           f"is supported, got {target.tolist()}")
        target = self.const(node, 1, "shape")
        ok = target is not None and target.shape == (2,) and target.dtype.kind in "iu"
        if ok:
            n, f = (int(v) for v in target)
            zero_copies = not a.get("allowzero", 0)
            ok = (f in (-1, feats) and (n > 0 or (n == 0 and zero_copies) or (n == -1 and f != -1)))
        if not ok:
            raise HwqError(f"{_where(node)}: only Reshape to [N, -1] / [N, {feats}] (a flatten) "
                           f"is supported, got {None if target is None else target.tolist()}")
        self.add_layer(ir.Flatten(self.new_name(node), [src]), node.output[0])

    def op_Add(self, node, a) -> None:
        x, y = node.input[0], node.input[1]
        if x in self.acts and y in self.acts:  # residual connection
            srcs = [self.acts[x], self.acts[y]]
            if self.shapes[srcs[0]] != self.shapes[srcs[1]]:
                raise HwqError(f"{_where(node)}: broadcasting Add is not supported "
                               f"({list(self.shapes[srcs[0]])} + {list(self.shapes[srcs[1]])})")
            self.add_layer(ir.Add(self.new_name(node), srcs), node.output[0])
            return
        # activation + constant: the bias of the Dense/Conv right before (MatMul + Add, or
        # Conv + Add of a (1, C, 1, 1) constant as some PyTorch exports emit).
        k_const = 1 if x in self.acts else 0
        self.act(node, 1 - k_const)  # a clear error if neither input is an activation
        layer = self.foldable(node, 1 - k_const)
        if layer is None:
            raise HwqError(f"{_where(node)}: adding a constant is only supported as the bias of a "
                           "Gemm/MatMul/Conv whose output is used nowhere else")
        c = self.weight(node, k_const, "bias")
        o = layer.weight.shape[0]
        c = _bias(node, c, (1, o) if isinstance(layer, ir.Dense) else (1, o, 1, 1))
        old = 0.0 if layer.bias is None else layer.bias.astype(np.float64)
        layer.bias = _b(old + c)
        self.folded(layer, node)

    def op_BatchNormalization(self, node, a) -> None:
        # Inference BN is a per-channel affine map y = x * f + (B - mean * f), f = s/sqrt(var+eps),
        # so it folds exactly into the weight rows and bias of the Conv/Gemm before it.
        _only(node, a, spatial=1)
        if a.get("training_mode", 0) or (self.opset < 7 and not a.get("is_test", 0)):
            raise HwqError(f"{_where(node)}: cannot fold a training-mode BatchNormalization "
                           "(batch statistics) into a preceding Conv/Gemm")
        if any(self.uses.get(o) for o in node.output[1:] if o):
            raise HwqError(f"{_where(node)}: the training outputs (running/saved mean and var) "
                           "are not supported")
        src, shape = self.act(node)
        layer = self.foldable(node, 0)
        if layer is None:
            self._affine(node, a, src, shape)
            return
        o = layer.weight.shape[0]
        f, c = self._bn_factors(node, a, o)
        w = layer.weight.dense_float()
        layer.weight = _w(w * f.reshape((-1,) + (1,) * (w.ndim - 1)))
        b = 0.0 if layer.bias is None else layer.bias.astype(np.float64)
        layer.bias = _b(b * f + c)
        self.folded(layer, node)

    def _bn_factors(self, node, a, o: int) -> tuple[np.ndarray, np.ndarray]:
        """(f, c) of BN's y = x * f + c per channel, with its parameters checked."""
        s, beta, mean, var = (self.weight(node, k, what) for k, what in
                              enumerate(("scale", "B", "mean", "var"), start=1))
        for k, v in enumerate((s, beta, mean, var), start=1):
            if v.shape != (o,):
                raise HwqError(f"{_where(node)}: {node.input[k]!r} has shape {list(v.shape)}, "
                               f"expected [{o}] (one value per channel)")
        denom = var + a.get("epsilon", 1e-5)
        if not (denom > 0).all():
            raise HwqError(f"{_where(node)}: var + epsilon must be positive")
        f = s / np.sqrt(denom)
        return f, beta - mean * f

    def _affine(self, node, a, src: str, shape) -> None:
        """A BatchNormalization with no Conv/Gemm to fold into: its affine map as a diagonal layer."""
        if len(shape) not in (1, 3):
            raise HwqError(f"{_where(node)}: BatchNormalization on a per-sample shape {list(shape)} "
                           "(only [C, H, W] or [F])")
        f, c = self._bn_factors(node, a, shape[0])
        name = self.new_name(node)
        if len(shape) == 1:
            layer = ir.Dense(name, [src], in_features=shape[0], out_features=shape[0],
                             weight=_w(np.diag(f)), bias=_b(c))
        else:
            layer = ir.Conv2d(name, [src], in_channels=shape[0], out_channels=shape[0], kernel=(1, 1),
                              weight=_w(np.diag(f).reshape(shape[0], shape[0], 1, 1)), bias=_b(c))
        self.add_layer(layer, node.output[0])

    # -- shape arithmetic (symbolic: the batch size is BATCH, per-sample sizes are numbers)

    def shape_or_const(self, node, k: int, what: str) -> np.ndarray:
        t = node.input[k] if k < len(node.input) else ""
        if t in self.shape_vals:
            return self.shape_vals[t]
        v = self.const(node, k, what)
        if v.dtype.kind not in "iu":
            raise HwqError(f"{_where(node)}: {what} {t!r} must be integers, got {v.dtype}")
        return v.astype(object)

    def put_shape(self, node, v: np.ndarray) -> None:
        if any(e is BATCH or e == BATCH for e in np.asarray(v, dtype=object).ravel()):
            self.shape_vals[node.output[0]] = v
        else:
            self.consts[node.output[0]] = np.asarray(v, dtype=np.int64)

    def op_Shape(self, node, a) -> None:
        _, shape = self.act(node)
        full = np.array([BATCH, *shape], dtype=object)
        start, end = a.get("start", 0), a.get("end", len(full))
        self.put_shape(node, full[start:end])

    def op_Gather(self, node, a) -> None:
        t = node.input[0]
        if t not in self.shape_vals and t not in self.consts:
            raise HwqError(f"{_where(node)}: Gather is supported on shape tensors and constants only")
        data = self.shape_or_const(node, 0, "data") if t in self.shape_vals else self.consts[t]
        idx = self.const(node, 1, "indices")
        try:
            out = np.asarray(np.take(data, np.asarray(idx, dtype=np.int64), axis=a.get("axis", 0)),
                             dtype=data.dtype)
        except (IndexError, ValueError, np.exceptions.AxisError) as e:
            raise HwqError(f"{_where(node)}: {_one_line(e)}") from None
        if t in self.shape_vals:
            self.put_shape(node, out)
        else:
            self.consts[node.output[0]] = out

    def op_Unsqueeze(self, node, a) -> None:
        t = node.input[0]
        if t not in self.shape_vals and t not in self.consts:
            raise HwqError(f"{_where(node)}: Unsqueeze is supported on shape tensors and constants only")
        axes = a.get("axes") if self.opset < 13 else self.const(node, 1, "axes")
        v = self.shape_vals.get(t, self.consts.get(t))
        for ax in sorted(int(x) % (v.ndim + len(axes)) for x in np.asarray(axes).ravel()):
            v = np.expand_dims(v, ax)
        (self.shape_vals if t in self.shape_vals else self.consts)[node.output[0]] = v

    def op_Concat(self, node, a) -> None:
        if not all(t in self.shape_vals or t in self.consts for t in node.input):
            raise HwqError(f"{_where(node)}: Concat is supported on shape tensors and constants only "
                           "(activation concatenation has no IR layer)")
        parts = [self.shape_or_const(node, k, "input") if t in self.shape_vals else self.consts[t]
                 for k, t in enumerate(node.input)]
        if any(t in self.shape_vals for t in node.input):
            parts = [np.asarray(p, dtype=object) for p in parts]
        try:
            out = np.concatenate(parts, axis=a.get("axis", 0))
        except ValueError as e:
            raise HwqError(f"{_where(node)}: {_one_line(e)}") from None
        self.put_shape(node, out) if out.dtype == object else self.consts.__setitem__(node.output[0], out)

    def op_Cast(self, node, a) -> None:
        t = node.input[0]
        if t in self.shape_vals:  # shape arithmetic: int64 to int64 or int32, a no-op here
            self.shape_vals[node.output[0]] = self.shape_vals[t]
        elif t in self.consts and "to" in a:
            self.consts[node.output[0]] = self.consts[t].astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"]))
        else:
            raise HwqError(f"{_where(node)}: Cast is supported on shape tensors and constants only")

    def op_Softmax(self, node, a) -> None:
        src, shape = self.act(node)
        if len(shape) != 1 or a.get("axis", -1 if self.opset >= 13 else 1) not in (1, -1):
            raise HwqError(f"{_where(node)}: only Softmax over the last axis of [N, features] "
                           "is supported")
        outs = {o.name for o in self.proto.graph.output}
        if node.output[0] not in outs or self.uses[node.output[0]] != 1:
            raise HwqError(f"{_where(node)}: Softmax must be a graph output read by no other node "
                           "(the IR computes it in float at the very end)")
        self.add_layer(ir.Softmax(self.new_name(node), [src]), node.output[0])


# ---------------------------------------------------------------------------- small helpers


def _module_name(node) -> str:
    """Torch's export names nodes "/<module path>/<OpType>[_N]": the module path, without the
    enclosing modules that the next part repeats ("layer1/layer1.0" -> "layer1.0")."""
    parts = node.name.split("/")
    if len(parts) < 3 or parts[0] != "" or not re.fullmatch(re.escape(node.op_type) + r"(_\d+)?", parts[-1]):
        return ""
    path = [p for p in parts[1:-1] if p]
    path = [p for i, p in enumerate(path) if not (i + 1 < len(path) and path[i + 1].startswith(p + "."))]
    return "/".join(path)


def _where(node) -> str:
    if node.name:
        return f"{node.op_type} node {node.name!r}"
    return f"{node.op_type} node (output {node.output[0] if node.output else ''!r})"


_A = onnx.AttributeProto
_ATTR_TYPES = {"transA": _A.INT, "transB": _A.INT, "alpha": _A.FLOAT, "beta": _A.FLOAT,
               "group": _A.INT, "dilations": _A.INTS, "kernel_shape": _A.INTS, "strides": _A.INTS,
               "pads": _A.INTS, "auto_pad": _A.STRING, "ceil_mode": _A.INT, "axis": _A.INT,
               "allowzero": _A.INT, "count_include_pad": _A.INT, "value": _A.TENSOR,
               "value_float": _A.FLOAT, "value_floats": _A.FLOATS, "value_int": _A.INT,
               "value_ints": _A.INTS, "epsilon": _A.FLOAT, "training_mode": _A.INT,
               "spatial": _A.INT, "is_test": _A.INT, "axes": _A.INTS, "start": _A.INT, "end": _A.INT,
               "to": _A.INT}


def _attrs(node) -> dict:
    """Attribute values by name; the types of the ones we read are checked here, once."""
    out = {}
    for at in node.attribute:
        want = _ATTR_TYPES.get(at.name)
        if want is not None and at.type != want:
            got = _A.AttributeType.Name(at.type) if at.type in _A.AttributeType.values() else at.type
            raise HwqError(f"{_where(node)}: attribute {at.name!r} has type {got}, "
                           f"expected {_A.AttributeType.Name(want)}")
        out[at.name] = onnx.helper.get_attribute_value(at) if want is not None else None
    return out


def _only(node, a: dict, **allowed) -> None:
    """Reject attributes whose value the IR cannot express (e.g. group=2, dilations=2)."""
    for key, want in allowed.items():
        if key in a:
            v = a[key]
            bad = any(int(e) != want for e in v) if isinstance(v, (list, tuple)) else v != want
            if bad:
                raise HwqError(f"{_where(node)}: unsupported attribute {key}={v!r} "
                               f"(only {want} is supported)")


def _pair(node, a: dict, key: str) -> tuple[int, int]:
    v = tuple(int(e) for e in a.get(key, (1, 1)))
    if len(v) != 2 or min(v) < 1:
        raise HwqError(f"{_where(node)}: {key} must be two positive integers, got {list(v)}")
    return v  # type: ignore[return-value]


def _pads(node, a: dict, hw, k, stride) -> tuple[int, int, int, int]:
    """Explicit (top, left, bottom, right) padding; ONNX pads are [t, l, b, r] for 2-D."""
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode(errors="replace") if isinstance(auto, bytes) else auto
    if auto == "NOTSET":
        p = tuple(int(e) for e in a.get("pads", (0, 0, 0, 0)))
        if len(p) != 4 or min(p) < 0:
            raise HwqError(f"{_where(node)}: pads must be 4 non-negative integers, got {list(p)}")
        return p  # type: ignore[return-value]
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise HwqError(f"{_where(node)}: unsupported auto_pad {auto!r}")
    # SAME: output = ceil(in / stride); SAME_UPPER puts the odd extra pixel at the end.
    begin, end = [], []
    for size, kk, s in zip(hw, k, stride):
        total = max((-(-size // s) - 1) * s + kk - size, 0)
        small = total // 2
        begin.append(small if auto == "SAME_UPPER" else total - small)
        end.append(total - begin[-1])
    return (begin[0], begin[1], end[0], end[1])


def _bias(node, c: np.ndarray, target: tuple[int, ...]) -> np.ndarray:
    """Broadcast a constant bias to ``target`` (e.g. (1, O)) and return it as (O,)."""
    try:
        return np.broadcast_to(c, target).reshape(-1).astype(np.float64)
    except ValueError:
        raise HwqError(f"{_where(node)}: bias of shape {list(c.shape)} does not broadcast to "
                       f"{list(target)}") from None


def _w(w: np.ndarray) -> ir.Weight:
    return ir.Weight(tuple(int(d) for d in w.shape),
                     ir.Float32Values(np.ascontiguousarray(w, dtype=np.float32).ravel()))


def _b(b: np.ndarray | None) -> np.ndarray | None:
    return None if b is None else np.asarray(b, dtype=np.float32)


def _dims(dims) -> list:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
