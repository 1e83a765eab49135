"""The ONNX that torch exports really produce (issue #15): module names, half-precision weights,
opset and duplicate-definition checks, --name, and info/run taking an .onnx directly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwq.errors import HwqError
from hwq.frontends.onnx_import import import_onnx
from hwq.golden import run_float
from tests.test_cli import invoke, ok, one_error_line, onnx_mlp
from tests.test_onnx_import import build, init, rand


def _gemm_relu(names=("/fc1/Gemm", "/act/Relu"), w=None, w_init=None, opset=13):
    w = rand(4, 3) if w is None else w
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], name=names[0], transB=1),
             helper.make_node("Relu", ["h"], ["y"], name=names[1])]
    return build(nodes, [3], ["y"], [w_init or init("w", w)], opset=opset, check=False)


@pytest.mark.parametrize("node_name, want", [
    ("/fc1/Gemm", "fc1"), ("/fc1/Gemm_1", "fc1"),
    ("/layer1/layer1.0/conv1/Gemm", "layer1_0_conv1"),  # enclosing modules repeated in the next part
    ("/Gemm", "Gemm"),  # no module path: the node name itself
    ("fc_custom", "fc_custom")])
def test_layers_take_the_torch_module_names(node_name, want):
    m = import_onnx(_gemm_relu((node_name, "/act/Relu")))
    assert [l.name for l in m.weighted()] == [want]
    assert "act" in m.layers


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT16, TensorProto.BFLOAT16])
def test_half_precision_weights_import_exactly(dtype):
    vals = np.array([[1.5, -2.0, 0.25], [0.5, 1.0, -0.125], [3.0, -1.0, 2.0], [0.0, 4.0, -8.0]])
    t = helper.make_tensor("w", dtype, vals.shape, vals.ravel().tolist())
    m = import_onnx(_gemm_relu(w_init=t))
    np.testing.assert_array_equal(m.layers["fc1"].weight.dense_float(), vals)  # all exact in 8-bit mantissas
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(run_float(m, x)[m.outputs[0]], np.maximum(x @ vals.T, 0), rtol=1e-6)


@pytest.mark.parametrize("opset, expect", [(99, "opset 99 is not supported"), (0, "opset 0 is not supported")])
def test_unknown_opsets_are_refused(opset, expect):
    with pytest.raises(HwqError, match=expect):
        import_onnx(_gemm_relu(opset=opset))


def test_missing_opset_is_refused():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_empty_tensor_value_info("y")])
    model = helper.make_model(graph, opset_imports=[])
    del model.opset_import[:]
    with pytest.raises(HwqError, match="declares no opset"):
        import_onnx(model.SerializeToString())


def test_duplicate_initializers_are_refused():
    w = rand(4, 3)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="/fc/Gemm", transB=1)]
    data = build(nodes, [3], ["y"], [init("w", w), init("w", w * 2)], check=False)
    with pytest.raises(HwqError, match="initializer 'w' is defined twice"):
        import_onnx(data)


def test_duplicate_node_outputs_are_refused():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="/a/Relu"),
             helper.make_node("Relu", ["x"], ["y"], name="/b/Relu")]
    with pytest.raises(HwqError, match="output 'y' is already the output of"):
        import_onnx(build(nodes, [3], ["y"], check=False))


def test_import_name_option(tmp_path):
    onnx_mlp(tmp_path / "m.onnx", np.random.default_rng(0))
    ok("import", tmp_path / "m.onnx", "-o", tmp_path / "m.ir", "--name", "my net")
    from hwq import ir

    assert ir.load(tmp_path / "m.ir").name == "my_net"


def test_info_and_run_take_an_onnx_file(tmp_path):
    rng = np.random.default_rng(1)
    p = onnx_mlp(tmp_path / "m.onnx", rng)
    rows = json.loads(ok("info", "--json", tmp_path / "m.onnx").stdout)["layers"]
    assert [r["name"] for r in rows if r["encoding"]] == ["fc1", "fc2"]
    x = rng.standard_normal((4, 6))
    np.save(tmp_path / "x.npy", x)
    ok("run", tmp_path / "m.onnx", "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    want = np.maximum(x @ p["w1"].astype(np.float64).T + p["b1"], 0) @ p["w2"].astype(np.float64) + p["b2"]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-6, atol=1e-9)
    assert "no such file" in one_error_line(invoke("info", tmp_path / "missing.onnx"))
