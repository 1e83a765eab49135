"""docs/semantics.md is implementable in C: a plain C transcription of the requantization
matches the golden model bit for bit, natively and on AArch64 under qemu."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwq.golden.fixedpoint import multiply_by_quantized_multiplier, shift_requantize

SRC = Path(__file__).parent / "c" / "fixedpoint_ref.c"


def cases(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    edges = np.array([0, 1, -1, 2**31 - 1, -(2**31), 2**30, -(2**30), 12345, -12345])
    x = np.concatenate([edges, rng.integers(-(2**31), 2**31, n), rng.integers(-300, 300, n)])
    m = rng.integers(2**30, 2**31, x.size)
    e = rng.integers(-31, 31, x.size)
    mode = rng.integers(0, 2, x.size)
    return x, m, e, mode


def golden(x, m, e, mode):
    return np.where(mode == 1, shift_requantize(x, e), multiply_by_quantized_multiplier(x, m, e))


def run_c(cmd, x, m, e, mode):
    text = "\n".join(f"{a} {b} {c} {d}" for a, b, c, d in zip(x, m, e, mode)) + "\n"
    out = subprocess.run(cmd, input=text, capture_output=True, text=True, check=True, timeout=120).stdout
    return np.array([int(v) for v in out.split()], dtype=np.int64)


def build(cc, out, extra=()):
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed (make install puts it there)")
    subprocess.run([cc, "-O2", "-std=c99", "-Wall", "-Werror", *extra, str(SRC), "-o", str(out)], check=True)


def test_host_c_matches_golden(tmp_path):
    build("gcc", tmp_path / "ref")
    x, m, e, mode = cases()
    assert np.array_equal(run_c([str(tmp_path / "ref")], x, m, e, mode), golden(x, m, e, mode))


def test_aarch64_c_under_qemu_matches_golden(tmp_path):
    if shutil.which("qemu-aarch64") is None:
        pytest.skip("qemu-aarch64 is not installed (make install puts it there)")
    build("aarch64-linux-gnu-gcc", tmp_path / "ref", ["-static"])
    x, m, e, mode = cases(3000, seed=1)
    got = run_c(["qemu-aarch64", "-cpu", "max", str(tmp_path / "ref")], x, m, e, mode)
    assert np.array_equal(got, golden(x, m, e, mode))
