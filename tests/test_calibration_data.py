"""Calibration and data without labels (issue #15): a regression model can be quantized.

The expected output errors are computed here from the ONNX weights with NumPy (float
reference) and from the golden integer model on the written file (dequantized).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from hwq import ir
from hwq.compress.stages.calibrate import calibration_batch
from hwq.golden import quantize, run_int
from tests.test_cli import FLOAT_MLP, invoke, ok, one_error_line, onnx_mlp


def _reference(p, x):
    h = np.maximum(x @ p["w1"].astype(np.float64).T + p["b1"], 0.0)
    return h @ p["w2"].astype(np.float64) + p["b2"]


def _int_output(path, x):
    m = ir.load(path)
    y = run_int(m, quantize(x, m.inputs[0].quant))[m.outputs[0]].astype(np.float64)
    q = m.layers[m.outputs[0]].quant
    return (y - q.zero_point) * q.scale


def _rel_l2(y, ref):
    return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))


def test_regression_model_calibrates_from_unlabeled_samples(tmp_path):
    rng = np.random.default_rng(5)
    p = onnx_mlp(tmp_path / "reg.onnx", rng)
    x = rng.standard_normal((700, 6))
    np.save(tmp_path / "calib.npy", x)
    r = ok("compress", tmp_path / "reg.onnx", "-o", tmp_path / "q.ir", "--int8", "--act-bits", "8",
           "--calib", tmp_path / "calib.npy")
    assert "acc" not in r.stdout and "err float" in r.stdout
    assert ir.load(tmp_path / "q.ir").is_quantized
    err_int = _rel_l2(_int_output(tmp_path / "q.ir", x), _reference(p, x))
    assert err_int < 0.05  # 8-bit activations and weights on a 6-5-3 network
    after = next(l for l in r.stdout.splitlines() if l.startswith("after"))
    assert f"{err_int:.2%}" in after, (after, err_int)  # the report's int error is the golden model's


def test_data_without_labels_reports_the_output_error(tmp_path):
    rng = np.random.default_rng(6)
    p = onnx_mlp(tmp_path / "reg.onnx", rng)
    xt, xs = rng.standard_normal((300, 6)), rng.standard_normal((50, 6))
    np.savez(tmp_path / "d.npz", x_train=xt, x_test=xs)
    r = ok("compress", tmp_path / "reg.onnx", "-o", tmp_path / "q.ir", "--int8", "--act-bits", "8",
           "--data", tmp_path / "d.npz")
    after = next(l for l in r.stdout.splitlines() if l.startswith("after"))
    err_int = _rel_l2(_int_output(tmp_path / "q.ir", xs), _reference(p, xs))
    assert f"{err_int:.2%}" in after
    before = next(l for l in r.stdout.splitlines() if l.startswith("before"))
    assert re.search(r"0\.00%/0 ", before + " "), before  # the float model against itself


def test_retraining_needs_labels(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((10, 64)), x_test=np.zeros((5, 64)))
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--prune", "0.5",
                                 "--retrain-epochs", "1", "--data", tmp_path / "d.npz"))
    assert "needs labels" in line and not (tmp_path / "o.ir").exists()


@pytest.mark.parametrize("shape", [(10, 63), (0, 64)])
def test_calib_of_the_wrong_shape(tmp_path, shape):
    np.save(tmp_path / "c.npy", np.zeros(shape))
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--int8", "--act-bits", "8",
                                 "--calib", tmp_path / "c.npy"))
    assert "--calib" in line and not (tmp_path / "o.ir").exists()


def test_act_bits_needs_data_or_calib(tmp_path):
    assert "--calib" in one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--int8",
                                              "--act-bits", "8"))


def test_calibration_rows_are_spread_over_the_set():
    m = ir.load(FLOAT_MLP)
    x = np.arange(1000 * 64, dtype=np.float64).reshape(1000, 64)
    rows = calibration_batch(m, x, 512)[:, 0] / 64
    assert len(rows) == 512 and len(np.unique(rows)) == 512 and np.all(np.diff(rows) > 0)
    assert rows[0] == 0 and rows[-1] == 999  # both ends of the set, whatever its order
    assert np.diff(rows).max() <= 2  # never a gap of more than ceil(1000 / 512) rows
    assert len(calibration_batch(m, x[:100], 512)) == 100  # fewer rows than asked: all of them


def test_calib_samples_changes_how_many_rows_calibrate(tmp_path):
    rng = np.random.default_rng(7)
    onnx_mlp(tmp_path / "reg.onnx", rng)
    x = rng.standard_normal((200, 6))
    x[1] = 1000.0  # an outlier that only a calibration using row 1 sees
    np.save(tmp_path / "c.npy", x)
    scales = {}
    for n in ("2", "200"):
        ok("compress", tmp_path / "reg.onnx", "-o", tmp_path / f"{n}.ir", "--int8", "--act-bits", "8",
           "--calib", tmp_path / "c.npy", "--calib-samples", n)
        scales[n] = ir.load(tmp_path / f"{n}.ir").inputs[0].quant.scale
    # 2 samples are rows 0 and 199; all 200 include the outlier, so the input range is far wider
    assert scales["200"] > 100 * scales["2"]
