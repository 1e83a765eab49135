"""Bytes per layer: the stored weight by part (as ``hwq info`` counts it) and the activations.

Weights come from :func:`hwq.ir.storage.layer_storage` (the one storage accounting of hwq;
nothing is re-counted here): payload, index, pointer, codebook, bias, their total and the
Huffman-coded total, in bytes (bits / 8, not rounded). Activations are one sample's input(s)
and output at their quantized width (``quant.bits``; 32 bits for float tensors).

A target decides how these bytes move through its memory levels (:class:`Level`), e.g.
:mod:`hwq.cost.roofline`; the energy of each level is in the energy table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.ir.layers import Layer, WeightedLayer
from hwq.ir.storage import layer_storage

WEIGHT_PARTS = ("payload", "index", "pointer", "codebook", "bias", "total")
LEVEL_KINDS = ("dram", "sram", "rf")


@dataclass(frozen=True)
class Level:
    """One memory level of a target: its name in reports, its kind (for the energy table)
    and its capacity in bytes (None: unbounded, i.e. DRAM)."""

    name: str
    kind: str
    size_bytes: float | None = None


def weight_bytes(layer: Layer) -> dict[str, float]:
    """Stored weight bytes by part, plus ``total_huffman``; zeros for a layer without weights."""
    if not isinstance(layer, WeightedLayer):
        return {p: 0.0 for p in WEIGHT_PARTS} | {"total_huffman": 0.0}
    s = layer_storage(layer)
    out = {p: getattr(s, p) / 8 for p in WEIGHT_PARTS}
    out["total_huffman"] = s.total_huffman / 8
    return out


def _tensor_bits(model, name: str) -> int:
    q = model.layers[name].quant
    return q.bits if q is not None else 32


def activation_bytes(model, layer: Layer, shapes: dict[str, tuple[int, ...]]) -> dict[str, float]:
    """One sample's input bytes (all inputs) and output bytes."""
    size = lambda n: int(np.prod(shapes[n], dtype=np.int64))  # noqa: E731
    act_in = sum(size(i) * _tensor_bits(model, i) for i in layer.inputs) / 8
    act_out = size(layer.name) * _tensor_bits(model, layer.name) / 8
    return {"in": float(act_in), "out": float(act_out)}
