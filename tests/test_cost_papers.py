"""The cost model against the papers' printed numbers.

* Q-CNN (Wu et al., CVPR 2016; seed 001): Table 4 AlexNet conv2 speed-ups, Table 6 CaffeNet
  fc6 compression, Table 3 AlexNet FLOPs (Q-CNN's FLOP is a multiply-add: hwq's MAC).
* Deep Compression (Han et al., ICLR 2016; seed 002): Tables 2 and 4 per-layer "Compress
  rate (P+Q)" from the paper's densities and bits, on hwq's random masks (``hwq random --net``).
"""

from __future__ import annotations

import numpy as np
import pytest

from hwq import ir
from hwq.compress.nets import NETS, random_net, sparse_random_weight
from hwq.cost.estimate import estimate_model
from hwq.ir.storage import layer_storage


def _pq_model(rng, in_shape, out, kernel, pad, dim, k, value_bits=16):
    """One PQ layer: sub-vector dimension C's = ``dim``, K codewords (Q-CNN's hyper-parameters)."""
    c = in_shape[0]
    m = c // dim
    dtype = np.int16 if value_bits <= 16 else np.int32
    codebook = rng.integers(-1000, 1000, (m, k, dim)).astype(dtype)
    bits = int(np.log2(k))
    lead = (out,) if kernel is None else (out, kernel, kernel)
    a = rng.integers(0, k, lead + (m,), dtype=np.uint8)
    values = ir.PQValues(a, codebook, np.array([1 / 4096], np.float32), bits, value_bits)
    model = ir.Model("pq", {}, ["l"])
    model.layers["x"] = ir.Input("x", [], shape=in_shape)
    if kernel is None:
        model.layers["l"] = ir.Dense("l", ["x"], in_features=c, out_features=out, weight=ir.Weight((out, c), values))
    else:
        model.layers["l"] = ir.Conv2d("l", ["x"], in_channels=c, out_channels=out, kernel=(kernel, kernel),
                                      padding=(pad,) * 4, weight=ir.Weight((out, c, kernel, kernel), values))
    return ir.validate(model)


@pytest.mark.parametrize("dim,k,speedup", [(4, 64, 3.70), (6, 64, 5.36), (6, 128, 4.84), (8, 128, 6.06)])
def test_qcnn_table4_alexnet_conv2_speedup(dim, k, speedup):
    """conv2: 27x27 input, 5x5 kernels, 48 input / 128 output channels per group (groups
    speed up equally, so one group stands for the layer)."""
    m = _pq_model(np.random.default_rng(0), (48, 27, 27), 128, 5, 2, dim, k)
    row = next(r for r in estimate_model(m)["layers"] if r["name"] == "l")
    assert row["macs_dense"] == 128 * 48 * 25 * 27 * 27
    assert round(row["speedup"], 2) == speedup


@pytest.mark.parametrize("dim,k,rate", [(2, 16, 15.06), (3, 16, 21.94), (3, 32, 16.70), (4, 32, 21.33)])
def test_qcnn_table6_caffenet_fc6_compression(dim, k, rate):
    """fc6 9216 -> 4096 with float32 codewords (value_bits 32), as Q-CNN's Table 1 bytes count."""
    m = _pq_model(np.random.default_rng(0), (9216,), 4096, None, 0, dim, k, value_bits=32)
    row = next(r for r in estimate_model(m)["layers"] if r["name"] == "l")
    assert round(9216 * 4096 * 4 / row["weight_bytes"]["total"], 2) == rate
    # the executed work is Table 1's FC count C_s*K + C_t*M
    assert row["macs_executed"] == 9216 * k + 4096 * (9216 // dim)


@pytest.fixture(scope="module")
def alexnet():
    return random_net("alexnet", encoding="codebook", sparse="csr")


def test_qcnn_table3_alexnet_dense_flops(alexnet):
    """7.29e8 (Q-CNN Table 3, multiply-adds). hwq stores a two-group conv block-diagonally,
    so the grouped network's dense MACs are each layer's macs_dense / groups."""
    groups = {s.name: s.groups for s in NETS["alexnet"][1]}
    rows = estimate_model(alexnet)["layers"]
    grouped = sum(r["macs_dense"] / groups.get(r["name"], 1) for r in rows)
    assert grouped == pytest.approx(7.29e8, rel=0.01)
    assert sum(r["flops_dense"] for r in rows) == 2 * sum(r["macs_dense"] for r in rows)


# Deep Compression "Compress rate (P+Q)", percent (Tables 2 and 4)
LENET300 = {"ip1": 3.1, "ip2": 3.8, "ip3": 15.7}
ALEXNET = {"conv1": 32.6, "conv2": 14.5, "conv3": 13.1, "conv4": 14.1, "conv5": 14.0, "fc6": 3.0, "fc7": 3.0,
           "fc8": 7.3}


def _paper_rate(s, bits) -> float:
    """The paper's rate: payload + index + 2^bits float32 centroids over dense float32 (no
    pointers, no biases: hwq/ir/storage.py). hwq's codebook holds 16-bit integers; the
    paper's holds float32, so its codebook term is priced at 32 bits here."""
    return 100 * (s.payload + s.index + (1 << bits) * 32) / s.dense_float_bits


def test_deep_compression_lenet300_storage():
    m = random_net("lenet300", sparse="csr")
    specs = {s.name: s for s in NETS["lenet300"][1]}
    for name, want in LENET300.items():
        layer = m.layers[name]
        s = layer_storage(layer)
        assert s.nnz / s.dense_float_bits * 32 == pytest.approx(specs[name].density, abs=0.01)
        assert _paper_rate(s, specs[name].bits) == pytest.approx(want, abs=0.4), name


def test_deep_compression_alexnet_storage(alexnet):
    specs = {s.name: s for s in NETS["alexnet"][1]}
    rng = np.random.default_rng(1)
    for name, want in ALEXNET.items():
        spec, layer = specs[name], alexnet.layers[name]
        shape = layer.weight.shape
        if spec.groups > 1:  # block-diagonal in the IR: non-zeros are the grouped layer's
            per_group = (shape[0], shape[1] // spec.groups) + tuple(shape[2:])
            s_ir = layer_storage(layer)
            assert s_ir.nnz / np.prod(per_group) == pytest.approx(spec.density, abs=0.01)
            w = sparse_random_weight(rng, per_group, "codebook", spec.density, spec.bits, "csr", spec.index_bits)
            s = layer_storage(ir.Dense("g", [], weight=w))
        else:
            s = layer_storage(layer)
        assert s.nnz * 32 / s.dense_float_bits == pytest.approx(spec.density, abs=0.01)
        assert _paper_rate(s, spec.bits) == pytest.approx(want, abs=0.4), name
