"""Smoke test of the benchmarks: ``bench/run_all.py --quick`` runs, passes its own
correctness checks and prints a table for every ``bench/bench_*.py`` module.

No timing is asserted here (project rule: speed targets live in bench/ as ratios).
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def test_run_all_quick():
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{proc.stderr}"
    names = sorted(p.stem[len("bench_"):] for p in BENCH.glob("bench_*.py"))
    assert names, "no bench/bench_*.py modules found"
    for name in names:  # every module is registered in run_all.py and printed its table
        assert f"\n== {name}: " in out, f"no header for benchmark {name!r}\n{out}"
    assert "CHECK FAILED" not in out and "FAILED" not in out
    assert "every self-check passed" in out


def test_plot_genc(tmp_path):
    """bench/plot_genc.py draws the stored gen-c measurements: a PNG, one row per kernel label
    measured on the 784x300 layer, every value a positive count per MAC."""
    out = tmp_path / "g.png"
    proc = subprocess.run([sys.executable, str(BENCH / "plot_genc.py"), str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [line.split() for line in proc.stdout.splitlines()[1:]]
    assert {"int8", "pow2-csr", "codebook-csr"} <= {r[0] for r in rows}
    assert all(len(r) == 4 and all(float(v) > 0 for v in r[1:]) for r in rows)
