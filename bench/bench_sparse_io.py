"""Sparse stays sparse: ``hwq info`` and ``hwq run`` on a VGG-16 FC6-size layer.

One dense layer of 25088 inputs x 4096 outputs at 4% density, 4-bit codebook (index 0 =
0), CSC with 4-bit relative indices (EIE's format); 4096x1024 in --quick. Each command
runs in a fresh process; the table gives its wall time and peak resident memory (the
child's ``VmHWM``) beside the file size, and the same for a process that only
imports hwq and loads the model (``ir.load``), so the command's own cost is the
difference. Targets (issue #11): info and run each under 500 MB and 2 s.

Self-check: ``hwq run``'s output equals an independent computation of the layer (the
accumulators as per-sample ``bincount`` sums over the stored entries, then the golden
requantization), bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, Row, check

TITLE = "sparse_io: hwq info / run on an FC6-size sparse layer, time and peak memory"


def fc6_model(rows: int, cols: int, density: float, seed: int = 0):
    """A quantized sparse layer built directly (no float training, no dense weight)."""
    from hwq import ir
    from hwq.ir.sparse import encode
    rng = np.random.default_rng(seed)
    mask = np.zeros((rows, cols), bool)
    for r0 in range(0, rows, 256):  # a chunk of rows at a time: never a dense float matrix
        mask[r0:r0 + 256] = rng.random((min(256, rows - r0), cols)) < density
    idx, src = encode(mask, "csc", 4)
    del mask
    cb = np.sort(rng.integers(-2048, 2048, 16)).astype(np.int16)
    cb[0] = 0
    codes = np.where(src >= 0, rng.integers(1, 16, src.size), 0).astype(np.uint8)
    w = ir.Weight((rows, cols), ir.CodebookValues(codes, cb, np.array([1 / 1024], np.float32), 4, 16), idx)
    q_in = ir.QuantParams(8, False, 1 / 255, 0)
    q_out = ir.QuantParams(8, True, 0.05, 0)
    bias_q = rng.integers(-5000, 5000, rows).astype(np.int32)
    m = ir.Model("fc6", {}, ["fc6"], {"source": "bench_sparse_io"})
    m.layers["x"] = ir.Input("x", [], shape=(cols,), quant=q_in)
    m.layers["fc6"] = ir.Dense("fc6", ["x"], in_features=cols, out_features=rows, weight=w,
                               bias=(bias_q * (q_in.scale / 1024)).astype(np.float32), bias_q=bias_q,
                               requant=ir.make_requant(np.array([q_in.scale / 1024 / q_out.scale])), quant=q_out)
    return ir.validate(m)


def reference_output(model, x: np.ndarray) -> np.ndarray:
    """The layer computed independently of hwq.golden's matmul: bincount over entries."""
    from hwq.golden.requantize import rescale, to_output
    layer = model.layers["fc6"]
    w = layer.weight
    rows, cols = w.sparse.coordinates()
    vals = w.values.int_values().astype(np.float64)
    acc = np.stack([np.bincount(rows, weights=vals * x[n, cols], minlength=w.channels) for n in range(x.shape[0])])
    acc = np.rint(acc).astype(np.int64) + layer.bias_q.astype(np.int64)  # |acc| << 2^53: exact
    return to_output(rescale(acc, layer.requant, channel_axis=1), layer.quant)


# the child reports its own peak RSS (VmHWM belongs to the process image: a fork of this
# big parent does not count, unlike ru_maxrss, which inherits the parent's)
_PEAK = ("import atexit, runpy, sys\n"
         "def _peak():\n"
         "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
         "    sys.stderr.write('PEAK_KB ' + hwm.split()[1] + '\\n')\n"
         "atexit.register(_peak)\n"
         "sys.argv = sys.argv[1:]\n"
         "runpy.run_module(sys.argv[0], run_name='__main__') if sys.argv[0] == 'hwq' else exec(sys.argv[1])\n")


def measure(args: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one fresh child: ``hwq ARGS`` or ``-c CODE``."""
    argv = [sys.executable, "-c", _PEAK] + (["hwq"] + args if args[0] != "-c" else args)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    check(proc.returncode == 0, f"{' '.join(args[:3])} failed: {proc.stderr[-300:]}")
    peak = [l for l in proc.stderr.splitlines() if l.startswith("PEAK_KB ")]
    check(bool(peak), "child did not report its peak memory")
    return wall, int(peak[-1].split()[1]) * 1024


def run(quick: bool = False) -> list[Row]:
    from hwq import ir
    from hwq.npyio import load_npy
    rows, cols, batch = (1024, 4096, 4) if quick else (4096, 25088, 4)
    case = f"FC {rows}x{cols} 4% csc"
    out = []
    with tempfile.TemporaryDirectory(prefix="hwq-bench-") as d:
        tmp = Path(d)
        model = fc6_model(rows, cols, 0.04)
        path = tmp / "fc6.ir"
        ir.save(model, path)
        x = np.random.default_rng(1).integers(0, 256, (batch, cols)).astype(np.uint8)
        np.save(tmp / "x.npy", x)
        want = reference_output(model, x.astype(np.int64))
        stored, nnz = model.layers["fc6"].weight.stored, model.layers["fc6"].weight.nnz()
        del model
        base = measure(["-c", f"from hwq import ir; ir.load({str(path)!r})"])
        info = measure(["info", str(path)])
        run_ = measure(["run", str(path), "--input", str(tmp / "x.npy"), "-o", str(tmp / "y.npy")])
        run_f = measure(["run", str(path), "--mode", "float", "--input", str(tmp / "x.npy"), "-o", str(tmp / "f.npy")])
        got = load_npy(tmp / "y.npy")
        out.append(Row(case, "run == bincount reference", check(np.array_equal(got, want), f"{case}: hwq run differs"), ""))
        out += [Row(case, "file size", os.path.getsize(path) / 1e6, f"MB ({nnz:,} non-zeros, {stored:,} stored)"),
                Row(case, "ir.load process: time", base[0], "s"),
                Row(case, "ir.load process: peak RSS", base[1] / 1e6, "MB"),
                Row(case, "hwq info: time", info[0], "s"),
                Row(case, "hwq info: peak RSS", info[1] / 1e6, "MB"),
                Row(case, f"hwq run (batch {batch}): time", run_[0], "s"),
                Row(case, f"hwq run (batch {batch}): peak RSS", run_[1] / 1e6, "MB"),
                Row(case, "hwq run --mode float: time", run_f[0], "s"),
                Row(case, "hwq run --mode float: peak RSS", run_f[1] / 1e6, "MB")]
    return out
