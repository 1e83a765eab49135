"""ONNX patterns of real torch exports (issue 15): the padded MaxPool of ResNet's stem, a
BatchNormalization with nothing to fold into, and the Shape -> Gather -> Unsqueeze -> Concat
-> Reshape flatten of ``x.view(x.size(0), -1)``. Graphs are built with onnx.helper; outputs
are compared with NumPy versions of the ONNX ops (MaxPool padded with -inf, as ONNX defines).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from hwq.compress.pipeline import CompressOptions, compress_model
from hwq.frontends.onnx_import import import_onnx
from hwq.golden import quantize, run_int
from hwq.golden.run import run_float
from tests.test_onnx_import import (bn_node, bn_params, build, close, err, init, rand, ref_bn, ref_conv,
                                    ref_gemm, run)

RNG = np.random.default_rng(7)


def ref_maxpool_padded(x, k, s, pads):
    """ONNX MaxPool: the padding never wins (-inf)."""
    t, l, b, r = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (t, b), (l, r)), constant_values=-np.inf)
    n, c, h, w = xp.shape
    oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = xp[:, :, i * s[0]: i * s[0] + k[0], j * s[1]: j * s[1] + k[1]].max(axis=(2, 3))
    return y


def resnet_stem(pool_attrs, pads=(1, 1, 1, 1)):
    """Conv 7x7 / 2 pad 3 -> BN -> ReLU -> MaxPool 3 / 2 (padded) -> GAP -> Flatten -> Gemm."""
    w, fc, fb = rand(8, 3, 7, 7), rand(5, 8), rand(5)
    names, bn_inits, bn = bn_params("bn1", 8)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="/conv1/Conv", pads=[3, 3, 3, 3], strides=[2, 2]),
             bn_node("c", "n", names, name="/bn1/BatchNormalization"),
             helper.make_node("Relu", ["n"], ["r"], name="/relu/Relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="/maxpool/MaxPool", kernel_shape=[3, 3],
                              strides=[2, 2], **pool_attrs),
             helper.make_node("GlobalAveragePool", ["p"], ["g"], name="/avgpool/GlobalAveragePool"),
             helper.make_node("Flatten", ["g"], ["f"], name="/Flatten"),
             helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], name="/fc/Gemm", transB=1)]
    data = build(nodes, [3, 20, 20], ["y"], [init("W", w), init("fc.w", fc), init("fc.b", fb)] + bn_inits)

    def ref(x):
        h = np.maximum(ref_bn(ref_conv(x, w, None, (2, 2), (3, 3, 3, 3)), *bn, np.float32(1e-5)), 0)
        p = ref_maxpool_padded(h, (3, 3), (2, 2), pads)
        return ref_gemm(p.mean(axis=(2, 3)), fc, fb, 1.0, 1.0, 1)
    return data, ref


# SAME_UPPER on the 10x10 map, kernel 3, stride 2: 5 outputs, one pixel of padding at the end
@pytest.mark.parametrize("pool_attrs, pads", [(dict(pads=[1, 1, 1, 1]), (1, 1, 1, 1)),
                                              (dict(pads=[1, 0, 2, 1]), (1, 0, 2, 1)),
                                              (dict(auto_pad="SAME_UPPER"), (0, 0, 1, 1))])
def test_resnet_stem_padded_maxpool(pool_attrs, pads):
    data, ref = resnet_stem(pool_attrs, pads)
    m = import_onnx(data)
    assert [l.KIND for l in m.layers.values()] == ["input", "conv2d", "relu", "conv2d", "maxpool", "avgpool",
                                                   "flatten", "dense"]
    pad, pool = m.layers["maxpool_pad"], m.layers["maxpool"]
    assert pool.kernel == (3, 3) and pool.stride == (2, 2) and not pad.bias
    w = pad.weight.dense_float()
    assert np.count_nonzero(w) == 8 and np.array_equal(w.sum(axis=(2, 3)), np.eye(8))  # one 1.0 per channel
    assert m.layers["conv1"].name == "conv1"  # torch module names
    x = rand(4, 3, 20, 20)
    close(run(m, x), ref(x))


def test_padded_maxpool_in_the_integer_model():
    """Quantized (int8 weights, 8-bit activations): the padding layer is exact, so the pooled
    codes equal the unpadded max of the ReLU codes with zeros at the border."""
    data, _ = resnet_stem(dict(pads=[1, 1, 1, 1]))
    m = import_onnx(data)
    x = rand(16, 3, 20, 20)
    q = compress_model(m, CompressOptions(int8=True, act_bits=8, calib="x", calib_samples=16), None, calib=x)
    outs = run_int(q, quantize(x, q.inputs[0].quant), keep_all=True)
    relu, pad = outs["relu"], outs["maxpool_pad"]
    zr, zp = q.layers["relu"].quant.zero_point, q.layers["maxpool_pad"].quant.zero_point
    want = np.pad(relu - zr, ((0, 0), (0, 0), (1, 1), (1, 1)))  # real 0 at the border
    scale = q.layers["relu"].quant.scale / q.layers["maxpool_pad"].quant.scale
    assert np.abs((pad - zp) - np.round(want * scale)).max() <= 1  # at most one rounding step
    y_int = run_int(q, quantize(x, q.inputs[0].quant))[q.outputs[0]]
    yq = q.layers[q.outputs[0]].quant
    y_float = run_float(m, x)[m.outputs[0]]
    assert np.abs((y_int - yq.zero_point) * yq.scale - y_float).max() < 0.1 * np.abs(y_float).max()


def test_padded_maxpool_pads_must_be_smaller_than_the_kernel():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["y"], name="pool", kernel_shape=[2, 2], pads=[2, 0, 0, 0])]
    err(build(nodes, [1, 6, 6], ["y"], check=False), "'pool'", "smaller than the kernel")


def _view_flatten_nodes(opset, feats=None):
    """torch's x.view(x.size(0), -1) (or .view(x.size(0), feats)) as older exports write it."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="/relu/Relu"),
             helper.make_node("Shape", ["r"], ["s"], name="/Shape"),
             helper.make_node("Constant", [], ["i0"], name="/Constant",
                              value=helper.make_tensor("i0", 7, [], [0])),
             helper.make_node("Gather", ["s", "i0"], ["n"], name="/Gather", axis=0)]
    if opset >= 13:
        nodes += [helper.make_node("Constant", [], ["ax"], name="/Constant_1", value=helper.make_tensor("ax", 7, [1], [0])),
                  helper.make_node("Unsqueeze", ["n", "ax"], ["nu"], name="/Unsqueeze")]
    else:
        nodes += [helper.make_node("Unsqueeze", ["n"], ["nu"], name="/Unsqueeze", axes=[0])]
    nodes += [helper.make_node("Constant", [], ["m1"], name="/Constant_2",
                               value=helper.make_tensor("m1", 7, [1], [-1 if feats is None else feats])),
              helper.make_node("Concat", ["nu", "m1"], ["shape"], name="/Concat", axis=0),
              helper.make_node("Reshape", ["r", "shape"], ["f"], name="/Reshape"),
              helper.make_node("Gemm", ["f", "W", "B"], ["y"], name="/fc/Gemm", transB=1)]
    return nodes


