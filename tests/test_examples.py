"""The shipped example models: valid, accurate, bit-exact-consistent, reproducible."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwq import golden, ir
from hwq.data.digits import load_digits_split

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RESULTS = json.loads((EXAMPLES / "results.json").read_text())
FILES = sorted(EXAMPLES.glob("*.ir"))


@pytest.fixture(scope="module")
def split():
    return load_digits_split(seed=0)


def accuracy(model, x, y, mode):
    run = golden.run_int if mode == "int" else golden.run_float
    out = run(model, x.reshape((len(x),) + tuple(model.inputs[0].shape)))[model.outputs[0]]
    return float((out.argmax(1) == y).mean())


def test_every_variant_is_shipped():
    assert {f.name for f in FILES} == {r["file"] for r in RESULTS.values()}
    assert len(FILES) == 9


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_example_accuracy_and_int_vs_float(path, split):
    m = ir.load(path)
    acc_f = accuracy(m, split.x_test, split.y_test, "float")
    assert acc_f >= 0.95, f"{path.name}: float accuracy {acc_f:.3f}"
    if m.is_quantized:
        acc_i = accuracy(m, split.x_test, split.y_test, "int")
        # the bar: the golden integer model within 1 point of its float reference
        assert abs(acc_i - acc_f) <= 0.01, f"{path.name}: int {acc_i:.4f} vs float {acc_f:.4f}"
    # the published table (README, results.json) says what the files really do
    r = next(r for r in RESULTS.values() if r["file"] == path.name)
    assert r["acc_float"] == acc_f
    assert r["acc_int"] == (accuracy(m, split.x_test, split.y_test, "int") if m.is_quantized else None)


def test_shipped_test_split_matches_loader(split):
    assert np.array_equal(np.load(EXAMPLES / "digits_test_x.npy"), split.x_test.astype(np.float32))
    assert np.array_equal(np.load(EXAMPLES / "digits_test_y.npy"), split.y_test)


def test_variants_have_the_promised_encodings():
    enc = {f.stem: {l.weight.encoding_name() for l in ir.load(f).weighted()} for f in FILES}
    assert enc["digits_mlp"] == {"float32"}
    assert enc["digits_mlp_pruned_shared"] == {"csc+codebook"}
    assert enc["digits_mlp_pow2"] == {"csc+pow2"}
    assert enc["digits_lenet_int8"] == {"int8"}
    assert enc["digits_mlp_pq"] == {"pq"}
    pow2 = ir.load(EXAMPLES / "digits_mlp_pow2.ir")
    assert all(l.requant.mode == "shift" for l in pow2.weighted())


@pytest.mark.skipif(not (os.environ.get("CI") or os.environ.get("HWQ_SLOW_TESTS")),
                    reason="retrains every example twice (minutes): runs in CI (CI=true) "
                           "or with HWQ_SLOW_TESTS=1")
def test_regeneration_is_deterministic(tmp_path):
    """Two fresh runs of the generator give identical bytes (same machine and BLAS)."""
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        subprocess.run([sys.executable, str(EXAMPLES / "make_examples.py"), str(tmp_path / d)],
                       check=True, capture_output=True)
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name
    # and the shipped table is reproduced to within a point (BLAS differences across CPUs
    # may move individual weights, never the accuracy by more than that)
    fresh = json.loads((tmp_path / "a" / "results.json").read_text())
    for k, r in RESULTS.items():
        assert abs(fresh[k]["acc_float"] - r["acc_float"]) <= 0.01, k


def test_readme_tables_show_the_measured_results():
    sys.path.insert(0, str(EXAMPLES))
    try:
        from make_examples import table
    finally:
        sys.path.pop(0)
    rows = "\n".join(table(RESULTS))
    assert rows in (EXAMPLES.parent / "README.md").read_text()
    assert rows in (EXAMPLES / "README.md").read_text()
