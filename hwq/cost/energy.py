"""Energy = action counts x an energy table (Accelergy's split: counts here, numbers as data).

A table (``hwq/cost/energy_tables/<name>.json``, or a user's .json/.yaml file) gives, with
the source of every number:

* ``ops``: per operation kind either ``points`` (pJ by operand width, power-law interpolated,
  extrapolated with the nearest segment), ``as`` (costs as another kind of the same width),
  ``memory`` (a read of that many bits from a memory kind), ``composite`` (a fixed mix of
  other operations) or ``variants`` (one composite per sub-kind, e.g. ``requant:shift``);
* ``memory``: per kind (``dram``, ``sram``, ``rf``) ``pj`` per ``access_bits``-bit access,
  or ``points`` by capacity in bytes (SRAM), scaled linearly to the bytes moved.

:func:`energy_pj` reports one component per memory level and per operation kind, plus
``total``, their sum.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

from hwq.cost.traffic import LEVEL_KINDS, Level
from hwq.errors import HwqError

DEFAULT_TABLE = "horowitz45"


def table_names() -> list[str]:
    d = resources.files("hwq.cost") / "energy_tables"
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".json"))


def _power_law(points: dict[float, float], x: float) -> float:
    xs = sorted(points)
    if len(xs) == 1:
        return points[xs[0]] * x / xs[0]  # one point: linear in width (or capacity)
    i = min(max(sum(1 for p in xs if p <= x) - 1, 0), len(xs) - 2)
    x0, x1 = xs[i], xs[i + 1]
    k = math.log(points[x1] / points[x0]) / math.log(x1 / x0)
    return points[x0] * (x / x0) ** k


def _points(entry: dict, where: str) -> dict[float, float]:
    pts = entry.get("points")
    if not isinstance(pts, dict) or not pts:
        raise HwqError(f"{where}: needs 'points' (width or capacity -> pJ), 'pj', 'as', 'memory', "
                       "'composite' or 'variants'")
    try:
        out = {float(k): float(v) for k, v in pts.items()}
    except (TypeError, ValueError):
        raise HwqError(f"{where}.points: keys and values must be numbers") from None
    if any(not (math.isfinite(k) and k > 0 and math.isfinite(v) and v >= 0) for k, v in out.items()):
        raise HwqError(f"{where}.points: sizes must be positive and energies non-negative")
    return out


class EnergyTable:
    def __init__(self, data: object, origin: str):
        if not isinstance(data, dict) or not isinstance(data.get("ops"), dict) \
                or not isinstance(data.get("memory"), dict):
            raise HwqError(f"energy table {origin}: must be an object with 'ops' and 'memory'")
        self.data, self.origin = data, origin
        self.name = str(data.get("name", origin))
        missing = [k for k in LEVEL_KINDS if k not in data["memory"]]
        if missing:
            raise HwqError(f"energy table {origin}: memory kind(s) {', '.join(missing)} missing")
        for kind in data["memory"]:  # fail on load, not half-way through an estimate
            self.memory_pj_per_byte(Level(kind, kind, 1 << 20))

    @classmethod
    def load(cls, spec: str | None) -> "EnergyTable":
        spec = spec or DEFAULT_TABLE
        path = Path(spec)
        if spec in table_names():
            text = (resources.files("hwq.cost") / "energy_tables" / f"{spec}.json").read_text()
            return cls(_parse(text, spec, ".json"), spec)
        if not path.is_file():
            raise HwqError(f"--energy-table {spec}: neither a file nor a known table "
                           f"({', '.join(table_names())})")
        return cls(_parse(path.read_text(errors="replace"), spec, path.suffix.lower()), spec)

    # ------------------------------------------------------------------ operations
    def op_pj(self, key: str, _depth: int = 0) -> float:
        """Energy of one operation ``kind:arg`` (e.g. ``mult:8x16``, ``add:32``, ``requant:shift``)."""
        if _depth > 8:
            raise HwqError(f"energy table {self.origin}: operation {key!r} refers to itself")
        kind, _, arg = key.partition(":")
        entry = self.data["ops"].get(kind)
        where = f"energy table {self.origin}: ops.{kind}"
        if not isinstance(entry, dict):
            raise HwqError(f"energy table {self.origin}: no energy for operation kind {kind!r} "
                           f"(has {', '.join(sorted(self.data['ops']))})")
        if "as" in entry:
            return self.op_pj(f"{entry['as']}:{arg}", _depth + 1)
        if "memory" in entry:
            bits = _width(arg)
            return self.memory_pj_per_byte(Level(entry["memory"], entry["memory"], 1024)) * bits / 8
        if "composite" in entry or "variants" in entry:
            mix = entry["composite"] if "composite" in entry else entry["variants"].get(arg)
            if not isinstance(mix, dict):
                raise HwqError(f"{where}: no variant {arg!r}")
            return sum(float(n) * self.op_pj(k, _depth + 1) for k, n in mix.items())
        return _power_law(_points(entry, where), _width(arg))

    # ------------------------------------------------------------------ memory
    def memory_pj_per_byte(self, level: Level) -> float:
        entry = self.data["memory"].get(level.kind)
        where = f"energy table {self.origin}: memory.{level.kind}"
        if not isinstance(entry, dict):
            raise HwqError(f"energy table {self.origin}: no memory kind {level.kind!r}")
        bits = entry.get("access_bits")
        if not isinstance(bits, (int, float)) or isinstance(bits, bool) or not bits > 0:
            raise HwqError(f"{where}.access_bits: must be a positive number")
        if "pj" in entry:
            pj = entry["pj"]
            if not isinstance(pj, (int, float)) or isinstance(pj, bool) or not (math.isfinite(pj) and pj >= 0):
                raise HwqError(f"{where}.pj: must be a non-negative number")
        else:
            pj = _power_law(_points(entry, where), float(level.size_bytes or 1 << 20))
        return float(pj) / (bits / 8)

    def source_notes(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.data.get("sources", {}).items()]


def _width(arg: str) -> float:
    """Operand width of ``arg``: ``32`` or ``AxW`` (geometric mean: a multiplier's area ~ A*W)."""
    try:
        parts = [float(p) for p in arg.split("x")]
    except ValueError:
        raise HwqError(f"operation width {arg!r} is not a number") from None
    return math.prod(parts) ** (1 / len(parts))


def _parse(text: str, origin: str, suffix: str) -> object:
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise HwqError(f"energy table {origin}: not valid YAML ({str(e).splitlines()[0]})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise HwqError(f"energy table {origin}: not valid JSON ({e.msg} at line {e.lineno})") from None


def op_component(key: str) -> str:
    return key.partition(":")[0]


def energy_pj(table: EnergyTable, ops: dict[str, float], traffic: dict[str, float],
              levels: list[Level]) -> dict[str, float]:
    """pJ per component: each memory level (bytes moved x pJ/byte), each op kind; ``total``."""
    out: dict[str, float] = {}
    for lv in levels:
        out[lv.name] = traffic.get(lv.name, 0.0) * table.memory_pj_per_byte(lv)
    for key, n in ops.items():
        comp = op_component(key)
        out[comp] = out.get(comp, 0.0) + n * table.op_pj(key)
    out["total"] = sum(out.values())
    return out
