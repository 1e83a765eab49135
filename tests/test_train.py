"""Training loop: layer gradients, parameterizations, determinism, accuracy, IR round trip."""

from __future__ import annotations

import numpy as np
import pytest

from hwq import ir
from hwq.data.digits import as_input, load_digits_split
from hwq.golden import run_float
from hwq.train import layers as L
from hwq.train import zoo
from hwq.train.evaluate import accuracy
from hwq.train.params import FreeWeight, SharedWeight
from hwq.train.sgd import loss_and_grads, to_float_model, train


@pytest.fixture(scope="module")
def digits():
    return load_digits_split(seed=0)


def _num_grad(f, a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of scalar f() with respect to every element of ``a`` (in place)."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        up = f()
        a[i] = old - eps
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def _check_layer(layer, xs, w=None, b=None, seed=0):
    """Compare backward() with finite differences of <forward(...), r> for a random r."""
    y, _ = L.forward(layer, xs, w, b)
    r = np.random.default_rng(seed).normal(size=y.shape)
    f = lambda: float((L.forward(layer, xs, w, b)[0] * r).sum())  # noqa: E731
    _, cache = L.forward(layer, xs, w, b)
    dxs, dw, db = L.backward(layer, cache, r)
    for x, dx in zip(xs, dxs):
        np.testing.assert_allclose(dx, _num_grad(f, x), rtol=1e-6, atol=1e-8)
    if w is not None:
        np.testing.assert_allclose(dw, _num_grad(f, w), rtol=1e-6, atol=1e-8)
    if b is not None:
        np.testing.assert_allclose(db, _num_grad(f, b), rtol=1e-6, atol=1e-8)


def _away_from_zero(rng, shape):
    """Random values with |v| >= 0.1 and distinct, so ReLU/max stay differentiable at eps."""
    v = rng.uniform(0.1, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return v + np.arange(v.size).reshape(shape) * 1e-3


def test_dense_grad():
    rng = np.random.default_rng(1)
    layer = ir.Dense("d", ["x"], in_features=5, out_features=4)
    _check_layer(layer, [rng.normal(size=(3, 5))], rng.normal(size=(4, 5)), rng.normal(size=4))


@pytest.mark.parametrize("kernel,stride,padding,hw", [
    ((3, 3), (1, 1), (1, 1, 1, 1), (5, 5)),
    ((3, 2), (2, 1), (1, 0, 2, 1), (5, 6)),  # asymmetric padding, stride not dividing evenly
    ((2, 2), (2, 2), (0, 0, 0, 0), (5, 4)),  # last row never covered
])
def test_conv_grad(kernel, stride, padding, hw):
    rng = np.random.default_rng(2)
    layer = ir.Conv2d("c", ["x"], in_channels=2, out_channels=3, kernel=kernel, stride=stride,
                      padding=padding)
    x = rng.normal(size=(2, 2) + hw)
    _check_layer(layer, [x], rng.normal(size=(3, 2) + kernel), rng.normal(size=3))


def test_conv_matches_golden_float():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 2, 3, 2))
    layer = ir.Conv2d("c", ["x"], in_channels=2, out_channels=3, kernel=(3, 2), stride=(2, 1),
                      padding=(1, 0, 2, 1), weight=ir.Weight(w.shape, ir.Float32Values(
                          w.astype(np.float32).ravel())), bias=np.ones(3, np.float32))
    from hwq.golden import float_kernels as fk
    x = rng.normal(size=(2, 2, 5, 6))
    y, _ = L.forward(layer, [x], layer.weight.dense_float(), layer.bias.astype(np.float64))
    np.testing.assert_allclose(y, fk.conv2d(layer, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [ir.MaxPool, ir.AvgPool])
@pytest.mark.parametrize("kernel,stride,hw", [((2, 2), (2, 2), (4, 4)), ((3, 2), (1, 2), (5, 5))])
def test_pool_grad(cls, kernel, stride, hw):
    rng = np.random.default_rng(4)
    layer = cls("p", ["x"], kernel=kernel, stride=stride)
    x = _away_from_zero(rng, (2, 3) + hw)
    rng.shuffle(x.reshape(-1))
    _check_layer(layer, [x])


def test_maxpool_tie_goes_to_first():
    layer = ir.MaxPool("p", ["x"], kernel=(2, 2), stride=(2, 2))
    x = np.ones((1, 1, 2, 2))
    _, cache = L.forward(layer, [x])
    (dx,), _, _ = L.backward(layer, cache, np.full((1, 1, 1, 1), 5.0))
    np.testing.assert_array_equal(dx, [[[[5.0, 0.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("layer,n_in,shape", [
    (ir.ReLU("r", ["x"]), 1, (3, 2, 3, 3)),
    (ir.Flatten("f", ["x"]), 1, (3, 2, 3, 3)),
    (ir.Add("a", ["x", "z"]), 2, (3, 2, 3, 3)),
    (ir.Softmax("s", ["x"]), 1, (3, 5)),
])
def test_elementwise_grads(layer, n_in, shape):
    rng = np.random.default_rng(5)
    _check_layer(layer, [_away_from_zero(rng, shape) for _ in range(n_in)])


def test_softmax_cross_entropy_grad():
    rng = np.random.default_rng(6)
    z, labels = rng.normal(size=(4, 5)), np.array([0, 3, 4, 3])
    _, d = L.softmax_cross_entropy(z, labels)
    np.testing.assert_allclose(d, _num_grad(lambda: L.softmax_cross_entropy(z, labels)[0], z),
                               rtol=1e-6, atol=1e-9)


def _residual_model(rng) -> ir.Model:
    """conv -> relu -> maxpool -> flatten -> two dense branches -> add -> softmax output."""
    def wt(shape):
        return ir.Weight(shape, ir.Float32Values(rng.normal(size=shape).astype(np.float32).ravel()))
    m = ir.Model("res", {}, ["prob"])
    m.layers["input"] = ir.Input("input", [], shape=(1, 4, 4))
    m.layers["conv"] = ir.Conv2d("conv", ["input"], in_channels=1, out_channels=2, kernel=(3, 3),
                                 padding=(1, 1, 1, 1), weight=wt((2, 1, 3, 3)),
                                 bias=rng.normal(size=2).astype(np.float32))
    m.layers["relu"] = ir.ReLU("relu", ["conv"])
    m.layers["pool"] = ir.MaxPool("pool", ["relu"])
    m.layers["flat"] = ir.Flatten("flat", ["pool"])
    m.layers["fa"] = ir.Dense("fa", ["flat"], in_features=8, out_features=3, weight=wt((3, 8)),
                              bias=rng.normal(size=3).astype(np.float32))
    m.layers["fb"] = ir.Dense("fb", ["flat"], in_features=8, out_features=3, weight=wt((3, 8)))
    m.layers["sum"] = ir.Add("sum", ["fa", "fb"])
    m.layers["prob"] = ir.Softmax("prob", ["sum"])
    return ir.validate(m)


def test_graph_grad_with_fan_out_and_softmax_output():
    rng = np.random.default_rng(7)
    m = _residual_model(rng)
    x, y = rng.normal(size=(3, 1, 4, 4)), np.array([0, 2, 1])
    ws = {l.name: l.weight.dense_float() for l in m.weighted()}
    bs = {l.name: l.bias.astype(np.float64) for l in m.weighted() if l.bias is not None}
    _, logits, dw, db = loss_and_grads(m, x, y, ws, bs)
    np.testing.assert_allclose(L.softmax(logits), run_float(m, x)["prob"], rtol=1e-6)
    f = lambda: loss_and_grads(m, x, y, ws, bs)[0]  # noqa: E731
    for n in ws:
        np.testing.assert_allclose(dw[n], _num_grad(f, ws[n]), rtol=1e-5, atol=1e-8)
    assert set(db) == {"conv", "fa"}  # fb has no bias
    for n in bs:
        np.testing.assert_allclose(db[n], _num_grad(f, bs[n]), rtol=1e-5, atol=1e-8)


def test_shared_weight_centroid_grad_is_loop_sum():
    rng = np.random.default_rng(8)
    idx = rng.integers(-1, 4, size=(5, 3, 2, 2))
    p = SharedWeight(idx, np.array([-0.5, -0.1, 0.2, 0.7]), lr_scale=1.0)  # the paper's plain step
    grad = rng.normal(size=idx.shape)
    want = np.zeros(4)
    for pos in np.ndindex(idx.shape):
        if idx[pos] >= 0:
            want[idx[pos]] += grad[pos]
    np.testing.assert_allclose(p.centroid_grad(grad), want, rtol=1e-12)
    before = p.value()
    assert (before[idx < 0] == 0).all()
    p.step(grad, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(p.centroids, np.array([-0.5, -0.1, 0.2, 0.7]) - 0.1 * want)
    after = p.value()
    assert (after[idx < 0] == 0).all()
    np.testing.assert_array_equal(after[idx >= 0], p.centroids[idx[idx >= 0]])
    # the default step: the summed gradient over the mean number of members of a used centroid
    live = idx[idx >= 0]
    mean_members = live.size / len(np.unique(live))
    q = SharedWeight(idx, np.array([-0.5, -0.1, 0.2, 0.7]))
    q.step(grad, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(q.centroids, np.array([-0.5, -0.1, 0.2, 0.7]) - 0.1 * want / mean_members)


def test_free_weight_mask_is_bit_identical_after_training(digits):
    m = zoo.mlp_300_100(seed=1)
    rng = np.random.default_rng(9)
    w1 = m.layers["fc1"].weight.dense_float()
    keep = rng.random(w1.shape) < 0.3
    w1 = np.where(keep, w1, 0.0)  # pruned: 70% zeros that must stay zero
    w2 = m.layers["fc2"].weight.dense_float()
    free2 = rng.random(w2.shape) < 0.5  # INQ-style: the other half is frozen at its value
    params = {"fc1": FreeWeight(w1, trainable=keep), "fc2": FreeWeight(w2, trainable=free2)}
    r = train(m, digits.x_train[:512], digits.y_train[:512], epochs=2, params=params,
              weight_decay=1e-4)
    v1, v2 = r.params["fc1"].value(), r.params["fc2"].value()
    assert (v1[~keep] == 0).all() and np.signbit(v1[~keep]).sum() == 0
    np.testing.assert_array_equal(v2[~free2], w2[~free2])
    assert (v1[keep] != w1[keep]).mean() > 0.9 and (v2[free2] != w2[free2]).mean() > 0.9
    assert r.params["fc3"].value().shape == (10, 100)  # unlisted layers default to FreeWeight
    fm = to_float_model(m, r)
    assert fm.layers["fc1"].weight.nnz() == int(np.count_nonzero(v1))


def test_training_is_deterministic(digits):
    def run(seed):
        m = zoo.lenet5_digits(seed=0)
        r = train(m, digits.x_train[:256], digits.y_train[:256], epochs=2, seed=seed)
        return r, [r.params[n].value().copy() for n in sorted(r.params)]
    (ra, a), (_, b), (_, c) = run(3), run(3), run(4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert any(not np.array_equal(u, v) for u, v in zip(a, c))
    assert [h["epoch"] for h in ra.history] == [1, 2]
    assert np.array_equal(zoo.mlp_300_100(5).layers["fc1"].weight.values.data,
                          zoo.mlp_300_100(5).layers["fc1"].weight.values.data)


def test_mlp_reaches_95_percent(digits):
    m = zoo.mlp_300_100(seed=0)
    r = train(m, digits.x_train, digits.y_train, epochs=20, lr=0.05, seed=0)
    acc = accuracy(to_float_model(m, r), digits.x_test, digits.y_test)
    assert acc >= 0.95, acc
    assert r.history[-1]["loss"] < r.history[0]["loss"]


def test_lenet_reaches_95_percent(digits):
    m = zoo.lenet5_digits(seed=0)
    r = train(m, as_input(digits.x_train, (1, 8, 8)), digits.y_train, epochs=20, lr=0.05, seed=0)
    acc = accuracy(to_float_model(m, r), digits.x_test, digits.y_test)
    assert acc >= 0.95, acc


def test_split_is_stratified_disjoint_and_seeded():
    s = load_digits_split(seed=0, test_fraction=0.25)
    from sklearn.datasets import load_digits
    d = load_digits()
    assert len(s.x_train) + len(s.x_test) == len(d.target)
    for c in range(10):
        n = int((d.target == c).sum())
        assert int((s.y_test == c).sum()) == round(n * 0.25)
        assert int((s.y_train == c).sum()) == n - round(n * 0.25)
    # The two parts together are exactly the data set (as a multiset of rows): disjoint.
    def rows(x, y):
        return sorted(map(bytes, np.column_stack([x * 16, y]).astype(np.uint8)))
    assert rows(np.vstack([s.x_train, s.x_test]), np.concatenate([s.y_train, s.y_test])) == \
        rows(d.data / 16, d.target)
    assert 0.0 <= s.x_train.min() and s.x_train.max() <= 1.0
    again, other = load_digits_split(seed=0), load_digits_split(seed=1)
    np.testing.assert_array_equal(again.x_test, s.x_test)
    assert not np.array_equal(other.x_test, s.x_test)
    assert as_input(s.x_test, (1, 8, 8)).shape == (len(s.x_test), 1, 8, 8)


def _quantize_mlp(m: ir.Model, x: np.ndarray) -> ir.Model:
    """A plain per-tensor int8 quantization, enough to exercise integer evaluation."""
    q = ir.QuantParams(8, True, 1.0 / 127)
    m.layers["input"].quant = q
    acts = run_float(m, x, keep_all=True)
    s_in = q.scale
    for fc, relu in (("fc1", "relu1"), ("fc2", "relu2"), ("fc3", None)):
        layer = m.layers[fc]
        w = layer.weight.dense_float()
        s_w = float(np.abs(w).max()) / 127
        s_out = float(np.abs(acts[fc]).max()) / 127
        layer.weight = ir.Weight(w.shape, ir.Int8Values(np.round(w / s_w).astype(np.int8).ravel(),
                                                        np.array([s_w], np.float32)))
        s_w = float(np.float32(s_w))
        layer.bias_q = np.round(layer.bias / (s_in * s_w)).astype(np.int32)
        layer.requant = ir.make_requant([s_in * s_w / s_out])
        layer.quant = ir.QuantParams(8, True, s_out)
        if relu:
            m.layers[relu].quant = layer.quant
        s_in = s_out
    return ir.validate(m)


def test_to_float_model_round_trip_and_int_accuracy(digits, tmp_path):
    m = zoo.mlp_300_100(seed=0)
    r = train(m, digits.x_train, digits.y_train, epochs=5, seed=0)
    fm = to_float_model(m, r)
    f_acc = accuracy(fm, digits.x_test, digits.y_test)
    qm = _quantize_mlp(to_float_model(m, r), digits.x_train)
    i_acc = accuracy(qm, digits.x_test, digits.y_test, mode="int", batch_size=100)
    assert abs(i_acc - f_acc) <= 0.03, (i_acc, f_acc)
    # Training a quantized model and converting back strips every quant field.
    r2 = train(qm, digits.x_train[:128], digits.y_train[:128], epochs=1)
    back = to_float_model(qm, r2)
    assert not back.is_quantized and all(l.quant is None for l in back.layers.values())
    assert all(l.requant is None and l.bias_q is None for l in back.weighted())
    assert qm.layers["fc1"].quant is not None  # the source model is untouched
    for model in (fm, back):
        ir.save(model, tmp_path / "t.ir")
        loaded = ir.load(tmp_path / "t.ir")
        for name in ("fc1", "fc2", "fc3"):
            np.testing.assert_array_equal(loaded.layers[name].weight.dense_float(),
                                          model.layers[name].weight.dense_float())
            np.testing.assert_array_equal(loaded.layers[name].bias, model.layers[name].bias)
        np.testing.assert_array_equal(run_float(loaded, digits.x_test)["fc3"],
                                      run_float(model, digits.x_test)["fc3"])
    np.testing.assert_allclose(fm.layers["fc2"].weight.dense_float(),
                               r.params["fc2"].value(), rtol=1e-6, atol=1e-7)


def test_evaluate_rejects_bad_mode(digits):
    with pytest.raises(ValueError):
        accuracy(zoo.mlp_300_100(0), digits.x_test, digits.y_test, mode="fixed")


@pytest.mark.parametrize("shape,assign_shape", [((6, 8), (6, 4)), ((3, 4, 2, 2), (3, 2, 2, 2))])
def test_pq_codebook_gradient_is_the_sum_over_assigned_subvectors(shape, assign_shape):
    from hwq.train.params import PQWeight

    rng = np.random.default_rng(4)
    m = assign_shape[-1]
    d = shape[1] // m
    codebook = rng.normal(size=(m, 3, d))
    assignments = rng.integers(0, 3, assign_shape)
    p = PQWeight(codebook, assignments, shape)
    w = p.value()
    grad = rng.normal(size=shape)
    want = np.zeros_like(codebook)
    for idx in np.ndindex(*assign_shape):
        o, mm = idx[0], idx[-1]
        k = assignments[idx]
        # reconstruction and gradient both by explicit indexing, independent of PQWeight's reshapes
        if len(shape) == 2:
            sl = (o, slice(mm * d, (mm + 1) * d))
        else:
            sl = (o, slice(mm * d, (mm + 1) * d), idx[1], idx[2])
        assert np.array_equal(w[sl], codebook[mm, k])
        want[mm, k] += grad[sl]
    assert np.allclose(p.codebook_grad(grad), want)
