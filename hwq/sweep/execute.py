"""Running a plan's points: on Dask (`dask.distributed`), or one by one in this process.

Two kinds of task: ``compress-<ckey>`` runs the compression-scope stages once per distinct
compressed model; ``point-<pid>`` runs the point-scope stages of one point on that shared
result. Dask places them, moves the compressed models between workers, and re-runs the
tasks of a worker that dies (a killed worker's point is retried, up to
``distributed.scheduler.allowed-failures`` times). Results come back to this process, which
alone writes the table, so a point is written once whatever was retried.

`run_serial` runs the same task functions in order without Dask: the reference a Dask run
must reproduce row for row.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Callable

from hwq.errors import HwqError

CONNECT_TIMEOUT = 10.0  # seconds to reach a --scheduler and see a worker


class SweepError(HwqError):
    """A point failed with an unexpected error, or the cluster could not be used."""


def _run_stages(stages, params: dict, art: dict) -> dict:
    cols: dict = {}
    for stage in stages:
        t0 = time.perf_counter()
        try:
            out = stage.run(params, art)
        except HwqError as e:
            cols["error"] = f"{stage.name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
            return cols
        finally:
            cols[f"t_{stage.name}_s"] = time.perf_counter() - t0
        cols.update(out)
    return cols


def compression_task(stages, params: dict, model, data, later=()) -> tuple[dict, dict]:
    """The compression-scope stages: (their columns, the artifacts they made). Then the
    ``prepare`` step of each point-scope stage in ``later`` (work that depends on the
    compressed model only, e.g. golden activations for the estimate stage), once here for
    every hardware point of this compressed model."""
    art = {"model": model, "data": data}
    cols = _run_stages(stages, params, art)
    for stage in later:
        if stage.prepare is None or "error" in cols:
            continue
        t0 = time.perf_counter()
        try:
            stage.prepare(params, art)
        except HwqError as e:
            cols["error"] = f"{stage.name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        finally:
            cols[f"t_{stage.name}_prepare_s"] = time.perf_counter() - t0
    return cols, {k: v for k, v in art.items() if k not in ("model", "data")}


def point_task(stages, params: dict, model, data, shared: tuple[dict, dict]) -> dict:
    """One point's columns: its compressed model's shared columns, then its own stages'."""
    cols, made = shared
    cols = dict(cols)
    if "error" not in cols:
        cols.update(_run_stages(stages, params, {"model": model, "data": data, **made}))
    return cols


def _compression_params(plan, params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in plan.spec.hardware and k != "hardware"}


def run_serial(plan, todo, sink: Callable) -> None:
    """Every point in order in this process; ``sink(point, columns)`` as each finishes."""
    shared: dict = {}
    for p in todo:
        name = p.params["model"]
        if p.ckey not in shared:
            shared[p.ckey] = compression_task(plan.scope("compression"), _compression_params(plan, p.params),
                                              plan.models[name], plan.data[name], plan.scope("point"))
        sink(p, point_task(plan.scope("point"), p.params, plan.models[name], plan.data[name], shared[p.ckey]))


def run_dask(client, plan, todo, sink: Callable) -> None:
    """Every point on the cluster behind ``client``; ``sink(point, columns)`` in finishing order."""
    from dask.distributed import as_completed

    used = {p.params["model"] for p in todo}
    models = {n: client.scatter(plan.models[n], hash=False) for n in used}
    data = {n: None if plan.data[n] is None else client.scatter(plan.data[n], hash=False) for n in used}
    shared, futures = {}, {}
    for p in todo:
        name = p.params["model"]
        if p.ckey not in shared:
            shared[p.ckey] = client.submit(compression_task, plan.scope("compression"),
                                           _compression_params(plan, p.params), models[name], data[name],
                                           plan.scope("point"), key=f"compress-{p.ckey}")
        fut = client.submit(point_task, plan.scope("point"), p.params, models[name], data[name],
                            shared[p.ckey], key=f"point-{p.pid}")
        futures[fut] = p
    shared.clear()  # Dask keeps each compressed model until its last point has run
    done = as_completed(list(futures), loop=client.loop)
    try:
        for fut in done:
            p = futures.pop(fut)
            try:
                cols = fut.result()
            except Exception as e:  # a bug in a stage, or a point whose workers kept dying
                raise SweepError(f"point {p.pid} ({p.params['model']}) failed: {type(e).__name__}: "
                                 f"{str(e).splitlines()[0] if str(e) else ''} (finished rows are kept; "
                                 f"--resume continues)") from None
            sink(p, cols)
    finally:
        for fut in futures:
            fut.cancel()


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, processes: bool = True):
    """A Client on ``scheduler`` (left as it is), or on a LocalCluster of ``workers`` workers
    (default: one per core), one thread each."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        if workers is not None:
            raise SweepError("--workers and --scheduler: an existing cluster has its own workers; give one")
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except Exception as e:  # OSError, TimeoutError, ValueError for a malformed address
            raise SweepError(f"scheduler {scheduler}: no answer ({' '.join(str(e).split())[:120]})") from None
        with client:
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
            except Exception:
                raise SweepError(f"scheduler {scheduler}: no worker joined within {CONNECT_TIMEOUT:g} s") from None
            yield client
        return
    n = (os.cpu_count() or 1) if workers is None else workers
    if n < 1:
        raise SweepError(f"--workers {n}: need at least 1")
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster, set_as_default=False) as client:
        yield client
