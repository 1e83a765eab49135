"""hwq.cost work counts against independent hand formulas on tiny layers of every kind.

The references densify the weights (``dense_int``) and loop over output positions with the
golden model's own activations; the code under test counts from pointers and relative
indices only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwq import ir
from hwq.cost.estimate import estimate_model
from hwq.golden import run_int
from hwq.ir.layers import WeightedLayer
from tests.factories import ENCODINGS, LAYOUTS, cnn, mlp

CASES = [(e, s) for e in ENCODINGS for s in LAYOUTS if not (e == "pq" and s != "none")]


def _padded_nonzero(layer, x, zx):
    nz = (x != zx).astype(np.float64)
    if isinstance(layer, ir.Conv2d):
        t, l, b, r = layer.padding
        nz = np.pad(nz, ((0, 0), (0, 0), (t, b), (l, r)))
    return nz


def reference(layer, x, zx):
    """(macs_dense, macs_effective, per-column activity) by explicit loops over outputs."""
    w = layer.weight.dense_int()
    wnz = w != 0
    nz = _padded_nonzero(layer, x, zx)
    n = x.shape[0]
    if isinstance(layer, ir.Dense):
        o, i = w.shape
        return o * i, float((wnz[None] * nz[:, None, :]).sum() / n), nz.mean(0)
    o, c, kh, kw = w.shape
    sh, sw = layer.stride
    oh = (nz.shape[2] - kh) // sh + 1
    ow = (nz.shape[3] - kw) // sw + 1
    eff, act = 0.0, np.zeros((c, kh, kw))
    for p in range(oh):
        for q in range(ow):
            patch = nz[:, :, p * sh:p * sh + kh, q * sw:q * sw + kw]  # (N, C, KH, KW)
            eff += (patch[:, None] * wnz[None]).sum() / n
            act += patch.mean(0)
    return o * c * kh * kw * oh * ow, eff, act.reshape(-1), oh * ow


@pytest.mark.parametrize("encoding,sparse", CASES)
@pytest.mark.parametrize("net", ["mlp", "cnn"])
def test_weighted_counts_match_loops(net, encoding, sparse):
    rng = np.random.default_rng(7)
    m = (mlp if net == "mlp" else cnn)(rng, encoding=encoding, sparse=sparse, density=0.4)
    x = rng.normal(size=(16, 12)) if net == "mlp" else rng.random((16, 2, 7, 7)) * 2 - 0.5
    acts = run_int(m, x, keep_all=True)
    rep = estimate_model(m, x=x)
    rows = {r["name"]: r for r in rep["layers"]}
    for layer in m.weighted():
        src = layer.inputs[0]
        ref = reference(layer, acts[src], m.layers[src].quant.zero_point)
        dense, eff, act = ref[:3]
        positions = ref[3] if len(ref) > 3 else 1
        r = rows[layer.name]
        assert r["macs_dense"] == dense and r["flops_dense"] == 2 * dense
        w = layer.weight
        if encoding == "pq":
            continue  # executed work is Q-CNN's Table 1 (tests/test_cost_papers.py)
        assert r["macs_effective"] == pytest.approx(eff)
        assert r["flops_effective"] == pytest.approx(2 * eff)
        if w.sparse is None:
            executed = dense
        elif w.sparse.format == "csr":
            executed = w.sparse.stored * positions
        else:  # CSC: each stored entry runs once per non-zero activation of its column
            col = np.repeat(np.arange(len(w.sparse.ptr) - 1), np.diff(w.sparse.ptr))
            executed = act[col].sum()
        assert r["macs_executed"] == pytest.approx(executed)
        outputs = w.channels * positions
        if encoding == "int8":
            assert r["ops"]["mult:8x8"] == pytest.approx(executed)
        if encoding == "pow2":
            assert r["ops"]["shift:32"] == pytest.approx(executed) and not any(k.startswith("mult") for k in r["ops"])
        if encoding == "ternary":  # adds only, two scalings per output
            assert r["ops"]["mult:32x16"] == 2 * outputs
        if encoding == "codebook":
            assert r["ops"][f"lookup:{w.values.value_bits}"] == pytest.approx(executed)
        assert r["ops"][f"requant:{layer.requant.mode}"] == outputs


def test_elementwise_layers_by_hand():
    rng = np.random.default_rng(3)
    m = cnn(rng)
    rows = {r["name"]: r for r in estimate_model(m)["layers"]}
    # r1: relu on 4x7x7, p1: maxpool 2x2/2 -> 4x3x3, p2: avgpool 2x2/1 on 4x3x4 -> 4x2x3 (see factories)
    shapes = m.shapes()
    n = lambda name: int(np.prod(shapes[name]))  # noqa: E731
    assert rows["r1"]["ops"] == {"compare:8": n("r1")}
    assert rows["p1"]["ops"] == {"compare:8": n("p1") * 3}
    assert rows["p2"]["ops"] == {"add:32": n("p2") * 3, "requant:divide": n("p2")}
    rq = [q.mode for q in m.layers["sum"].requant]
    want = {"add:32": n("sum")}
    for mode in rq:
        want[f"requant:{mode}"] = want.get(f"requant:{mode}", 0) + n("sum")
    assert rows["sum"]["ops"] == want
    assert rows["flat"]["ops"] == {} and rows["x"]["ops"] == {}
    for name in ("r1", "p1", "p2", "sum", "flat"):
        assert rows[name]["macs_dense"] == 0 and rows[name]["weight_bytes"]["total"] == 0


def test_softmax_and_float_ops():
    rng = np.random.default_rng(4)
    m = mlp(rng, softmax=True)
    rows = {r["name"]: r for r in estimate_model(m)["layers"]}
    assert rows["sm"]["ops"] == {"fp_exp:32": 4, "fp_add:32": 4, "fp_div:32": 4}
    f = ir.load(Path(__file__).parents[1] / "examples" / "digits_mlp.ir")  # float32 weights
    for r in estimate_model(f)["layers"]:
        if r["kind"] == "dense":
            assert r["ops"]["fp_mult:32"] == r["macs_executed"] == r["macs_dense"]
            outputs = r["macs_dense"] // int(r["activation_bytes"]["in"] // 4)  # float32 inputs
            assert r["ops"]["fp_add:32"] == r["macs_executed"] + outputs  # + one bias add per output


def test_activation_density_given_scales_effective_work():
    rng = np.random.default_rng(5)
    m = mlp(rng, encoding="codebook", sparse="csc", density=0.5)
    nnz = {l.name: int(np.count_nonzero(l.weight.dense_int())) for l in m.weighted()}
    rep = estimate_model(m, act_density="fc1=0.25,*=0.5")
    rows = {r["name"]: r for r in rep["layers"]}
    assert rows["fc1"]["macs_effective"] == pytest.approx(0.25 * nnz["fc1"])
    assert rows["fc2"]["macs_effective"] == pytest.approx(0.5 * nnz["fc2"])
    assert rows["fc1"]["act_density"] == 0.25
    stored = m.layers["fc2"].weight.sparse.stored
    assert rows["fc2"]["macs_executed"] == pytest.approx(0.5 * stored)  # CSC skips zero activations
    rep1 = estimate_model(m)
    assert {r["name"]: r["macs_effective"] for r in rep1["layers"]}["fc1"] == nnz["fc1"]


def test_weight_bytes_are_info_storage():
    from hwq.info import model_info

    rng = np.random.default_rng(6)
    m = cnn(rng, encoding="codebook", sparse="csr")
    info = {r["name"]: r["storage_bits"] for r in model_info(m)["layers"] if r["storage_bits"]}
    for r in estimate_model(m)["layers"]:
        if r["name"] in info:
            for part in ("payload", "index", "pointer", "codebook", "bias", "total"):
                assert r["weight_bytes"][part] * 8 == info[r["name"]][part]


def test_activation_bytes_by_width():
    rng = np.random.default_rng(8)
    m = mlp(rng, act_bits=6)
    rows = {r["name"]: r for r in estimate_model(m)["layers"]}
    assert rows["fc1"]["activation_bytes"] == {"in": 12 * 6 / 8, "out": 9 * 6 / 8}
    assert isinstance(m.layers["fc1"], WeightedLayer)


def test_uniform_density_shortcut_equals_the_per_element_sum():
    from hwq.cost.work import tap_activity

    rng = np.random.default_rng(9)
    m = cnn(rng)
    shapes = m.shapes()
    for layer in m.weighted():
        shape = shapes[layer.inputs[0]]
        assert np.allclose(tap_activity(layer, 0.3, shape), tap_activity(layer, np.full(shape, 0.3), shape))
