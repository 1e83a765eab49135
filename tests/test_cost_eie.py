"""``hwq estimate --target eie``: the accelerator's counts per layer, checked against the slow
per-cycle reference (tests/eie_reference.py) on entry counts derived from the dense matrix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from hwq import golden, ir
from hwq.cli import main
from tests.eie_reference import slow_layer

EX = Path(__file__).parents[1] / "examples"


def estimate(*args):
    return CliRunner().invoke(main, ["estimate", *map(str, args)])


def _entries(dense: np.ndarray, n_pe: int, index_bits: int) -> np.ndarray:
    """Stored entries per PE and column: non-zeros plus one filler per 2^index_bits zeros
    of a PE-local gap (docs/eie.md), counted by walking the dense matrix."""
    out_f, in_f = dense.shape
    counts = np.zeros((n_pe, in_f), np.int32)
    for p in range(n_pe):
        sub = dense[p::n_pe]
        for j in range(in_f):
            prev = -1
            for r in np.flatnonzero(sub[:, j]):
                counts[p, j] += 1 + (r - prev - 1) // (1 << index_bits)
                prev = r
    return counts


def test_eie_target_cycles_equal_the_per_cycle_reference_on_golden_inputs(tmp_path):
    path = EX / "digits_mlp_pow2.ir"
    x = np.load(EX / "digits_test_x.npy")[:3]
    np.save(tmp_path / "x.npy", x)
    r = estimate(path, "--target", "eie", "--input", tmp_path / "x.npy", "--param", "n_pe=4",
                 "--param", "fifo_depth=2", "--param", "sample=1", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    m = ir.load(path)
    outs = golden.run_int(m, x, keep_all=True)
    rows = {row["name"]: row for row in rep["layers"]}
    total = 0
    for layer in m.weighted():
        src = layer.inputs[0]
        zp = m.layers[src].quant.zero_point
        active = outs[src][1].reshape(-1) != zp
        ref = slow_layer(_entries(layer.weight.dense_int(), 4, 4), active, layer.out_features, 2)
        row = rows[layer.name]
        assert row["cycles"] == ref["cycles"], layer.name
        assert row["extra"]["pe_busy"] == ref["busy"]
        assert row["extra"]["broadcast_stalls"] == ref["stalls"]
        dense = layer.weight.dense_int()
        assert row["extra"]["macs_effective"] == int(np.count_nonzero(dense[:, active]))
        total += ref["cycles"]
    assert rep["summary"]["model_cycles"] == total + 1


def test_drawn_activations_have_the_requested_density():
    r = estimate(EX / "digits_mlp_pow2.ir", "--target", "eie", "--act-density", "0.25", "--json")
    assert r.exit_code == 0, r.output
    m = ir.load(EX / "digits_mlp_pow2.ir")
    rows = {row["name"]: row for row in json.loads(r.stdout)["layers"]}
    for layer in m.weighted():
        assert rows[layer.name]["extra"]["nonzero_activations"] == round(0.25 * layer.in_features)
    # another seed draws another vector
    r2 = estimate(EX / "digits_mlp_pow2.ir", "--target", "eie", "--act-density", "0.25",
                  "--param", "seed=7", "--json")
    assert r2.exit_code == 0
    assert [x["extra"]["pe_busy"] for x in json.loads(r2.stdout)["layers"] if x["kind"] == "dense"] != \
        [rows[l.name]["extra"]["pe_busy"] for l in m.weighted()]


def test_eie_refuses_convolutions_and_unknown_parameters():
    r = estimate(EX / "digits_lenet_pow2.ir", "--target", "eie")
    assert r.exit_code == 1 and "conv2d" in r.stderr and "dense layers only" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = estimate(EX / "digits_mlp_pow2.ir", "--target", "eie", "--param", "n_pes=4")
    assert r.exit_code == 1 and "n_pes" in r.stderr
    r = estimate(EX / "digits_mlp_pow2.ir", "--target", "eie", "--param", "fifo_depth=0")
    assert r.exit_code == 1


def test_balanced_row_map_chains_each_layers_permutation_into_the_next(tmp_path):
    """--param row_map=balanced: layer L's rows permuted, so layer L+1 reads its input (and
    broadcasts its columns) in that physical order; checked against the per-cycle reference on
    the dense matrices permuted by hand."""
    from hwq.eie.row_map import row_perm

    path = EX / "digits_mlp_pow2.ir"
    x = np.load(EX / "digits_test_x.npy")[:2]
    np.save(tmp_path / "x.npy", x)
    runs = {}
    for rm in ("mod", "balanced"):
        r = estimate(path, "--target", "eie", "--input", tmp_path / "x.npy", "--param", "n_pe=4",
                     "--param", "fifo_depth=2", "--param", f"row_map={rm}", "--json")
        assert r.exit_code == 0, r.output
        runs[rm] = json.loads(r.stdout)
    m = ir.load(path)
    outs = golden.run_int(m, x, keep_all=True)
    rows = {row["name"]: row for row in runs["balanced"]["layers"]}
    prev = None  # the previous layer's permutation: logical index -> physical index
    total = 0
    for layer in m.weighted():
        dense = layer.weight.dense_int()
        perm = row_perm("balanced", np.count_nonzero(dense, axis=1), 4)
        phys = np.zeros_like(dense)
        cols = np.arange(dense.shape[1]) if prev is None else prev
        phys[np.ix_(perm, cols)] = dense
        src = layer.inputs[0]
        active = outs[src][0].reshape(-1) != m.layers[src].quant.zero_point
        active_phys = np.zeros_like(active)
        active_phys[cols] = active
        ref = slow_layer(_entries(phys, 4, 4), active_phys, layer.out_features, 2)
        assert rows[layer.name]["cycles"] == ref["cycles"], layer.name
        assert rows[layer.name]["extra"]["pe_busy"] == ref["busy"], layer.name
        total += ref["cycles"]
        prev = perm
    assert runs["balanced"]["summary"]["model_cycles"] == total + 1
    assert runs["balanced"]["params"]["row_map"] == "balanced"
    r = estimate(path, "--target", "eie", "--param", "row_map=lpt")
    assert r.exit_code == 1 and "row_map" in r.stderr and len(r.stderr.strip().splitlines()) == 1
