#!/usr/bin/env python3
"""hwq sweep throughput: estimate-only points per second on 1 and 2 Dask workers, side by
side, and the sweep's overhead per point over calling the library directly.

    python bench/sweep.py [--quick]

Not part of run_all.py: starting Dask clusters costs seconds, more than run_all's quick
smoke test allows. Points: the shipped ``digits_mlp_pruned_shared.ir`` estimated as it is
(no compression stage) on the generic roofline, one point per (macs_per_cycle, sram_bytes,
act_density) triple; act_density is given, so a point is the cost model alone (no golden
run). Alternatives, timed round-robin after a warm-up each (bench/_common.py):

* ``direct``: ``hwq.cost.estimate.estimate_model`` in a loop, what the points compute;
* ``sweep serial``: ``hwq.sweep.execute.run_serial``, the sweep's task functions one by one
  in this process (its per-point bookkeeping, no Dask);
* ``dask, 1 worker`` / ``dask, 2 workers``: ``run_dask`` on a LocalCluster (worker
  processes) started beforehand; start-up is reported on its own row.

Every alternative must give the same energy and cycles for every point (``rows identical``).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import EXAMPLES, Row, check, side_by_side  # noqa: E402

TITLE = "sweep: estimate-only points/s on 1 and 2 Dask workers, overhead per point"


def make_plan(quick: bool):
    from hwq.sweep.plan import make_plan as plan_of
    from hwq.sweep.spec import load_spec

    lanes = [2 ** k for k in range(4 if quick else 16)]
    dens = [0.25, 0.5] if quick else [0.2, 0.4, 0.6, 0.8]
    sram = [16384, 1 << 20] if quick else [16384, 65536, 262144, 1 << 20]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(f"model: {EXAMPLES / 'digits_mlp_pruned_shared.ir'}\nstages: [estimate]\n"
                        f"hardware:\n  target: generic\n  macs_per_cycle: {lanes}\n  sram_bytes: {sram}\n"
                        f"  act_density: {dens}\n")
        return plan_of(load_spec(path))


def run(quick: bool = False) -> list[Row]:
    from dask.distributed import Client, LocalCluster

    from hwq.cost.estimate import estimate_model
    from hwq.sweep.execute import run_dask, run_serial

    plan = make_plan(quick)
    n = len(plan.points)
    model = next(iter(plan.models.values()))
    got: dict[str, dict] = {}

    def direct():
        out = {}
        for p in plan.points:
            hw = dict(p.params["hardware"])
            target, density = hw.pop("target"), hw.pop("act_density")
            t = estimate_model(model, target=target, config=hw, act_density=str(density))["total"]
            out[p.pid] = (float(t["energy_pj"]["total"]), float(t["cycles"]))
        got["direct"] = out

    def through(name, execute):
        def go():
            out = {}
            execute(lambda p, cols: out.__setitem__(p.pid, (cols["energy_pj"], cols["cycles"])))
            got[name] = out
        return go

    rows: list[Row] = []
    clusters = {}
    try:
        for w in (1, 2):
            t0 = time.perf_counter()
            cluster = LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   silence_logs=logging.CRITICAL)
            clusters[w] = (cluster, Client(cluster, set_as_default=False))
            rows.append(Row(f"LocalCluster, {w} worker(s)", "start-up", (time.perf_counter() - t0) * 1e3, "ms"))
        fns = {"direct": direct,
               "serial": through("serial", lambda sink: run_serial(plan, plan.points, sink)),
               "dask1": through("dask1", lambda sink: run_dask(clusters[1][1], plan, plan.points, sink)),
               "dask2": through("dask2", lambda sink: run_dask(clusters[2][1], plan, plan.points, sink))}
        times = side_by_side(fns, repeat=1 if quick else 3)
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    case = f"{n} estimate points"
    same = all(got[k] == got["direct"] for k in ("serial", "dask1", "dask2"))
    rows.append(Row(case, "rows identical", check(same, "sweep rows differ from estimate_model's")))
    for key, label in (("direct", "direct estimate_model"), ("serial", "sweep serial"),
                       ("dask1", "dask, 1 worker"), ("dask2", "dask, 2 workers")):
        rows.append(Row(case, label, n / times[key], "points/s"))
    rows.append(Row(case, "1 worker / 2 workers time", times["dask1"] / times["dask2"], "x"))
    rows.append(Row(case, "overhead/point, serial", (times["serial"] - times["direct"]) / n * 1e3, "ms"))
    rows.append(Row(case, "overhead/point, 1 worker", (times["dask1"] - times["direct"]) / n * 1e3, "ms"))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 points, one repeat")
    args = ap.parse_args(argv)
    from run_all import print_table

    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"hwq sweep benchmark ({'quick' if args.quick else 'full'}) -- python {platform.python_version()}, "
          f"{os.cpu_count()} cpus, load avg {load}")
    print(f"\n== {TITLE} ==")
    t0 = time.perf_counter()
    print_table(run(args.quick))
    print(f"  ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