@pytest.mark.parametrize("opset, feats", [(11, None), (13, None), (13, 24)])
def test_shape_gather_concat_reshape_flatten(opset, feats):
    w, b = rand(3, 24), rand(3)
    # (opset 11's shape inference leaves the computed Reshape's output untyped: the checker
    # then refuses the model although it is what torch exported; build it unchecked)
    m = import_onnx(build(_view_flatten_nodes(opset, feats), [2, 3, 4], ["y"], [init("W", w), init("B", b)],
                          opset=opset, check=opset >= 13))
    assert [l.KIND for l in m.layers.values()] == ["input", "relu", "flatten", "dense"]
    assert "fc" in m.layers
    x = rand(5, 2, 3, 4)
    close(run(m, x), ref_gemm(np.maximum(x, 0).reshape(5, -1), w, b, 1.0, 1.0, 1))


def test_shape_reshape_that_is_not_a_flatten_is_refused():
    nodes = _view_flatten_nodes(13, feats=12)  # [N, 12] of 24 features
    err(build(nodes, [2, 3, 4], ["y"], [init("W", rand(3, 12)), init("B", rand(3))], check=False),
        "Reshape", "only Reshape to [N, -1] / [N, 24]")
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Relu", ["x"], ["q"], name="relu2"),
             helper.make_node("Concat", ["r", "q"], ["y"], name="cat", axis=1)]
    err(build(nodes, [4], ["y"]), "'cat'", "activation concatenation has no IR layer")
