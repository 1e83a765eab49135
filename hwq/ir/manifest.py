"""Model <-> (manifest.json dict, named tensors), with structural checks.

Tensor names follow a fixed convention, never free text from the file, so a manifest
cannot point at arbitrary zip entries:

    <layer>.weight.<codec tensor>     e.g. fc2.weight.indices, fc2.weight.codebook
    <layer>.weight.ptr / .rel         sparse layouts
    <layer>.bias / <layer>.bias_q
    <layer>.requant.exponent / .multiplier     (add: <layer>.requant0.*, requant1.*)
"""

from __future__ import annotations

import numpy as np

from hwq.errors import IRError
from hwq.ir.layers import LAYER_TYPES, Add, Layer, WeightedLayer
from hwq.ir.model import Model
from hwq.ir.names import check_name
from hwq.ir.quant import QuantParams, Requant
from hwq.ir.sparse import SparseIndex
from hwq.ir.values import VALUE_TYPES
from hwq.ir.weight import Weight

FORMAT = "hwq-ir"
SCHEMA_VERSION = 1

TUPLE_ATTRS = {"shape", "kernel", "stride", "padding"}
TOP_KEYS = {"format", "schema_version", "name", "outputs", "provenance", "layers", "tensors"}
LAYER_KEYS = {"name", "kind", "inputs", "attrs", "quant"}
WEIGHTED_KEYS = LAYER_KEYS | {"weight", "bias", "bias_q", "requant"}
MAX_INT = (1 << 31) - 1  # every integer in a manifest (sizes, attributes) fits int32


def to_manifest(model: Model) -> tuple[dict, dict[str, np.ndarray]]:
    tensors: dict[str, np.ndarray] = {}
    layers = []
    for layer in model.layers.values():
        entry: dict = {"name": layer.name, "kind": layer.KIND, "inputs": list(layer.inputs),
                       "attrs": {a: _jsonable(getattr(layer, a)) for a in layer.ATTRS},
                       "quant": layer.quant.to_json() if layer.quant else None}
        if isinstance(layer, WeightedLayer):
            w = layer.weight
            assert w is not None
            for t, arr in w.values.tensors().items():
                tensors[f"{layer.name}.weight.{t}"] = arr
            sparse = None
            if w.sparse is not None:
                sparse = {"format": w.sparse.format, "index_bits": w.sparse.index_bits,
                          "pointer_bits": w.sparse.pointer_bits}
                tensors[f"{layer.name}.weight.ptr"] = w.sparse.ptr
                tensors[f"{layer.name}.weight.rel"] = w.sparse.rel
            entry["weight"] = {"shape": list(w.shape),
                               "values": {"type": w.values.TYPE, "attrs": w.values.attrs()},
                               "sparse": sparse}
            for part in ("bias", "bias_q"):
                arr = getattr(layer, part)
                entry[part] = arr is not None
                if arr is not None:
                    tensors[f"{layer.name}.{part}"] = arr
            entry["requant"] = _requant_out(layer.requant, f"{layer.name}.requant", tensors)
        elif isinstance(layer, Add):
            entry["requant"] = None if layer.requant is None else [
                _requant_out(r, f"{layer.name}.requant{i}", tensors) for i, r in enumerate(layer.requant)]
        layers.append(entry)
    manifest = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "name": model.name,
        "outputs": list(model.outputs),
        "provenance": model.provenance,
        "layers": layers,
        "tensors": {n: {"dtype": a.dtype.name, "shape": list(a.shape)} for n, a in sorted(tensors.items())},
    }
    return manifest, tensors


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def _requant_out(r: Requant | None, prefix: str, tensors: dict) -> dict | None:
    if r is None:
        return None
    tensors[f"{prefix}.exponent"] = r.exponent
    if r.multiplier is not None:
        tensors[f"{prefix}.multiplier"] = r.multiplier
    return {"mode": r.mode}


# ---------------------------------------------------------------------------- reading


def check_header(manifest: object) -> dict:
    if not isinstance(manifest, dict):
        raise IRError("manifest.json: must be a JSON object")
    if manifest.get("format") != FORMAT:
        raise IRError(f"manifest.json: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    version = manifest.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise IRError(f"manifest.json: schema_version {version!r} is not supported "
                      f"(this hwq reads version {SCHEMA_VERSION})")
    unknown = sorted(set(manifest) - TOP_KEYS, key=str)
    if unknown:
        raise IRError(f"manifest.json: unknown key {str(unknown[0])[:40]!r}")
    return manifest


