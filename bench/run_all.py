#!/usr/bin/env python3
"""Run every hwq benchmark and print one table per benchmark (``make bench``).

    python bench/run_all.py            # full run (each benchmark < 30 s on 2 cores)
    python bench/run_all.py --quick    # short run (each benchmark < 3 s), used by the smoke test
    python bench/run_all.py --only golden,compress
    python bench/run_all.py --blas-threads 1   # stable BLAS ratios on a busy machine

Every benchmark prints ratios of alternatives timed side by side in this run; see
bench/README.md for how to read them. Exit code 0 when every benchmark ran and passed
its own correctness checks, 1 otherwise (the failing benchmark is named).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import BenchCheckError  # noqa: E402

BENCHMARKS = ("golden", "ir_io", "compress", "sparse_io", "estimate", "genc", "eie")  # module bench_<name>.py each


def print_table(rows) -> None:
    cells = [("case", "metric", "value", "unit")] + [r.cells() for r in rows]
    width = [max(len(c[i]) for c in cells) for i in range(4)]
    for n, c in enumerate(cells):
        print("  " + "  ".join([c[0].ljust(width[0]), c[1].ljust(width[1]),
                                c[2].rjust(width[2]), c[3]]).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * w for w in width))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (smaller sizes, fewer repeats)")
    ap.add_argument("--blas-threads", type=int, default=0, metavar="N",
                    help="pin BLAS/OpenMP threads to N (default: leave the environment alone); "
                         "1 keeps BLAS-based ratios stable on a busy machine")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark {unknown[0]!r} (choose from {', '.join(BENCHMARKS)})")

    if args.blas_threads > 0:  # must happen before NumPy (and its BLAS) is loaded
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)
    blas = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    import numpy as np
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"hwq benchmarks ({'quick' if args.quick else 'full'}) -- python {platform.python_version()}, "
          f"numpy {np.__version__}, {os.cpu_count()} cpus, {platform.machine()}, load avg {load}, blas threads {blas}")
    print("ratios compare alternatives timed side by side in this run; absolute times are "
          "for orientation only")
    failed = []
    for name in names:
        mod = importlib.import_module(f"bench_{name}")
        print(f"\n== {name}: {mod.TITLE.split(': ', 1)[-1]} ==")
        t0 = time.perf_counter()
        try:
            rows = mod.run(quick=args.quick)
        except BenchCheckError as e:
            print(f"  CHECK FAILED: {e}")
            failed.append(name)
            continue
        except Exception:  # report, keep going with the other benchmarks
            traceback.print_exc()
            failed.append(name)
            continue
        print_table(rows)
        print(f"  ({time.perf_counter() - t0:.1f} s)")
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    print("\nall benchmarks ran; every self-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
