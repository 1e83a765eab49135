"""IR file I/O: ``hwq.ir.save`` / ``hwq.ir.load`` time, size and memory.

For each shipped example model and one EIE-shaped random layer (AlexNet FC7, 4096x4096
at 9% density, 4-bit codebook, CSC with 4-bit relative indices; 1024x1024 in --quick):

* save / load time (median), load throughput in MB/s of file and of declared tensor
  bytes (the raw arrays the manifest declares);
* bytes per weight: file bytes / logical weights (sum of every weight's dense size);
* peak memory of a load (tracemalloc: Python and NumPy allocations) relative to the
  declared tensor bytes -- 1.0 would be "one copy of the arrays", anything above is
  transient: the zip reader's buffers, and validation's int64 temporaries. The same
  ratio for ``read_container`` alone tells the two apart.
"""

from __future__ import annotations

import json
import os
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np

from _common import EXAMPLES, Row, check, side_by_side

TITLE = "ir_io: save/load time, bytes per weight, load peak memory"

EXAMPLE_STEMS = ("digits_mlp", "digits_mlp_int8", "digits_mlp_pruned_shared",
                 "digits_lenet_int8", "digits_lenet_pow2")


def declared_bytes(path: Path) -> int:
    from hwq.ir.manifest import declared_tensors
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    return sum(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
               for dtype, shape in declared_tensors(manifest).values())


def logical_weights(model) -> int:
    return sum(layer.weight.size for layer in model.weighted())


def peak_bytes(fn) -> int:
    """Peak traced allocation (bytes above the starting level) while ``fn()`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del result
    return peak


def read_only(path: Path):
    """The container read alone (no model building, no validation)."""
    from hwq.ir.container import read_container
    from hwq.ir.manifest import check_header, declared_tensors
    return read_container(path, lambda m: declared_tensors(check_header(m)))


def _eie_model(quick: bool):
    from hwq.compress.random_model import random_mlp
    n = 1024 if quick else 4096
    return f"random FC {n}x{n} 9% csc", random_mlp(f"{n},{n}", density=0.09, encoding="codebook",
                                                   bits=4, sparse="csc", index_bits=4)


def _one(case: str, model, tmp: Path, repeat: int) -> list[Row]:
    from hwq import ir
    path = tmp / "m.ir"
    ir.save(model, path)
    again = ir.load(path)
    check(logical_weights(again) == logical_weights(model), f"{case}: round trip lost weights")
    for a, b in zip(model.weighted(), again.weighted()):
        check(np.array_equal(a.weight.dense_int() if a.weight.is_integer else a.weight.dense_float(),
                             b.weight.dense_int() if b.weight.is_integer else b.weight.dense_float()),
              f"{case}: {a.name} weights change in a save/load round trip")
    file_bytes = os.path.getsize(path)
    decl = declared_bytes(path)
    t = side_by_side({"save": lambda: ir.save(model, tmp / "s.ir"),
                      "load": lambda: ir.load(path)}, repeat)
    peak = peak_bytes(lambda: ir.load(path))
    peak_read = peak_bytes(lambda: read_only(path))
    nw = logical_weights(model)
    return [Row(case, "save", t["save"] * 1e3, "ms"),
            Row(case, "load", t["load"] * 1e3, "ms"),
            Row(case, "load/save time", t["load"] / t["save"], "x"),
            Row(case, "load throughput (file)", file_bytes / t["load"] / 1e6, "MB/s"),
            Row(case, "load throughput (declared)", decl / t["load"] / 1e6, "MB/s"),
            Row(case, "file bytes / weight", file_bytes / nw, f"B ({nw:,} weights)"),
            Row(case, "file / declared bytes", file_bytes / decl, "x (deflate)"),
            Row(case, "load peak / declared", peak / decl, f"x ({decl:,} B declared)"),
            Row(case, "  of which container read", peak_read / decl, "x (read_container alone)")]


def run(quick: bool = False) -> list[Row]:
    from hwq import ir
    rows = []
    stems = EXAMPLE_STEMS[1:2] + EXAMPLE_STEMS[3:4] if quick else EXAMPLE_STEMS
    with tempfile.TemporaryDirectory(prefix="hwq-bench-") as d:
        tmp = Path(d)
        for stem in stems:
            rows += _one(stem, ir.load(EXAMPLES / f"{stem}.ir"), tmp, 3 if quick else 15)
        case, model = _eie_model(quick)
        rows += _one(case, model, tmp, 2 if quick else 5)
    return rows
