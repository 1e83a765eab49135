"""The targets registry: each target is a parameter set (data) plus the code that turns the
target-independent counts of a layer into time and traffic.

Adding a target (docs/estimate.md, "Adding a target"):

1. write ``hwq/cost/<name>.py`` with a :class:`Target` subclass: ``NAME``, ``DESCRIPTION``,
   ``PARAMS`` (every parameter with its default, unit and meaning; ``clock_hz`` is required),
   ``levels()`` (its memory levels, for traffic and energy) and ``layer_cost(counts)``
   returning a :class:`LayerCost`; optionally ``begin(counts)`` (model-wide decisions, e.g.
   what stays on chip) and ``summary(costs)`` (model-wide extras for the report);
2. add one line ``"<name>": "hwq.cost.<name>:<Class>"`` to :data:`REGISTRY`.

Parameters come from the defaults, then ``--config file.(json|yaml)``, then ``--param k=v``;
unknown names and out-of-range values are errors that list what is accepted.
"""

from __future__ import annotations

import importlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from hwq.cost.traffic import Level
from hwq.cost.work import Work
from hwq.errors import HwqError
from hwq.ir.layers import Layer

# name -> "module:Class"; imported only when chosen, so a broken target cannot break the others
REGISTRY: dict[str, str] = {
    "generic": "hwq.cost.roofline:Roofline",
    "eie": "hwq.cost.eie:Eie",
    "host": "hwq.cost.arm:Host",
    "cortex-a53": "hwq.cost.arm:CortexA53",
    "cortex-a72": "hwq.cost.arm:CortexA72",
    "cortex-m4": "hwq.cost.arm:CortexM4",
    "cortex-m55": "hwq.cost.arm:CortexM55",
}
# targets whose model another issue provides; named in the error instead of "unknown"
PLANNED: dict[str, str] = {}


@dataclass(frozen=True)
class Param:
    """One target parameter: default (its type is the parameter's type), unit, meaning and
    the smallest accepted value (None: any)."""

    default: float | int | bool | str
    unit: str
    help: str
    minimum: float | None = 0


@dataclass
class LayerCounts:
    """Everything target-independent about one layer, handed to ``Target.layer_cost``."""

    layer: Layer
    in_shapes: list[tuple[int, ...]]
    out_shape: tuple[int, ...]
    work: Work
    weight_bytes: dict[str, float]
    activation_bytes: dict[str, float]
    act_density: float | None  # mean non-zero fraction of the (first) input; None: no weights
    x_in: list[np.ndarray] | None = None  # golden integer (or float) inputs, (N, ...), if measured
    in_zero_point: int = 0  # the (first) input's zero point: the value that counts as zero


@dataclass
class LayerCost:
    """What a target says about one layer."""

    cycles: float
    traffic: dict[str, float]  # bytes moved per memory level name (reads + writes)
    bound: str = ""  # what limits the layer: "compute", "dram", "sram", ...
    fits: dict[str, bool] = field(default_factory=dict)  # e.g. {"weights": True, "activations": False}
    extra: dict = field(default_factory=dict)  # target-specific, JSON-ready (e.g. per-PE busy cycles)
    ops: dict[str, float] | None = None  # the target's own operation mix, if it differs from work.ops


class Target:
    NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    PARAMS: ClassVar[dict[str, Param]] = {}

    def __init__(self, params: dict):
        self.params = params

    @property
    def clock_hz(self) -> float:
        return float(self.params["clock_hz"])

    def levels(self) -> list[Level]:
        raise NotImplementedError

    def begin(self, counts: list[LayerCounts]) -> None:
        """Model-wide decisions before the layers are costed (default: none)."""

    def layer_cost(self, c: LayerCounts) -> LayerCost:
        raise NotImplementedError

    def summary(self, costs: list[LayerCost]) -> dict:
        """Model-wide, JSON-ready extras for the report (default: none)."""
        return {}


def target_names() -> list[str]:
    return sorted(REGISTRY)


def target_class(name: str) -> type[Target]:
    if name in REGISTRY:
        mod, _, cls = REGISTRY[name].partition(":")
        return getattr(importlib.import_module(mod), cls)
    if name in PLANNED:
        raise HwqError(f"--target {name}: not available yet ({PLANNED[name]}); "
                       f"available: {', '.join(target_names())}")
    planned = f"; planned: {', '.join(sorted(PLANNED))}" if PLANNED else ""
    raise HwqError(f"--target {name!r}: unknown target (available: {', '.join(target_names())}{planned})")


def _coerce(name: str, p: Param, value: object, where: str):
    kind = type(p.default)
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError
                value = value.lower() in ("1", "true", "yes")
            elif not isinstance(value, bool):
                raise ValueError
        elif kind in (int, float):
            if isinstance(value, bool):
                raise ValueError
            value = float(value) if kind is float else _as_int(value)
            if not math.isfinite(value):
                raise ValueError
            if p.minimum is not None and value < p.minimum:
                raise HwqError(f"{where}: {name} = {value} is below its minimum {p.minimum} ({p.unit})")
        else:
            value = str(value)
    except (TypeError, ValueError):
        raise HwqError(f"{where}: {name} = {value!r} is not a valid {kind.__name__} ({p.unit})") from None
    return value


def _as_int(value: object) -> int:
    f = float(value)  # accepts "1e6", 2.0
    if f != int(f):
        raise ValueError
    return int(f)


def read_config(path: str) -> dict:
    """A --config file: a JSON or YAML mapping of parameter names (and optionally ``target``,
    ``energy_table``) to values."""
    p = Path(path)
    if not p.is_file():
        raise HwqError(f"--config {path}: no such file")
    text = p.read_text(errors="replace")
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise HwqError(f"--config {path}: must be a .json, .yaml or .yml file")
    except HwqError:
        raise
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError
        raise HwqError(f"--config {path}: malformed ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise HwqError(f"--config {path}: must hold a mapping of parameter names to values")
    return data


def make_target(name: str, overrides: list[str] | tuple[str, ...] = (), config: dict | None = None) -> Target:
    """The target ``name`` with its defaults, then ``config`` (a mapping), then ``k=v`` overrides."""
    cls = target_class(name)
    params = {k: p.default for k, p in cls.PARAMS.items()}
    known = ", ".join(sorted(cls.PARAMS))
    given: list[tuple[str, object, str]] = [(k, v, "--config") for k, v in (config or {}).items()]
    for item in overrides:
        k, eq, v = item.partition("=")
        if not eq or not k.strip():
            raise HwqError(f"--param {item!r}: expected name=value (parameters of {name}: {known})")
        given.append((k.strip(), v.strip(), "--param"))
    for k, v, where in given:
        if k not in cls.PARAMS:
            raise HwqError(f"{where}: target {name} has no parameter {k!r} (it has: {known})")
        params[k] = _coerce(k, cls.PARAMS[k], v, where)
    return cls(params)
