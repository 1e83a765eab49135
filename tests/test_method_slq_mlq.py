"""SLQ / ESLQ / MLQ / TTQ (seed 003 and TTQ) on tiny models and small data.

References: the paper's level counts and partitions, an independent NumPy forward pass for the
loss-based scores of eq. 1, the t-centroid rule written out, the TTQ gradient rule by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwq import ir
from hwq.cli import main
from hwq.compress.methods.options import MethodParams
from hwq.compress.methods.run import compress_model_method
from hwq.compress.methods.slq import default_partition, init_centroids, lloyd, n_centroids, t_centroid
from hwq.data.digits import Split, load_digits_split
from hwq.train.params import TTQWeight

ROOT = Path(__file__).parents[1]
MLP = ROOT / "examples" / "digits_mlp.ir"


def test_level_counts_and_partitions_are_the_papers():
    # "for bit-width b, the centroid number of each layer is 2^(b-1) + 1"; 17 / 9 / 5 partitions
    assert [n_centroids(b) for b in (5, 4, 3, 2)] == [17, 9, 5, 3]
    assert default_partition(17) == (5, 4, 4, 2, 2)
    assert default_partition(9) == (3, 2, 2, 2)
    assert default_partition(5) == (2, 2, 1)


def test_lloyd_pins_zero_and_converges():
    x = np.sort(np.random.default_rng(0).normal(0.1, 1, 2000))
    c, lab, where = lloyd(x, np.linspace(x[0], x[-1], 5), pin_zero=True)
    assert 0.0 in c and np.all(np.diff(c) > 0)
    assert np.array_equal(lab, np.abs(x[:, None] - c[None]).argmin(1))  # nearest centroid
    for j in range(5):
        if c[j] != 0:
            assert c[j] == pytest.approx(x[lab == j].mean())


def test_exp_init_is_the_authors_exponential_start():
    # Table 5's "non-linear (exponential decaying)" start as the authors' released code sets it
    # (github.com/yuhuixu1993/SLQ, include/caffe/kmeans.hpp): +-2^floor(log2 max|w|), halving
    xs = np.array([-0.7, 0.1, 0.3])  # max |w| 0.7 -> 2^-1
    assert np.array_equal(init_centroids(xs, 4, "exp"), [-0.5, -0.25, 0.25, 0.5])
    assert np.array_equal(init_centroids(xs, 6, "exp"), [-0.5, -0.25, -0.125, 0.125, 0.25, 0.5])
    assert np.array_equal(init_centroids(xs, 3, "exp"), [-0.5, 0.25, 0.5])


@pytest.mark.parametrize("c,kind,t", [(0.7, "pow2", 0.5), (0.8, "pow2", 1.0), (-0.3, "pow2", -0.25),
                                      (0.01234, "sci", 0.012), (-3.456, "sci", -3.5), (0.0, "pow2", 0.0)])
def test_t_centroids(c, kind, t):
    assert t_centroid(c, kind) == t


def _small():
    d = load_digits_split()
    return Split(d.x_train[:200], d.y_train[:200], d.x_test, d.y_test)


def _mlp_loss(weights, biases, x, y):
    """An independent forward pass of 64-300-100-10 and the mean cross-entropy."""
    h = np.maximum(x @ weights["fc1"].T + biases["fc1"], 0)
    h = np.maximum(h @ weights["fc2"].T + biases["fc2"], 0)
    z = h @ weights["fc3"].T + biases["fc3"]
    z = z - z.max(1, keepdims=True)
    return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean())


def test_slq_first_partition_follows_eq1():
    model, data = ir.load(MLP), _small()
    p = MethodParams(method="slq", wbits=3, data="digits", score_samples=150, seed=1)
    res = compress_model_method(model, data, p)
    step1 = res.provenance["steps"][0]
    w = {l.name: l.weight.dense_float() for l in model.weighted()}
    b = {l.name: l.bias.astype(np.float64) for l in model.weighted()}
    idx = np.random.default_rng(1).permutation(len(data.x_train))[:150]
    x, y = data.x_train[idx], data.y_train[idx]
    base = _mlp_loss(w, b, x, y)
    for name in ("fc1", "fc3"):
        c = np.array(step1[name]["centroids"])
        lab = np.abs(w[name][..., None] - c).argmin(-1)
        eq = [_mlp_loss({**w, name: np.where(lab == j, c[j], w[name])}, b, x, y) - base for j in range(c.size)]
        assert np.allclose(eq, step1[name]["eq"], atol=1e-9)
        chosen = sorted(c[np.argsort(eq)[::-1][:2]])  # {2,2,1}: the two largest EQ first
        assert np.allclose(chosen, step1[name]["chosen"])
    assert res.provenance["init"] == "exp"  # the paper's start is the default
    for l in res.model.weighted():  # 2^(3-1)+1 = 5 levels, zero among them, 3-bit indices
        v = np.unique(l.weight.dense_float())
        assert v.size <= 5 and 0.0 in v and l.weight.values.bits == 3


def test_eslq_large_beta_snaps_to_powers_of_two_and_beta_zero_is_slq():
    model, data = ir.load(MLP), _small()
    base = dict(wbits=3, data="digits", score_samples=100, seed=0)
    big = compress_model_method(model, data, MethodParams(method="eslq", beta=1e6, **base))
    for l in big.model.weighted():
        assert l.weight.values.TYPE == "pow2"  # every centroid is 0 or +-2^e
        v = np.abs(np.unique(l.weight.dense_float()))
        v = v[v > 0]
        assert np.allclose(np.log2(v), np.round(np.log2(v)))
    zero = compress_model_method(model, data, MethodParams(method="eslq", beta=0.0, **base))
    slq = compress_model_method(model, data, MethodParams(method="slq", **base))
    for a, b in zip(zero.model.weighted(), slq.model.weighted()):
        assert np.array_equal(a.weight.dense_float(), b.weight.dense_float())


def test_mlq_is_ternary_and_ilc_quantizes_the_largest_loss_first():
    model, data = ir.load(MLP), _small()
    res = compress_model_method(model, data, MethodParams(method="mlq", data="digits", score_samples=100,
                                                          retrain_epochs=1))
    for l in res.model.weighted():
        assert l.weight.values.TYPE == "ternary"
        assert np.unique(l.weight.dense_float()).size <= 3
    steps = res.provenance["ilc"]
    assert [s["phase"] for s in steps] == ["boundaries"] * 3 + ["hearts"] * 3
    for s in steps:  # eq. 7: the chosen layer has the largest quantization loss of those left
        assert s["eq"][s["layers"][0]] == max(s["eq"].values())
    assert sorted(n for s in steps[:3] for n in s["layers"]) == ["fc1", "fc2", "fc3"]


def test_ttq_weight_rule():
    w = np.array([[0.5, -0.4, 0.01, 0.3]])
    t = TTQWeight(w, t=0.05)
    assert np.allclose(t.scales, [0.4, 0.4])
    assert np.allclose(t.value(), [[0.4, -0.4, 0.0, 0.4]])
    g = np.array([[1.0, 2.0, 3.0, 1.0]])
    t.step(g, lr=0.1)
    # scales: W_p -= lr * mean(g over +), W_n -= lr * (-mean(g over -)); latent: g scaled
    assert np.allclose(t.scales, [0.4 - 0.1 * 1.0, 0.4 + 0.1 * 2.0])
    assert np.allclose(t.w, w - 0.1 * np.array([[0.4, 0.4 * 2.0, 3.0, 0.4]]))


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("method,args,needle", [
    ("slq", ["--bits", "1"], "bits must be in"),
    ("slq", ["--bits", "3", "--partition", "2,2"], "add up"),
    ("mlq", ["--partition", "x"], "layer-group sizes"),
    ("ttq", [], "--retrain-epochs"),
    ("mlq", ["--init", "linear"], "does not apply"),
    (None, ["--share-bits", "3", "--init", "exp"], "exp is SLQ's"),
])
def test_cli_bad_parameters(tmp_path, method, args, needle):
    meth = ["--method", method] if method else []
    r = invoke("compress", MLP, "-o", tmp_path / "x.ir", *meth, "--data", "digits", *args)
    assert r.exit_code == 1 and needle in r.output and r.output.count("\n") == 1


@pytest.mark.parametrize("init", [None, "linear", "density"])
def test_two_bit_slq_keeps_both_signs_in_every_layer(init):
    """2 bits: K = 3 centroids {negative, 0, positive}. Once one sign's cluster is quantized,
    the re-clustering must still find the other sign: a one-point linear start at min(w) (numpy's
    linspace) put the free centroid on the wrong side, every weight of the other sign fell to
    0 and digits LeNet collapsed to 25 % (docs/methods/slq.md)."""
    model = ir.load(MLP.parent / "digits_lenet.ir")  # conv1: its negative cluster is quantized first
    for order in ("magnitude", "loss"):
        res = compress_model_method(model, _small(), MethodParams(method="slq", wbits=2, order=order, init=init,
                                                                  data="digits", score_samples=60))
        for l in model.weighted():
            w = l.weight.dense_float()
            assert (w > 0).any() and (w < 0).any()
            cent = np.array(res.provenance["centroids"][l.name])
            assert cent.size == 3 and (cent < 0).sum() == 1 and (cent > 0).sum() == 1, (order, l.name, cent)
