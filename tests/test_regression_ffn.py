"""A regression FFN as torch.onnx.export writes it (graph ``main_graph``, nodes ``/fc1/Gemm``,
inputs ``input``/``output`` with a symbolic batch): imported, quantized from unlabeled
``--calib`` samples, run in int mode, its output error reported (issue 15: a model that is not
a classifier). The reference is a NumPy forward pass of the exported weights."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from hwq import ir
from hwq.cli import main

RNG = np.random.default_rng(0)
SIZES = [(32, 8), (16, 32), (1, 16)]
PARAMS = [(RNG.normal(0, 0.4 / np.sqrt(i / 8), (o, i)).astype(np.float32), RNG.normal(0, 0.1, o).astype(np.float32))
          for o, i in SIZES]


def torch_style_export() -> onnx.ModelProto:
    inits, nodes, prev = [], [], "input"
    for k, (w, b) in enumerate(PARAMS, start=1):
        inits += [numpy_helper.from_array(w, f"fc{k}.weight"), numpy_helper.from_array(b, f"fc{k}.bias")]
        out = "output" if k == len(PARAMS) else f"/fc{k}/Gemm_output_0"
        nodes.append(helper.make_node("Gemm", [prev, f"fc{k}.weight", f"fc{k}.bias"], [out], name=f"/fc{k}/Gemm",
                                      transB=1))
        if k < len(PARAMS):
            relu = f"/relu{'' if k == 1 else f'_{k - 1}'}/Relu"
            nodes.append(helper.make_node("Relu", [out], [f"{relu}_output_0"], name=relu))
            prev = f"{relu}_output_0"
    g = helper.make_graph(nodes, "main_graph", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 8])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch", producer_version="2.1.0")
    onnx.checker.check_model(m)
    return m


def numpy_forward(x):
    h = x.astype(np.float64)
    for k, (w, b) in enumerate(PARAMS):
        h = h @ w.T.astype(np.float64) + b
        if k < len(PARAMS) - 1:
            h = np.maximum(h, 0)
    return h


def test_regression_ffn_from_onnx_calibrates_without_labels_and_reports_its_error(tmp_path):
    onnx.save(torch_style_export(), tmp_path / "ffn.onnx")
    x = RNG.normal(size=(300, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    run = CliRunner().invoke
    r = run(main, ["import", str(tmp_path / "ffn.onnx"), "-o", str(tmp_path / "ffn.ir"), "--name", "ffn"])
    assert r.exit_code == 0, r.stderr
    m = ir.load(tmp_path / "ffn.ir")
    assert m.name == "ffn" and [l.name for l in m.weighted()] == ["fc1", "fc2", "fc3"]
    r = run(main, ["compress", str(tmp_path / "ffn.ir"), "-o", str(tmp_path / "q.ir"), "--int8", "--act-bits", "8",
                   "--calib", str(tmp_path / "x.npy"), "--json"])
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert "acc_int" not in rep["after"]  # no labels: no accuracy
    # the reported error, recomputed: the integer model (dequantized by hwq run) against NumPy
    r = run(main, ["run", str(tmp_path / "q.ir"), "--input", str(tmp_path / "x.npy"), "--dequantize",
                   "-o", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.stderr
    y, ref = np.load(tmp_path / "y.npy"), numpy_forward(x)
    rel = np.linalg.norm(y - ref) / np.linalg.norm(ref)
    assert rep["after"]["err_int"]["rel_l2"] == pytest.approx(rel, rel=1e-6)
    assert rep["after"]["err_int"]["max_abs"] == pytest.approx(np.abs(y - ref).max(), rel=1e-6)
    assert rel < 0.05  # 8-bit activations and int8 weights on a 3-layer FFN
    assert m.provenance["producer"] == "pytorch 2.1.0"
