"""`hwq sweep`: spec -> checked plan -> points on Dask -> results table, Pareto front, plot.

Order matters for the error policy: the spec is parsed and the plan checked (models loaded,
every point's options validated) *before* the results directory is touched or a cluster
started, so a bad spec costs nothing; the cluster is reached before any task is submitted.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from hwq.sweep import pareto, plot as plotting
from hwq.sweep.execute import dask_client, run_dask, run_serial
from hwq.sweep.plan import Plan, make_plan
from hwq.sweep.spec import Spec, load_spec
from hwq.sweep.store import FILE, ResultStore, finished


@dataclass
class SweepResult:
    plan: Plan
    rows: list[dict]       # the whole table (text values), in point order
    front: list[dict]      # its Pareto front
    computed: int          # points run by this call (the rest were already in the table)
    table: Path
    plot: Path | None


def row_of(plan: Plan, point, cols: dict) -> dict:
    """A table row: the point's id, model and axes, the stages' columns, feasibility."""
    row = {"point": point.pid, "model": point.params["model"],
           **{a: point.params.get(a) for a in plan.axes}, **cols}
    row["feasible"] = pareto.feasible(row, plan.spec.constraints)
    return row


def run_sweep(spec: Spec | str | Path, out_dir: str | Path, workers: int | None = None,
              scheduler: str | None = None, resume: bool = False, processes: bool = True,
              serial: bool = False, progress: bool = True, echo=print) -> SweepResult:
    """Run every point of ``spec`` not yet in ``out_dir``/results.csv and summarize the table.

    ``serial`` runs the points one by one in this process (no Dask): the reference.
    ``processes=False`` makes the LocalCluster's workers threads (tests).
    """
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    plan = make_plan(spec)
    out = Path(out_dir)
    done = finished(out, plan.columns, resume)
    todo = [p for p in plan.points if p.pid not in done]
    echo(f"{len(plan.points)} points ({len({p.ckey for p in plan.points})} compressed models), "
         f"{len(plan.points) - len(todo)} already in {out / FILE}, {len(todo)} to run")
    with contextlib.ExitStack() as stack:
        client = None
        if todo and not serial:  # reach the cluster before anything is written
            client = stack.enter_context(dask_client(workers, scheduler, processes))
        store = ResultStore(out, plan.columns, resume)
        stack.callback(store.close)
        if spec.path.is_file() and spec.path.resolve() != (out / "spec.yaml").resolve():
            shutil.copyfile(spec.path, out / "spec.yaml")
        _execute(plan, todo, store, client, progress)
    rows = store.finish([p.pid for p in plan.points])
    mine = {p.pid for p in plan.points}
    ok = [r for r in rows if r["point"] in mine and pareto.feasible(r, spec.constraints)]
    best = pareto.front(ok, plan.objectives)
    png = out / "pareto.png"
    drawn = plotting.plot([r for r in rows if r["point"] in mine], plan.columns, spec.constraints, png,
                          f"{spec.path.name}: {len(mine)} points")
    return SweepResult(plan, rows, best, len(todo), store.path, png if drawn else None)


def _execute(plan, todo, store, client, progress) -> None:
    from tqdm import tqdm

    if not todo:
        return
    bar = tqdm(total=len(plan.points), initial=len(plan.points) - len(todo), unit="point", desc="sweep",
               file=sys.stderr, disable=not progress, dynamic_ncols=True)

    def sink(point, cols):
        store.append(row_of(plan, point, cols))
        bar.update(1)

    try:
        if client is None:
            run_serial(plan, todo, sink)
        else:
            run_dask(client, plan, todo, sink)
    finally:
        bar.close()


def summary(result: SweepResult) -> str:
    """What the command prints at the end: counts, the front, where the files are."""
    plan = result.plan
    rows = [r for r in result.rows if r["point"] in {p.pid for p in plan.points}]
    errors = sum(1 for r in rows if r.get("error"))
    feasible = sum(1 for r in rows if pareto.feasible(r, plan.spec.constraints))
    cons = ", ".join(str(c) for c in plan.spec.constraints) or "none"
    lines = [f"{len(rows)} points: {feasible} feasible (constraints: {cons}), {errors} with errors; "
             f"ran {result.computed} now",
             f"Pareto front ({', '.join(str(o) for o in plan.objectives)}): {len(result.front)} points"]
    if not result.front and rows:
        lines.append("no feasible point: relax the constraints or widen the axes")
    if result.front:
        cols = ["point", "model", *[a for a in plan.axes if len({str(r.get(a)) for r in rows}) > 1],
                *[o.column for o in plan.objectives]]
        lines.append(pareto.render(result.front, cols))
    lines.append(f"table: {result.table}")
    if result.plot:
        lines.append(f"plot: {result.plot}")
    return "\n".join(lines)
