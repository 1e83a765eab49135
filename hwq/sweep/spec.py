"""A sweep spec (YAML): what to vary, what to run per point, what must hold, what to minimize.

This module checks the file's *form* (keys, types, syntax of constraints and objectives);
whether the axes, columns and models make sense together is `hwq.sweep.plan`'s job. Every
problem raises one-line `SpecError` naming the file and the key. Format: docs/sweep.md.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

from hwq.errors import HwqError

KEYS = ("models", "model", "data", "seed", "stages", "sampling", "compress", "hardware",
        "constraints", "objectives")
RANGE_KEYS = {"min", "max", "step", "log"}
OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|==|<|>)\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*$")


class SpecError(HwqError):
    """The sweep spec is malformed or asks for something that cannot run."""


@dataclass(frozen=True)
class Range:
    """A continuous or stepped axis for random sampling: min..max (inclusive)."""

    low: float
    high: float
    step: float | None = None
    log: bool = False

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int) and not self.log and (
            self.step is None or isinstance(self.step, int))


def number(value) -> float:
    """A table value as a number: floats and ints, booleans (also "true"/"false" as the table
    writes them) as 1/0; NaN when missing or not a number."""
    if isinstance(value, str) and value in ("true", "false"):
        return float(value == "true")
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class Constraint:
    column: str
    op: str
    bound: float

    def holds(self, row: dict) -> bool:
        v = number(row.get(self.column))
        return not math.isnan(v) and OPS[self.op](v, self.bound)

    def __str__(self) -> str:
        return f"{self.column} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Objective:
    column: str
    sense: str  # "min" or "max"

    def __str__(self) -> str:
        return f"{self.sense} {self.column}"


@dataclass(frozen=True)
class Sampling:
    method: str = "grid"  # grid: every combination; random: n seeded draws
    n: int = 0
    seed: int = 0


@dataclass
class Spec:
    path: Path
    models: tuple[Path, ...]
    data: str | None
    seed: int
    stages: tuple[str, ...]
    sampling: Sampling
    compress: dict = field(default_factory=dict)   # axis -> list of values | Range
    hardware: dict = field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()
    objectives: tuple[Objective, ...] = ()

    @property
    def axes(self) -> dict:
        return {**self.compress, **self.hardware}


def load_spec(path: str | Path) -> Spec:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{p}: no such spec file")
    try:
        doc = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise SpecError(f"{p}: not valid YAML ({' '.join(str(e).split())[:120]})") from None
    return parse_spec(doc, p)


def parse_spec(doc, path: Path) -> Spec:
    def bad(msg: str):
        return SpecError(f"{path}: {msg}")

    if not isinstance(doc, dict):
        raise bad("expected a mapping of keys (models, data, stages, compress, hardware, ...)")
    unknown = [k for k in doc if k not in KEYS]
    if unknown:
        raise bad(f"unknown key {unknown[0]!r} (keys: {', '.join(KEYS)})")
    if "models" in doc and "model" in doc:
        raise bad("give models or model, not both")
    models = doc.get("models", doc.get("model"))
    models = [models] if isinstance(models, str) else models
    if not models or not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise bad("models: expected a model file or a list of them")
    if len(set(models)) != len(models):
        raise bad("models: a model is listed twice")
    data = doc.get("data")
    if data is not None and not isinstance(data, str):
        raise bad("data: expected 'digits' or the path of an .npz")
    if data not in (None, "digits") and not Path(data).is_absolute():
        data = str(path.parent / data)
    seed = doc.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise bad(f"seed {seed!r}: expected an integer >= 0")
    stages = doc.get("stages", ["compress", "accuracy"])
    stages = [stages] if isinstance(stages, str) else stages
    if not stages or not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        raise bad("stages: expected a list of stage names")
    if len(set(stages)) != len(stages):
        raise bad("stages: a stage is listed twice")
    compress = _axes(doc.get("compress"), "compress", bad)
    hardware = _axes(doc.get("hardware"), "hardware", bad)
    both = sorted(set(compress) & set(hardware))
    if both:
        raise bad(f"axis {both[0]!r} is in both compress and hardware")
    return Spec(path=path, models=tuple(_model_path(m, path, bad) for m in models), data=data,
                seed=seed, stages=tuple(stages), sampling=_sampling(doc.get("sampling", "grid"), bad),
                compress=compress, hardware=hardware,
                constraints=tuple(_constraint(c, bad) for c in _list(doc.get("constraints"), "constraints", bad)),
                objectives=_objectives(doc.get("objectives"), bad))


def _list(value, key: str, bad) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise bad(f"{key}: expected a list")
    return value


def _model_path(name: str, spec_path: Path, bad) -> Path:
    """Relative to the spec file; else a model shipped with hwq (examples/)."""
    p = Path(name) if Path(name).is_absolute() else spec_path.parent / name
    if p.is_file():
        return p
    from importlib.resources import files

    shipped = Path(str(files("hwq.examples"))) / name
    if shipped.is_file():
        return shipped
    raise bad(f"model {name}: no such file (relative to the spec, or a shipped example)")


def _axes(section, key: str, bad) -> dict:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise bad(f"{key}: expected a mapping of axis: value(s)")
    out = {}
    for name, value in section.items():
        if not isinstance(name, str):
            raise bad(f"{key}: axis names are strings, not {name!r}")
        if isinstance(value, list):
            if not value:
                raise bad(f"{key}.{name}: no values (an empty axis makes an empty grid)")
            out[name] = value
        elif isinstance(value, dict) and value and set(value) <= RANGE_KEYS:
            out[name] = _range(value, f"{key}.{name}", bad)
        else:
            out[name] = [value]
    return out


def _range(d: dict, where: str, bad) -> Range:
    if "min" not in d or "max" not in d:
        raise bad(f"{where}: a range needs min and max")
    low, high, step, log = d["min"], d["max"], d.get("step"), d.get("log", False)
    nums = [v for v in (low, high, step) if v is not None]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in nums):
        raise bad(f"{where}: min, max and step must be numbers")
    if not low <= high:
        raise bad(f"{where}: min {low} > max {high} (an empty range)")
    if step is not None and not step > 0:
        raise bad(f"{where}: step must be > 0")
    if not isinstance(log, bool) or (log and (low <= 0 or step is not None)):
        raise bad(f"{where}: log is true or false, needs min > 0 and no step")
    return Range(low, high, step, log)


def _sampling(value, bad) -> Sampling:
    if value == "grid":
        return Sampling()
    if isinstance(value, dict) and set(value) <= {"random", "seed"} and "random" in value:
        n, seed = value["random"], value.get("seed", 0)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise bad(f"sampling.random {n!r}: expected a number of points >= 1")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise bad(f"sampling.seed {seed!r}: expected an integer >= 0")
        return Sampling("random", n, seed)
    raise bad(f"sampling {value!r}: expected grid or {{random: N, seed: S}}")


def _constraint(text, bad) -> Constraint:
    m = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if not m:
        raise bad(f"constraint {text!r}: expected 'column <= number' (or >=, <, >, ==)")
    try:
        bound = float(m.group(3))
    except ValueError:
        raise bad(f"constraint {text!r}: {m.group(3)!r} is not a number") from None
    return Constraint(m.group(1), m.group(2), bound)


def _objectives(value, bad) -> tuple[Objective, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not value:
        raise bad("objectives: expected a mapping of column: min or max")
    out = []
    for col, sense in value.items():
        if sense not in ("min", "max"):
            raise bad(f"objectives.{col}: {sense!r} is neither min nor max")
        out.append(Objective(str(col), sense))
    return tuple(out)
