"""What a compression method hands back: the encoded model, a report, its provenance."""

from __future__ import annotations

from dataclasses import dataclass, field

from hwq.ir.model import Model


@dataclass
class MethodResult:
    model: Model  # weights encoded in IR codecs, float activations (calibration comes after)
    report: list[str] = field(default_factory=list)  # lines printed by ``hwq compress``
    provenance: dict = field(default_factory=dict)  # kept in the IR under "compress"
