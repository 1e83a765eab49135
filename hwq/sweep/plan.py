"""A checked sweep plan: the spec bound to its stages, models and data, expanded to points.

Everything that can be wrong with a spec is found here, before any work starts: unknown
stages, stages not available yet, axes no stage takes, values the compression pipeline
rejects, per-layer axes naming no layer, an empty grid, constraints on columns no stage
produces or outside the range a column can take, objectives on unknown columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hwq.errors import HwqError
from hwq.sweep import compression, points as pts, stages as st
from hwq.sweep.spec import OPS, Objective, Range, Spec, SpecError

FIXED = ("point", "model")
TRAILER = ("feasible", "error")


@dataclass(frozen=True)
class Point:
    pid: str       # stable id: what --resume matches rows on
    ckey: str      # id of its compressed model, shared by every point with the same compression
    params: dict   # model, data, seed and the point's axis values


@dataclass
class Plan:
    spec: Spec
    stages: tuple[st.Stage, ...]
    points: list[Point]
    models: dict          # model name -> ir.Model
    data: dict            # model name -> data split (or None)
    axes: tuple[str, ...]  # axis names, the parameter columns
    columns: tuple[str, ...]
    objectives: tuple[Objective, ...]

    def scope(self, scope: str) -> tuple[st.Stage, ...]:
        return tuple(s for s in self.stages if s.scope == scope)

    @property
    def result_columns(self) -> tuple[str, ...]:
        return tuple(c.name for s in self.stages for c in s.columns)


def make_plan(spec: Spec) -> Plan:
    where = spec.path

    def bad(msg: str):
        return SpecError(f"{where}: {msg}")

    stages = _stages(spec, bad)
    names = [s.name for s in stages]
    bad_axes = [a for a in spec.compress if not compression.is_axis(a)]
    if bad_axes:
        raise bad(f"unknown compression axis {bad_axes[0]!r} (axes: {', '.join(compression.AXES)}, "
                  f"or per layer {', '.join(p + '.<layer>' for p in compression.PER_LAYER)})")
    if spec.compress and "compress" not in names:
        raise bad("compression axes need the compress stage")
    _hardware(spec, stages, bad)
    if spec.data is None and "accuracy" in names:
        raise bad("stage accuracy needs a data set (data: digits, or an .npz)")
    if spec.sampling.method == "grid":
        ranged = [a for a, v in spec.axes.items() if isinstance(v, Range)]
        if ranged:
            raise bad(f"axis {ranged[0]}: a min/max range needs sampling: {{random: N}}")

    from hwq.ir import load as load_ir

    models, data, digests = {}, {}, {}
    for path in spec.models:
        name = Path(path).stem
        if name in models:
            raise bad(f"two models are named {name} (file names must differ)")
        try:
            models[name] = load_ir(path)
            data[name] = compression.load_data(spec.data, models[name]) if spec.data else None
        except HwqError as e:
            raise bad(f"model {name}: {e}") from None
        digests[name] = pts.file_digest(path)
    data_id = spec.data if spec.data in (None, "digits") else pts.file_digest(spec.data)

    raw = (pts.grid(spec.axes) if spec.sampling.method == "grid"
           else pts.draw(spec.axes, spec.sampling.n, spec.sampling.seed))
    if not raw:
        raise bad("the grid is empty")
    comp_stages = [s.name for s in stages if s.scope == "compression"]
    points, seen = [], set()
    for name in models:
        for values in raw:
            params = {"model": name, "data": spec.data, "seed": spec.seed, **values}
            comp = {k: v for k, v in values.items() if k in spec.compress}
            try:
                canon = compression.canonical(comp, spec.data, spec.seed) if "compress" in names else None
                compression.check_layers(comp, models[name])
            except HwqError as e:
                raise bad(f"point {_describe(name, values)}: {e}") from None
            hw = {k: v for k, v in values.items() if k in spec.hardware}
            params["hardware"] = hw
            ident = {"model": digests[name], "data": data_id, "seed": spec.seed, "compression": canon}
            ckey = pts.digest({**ident, "stages": comp_stages})
            pid = pts.digest({**ident, "stages": names, "hardware": hw})
            if pid not in seen:
                seen.add(pid)
                points.append(Point(pid, ckey, params))

    axes = tuple(spec.axes)
    stage_cols = {c.name: c for s in stages for c in s.columns}
    clash = sorted(set(axes) & (set(stage_cols) | set(FIXED) | set(TRAILER)))
    if clash:
        raise bad(f"axis {clash[0]!r} has the name of a result column")
    for c in spec.constraints:
        if c.column in stage_cols:
            col = stage_cols[c.column]
            if not _reachable(c.op, c.bound, col.low, col.high):
                raise bad(f"constraint {c} is unreachable: {c.column} lies in "
                          f"[{col.low:g}, {col.high:g}] ({col.doc})")
        elif c.column in axes:
            if not any(_holds_param(c, p.params.get(c.column)) for p in points):
                raise bad(f"constraint {c} is unreachable: no point of the grid satisfies it")
        else:
            raise bad(f"constraint {c}: no column {c.column!r} (the stages {', '.join(names)} "
                      f"produce {', '.join(stage_cols) or 'nothing'})")
    objectives = spec.objectives or _default_objectives(stage_cols)
    for o in objectives:
        if o.column not in stage_cols:
            raise bad(f"objective {o}: no column {o.column!r} (the stages produce {', '.join(stage_cols)})")
    timings = tuple(f"t_{s.name}_s" for s in stages) + tuple(f"t_{s.name}_prepare_s" for s in stages
                                                             if s.prepare is not None)
    columns = FIXED + axes + tuple(stage_cols) + TRAILER + timings
    return Plan(spec, stages, points, models, data, axes, columns, tuple(objectives))


def _stages(spec: Spec, bad) -> tuple[st.Stage, ...]:
    out = []
    for name in spec.stages:
        try:
            stage = st.get(name)
        except HwqError as e:
            raise bad(str(e)) from None
        missing = [n for n in stage.needs if n not in [s.name for s in out]]
        if missing:
            raise bad(f"stage {name} needs stage {missing[0]} before it")
        out.append(stage)
    return tuple(out)


def _hardware(spec: Spec, stages, bad) -> None:
    takers = [s for s in stages if s.hardware is not None]
    if spec.hardware and not takers:
        raise bad(f"hardware axis {next(iter(spec.hardware))!r}: no stage of this sweep takes hardware "
                  f"parameters (estimate, simulate, gen-c do)")
    accepted: set = set()
    for s in takers:
        # axes other stages own, unless this stage declares them too (simulate and area
        # share the accelerator's parameters)
        others = {a for t in takers if t is not s for a in t.axes} - set(s.axes)
        try:
            accepted |= s.hardware({k: v for k, v in spec.hardware.items() if k not in others})
        except HwqError as e:
            raise bad(f"stage {s.name}: {e}") from None
    unknown = [a for a in spec.hardware if a not in accepted]
    if unknown:
        raise bad(f"unknown hardware axis {unknown[0]!r} (stages {', '.join(s.name for s in takers)} "
                  f"take: {', '.join(sorted(accepted))})")


def _reachable(op: str, bound: float, low: float, high: float) -> bool:
    return {"<=": low <= bound, "<": low < bound, ">=": high >= bound, ">": high > bound,
            "==": low <= bound <= high}[op]


def _holds_param(c, value) -> bool:
    try:
        return OPS[c.op](float(value), c.bound)
    except (TypeError, ValueError):
        return False


def _default_objectives(cols: dict) -> list[Objective]:
    out = [Objective("acc", "max")] if "acc" in cols else []
    for name in ("energy_pj", "cycles", "storage_bytes"):
        if name in cols:
            return out + [Objective(name, "min")]
    return out


def _describe(model: str, values: dict) -> str:
    return " ".join([model] + [f"{k}={v}" for k, v in values.items()])

