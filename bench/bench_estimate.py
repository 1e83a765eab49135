"""``hwq estimate`` at real size: time and peak memory, beside ``hwq info`` and SCALE-Sim.

* **VGG-16** (``hwq random --net vgg16``: 138 M weights at Deep Compression's per-layer
  densities, 7.5 % overall, 5/8-bit codebooks, CSC with 5-bit relative indices): the time
  to generate it, ``estimate_model`` and ``model_info`` (``hwq info``) time and peak memory
  in process (tracemalloc, above the loaded model), side by side; then the two CLI commands
  end to end on the saved file (wall time and the process's max RSS). Goal (issue #13):
  estimate < 2 s and < 500 MB; ``info`` likewise.
* **AlexNet FC6** (9216 x 4096 at 9 %) and **the whole AlexNet**: hwq's estimate time and
  peak memory printed beside SCALE-Sim v3's, as measured on this machine for issue #13
  (FC6 as a GEMM on a 32x32 array: 8 min 25 s and 3.9 GB; conv1-5: 7 min 9 s). SCALE-Sim
  simulates cycle by cycle and computes no values; hwq counts from the sparse pointers.

``--quick`` uses LeNet-300-100 and LeNet-5 instead (same code path, seconds less).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from _common import Row, check, side_by_side

TITLE = "estimate: VGG-16 / AlexNet estimate time and memory beside hwq info and SCALE-Sim"

SCALESIM = "SCALE-Sim v3, issue #13 (measured on this machine)"
SCALESIM_FC6 = (8 * 60 + 25, 3.9e9)  # seconds, bytes: AlexNet FC6 as a GEMM, 32x32 array
SCALESIM_CONV = 7 * 60 + 9  # seconds: AlexNet conv1-5
GOAL_S, GOAL_B = 2.0, 500e6


def traced(fn):
    """(seconds, peak traced bytes above the start) of one call."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        return dt, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def cli_rss(args: list[str]) -> tuple[float, int]:
    """Wall seconds and max RSS (bytes) of ``hwq <args>`` in a fresh process."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "hwq", *args],
                         capture_output=True, text=True, check=True).stdout.split()
    check(out[2] == "0", f"hwq {' '.join(args)} failed")
    return float(out[0]), int(out[1]) * 1024


def run(quick: bool = False) -> list[Row]:
    from hwq import ir
    from hwq.compress.nets import random_net, sparse_random_weight
    from hwq.cost.estimate import estimate_model
    from hwq.info import model_info

    rows: list[Row] = []
    big, small = ("lenet300", "lenet5") if quick else ("vgg16", "alexnet")
    t0 = time.perf_counter()
    net = random_net(big, "codebook", "csc")
    gen = time.perf_counter() - t0
    n_w = sum(l.weight.size for l in net.weighted())
    case = f"{big} ({n_w / 1e6:.1f} M weights)"
    rows.append(Row(case, "generate (random --net)", gen, "s"))
    t = side_by_side({"estimate": lambda: estimate_model(net), "info": lambda: model_info(net)},
                     repeat=1 if not quick else 3)
    rows += [Row(case, "estimate_model", t["estimate"], "s"), Row(case, "model_info (hwq info)", t["info"], "s"),
             Row(case, "estimate/info time", t["estimate"] / t["info"], "x")]
    _, peak_e = traced(lambda: estimate_model(net))
    _, peak_i = traced(lambda: model_info(net))
    rows += [Row(case, "estimate peak (traced)", peak_e / 1e6, "MB above the loaded model"),
             Row(case, "info peak (traced)", peak_i / 1e6, "MB above the loaded model")]
    rep = estimate_model(net)
    total = rep["total"]
    rows.append(Row(case, "weight bytes total == info", check(
        abs(total["weight_bytes"]["total"] * 8 - model_info(net)["storage_bits"]["total"]) < 1e-6, "bytes differ"),
        ""))
    rows.append(Row(case, "MACs dense / executed", total["speedup"], "x"))
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "net.ir")
        t0 = time.perf_counter()
        ir.save(net, path)
        rows.append(Row(case, "ir.save", time.perf_counter() - t0, "s"))
        del net, rep
        for cmd in () if quick else ("estimate", "info"):  # a fresh interpreter each: seconds
            wall, rss = cli_rss([cmd, path, "--json"])
            goal = "met" if wall < GOAL_S and rss < GOAL_B else "missed"
            rows.append(Row(case, f"hwq {cmd} CLI (load + {cmd})", wall, "s"))
            rows.append(Row(case, f"hwq {cmd} CLI max RSS", rss / 1e6, f"MB (goal < 2 s, < 500 MB: {goal})"))

    # AlexNet FC6 alone, then the whole AlexNet, beside SCALE-Sim
    import numpy as np

    rng = np.random.default_rng(0)
    shape = (1024, 2304) if quick else (4096, 9216)
    w = sparse_random_weight(rng, shape, "codebook", 0.09, 4, "csc", 4)
    fc6 = ir.Model("fc6", {}, ["fc6"])
    fc6.layers["x"] = ir.Input("x", [], shape=(shape[1],))
    fc6.layers["fc6"] = ir.Dense("fc6", ["x"], in_features=shape[1], out_features=shape[0], weight=w)
    name = f"AlexNet FC6 {shape[1]}x{shape[0]} 9%"
    dt, peak = traced(lambda: estimate_model(fc6, act_density="0.351"))
    s_t, s_b = SCALESIM_FC6
    rows += [Row(name, "hwq estimate", dt, "s"), Row(name, "hwq peak (traced)", peak / 1e6, "MB"),
             Row(name, "SCALE-Sim time", float(s_t), f"s ({SCALESIM}, 32x32 array)"),
             Row(name, "SCALE-Sim memory", s_b / 1e6, "MB"),
             Row(name, "SCALE-Sim/hwq time", s_t / dt, "x"), Row(name, "SCALE-Sim/hwq memory", s_b / max(peak, 1), "x")]
    whole = random_net(small, "codebook", "csc")
    dt, peak = traced(lambda: estimate_model(whole))
    rows += [Row(f"{small} whole", "hwq estimate", dt, "s"), Row(f"{small} whole", "hwq peak (traced)", peak / 1e6, "MB"),
             Row(f"{small} whole", "SCALE-Sim conv1-5 time", float(SCALESIM_CONV), f"s ({SCALESIM})"),
             Row(f"{small} whole", "SCALE-Sim conv1-5/hwq whole time", SCALESIM_CONV / dt, "x")]
    return rows
