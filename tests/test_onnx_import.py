"""ONNX importer: every supported pattern against an independent NumPy version of the ONNX op.

All models are built here with onnx.helper (no files shipped, no onnxruntime).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwq import ir
from hwq.errors import HwqError
from hwq.frontends.onnx_import import import_onnx
from hwq.golden.run import run_float
from hwq.ir.names import is_valid_name

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def build(nodes, in_shape, out_names, inits=(), in_name="x", opset=13, check=True, name="g"):
    """Serialized ONNX model with one float input [N, *in_shape]."""
    inp = helper.make_tensor_value_info(in_name, TensorProto.FLOAT, ["N", *in_shape])
    outs = [helper.make_empty_tensor_value_info(o) for o in out_names]
    graph = helper.make_graph(nodes, name, [inp], outs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="hwq-test")
    if check:  # keeps the test models honest ONNX (inference fills in the output types)
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        onnx.checker.check_model(model)
    return model.SerializeToString()


def run(model, x):
    (y,) = run_float(model, x).values()
    return y


# ---------------------------------------------------------------- NumPy references of ONNX ops


def ref_gemm(a, b, c, alpha, beta, trans_b):
    y = alpha * (a.astype(np.float64) @ (b.T if trans_b else b).astype(np.float64))
    return y if c is None else y + beta * c


def same_pads(size, k, s, upper):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return (total // 2, total - total // 2) if upper else (total - total // 2, total // 2)


def ref_conv(x, w, b, stride, pads):
    """Direct loops over the ONNX Conv definition (cross-correlation, NCHW / OIHW)."""
    t, l, bt, r = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (t, bt), (l, r)))
    n, _, h, wd = xp.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride[0] + 1, (wd - kw) // stride[1] + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride[0]: i * stride[0] + kh, j * stride[1]: j * stride[1] + kw]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w.astype(np.float64))
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def ref_pool(x, k, s, fn):
    n, c, h, w = x.shape
    oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = fn(x[:, :, i * s[0]: i * s[0] + k[0], j * s[1]: j * s[1] + k[1]], axis=(2, 3))
    return y


def ref_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def close(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.allclose(a, b, rtol=1e-5, atol=1e-5), np.abs(a - b).max()


# ---------------------------------------------------------------- supported patterns


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("c_shape", [(5,), (1, 5), None])
def test_gemm(trans_b, c_shape):
    b = rand(5, 7) if trans_b else rand(7, 5)
    c = None if c_shape is None else rand(*c_shape)
    inits = [init("B", b)] + ([init("C", c)] if c is not None else [])
    node = helper.make_node("Gemm", ["x", "B"] + (["C"] if c is not None else []), ["y"],
                            name="/fc1/Gemm", alpha=0.5, beta=2.0, transB=trans_b)
    m = import_onnx(build([node], [7], ["y"], inits))
    assert [l.KIND for l in m.layers.values()] == ["input", "dense"]
    x = rand(4, 7)
    close(run(m, x), ref_gemm(x, b, c, 0.5, 2.0, trans_b))


@pytest.mark.parametrize("bias_first", [False, True])
def test_matmul_add_fuses_into_dense(bias_first):
    w, b = rand(6, 3), rand(3)
    add_in = ["b", "h"] if bias_first else ["h", "b"]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
             helper.make_node("Add", add_in, ["y"], name="add_bias")]
    m = import_onnx(build(nodes, [6], ["y"], [init("W", w), init("b", b)]))
    assert [l.KIND for l in m.layers.values()] == ["input", "dense"]
    x = rand(3, 6)
    close(run(m, x), x.astype(np.float64) @ w + b)


def test_matmul_without_bias():
    w = rand(6, 3)
    m = import_onnx(build([helper.make_node("MatMul", ["x", "W"], ["y"])], [6], ["y"], [init("W", w)]))
    x = rand(2, 6)
    close(run(m, x), x.astype(np.float64) @ w)
    assert m.layers["y"].bias is None  # nameless node: named after its output tensor


@pytest.mark.parametrize("attrs, pads", [
    (dict(pads=[1, 0, 2, 1], strides=[2, 1]), (1, 0, 2, 1)),
    (dict(auto_pad="SAME_UPPER", strides=[2, 2]), None),
    (dict(auto_pad="SAME_LOWER", strides=[2, 2]), None),
    (dict(auto_pad="SAME_UPPER"), None),
    (dict(auto_pad="VALID", strides=[1, 2]), (0, 0, 0, 0)),
    (dict(), (0, 0, 0, 0)),
])
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv(attrs, pads, with_bias):
    w, b = rand(4, 3, 3, 2), rand(4)
    h, wd = 7, 8
    if pads is None:  # SAME: resolve independently from the ONNX spec
        s = attrs.get("strides", [1, 1])
        upper = attrs["auto_pad"] == "SAME_UPPER"
        (t, bt), (l, r) = same_pads(h, 3, s[0], upper), same_pads(wd, 2, s[1], upper)
        pads = (t, l, bt, r)
    node = helper.make_node("Conv", ["x", "W"] + (["B"] if with_bias else []), ["y"], name="conv",
                            kernel_shape=[3, 2], **attrs)
    inits = [init("W", w)] + ([init("B", b)] if with_bias else [])
    m = import_onnx(build([node], [3, h, wd], ["y"], inits))
    assert m.layers["conv"].padding == pads
    x = rand(2, 3, h, wd)
    close(run(m, x), ref_conv(x, w, b if with_bias else None, attrs.get("strides", [1, 1]), pads))


def test_cnn_pipeline_with_pools_flatten_softmax_and_passthroughs():
    w1, b1 = rand(4, 2, 3, 3), rand(4)
    fc, fb = rand(3, 4 * 2 * 2), rand(3)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="/conv1/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="/relu/Relu"),
        helper.make_node("Identity", ["r1"], ["i1"]),
        helper.make_node("MaxPool", ["i1"], ["p1"], name="/pool/MaxPool", kernel_shape=[2, 2],
                         strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0),
        helper.make_node("AveragePool", ["p1"], ["p2"], name="/avg/AveragePool",
                         kernel_shape=[2, 2], strides=[1, 1], count_include_pad=1),
        helper.make_node("Flatten", ["p2"], ["f"], name="/flat/Flatten", axis=1),
        helper.make_node("Dropout", ["f"], ["d"], name="/drop/Dropout"),
        helper.make_node("Gemm", ["d", "fc", "fb"], ["z"], name="/fc/Gemm", transB=1),
        helper.make_node("Softmax", ["z"], ["prob"], name="/softmax/Softmax", axis=-1),
    ]
    data = build(nodes, [2, 6, 6], ["prob"], [init(n, v) for n, v in
                                             [("w1", w1), ("b1", b1), ("fc", fc), ("fb", fb)]])
    m = import_onnx(data)
    assert [l.KIND for l in m.layers.values()] == \
        ["input", "conv2d", "relu", "maxpool", "avgpool", "flatten", "dense", "softmax"]
    # torch's "/<module>/<Op>" node names give the module names (issue #15: fc1, not fc1_Gemm)
    assert list(m.layers) == ["x", "conv1", "relu", "pool", "avg", "flat", "fc", "softmax"]
    assert m.outputs == ["softmax"]
    x = rand(3, 2, 6, 6)
    h = np.maximum(ref_conv(x, w1, b1, (1, 1), (1, 1, 1, 1)), 0)
    h = ref_pool(ref_pool(h, (2, 2), (2, 2), np.max), (2, 2), (1, 1), np.mean)
    want = ref_softmax(ref_gemm(h.reshape(3, -1), fc, fb, 1.0, 1.0, 1))
    close(run(m, x), want)


@pytest.mark.parametrize("target", [[0, -1], [-1, 18], [1, -1], [5, 18]])
def test_reshape_as_flatten(target):
    w = rand(2, 1, 2, 2)
    fc = rand(18, 4)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Reshape", ["c", "shape"], ["f"], name="reshape"),
             helper.make_node("MatMul", ["f", "fc"], ["y"], name="fc")]
    inits = [init("w", w), init("shape", np.array(target, np.int64)), init("fc", fc)]
    m = import_onnx(build(nodes, [1, 4, 4], ["y"], inits))
    assert m.layers["reshape"].KIND == "flatten"
    x = rand(1, 1, 4, 4)
    close(run(m, x), ref_conv(x, w, None, (1, 1), (0, 0, 0, 0)).reshape(1, -1) @ fc)


def test_residual_add_and_constant_node_weights():
    w1, w2 = rand(4, 4), rand(4, 4)
    const = helper.make_node("Constant", [], ["w2c"], value=numpy_helper.from_array(w2))
    nodes = [const,
             helper.make_node("Gemm", ["x", "w1"], ["h"], name="fc1"),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Identity", ["w2c"], ["w2i"]),  # weight through Identity
             helper.make_node("MatMul", ["r", "w2i"], ["h2"], name="fc2"),
             helper.make_node("Add", ["h2", "x"], ["y"], name="res")]
    m = import_onnx(build(nodes, [4], ["y"], [init("w1", w1)]))
    assert m.layers["res"].KIND == "add" and m.layers["res"].inputs == ["fc2", "x"]
    x = rand(5, 4)
    close(run(m, x), np.maximum(x.astype(np.float64) @ w1, 0) @ w2 + x)


def test_multiple_outputs_and_opset11_softmax_default_axis():
    w = rand(3, 4)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["z"], name="fc", transB=1),
             helper.make_node("Softmax", ["z"], ["p"], name="sm")]
    m = import_onnx(build(nodes, [4], ["p", "z"], [init("w", w)], opset=11))
    assert m.outputs == ["sm", "fc"] and m.provenance["opset"] == 11
    x = rand(2, 4)
    y = run_float(m, x)
    close(y["fc"], x.astype(np.float64) @ w.T)
    close(y["sm"], ref_softmax(x.astype(np.float64) @ w.T))


# ---------------------------------------------------------------- names, provenance, round trip


def hostile_model(check=False):
    w = rand(3, 3)
    nodes = [helper.make_node("Gemm", ["../../etc", "w"], ["1x"], name="", transB=1),
             helper.make_node("Relu", ["1x"], ["a b"], name="a b"),
             helper.make_node("Relu", ["a b"], ["r2"], name="a-b"),
             helper.make_node("Relu", ["r2"], ["out"], name="")]
    return build(nodes, [3], ["out"], [init("w", w)], in_name="../../etc", check=check, name="")


def test_hostile_names_valid_unique_deterministic(tmp_path):
    m = import_onnx(hostile_model())
    names = list(m.layers)
    assert all(is_valid_name(n) for n in names) and len(set(names)) == len(names)
    assert names == ["etc", "n1x", "a_b", "a_b_2", "out"]  # nameless node: its output
    assert names == list(import_onnx(hostile_model()).layers)
    x = rand(2, 3)
    close(run(m, x), np.maximum(x.astype(np.float64) @ m.layers["n1x"].weight.dense_float().T, 0))
    # model name: graph name is empty, so the file stem (sanitized) is used
    p = tmp_path / "my model-v2.onnx"
    p.write_bytes(hostile_model())
    assert import_onnx(p).name == "my_model_v2"
    assert import_onnx(hostile_model()).name == "onnx_model"


def test_save_load_round_trip(tmp_path):
    w1, b1, fc = rand(2, 1, 3, 3), rand(2), rand(3, 8)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], name="/c/Conv", strides=[2, 2],
                              auto_pad="SAME_UPPER"),
             helper.make_node("Relu", ["c"], ["r"], name="/r/Relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="/f/Flatten"),
             helper.make_node("Gemm", ["f", "fc"], ["y"], name="/fc/Gemm", transB=1)]
    m = import_onnx(build(nodes, [1, 4, 4], ["y"], [init("w1", w1), init("b1", b1), init("fc", fc)]))
    assert m.provenance == {"source": "onnx", "producer": "hwq-test", "opset": 13}
    assert m.name == "g"
    ir.save(m, tmp_path / "m.ir")
    m2 = ir.load(tmp_path / "m.ir")
    x = rand(3, 1, 4, 4)
    assert np.array_equal(run(m, x), run(m2, x))
    assert m2.provenance == m.provenance and list(m2.layers) == list(m.layers)


# ---------------------------------------------------------------- errors


def err(data, *fragments):
    with pytest.raises(HwqError) as e:
        import_onnx(data)
    msg = str(e.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, msg
    return msg


def test_unsupported_op_named():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Sigmoid", ["r"], ["y"], name="act_1")]
    err(build(nodes, [4], ["y"]), "unsupported ONNX op 'Sigmoid'", "'act_1'", "supported: Gemm")


def test_custom_domain_op_rejected():
    node = helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.example")
    err(build([node], [4], ["y"], check=False), "com.example.Relu")


@pytest.mark.parametrize("op, frag", [("MaxPool", "only on a non-negative input"), ("AveragePool", "pads must be 0")])
def test_pool_pads_rejected(op, frag):
    """Padded average pooling has no IR form; a padded MaxPool on a possibly negative input
    neither (ONNX pads it with -inf; the IR can only pad with zeros, after a ReLU)."""
    node = helper.make_node(op, ["x"], ["y"], name="p", kernel_shape=[2, 2], pads=[1, 1, 1, 1])
    err(build([node], [1, 4, 4], ["y"]), op, "'p'", frag)


@pytest.mark.parametrize("attrs, frag", [
    (dict(kernel_shape=[2, 2], ceil_mode=1), "ceil_mode=1"),
    (dict(kernel_shape=[2, 2], dilations=[2, 2]), "dilations"),
    (dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER"), "only on a non-negative input"),
])
def test_maxpool_attributes_rejected(attrs, frag):
    node = helper.make_node("MaxPool", ["x"], ["y"], name="p", **attrs)
    err(build([node], [1, 5, 5], ["y"]), frag)


@pytest.mark.parametrize("attrs, frag", [
    (dict(group=2), "group=2"),
    (dict(dilations=[2, 1]), "dilations=[2, 1]"),
])
def test_conv_attributes_rejected(attrs, frag):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv_g", **attrs)
    w = rand(4, 1 if "group" in attrs else 2, 3, 3)
    err(build([node], [2, 6, 6], ["y"], [init("w", w)]), "'conv_g'", frag)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_initializer(bad):
    w = rand(2, 4)
    w[1, 2] = bad
    node = helper.make_node("Gemm", ["x", "fc1.weight"], ["y"], name="fc1", transB=1)
    err(build([node], [4], ["y"], [init("fc1.weight", w)]), "'fc1.weight'", "NaN or Inf")


def test_weight_from_activation_rejected():
    node = helper.make_node("MatMul", ["x", "x"], ["y"], name="mm")
    err(build([node], [4], ["y"]), "initializer or Constant")


def test_other_reshape_rejected():
    node = helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")
    err(build([node], [2, 4, 4], ["y"], [init("s", np.array([0, 2, 16], np.int64))]),
        "'rs'", "[0, 2, 16]")


def test_flatten_other_axis_rejected():
    node = helper.make_node("Flatten", ["x"], ["y"], name="fl", axis=2)
    err(build([node], [2, 4, 4], ["y"]), "axis=2")


def test_softmax_must_be_output():
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="sm"),
             helper.make_node("Relu", ["s"], ["y"], name="r")]
    err(build(nodes, [4], ["y"]), "'sm'", "graph output")


def test_add_constant_without_dense_rejected():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="r"),
             helper.make_node("Add", ["r", "c"], ["y"], name="addc")]
    err(build(nodes, [4], ["y"], [init("c", rand(4))]), "'addc'", "bias")


def test_corrupt_bytes_and_files(tmp_path):
    for seed in range(20):
        junk = np.random.default_rng(seed).integers(0, 256, 300, dtype=np.uint8).tobytes()
        err(junk, "not a readable ONNX model")
        p = tmp_path / f"junk{seed}.onnx"
        p.write_bytes(junk)
        err(p, f"junk{seed}.onnx: not a readable ONNX model")
    err(b"", "not a readable ONNX model")
    err(hostile_model()[:-7], "not a readable ONNX model")  # truncated
    err(tmp_path / "missing.onnx", "missing.onnx: cannot read")


def test_bias_add_not_fused_when_matmul_output_is_shared():
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
             helper.make_node("Identity", ["h"], ["h2"]),
             helper.make_node("Add", ["h2", "b"], ["y"], name="add_bias"),
             helper.make_node("Relu", ["h"], ["z"], name="relu")]
    data = build(nodes, [4], ["y", "z"], [init("W", rand(4, 3)), init("b", rand(3))])
    err(data, "'add_bias'", "used nowhere else")


def test_old_style_initializer_inputs_and_dead_nodes():
    """IR version < 4 lists initializers as graph inputs; unused nodes are dropped."""
    w = rand(3, 4)
    g = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1),
         helper.make_node("Relu", ["x"], ["dead"], name="unused")],
        "old", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
                helper.make_tensor_value_info("w", TensorProto.FLOAT, [3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], initializer=[init("w", w)])
    m = import_onnx(helper.make_model(g, ir_version=3, opset_imports=[helper.make_opsetid("", 9)])
                    .SerializeToString())
    assert list(m.layers) == ["x", "fc"] and m.name == "old"
    x = rand(1, 4)
    close(run(m, x), x.astype(np.float64) @ w.T)


def test_wrongly_typed_attribute_rejected():
    node = helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2])
    node.attribute[0].type = onnx.AttributeProto.FLOAT
    err(build([node], [1, 4, 4], ["y"], check=False), "'kernel_shape'", "expected INTS")


# ---------------------------------------------------------------- folding (BatchNormalization,
# ---------------------------------------------------------------- conv bias Add), global pools


def ref_bn(x, s, b, mean, var, eps):
    """ONNX BatchNormalization (inference) over axis 1: (x - mean) / sqrt(var + eps) * s + b."""
    c = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(c)) / np.sqrt(var.reshape(c) + np.float64(eps)) * s.reshape(c) \
        + b.reshape(c)


def bn_params(prefix, c, var_lo=0.5):
    """Initializers scale, B, mean, var (in ONNX input order) and their values."""
    vals = [rand(c), rand(c), rand(c), RNG.uniform(var_lo, 2 * var_lo + 1, c).astype(np.float32)]
    names = [f"{prefix}.{n}" for n in ("scale", "B", "mean", "var")]
    return names, [init(n, v) for n, v in zip(names, vals)], vals


def bn_node(x, y, names, name="bn", **attrs):
    return helper.make_node("BatchNormalization", [x, *names], [y], name=name, **attrs)


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("eps", [None, 0.37])
def test_conv_bn_relu_folds(with_bias, eps):
    w, b = rand(4, 3, 3, 3), rand(4)
    # eps = 0.37 with var ~ 0.01: a wrong (e.g. default) epsilon would be far off.
    names, bn_inits, (s, beta, mean, var) = bn_params("bn", 4, var_lo=0.5 if eps is None else 0.01)
    attrs = {} if eps is None else {"epsilon": eps}
    nodes = [helper.make_node("Conv", ["x", "W"] + (["b"] if with_bias else []), ["c"],
                              name="conv", pads=[1, 1, 1, 1]),
             bn_node("c", "n", names, momentum=0.9, **attrs),
             helper.make_node("Relu", ["n"], ["y"], name="relu")]
    inits = [init("W", w)] + ([init("b", b)] if with_bias else []) + bn_inits
    m = import_onnx(build(nodes, [3, 5, 6], ["y"], inits))
    assert [l.KIND for l in m.layers.values()] == ["input", "conv2d", "relu"]
    x = rand(2, 3, 5, 6)
    h = ref_conv(x, w, b if with_bias else None, (1, 1), (1, 1, 1, 1))
    eps32 = np.float32(1e-5 if eps is None else eps)  # ONNX stores epsilon as float32
    close(run(m, x), np.maximum(ref_bn(h, s, beta, mean, var, eps32), 0))


@pytest.mark.parametrize("head", ["gemm", "matmul_add"])
def test_dense_bn_folds_over_features(head):
    names, bn_inits, (s, beta, mean, var) = bn_params("bn1d", 5)
    w, c = rand(5, 7), rand(5)
    if head == "gemm":
        nodes = [helper.make_node("Gemm", ["x", "W", "C"], ["h"], name="fc", transB=1, alpha=0.5)]
        inits, want = [init("W", w), init("C", c)], lambda x: ref_gemm(x, w, c, 0.5, 1.0, 1)
    else:  # the bias Add sits between the MatMul and the BN
        nodes = [helper.make_node("MatMul", ["x", "W"], ["mm"], name="fc"),
                 helper.make_node("Add", ["mm", "C"], ["h"], name="add_bias")]
        inits, want = [init("W", w.T), init("C", c)], lambda x: x.astype(np.float64) @ w.T + c
    nodes.append(bn_node("h", "y", names, epsilon=1e-3))
    m = import_onnx(build(nodes, [7], ["y"], inits + bn_inits))
    assert [l.KIND for l in m.layers.values()] == ["input", "dense"]
    x = rand(3, 7)
    close(run(m, x), ref_bn(want(x), s, beta, mean, var, np.float32(1e-3)))


@pytest.mark.parametrize("c_shape", [(1, 4, 1, 1), (4, 1, 1), (1,)])
def test_conv_constant_add_folds_into_bias(c_shape):
    w, b, c = rand(4, 2, 3, 3), rand(4), rand(*c_shape)
    names, bn_inits, (s, beta, mean, var) = bn_params("bn", 4)
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["h"], name="conv"),
             helper.make_node("Add", ["h", "c"], ["a"], name="add_c"),
             bn_node("a", "y", names)]  # Conv + Add + BN still folds (the Add is absorbed)
    m = import_onnx(build(nodes, [2, 5, 5], ["y"], [init("W", w), init("b", b), init("c", c)]
                          + bn_inits))
    assert [l.KIND for l in m.layers.values()] == ["input", "conv2d"]
    x = rand(2, 2, 5, 5)
    h = ref_conv(x, w, b, (1, 1), (0, 0, 0, 0)) + c.astype(np.float64)
    close(run(m, x), ref_bn(h, s, beta, mean, var, np.float32(1e-5)))


@pytest.mark.parametrize("pool, fn", [("GlobalAveragePool", np.mean), ("GlobalMaxPool", np.max)])
@pytest.mark.parametrize("flatten", ["Flatten", "Reshape"])
def test_global_pool_classifier(pool, fn, flatten):
    w, fc, fb = rand(6, 3, 3, 3), rand(4, 6), rand(4)
    flat = (helper.make_node("Flatten", ["p"], ["f"], name="flat") if flatten == "Flatten" else
            helper.make_node("Reshape", ["p", "shape"], ["f"], name="flat"))
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node(pool, ["r"], ["p"], name="gap"),
             flat,
             helper.make_node("Gemm", ["f", "fc", "fb"], ["y"], name="fc", transB=1)]
    inits = [init("W", w), init("fc", fc), init("fb", fb), init("shape", np.array([-1, 6]))]
    m = import_onnx(build(nodes, [3, 5, 7], ["y"], inits))
    assert (m.layers["gap"].kernel, m.layers["gap"].stride) == ((5, 7), (1, 1))
    x = rand(2, 3, 5, 7)
    h = fn(np.maximum(ref_conv(x, w, None, (1, 1), (1, 1, 1, 1)), 0), axis=(2, 3))
    close(run(m, x), ref_gemm(h, fc, fb, 1.0, 1.0, 1))


def test_bn_after_relu_becomes_a_per_channel_affine_layer():
    """Pre-activation order (Conv, ReLU, BN): nothing to fold into, so the BN is kept as its
    affine map, a diagonal 1x1 Conv2d named after the node."""
    names, bn_inits, (s, beta, mean, var) = bn_params("bn", 4)
    w = rand(4, 2, 1, 1)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             bn_node("r", "y", names, name="bn_late", epsilon=0.01)]
    m = import_onnx(build(nodes, [2, 4, 4], ["y"], [init("W", w)] + bn_inits))
    assert [l.KIND for l in m.layers.values()] == ["input", "conv2d", "relu", "conv2d"]
    aff = m.layers["bn_late"]
    assert aff.kernel == (1, 1) and aff.padding == (0, 0, 0, 0)
    d = aff.weight.dense_float().reshape(4, 4)
    assert np.count_nonzero(d - np.diag(np.diag(d))) == 0  # diagonal: one weight per channel
    x = rand(3, 2, 4, 4)
    h = np.maximum(ref_conv(x, w, None, (1, 1), (0, 0, 0, 0)), 0)
    close(run(m, x), ref_bn(h, s, beta, mean, var, np.float32(0.01)))


def test_bn_on_the_input_and_on_a_shared_output():
    """A BN on the graph input of an MLP (a Dense affine layer) and one on a conv output that
    another node also reads (the conv keeps its own output)."""
    names, bn_inits, (s, beta, mean, var) = bn_params("bn0", 6)
    nodes = [bn_node("x", "n", names, name="norm"),
             helper.make_node("Gemm", ["n", "W"], ["y"], name="fc", transB=1)]
    w = rand(3, 6)
    m = import_onnx(build(nodes, [6], ["y"], [init("W", w)] + bn_inits))
    assert [l.KIND for l in m.layers.values()] == ["input", "dense", "dense"]
    x = rand(5, 6)
    close(run(m, x), ref_gemm(ref_bn(x, s, beta, mean, var, np.float32(1e-5)), w, None, 1.0, 1.0, 1))

    names, bn_inits, (s, beta, mean, var) = bn_params("bn", 4)
    cw = rand(4, 2, 1, 1)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
             bn_node("c", "y", names),
             helper.make_node("Relu", ["c"], ["z"], name="relu")]  # reads the un-normalized c
    m = import_onnx(build(nodes, [2, 4, 4], ["y", "z"], [init("W", cw)] + bn_inits))
    x = rand(2, 2, 4, 4)
    out = run_float(m, x)
    h = ref_conv(x, cw, None, (1, 1), (0, 0, 0, 0))
    close(out["bn"], ref_bn(h, s, beta, mean, var, np.float32(1e-5)))
    close(out["relu"], np.maximum(h, 0))


def test_bn_training_mode_not_foldable():
    names, bn_inits, _ = bn_params("bn", 4)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
             bn_node("c", "y", names, training_mode=1)]
    nodes[1].output.extend(["running_mean", "running_var"])  # valid ONNX needs all three
    err(build(nodes, [2, 4, 4], ["y"], [init("W", rand(4, 2, 1, 1))] + bn_inits, opset=15),
        "'bn'", "cannot fold", "training")


def test_bn_parameter_shape_and_variance_checked():
    names, bn_inits, vals = bn_params("bn", 3)
    nodes = [helper.make_node("Gemm", ["x", "W"], ["h"], name="fc"), bn_node("h", "y", names)]
    err(build(nodes, [4], ["y"], [init("W", rand(4, 2))] + bn_inits, check=False),
        "'bn.scale'", "expected [2]")
    bn_inits[3] = init("bn.var", np.full(3, -1.0, np.float32))
    err(build(nodes, [4], ["y"], [init("W", rand(4, 3))] + bn_inits), "var + epsilon")


def test_conv_add_non_channel_constant_rejected():
    nodes = [helper.make_node("Conv", ["x", "W"], ["h"], name="conv"),
             helper.make_node("Add", ["h", "c"], ["y"], name="add_c")]
    err(build(nodes, [2, 4, 4], ["y"], [init("W", rand(3, 2, 1, 1)), init("c", rand(1, 3, 4, 4))]),
        "'add_c'", "does not broadcast")
