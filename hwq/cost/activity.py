"""Activation density: the non-zero fraction of every layer's input, measured or given.

* measured: run the golden model (``run_int`` for a quantized model, else ``run_float``) with
  ``keep_all`` on a batch; an activation is zero when it equals its zero point (the real 0).
  Each element keeps its own fraction over the batch, so padding and dead pixels count exactly.
* given: ``--act-density 0.35`` (every layer) or ``fc6=0.351,fc7=0.353,*=1`` (per layer; the
  density of that layer's *input*, as EIE's Table 3 reports it). Given values replace measured
  ones for the layers they name.
* otherwise 1.0 (dense activations: zero activations are "known" only when measured or given).
"""

from __future__ import annotations

import numpy as np

from hwq.errors import HwqError
from hwq.golden import run_float, run_int


def parse_density(spec: str | None, layer_names: list[str]) -> dict[str, float]:
    """``"0.35"`` or ``"fc6=0.35,*=1"`` -> {layer: density}; names must exist; values in [0, 1]."""
    if spec is None or not spec.strip():
        return {}
    out: dict[str, float] = {}
    default = None
    for part in spec.split(","):
        name, eq, val = part.rpartition("=") if "=" in part else ("*", "=", part)
        name = name.strip()
        try:
            d = float(val)
        except ValueError:
            raise HwqError(f"--act-density {spec!r}: {val.strip()!r} is not a number") from None
        if not 0.0 <= d <= 1.0:
            raise HwqError(f"--act-density {spec!r}: density {d} is outside [0, 1]")
        if name == "*":
            default = d
        elif name not in layer_names:
            raise HwqError(f"--act-density: no layer named {name!r} (layers: {', '.join(layer_names)})")
        else:
            out[name] = d
    if default is not None:
        out = {n: out.get(n, default) for n in layer_names}
    return out


def measure(model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Golden-model outputs of every layer on batch ``x`` (integers for a quantized model)."""
    run = run_int if model.is_quantized else run_float
    return run(model, x, keep_all=True)


def nonzero_fraction(model, name: str, values: np.ndarray) -> np.ndarray:
    """Per element of one sample's tensor: the fraction of the batch where it is non-zero."""
    q = model.layers[name].quant
    zero = q.zero_point if q is not None else 0
    return (np.asarray(values) != zero).mean(axis=0)