def declared_tensors(manifest: dict) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype name, shape) as declared, checked for form only."""
    decl = manifest.get("tensors")
    if not isinstance(decl, dict):
        raise IRError("manifest.json: tensors must be an object")
    out = {}
    for name, d in decl.items():
        where = f"tensors.{name}"
        if not isinstance(name, str) or not all(check_name(p, "tensor name part") for p in name.split(".")):
            raise IRError(f"{where}: bad tensor name")
        if not isinstance(d, dict) or set(d) != {"dtype", "shape"}:
            raise IRError(f"{where}: expected keys dtype and shape")
        shape = d["shape"]
        if not isinstance(shape, list) or not all(is_int(s) and 0 <= s <= MAX_INT for s in shape) \
                or len(shape) > 6:
            raise IRError(f"{where}.shape: must be a list of at most 6 integers in [0, 2^31)")
        if not isinstance(d["dtype"], str):
            raise IRError(f"{where}.dtype: must be a string")
        out[name] = (d["dtype"], tuple(shape))
    return out


def from_manifest(manifest: dict, tensors: dict[str, np.ndarray]) -> Model:
    check_header(manifest)
    used: set[str] = set()

    def take(name: str, allowed: tuple[str, ...]) -> np.ndarray:
        if name not in tensors:
            raise IRError(f"{name}: tensor missing")
        arr = tensors[name]
        if arr.dtype.name not in allowed:
            raise IRError(f"{name}: dtype {arr.dtype.name} not one of {', '.join(allowed)}")
        used.add(name)
        return arr

    name = manifest.get("name")
    check_name(name, "model name")
    raw_layers = manifest.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise IRError("manifest.json: layers must be a non-empty list")
    layers: dict[str, Layer] = {}
    for i, raw in enumerate(raw_layers):
        layer = _layer_from_json(raw, i, take)
        if layer.name in layers:
            raise IRError(f"{layer.name}: duplicate layer name")
        layers[layer.name] = layer
    outputs = manifest.get("outputs")
    if not isinstance(outputs, list) or not outputs or not all(isinstance(o, str) for o in outputs):
        raise IRError("manifest.json: outputs must be a non-empty list of layer names")
    provenance = manifest.get("provenance", {})
    if not isinstance(provenance, dict):
        raise IRError("manifest.json: provenance must be an object")
    extra = sorted(set(tensors) - used)
    if extra:
        raise IRError(f"{extra[0]}: tensor is not used by any layer")
    return Model(name=name, layers=layers, outputs=list(outputs), provenance=provenance)


def _layer_from_json(raw: object, i: int, take) -> Layer:
    if not isinstance(raw, dict):
        raise IRError(f"layers[{i}]: must be an object")
    name = check_name(raw.get("name"), f"layers[{i}].name")
    kind = raw.get("kind")
    cls = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise IRError(f"{name}.kind: unknown layer kind {str(kind)[:40]!r} "
                      f"(known: {', '.join(sorted(LAYER_TYPES))})")
    required = WEIGHTED_KEYS if issubclass(cls, WeightedLayer) else LAYER_KEYS
    optional = {"requant"} if cls is Add else set()
    missing, extra = sorted(required - set(raw)), sorted(set(raw) - required - optional, key=str)
    if missing or extra:
        raise IRError(f"{name}: " + (f"missing key {missing[0]!r}" if missing else f"unknown key {str(extra[0])[:40]!r}"))
    inputs = raw.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != cls.N_INPUTS:
        raise IRError(f"{name}.inputs: a {kind} layer takes {cls.N_INPUTS} input(s)")
    for src in inputs:
        check_name(src, f"{name}.inputs entry")
    attrs = raw["attrs"]
    if not isinstance(attrs, dict) or set(attrs) != set(cls.ATTRS):
        raise IRError(f"{name}.attrs: expected keys {', '.join(cls.ATTRS) or '(none)'}")
    kwargs = {}
    for a in cls.ATTRS:
        v = attrs[a]
        if a in TUPLE_ATTRS:
            if not isinstance(v, list) or len(v) > 6 or not all(is_int(x) and abs(x) <= MAX_INT for x in v):
                raise IRError(f"{name}.{a}: must be a list of integers below 2^31")
            v = tuple(v)
        elif not (is_int(v) and abs(v) <= MAX_INT):
            raise IRError(f"{name}.{a}: must be an integer below 2^31")
        kwargs[a] = v
    quant = raw["quant"]
    kwargs["quant"] = None if quant is None else QuantParams.from_json(quant, f"{name}.quant")
    if issubclass(cls, WeightedLayer):
        kwargs["weight"] = _weight_from_json(raw.get("weight"), name, take)
        for part, dtypes in (("bias", ("float32",)), ("bias_q", ("int32",))):
            flag = raw.get(part)
            if not isinstance(flag, bool):
                raise IRError(f"{name}.{part}: must be true or false")
            kwargs[part] = take(f"{name}.{part}", dtypes) if flag else None
        kwargs["requant"] = _requant_in(raw["requant"], f"{name}.requant", take)
    elif cls is Add:
        rq = raw.get("requant")
        if rq is None:
            kwargs["requant"] = None
        elif isinstance(rq, list) and len(rq) == 2:
            kwargs["requant"] = [_requant_in(r, f"{name}.requant{k}", take) for k, r in enumerate(rq)]
            if None in kwargs["requant"]:
                raise IRError(f"{name}.requant: both entries must be set")
        else:
            raise IRError(f"{name}.requant: must be null or a list of two entries")
    return cls(name, list(inputs), **kwargs)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _weight_from_json(raw: object, lname: str, take) -> Weight:
    where = f"{lname}.weight"
    if not isinstance(raw, dict) or set(raw) != {"shape", "values", "sparse"}:
        raise IRError(f"{where}: expected keys shape, values, sparse")
    shape = raw["shape"]
    if not isinstance(shape, list) or len(shape) not in (2, 4) \
            or not all(is_int(s) and 0 < s <= MAX_INT for s in shape):
        raise IRError(f"{where}.shape: must be 2 or 4 positive integers below 2^31")
    vals = raw["values"]
    if not isinstance(vals, dict) or set(vals) != {"type", "attrs"}:
        raise IRError(f"{where}.values: expected keys type and attrs")
    vcls = VALUE_TYPES.get(vals["type"]) if isinstance(vals["type"], str) else None
    if vcls is None:
        raise IRError(f"{where}.values.type: unknown encoding {str(vals['type'])[:40]!r} "
                      f"(known: {', '.join(sorted(VALUE_TYPES))})")
    vattrs = vals["attrs"]
    if not isinstance(vattrs, dict) or set(vattrs) != set(vcls.ATTRS) \
            or not all(is_int(v) and abs(v) <= MAX_INT for v in vattrs.values()):
        raise IRError(f"{where}.values.attrs: expected integer keys {', '.join(vcls.ATTRS) or '(none)'}")
    vt = {t: take(f"{where}.{t}", dtypes) for t, dtypes in vcls.TENSORS.items()}
    for t, arr in vt.items():
        if t not in ("codebook", "assignments") and arr.ndim != 1:
            raise IRError(f"{where}.{t}: must be 1-D, shape is {arr.shape}")
    values = vcls.build(vattrs, vt)
    sparse = None
    sp = raw["sparse"]
    if sp is not None:
        if not isinstance(sp, dict) or set(sp) != {"format", "index_bits", "pointer_bits"}:
            raise IRError(f"{where}.sparse: expected keys format, index_bits, pointer_bits")
        sparse = SparseIndex(sp["format"], sp["index_bits"], sp["pointer_bits"],
                             take(f"{where}.ptr", ("int32",)), take(f"{where}.rel", ("uint8", "uint16")))
        for t in ("ptr", "rel"):
            if getattr(sparse, t).ndim != 1:
                raise IRError(f"{where}.{t}: must be 1-D")
    return Weight(tuple(shape), values, sparse)


def _requant_in(raw: object, where: str, take) -> Requant | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"mode"}:
        raise IRError(f"{where}: expected key mode")
    mode = raw["mode"]
    if not isinstance(mode, str):
        raise IRError(f"{where}.mode: must be a string")
    exponent = take(f"{where}.exponent", ("int32",))
    multiplier = take(f"{where}.multiplier", ("int32",)) if mode == "multiplier" else None
    r = Requant(mode, exponent, multiplier)
    r.check(where)
    return r
