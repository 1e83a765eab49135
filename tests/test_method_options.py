"""``hwq compress --method NAME`` takes the common options where the concept is the same.

``--scheme`` (``float`` or the method's own kind per layer), ``--pq DIM:K``, ``--index-bits`` and
``--value-bits`` (per layer too) and ``--calib``; the methods' old spellings (``--pq-dim`` /
``--pq-k``, ``--only``) are aliases that give the same IR; both spellings at once, or an option
the method does not read, is one line and exit 1 with nothing written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwq import ir
from hwq.cli import main
from hwq.data.digits import load_digits_split

MLP = Path(__file__).resolve().parents[1] / "examples" / "digits_mlp.ir"
LENET = Path(__file__).resolve().parents[1] / "examples" / "digits_lenet.ir"


def compress(tmp_path, name, *args, model=MLP):
    out = tmp_path / f"{name}.ir"
    r = CliRunner().invoke(main, ["compress", str(model), "-o", str(out), *map(str, args)])
    assert r.exit_code == 0, r.output + r.stderr
    return ir.load(out)


def same_weights(a, b) -> None:
    for la, lb in zip(a.weighted(), b.weighted()):
        assert la.weight.values.TYPE == lb.weight.values.TYPE, la.name
        np.testing.assert_array_equal(la.weight.dense_float(), lb.weight.dense_float())


def kinds(m) -> dict:
    return {l.name: l.weight.values.TYPE for l in m.weighted()}


def test_qcnn_pq_and_scheme_are_the_old_pq_dim_pq_k(tmp_path):
    fast = ("--method", "qcnn", "--ec", "none")
    old = compress(tmp_path, "old", *fast, "--pq-dim", "4", "--pq-k", "8")
    new = compress(tmp_path, "new", *fast, "--pq", "4:8")
    same_weights(old, new)
    assert [l.weight.values.assignments.shape[1] for l in new.weighted()] == [16, 75, 25]  # M = inputs / 4
    old = compress(tmp_path, "old2", *fast, "--pq-dim", "fc3=float,*=4", "--pq-k", "8")
    new = compress(tmp_path, "new2", *fast, "--scheme", "fc3=float,*=pq:4:8")
    same = compress(tmp_path, "new3", *fast, "--scheme", "fc3=float", "--pq", "4:8")
    same_weights(old, new)
    same_weights(new, same)
    assert kinds(new) == {"fc1": "pq", "fc2": "pq", "fc3": "float32"}


def test_mlq_and_ttq_scheme_float_is_the_old_only(tmp_path):
    for method, extra in (("mlq", ("--score-samples", "60")), ("ttq", ("--retrain-epochs", "1"))):
        base = ("--method", method, "--data", "digits", *extra)
        old = compress(tmp_path, f"{method}_old", *base, "--only", "fc1,fc3")
        new = compress(tmp_path, f"{method}_new", *base, "--scheme", "fc2=float")
        explicit = compress(tmp_path, f"{method}_x", *base, "--scheme", "fc1=ternary,fc3=ternary,*=float")
        same_weights(old, new)
        same_weights(new, explicit)
        assert kinds(new) == {"fc1": "ternary", "fc2": "float32", "fc3": "ternary"}


def test_qp_codec_float_layers_three_spellings(tmp_path):
    a = compress(tmp_path, "a", "--method", "qp-codec", "--qp", "8192", "--only", "fc2")
    b = compress(tmp_path, "b", "--method", "qp-codec", "--qp", "fc2=8192,*=float")
    c = compress(tmp_path, "c", "--method", "qp-codec", "--qp", "8192", "--scheme", "fc1=float,fc3=float")
    same_weights(a, b)
    same_weights(b, c)
    assert kinds(a) == {"fc1": "float32", "fc2": "codebook", "fc3": "float32"}


def test_value_bits_reach_every_method_that_stores_a_codebook(tmp_path):
    runs = {
        "qcnn": ("--method", "qcnn", "--ec", "none", "--pq", "4:8"),
        "slq": ("--method", "slq", "--bits", "3", "--order", "magnitude", "--partition", "2,2,1",
                "--data", "digits", "--score-samples", "30"),
        "sqs": ("--method", "sqs", "--target-ratio", "20", "--data", "digits", "--score-samples", "30"),
        "deep-compression": ("--method", "deep-compression", "--prune", "0.9", "--share-bits", "4"),
    }
    for name, args in runs.items():
        m = compress(tmp_path, name, *args, "--value-bits", "fc1=32,*=12")
        got = {l.name: l.weight.values.value_bits for l in m.weighted()}
        assert got == {"fc1": 32, "fc2": 12, "fc3": 12}, name


def test_index_bits_per_layer_in_the_sparse_methods(tmp_path):
    dc = compress(tmp_path, "dc", "--method", "deep-compression", "--prune", "0.9", "--share-bits", "4",
                  "--index-bits", "fc1=3,*=5")
    sqs = compress(tmp_path, "sqs", "--method", "sqs", "--target-ratio", "20", "--data", "digits",
                   "--score-samples", "30", "--index-bits", "fc1=3,*=5")
    for m in (dc, sqs):
        assert {l.name: l.weight.sparse.index_bits for l in m.weighted()} == {"fc1": 3, "fc2": 5, "fc3": 5}
    # without --index-bits a conv layer gets Deep Compression's 5 bits, a dense one 4
    lenet = compress(tmp_path, "lenet", "--method", "sqs", "--target-ratio", "8", "--data", "digits",
                     "--score-samples", "30", model=LENET)
    bits = {l.name: l.weight.sparse.index_bits for l in lenet.weighted()}
    assert bits == {"conv1": 5, "conv2": 5, "fc1": 4, "fc2": 4}


def test_calib_samples_calibrate_a_method_without_labels(tmp_path):
    x = load_digits_split().x_train[:100]
    np.save(tmp_path / "x.npy", x)
    a = compress(tmp_path, "a", "--method", "qp-codec", "--qp", "8192", "--act-bits", "8",
                 "--calib", tmp_path / "x.npy")
    np.save(tmp_path / "x2.npy", x[:50])
    b = compress(tmp_path, "b", "--method", "qp-codec", "--qp", "8192", "--act-bits", "8",
                 "--calib", tmp_path / "x2.npy")
    assert a.is_quantized and b.is_quantized
    scales = lambda m: [m.layers[n].quant.scale for n in m.layers if m.layers[n].quant is not None]  # noqa: E731
    assert scales(a) != scales(b)  # the samples given are the ones used
    assert a.provenance["compress"]["calibration"] == "calib"


@pytest.mark.parametrize("args,needle", [
    (["--method", "qcnn", "--pq", "4:8", "--pq-dim", "4", "--pq-k", "8"], "old spelling"),
    (["--method", "qcnn", "--pq", "4:8", "--scheme", "*=pq:2:8"], "*= entry already"),
    (["--method", "qcnn", "--scheme", "*=codebook:4"], "takes float or pq:DIM:K"),
    (["--method", "mlq", "--data", "digits", "--only", "fc1", "--scheme", "fc2=float"], "old spelling"),
    (["--method", "mlq", "--data", "digits", "--scheme", "*=int8"], "takes float or ternary"),
    (["--method", "qp-codec", "--qp", "8192", "--scheme", "fc1=ternary"], "takes float per layer"),
    (["--method", "qp-codec", "--qp", "8192", "--value-bits", "16"], "--value-bits does not apply"),
    (["--method", "mlq", "--data", "digits", "--value-bits", "16"], "--value-bits does not apply"),
    (["--method", "slq", "--data", "digits", "--prune", "0.5"], "--prune does not apply"),
    (["--method", "slq", "--data", "digits", "--pq", "4:8"], "--pq does not apply"),
    (["--method", "qcnn", "--pq", "4:8", "--index-bits", "3"], "--index-bits does not apply"),
    (["--method", "deep-compression", "--prune", "0.9", "--share-bits", "4", "--value-bits", "40"],
     "--value-bits"),
    (["--method", "mlq", "--data", "digits", "--scheme", "fc9=float"], "no weighted layer named 'fc9'"),
    (["--method", "ttq", "--act-bits", "8", "--retrain-epochs", "1"], "--retrain-epochs needs a data set"),
])
def test_conflicts_and_foreign_options_are_one_line(tmp_path, args, needle):
    r = CliRunner().invoke(main, ["compress", str(MLP), "-o", str(tmp_path / "x.ir"), *args])
    assert r.exit_code == 1, r.output + r.stderr
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "x.ir").exists()
