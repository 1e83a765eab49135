"""SQS (seed 004) and Deep Compression (seed 002) as complete methods.

References: the SQS paper's printed rows against its ratio formula, an exhaustive search over
uniform allocations, the cubic schedule written out, weight counts recounted from the IR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwq import ir
from hwq.cli import main
from hwq.compress.methods.accounting import sqs_ratio
from hwq.compress.methods.options import MethodParams
from hwq.compress.methods.run import compress_model_method
from hwq.compress.methods.sqs import BITS, SPARSITIES, JointWeight, _allocate
from hwq.data.digits import Split, load_digits_split
from hwq.golden import run_int

ROOT = Path(__file__).parents[1]
MLP = ROOT / "examples" / "digits_mlp.ir"


# seed 004, Tables 1-4: (sparsity, average bits, printed ratio)
@pytest.mark.parametrize("sp,bits,paper", [(0.946, 4.1, 143.0), (0.900, 1.8, 177.8), (0.860, 5.0, 45.7),
                                           (0.921, 3.9, 101.2), (0.937, 4.0, 127.9), (0.968, 3.5, 284.2)])
def test_sqs_ratio_reproduces_the_papers_rows(sp, bits, paper):
    assert sqs_ratio(sp, bits) == pytest.approx(paper, rel=0.03)


def test_allocation_is_feasible_and_beats_every_uniform_choice():
    rng = np.random.default_rng(0)
    sizes = {"a": 1000, "b": 5000, "c": 300}
    cost = {n: {(s, b): float(rng.uniform(0, 1) * s / b + (1 - s) * 0.01) for s in SPARSITIES for b in BITS}
            for n in sizes}
    budget = 32 * sum(sizes.values()) / 60
    sel = _allocate(cost, sizes, budget)
    used = sum(sizes[n] * (1 - s) * b for n, (s, b) in sel.items())
    assert used <= budget
    total = sum(cost[n][sel[n]] for n in sizes)
    for sb in cost["a"]:
        if sum(sizes[n] * (1 - sb[0]) * sb[1] for n in sizes) <= budget:
            assert total <= sum(cost[n][sb] for n in sizes) + 1e-12


def test_joint_weight_schedule_and_levels():
    w = np.random.default_rng(1).normal(size=(40, 50))
    j = JointWeight(w, 0.9, 3, total_steps=10)
    assert j.current_sparsity() == 0.0 and np.unique(j.value()).size <= 7  # 2^3 - 1 levels
    j.t = 5
    assert j.current_sparsity() == pytest.approx(0.9 * (1 - 0.5 ** 3))
    j.t = 10
    v = j.value()
    assert (v == 0).mean() >= 0.9 and np.unique(v).size <= 7


def _small():
    d = load_digits_split()
    return Split(d.x_train[:300], d.y_train[:300], d.x_test, d.y_test)


def test_sqs_meets_its_target_and_records_the_choices():
    model = ir.load(MLP)
    res = compress_model_method(model, _small(), MethodParams(method="sqs", target_ratio=60, data="digits",
                                                              score_samples=100, retrain_epochs=1, act_bits=8))
    prov = res.provenance
    n = {l.name: l.weight.size for l in model.weighted()}
    # recount from the IR: non-zeros and the codebook width per layer
    bits = sum(l.weight.nnz() * prov["layers"][l.name]["bits"] for l in res.model.weighted())
    assert 32 * sum(n.values()) / bits >= 60  # the SQS ratio of what is stored meets the target
    for l in res.model.weighted():
        ch = prov["layers"][l.name]
        assert l.weight.nnz() <= round((1 - ch["sparsity"]) * l.weight.size) + 1
        assert l.weight.values.bits == ch["bits"] and l.weight.sparse is not None
    d = load_digits_split()
    run_int(res.model, d.x_test[:10].reshape(-1, 64))  # the integer golden model runs it


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("args,needle", [
    (["--target-ratio", "100000"], "unreachable"),
    (["--target-ratio", "50", "--max-accuracy-drop", "1"], "exactly one budget"),
    ([], "exactly one budget"),
    (["--target-ratio", "0.5"], "must be > 1"),
])
def test_sqs_bad_budget(tmp_path, args, needle):
    r = invoke("compress", MLP, "-o", tmp_path / "x.ir", "--method", "sqs", "--data", "digits",
               "--score-samples", "50", *args)
    assert r.exit_code == 1 and needle in r.output and r.output.count("\n") == 1


def test_deep_compression_iterative_prune_hits_the_rates(tmp_path):
    out = tmp_path / "dc.ir"
    r = invoke("compress", MLP, "-o", out, "--method", "deep-compression", "--prune", "fc1=0.92,*=0.9",
               "--share-bits", "4", "--prune-steps", "2", "--index-bits", "5")
    assert r.exit_code == 0, r.output
    assert "weights%" in r.output and "P+Q+H" in r.output
    m = ir.load(out)
    for l in m.weighted():
        rate = 0.92 if l.name == "fc1" else 0.9
        w = l.weight.dense_float()
        assert np.count_nonzero(w) == w.size - int(np.floor(rate * w.size))
        assert np.unique(w[w != 0]).size <= 15  # 4-bit sparse codebook: 15 values + the zero
        assert m.provenance["compress"]["table"][l.name]["weights_pct"] == pytest.approx(np.count_nonzero(w) / w.size)


def test_deep_compression_needs_its_parameters(tmp_path):
    r = invoke("compress", MLP, "-o", tmp_path / "x.ir", "--method", "deep-compression", "--prune", "0.9")
    assert r.exit_code == 1 and "--share-bits" in r.output
    r = invoke("compress", MLP, "-o", tmp_path / "x.ir", "--method", "deep-compression", "--prune", "1.2",
               "--share-bits", "4")
    assert r.exit_code == 1 and "[0, 1)" in r.output


def test_deep_compression_retrains_by_default_with_data(tmp_path):
    """With --data and no run settings, the method retrains with its documented recipe (5 prune
    rounds, 10 epochs each, lr 0.05); without data, or with --retrain-epochs 0, it does not."""
    d = load_digits_split()
    npz = tmp_path / "d.npz"
    np.savez(npz, x_train=d.x_train[:120], y_train=d.y_train[:120], x_test=d.x_test[:50], y_test=d.y_test[:50])
    base = ("compress", MLP, "--method", "deep-compression", "--prune", "0.9", "--share-bits", "4")
    runs = {"data": (*base, "--data", npz), "none": base, "zero": (*base, "--data", npz, "--retrain-epochs", "0"),
            "given": (*base, "--data", npz, "--retrain-epochs", "1", "--lr", "0.02", "--prune-steps", "2")}
    prov = {}
    for key, args in runs.items():
        r = invoke(*args, "-o", tmp_path / f"{key}.ir")
        assert r.exit_code == 0, r.output
        prov[key] = ir.load(tmp_path / f"{key}.ir").provenance["compress"]
    got = {k: (p["prune_steps"], p["retrain_epochs"], p["lr"]) for k, p in prov.items()}
    assert got == {"data": (5, 10, 0.05), "none": (1, 0, 0.05), "zero": (1, 0, 0.05), "given": (2, 1, 0.02)}
    # the defaults really trained: the retrained weights differ from the one-shot ones
    w = {k: ir.load(tmp_path / f"{k}.ir").layers["fc2"].weight.dense_float() for k in ("data", "none")}
    assert not np.array_equal(w["data"], w["none"])
