"""The sweep's one door into `hwq.compress`: a point's compression axes -> a compressed model.

Everything the sweep knows about the compression pipeline's options lives here, so a change
of the pipeline's interface (e.g. a per-layer plan) touches only :func:`options` and
:func:`compress`. Axes are the `hwq compress` options (underscored), plus

* ``scheme`` (codebook | pow2 | ternary | int8 | pq | float32) with ``bits``: the value
  scheme and its code bits in two axes, so schemes and widths sweep independently
  (``bits`` is ignored by ternary and int8; pq takes ``pq: M:K``);
* per-layer axes ``prune.<layer>``, ``share_bits.<layer>``, ``bits.<layer>``: one axis per
  layer, gathered into the per-layer table of `hwq compress --prune fc1=0.9,*=0.8`.
"""

from __future__ import annotations

import dataclasses
import math

from hwq.errors import HwqError

SCHEMES = ("codebook", "pow2", "ternary", "int8", "pq", "float32")
# axes taken as they are by the pipeline's options (hwq compress's flags, underscored)
PLAIN = ("prune", "prune_quality", "share_bits", "init", "pow2_bits", "ternary", "int8", "pq", "value_bits",
         "sparse", "index_bits", "retrain_epochs", "lr", "act_bits", "pow2_act")
AXES = ("scheme", "bits") + PLAIN
PER_LAYER = ("prune", "share_bits", "bits")


def is_axis(name: str) -> bool:
    base, dot, layer = name.partition(".")
    return name in AXES or (bool(dot) and base in PER_LAYER and bool(layer))


def layer_of(name: str) -> str | None:
    """The layer a per-layer axis names (``prune.fc1`` -> ``fc1``), else None."""
    return name.partition(".")[2] or None


def _gather(params: dict, base: str):
    """``prune`` and ``prune.<layer>`` axes -> one value or a per-layer table ({"*": ...})."""
    table = {}
    whole = params.get(base)
    if isinstance(whole, dict):
        table.update(whole)
    elif whole is not None:
        table["*"] = whole
    for name, value in params.items():
        if name.startswith(base + ".") and value is not None:
            table[name.split(".", 1)[1]] = value
    if not table:
        return None
    return table["*"] if set(table) == {"*"} else table


def options(params: dict, data: str | None, seed: int):
    """The pipeline's options for one point's compression parameters (checked)."""
    from hwq.compress.pipeline import CompressOptions, parse_per_layer

    kw: dict = {name: params[name] for name in PLAIN if name in params and params[name] is not None
                and name not in ("prune", "share_bits")}
    for base in ("prune", "share_bits"):
        value = _gather(params, base)
        if isinstance(value, str):  # the CLI's text form, fc1=0.9,*=0.8
            value = parse_per_layer(f"--{base.replace('_', '-')}", value, float if base == "prune" else int)
        if value is not None:
            kw[base] = value
    scheme, bits = params.get("scheme"), _gather(params, "bits")
    if scheme is not None:
        if scheme not in SCHEMES:
            raise HwqError(f"scheme {scheme!r}: choose from {', '.join(SCHEMES)}")
        if scheme == "codebook":
            kw["share_bits"] = kw.get("share_bits", bits if bits is not None else 5)
        elif scheme == "pow2":
            if isinstance(bits, dict):
                raise HwqError("scheme pow2: bits are one width for every layer, not per layer")
            kw["pow2_bits"] = kw.get("pow2_bits", bits if bits is not None else 5)
        elif scheme in ("ternary", "int8"):
            kw[scheme] = True
        elif scheme == "pq" and "pq" not in kw:
            raise HwqError("scheme pq needs a pq axis (M:K, e.g. 4:32)")
    elif bits is not None:
        raise HwqError("axis bits needs a scheme axis (codebook or pow2)")
    if isinstance(kw.get("pq"), str):
        try:
            m, k = (int(v) for v in kw["pq"].split(":"))
        except ValueError:
            raise HwqError(f"pq {kw['pq']!r}: expected M:K, e.g. 4:32") from None
        kw["pq"] = (m, k)
    for flag in ("ternary", "int8", "pow2_act"):
        if flag in kw and not isinstance(kw[flag], bool):
            raise HwqError(f"{flag} {kw[flag]!r}: expected true or false")
    needs_data = kw.get("retrain_epochs") or kw.get("act_bits") is not None
    try:
        opts = CompressOptions(data=data if needs_data else None, seed=seed, **kw)
        opts.check()
    except TypeError as e:
        raise HwqError(f"compression parameters: {e}") from None
    return opts


def canonical(params: dict, data: str | None, seed: int) -> dict:
    """What the compressed model depends on, as plain JSON: equal dicts, equal models."""
    opts = options(params, data, seed)
    out = {}
    for f in dataclasses.fields(opts):
        v = getattr(opts, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def check_layers(params: dict, model) -> None:
    """Every per-layer axis names a weighted layer of ``model``."""
    names = [l.name for l in model.weighted()]
    for key, value in params.items():
        base = key.partition(".")[0]
        layers = [layer_of(key)] if layer_of(key) else (list(value) if isinstance(value, dict) else [])
        for layer in layers:
            if base in PER_LAYER and layer != "*" and layer not in names:
                raise HwqError(f"axis {key}: {model.name} has no weighted layer {layer!r} "
                               f"(layers: {', '.join(names)})")


def compress(model, params: dict, data_split, data: str | None, seed: int):
    """The compressed model of one point (the input model is not modified)."""
    from hwq.compress.pipeline import compress_model

    return compress_model(model, options(params, data, seed), data_split)


def storage(model) -> dict:
    """Size columns of a compressed model: bytes stored, Deep Compression's rate, density."""
    from hwq.ir.storage import StorageBits, compression_rate, layer_storage

    total = sum((layer_storage(l) for l in model.weighted()), StorageBits())
    return {"storage_bytes": math.ceil(total.total / 8), "compression": 1.0 / compression_rate(total),
            "compression_huffman": 1.0 / compression_rate(total, huffman=True),
            "density": total.nnz / (total.dense_float_bits // 32)}


def load_data(name: str | None, model):
    """The data split a spec names ('digits' or an .npz), checked against the model's input."""
    from hwq.compress.pipeline import load_data as pipeline_load_data

    return pipeline_load_data(name, model)


def evaluate(model, data) -> dict:
    """Test accuracy (fractions) through the golden model: ``acc`` is the bit-exact integer
    run's when the model is quantized, else the float reference's."""
    from hwq.compress.pipeline import summary

    s = summary(model, data)
    return {"acc": s["acc_int"] if s["acc_int"] is not None else s["acc_float"], "acc_float": s["acc_float"]}
