import numpy as np
import pytest

from hwq.compress.kmeans import kmeans_1d
from hwq.compress.prune import prune_quality, prune_rate
from hwq.errors import HwqError


# -- pruning -----------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.92, 0.999])
@pytest.mark.parametrize("shape", [(7,), (30, 17), (4, 3, 5, 5)])
def test_prune_rate_kept_fraction(rate, shape):
    w = np.random.default_rng(1).normal(size=shape)
    m = prune_rate(w, rate)
    assert m.shape == w.shape and m.dtype == bool
    assert abs(m.sum() - (1 - rate) * w.size) <= 1
    # every kept magnitude >= every pruned one
    if m.any() and (~m).any():
        assert np.abs(w[m]).min() >= np.abs(w[~m]).max()


def test_prune_rate_ties_are_deterministic():
    w = np.array([1.0, -1.0, 1.0, 2.0, -1.0, 0.5])
    m = prune_rate(w, 0.5)  # prune 3: the 0.5, then the first two |1| by position
    assert m.tolist() == [False, False, True, True, True, False]
    assert np.array_equal(m, prune_rate(w.copy(), 0.5))


def test_prune_quality_matches_explicit_threshold():
    w = np.random.default_rng(2).normal(0.1, 0.3, size=(50, 40))
    for q in (0.0, 0.7, 1.5):
        thr = q * np.sqrt(np.mean((w - w.mean()) ** 2))
        assert np.array_equal(prune_quality(w, q), np.abs(w) > thr)
    assert prune_quality(np.zeros(5), 0.0).sum() == 0  # exact zeros always go


@pytest.mark.parametrize("call", [
    lambda: prune_rate(np.ones(3), 1.0), lambda: prune_rate(np.ones(3), -0.1),
    lambda: prune_rate(np.ones(3), float("nan")), lambda: prune_quality(np.ones(3), -1),
    lambda: prune_rate(np.array([1.0, np.inf]), 0.5), lambda: prune_quality(np.ones(3), "1"),
])
def test_prune_bad_arguments(call):
    with pytest.raises(HwqError) as e:
        call()
    assert "\n" not in str(e.value)


# -- k-means -----------------------------------------------------------------------

def _data(n=5000, seed=3):
    r = np.random.default_rng(seed)
    return np.concatenate([r.normal(-0.2, 0.05, n // 2), r.normal(0.15, 0.08, n - n // 2)])


def test_init_starting_points():
    x = _data()
    k = 8
    c, _ = kmeans_1d(x, k, "linear", iters=0)
    assert np.allclose(c, np.linspace(x.min(), x.max(), k))
    c, _ = kmeans_1d(x, k, "density", iters=0)
    assert np.allclose(c, np.quantile(x, (np.arange(k) + 0.5) / k))
    c, _ = kmeans_1d(x, k, "forgy", iters=0, seed=5)
    assert len(np.unique(c)) == k and np.isin(c, x).all() and np.all(np.diff(c) > 0)
    assert not np.array_equal(c, kmeans_1d(x, k, "forgy", iters=0, seed=6)[0])


@pytest.mark.parametrize("init", ["linear", "density", "forgy"])
def test_converged_lloyd_fixed_point(init):
    x = _data().reshape(50, 100)
    c, lab = kmeans_1d(x, 16, init, iters=500)
    assert c.dtype == np.float64 and np.all(np.diff(c) >= 0)
    assert lab.shape == x.shape and lab.dtype == np.int64
    brute = np.argmin(np.abs(x[..., None] - c), axis=-1)
    assert np.array_equal(lab, brute)
    for j in range(c.size):
        if (lab == j).any():
            assert np.isclose(c[j], x[lab == j].mean(), rtol=0, atol=1e-12)
    # deterministic
    c2, lab2 = kmeans_1d(x, 16, init, iters=500)
    assert np.array_equal(c, c2) and np.array_equal(lab, lab2)


def test_lloyd_improves_on_init():
    x = _data()
    c0, l0 = kmeans_1d(x, 8, "linear", iters=0)
    c1, l1 = kmeans_1d(x, 8, "linear")
    assert np.sum((x - c1[l1]) ** 2) <= np.sum((x - c0[l0]) ** 2)


def test_fewer_distinct_values_than_k():
    x = np.array([3.0, -1.0, 3.0, 0.0, -1.0])
    c, lab = kmeans_1d(x, 16)
    assert c.tolist() == [-1.0, 0.0, 3.0]
    assert np.array_equal(c[lab], x)


def test_kmeans_bad_arguments():
    for call in (lambda: kmeans_1d([1.0, 2.0], 0), lambda: kmeans_1d([1.0], 2, init="kpp"),
                 lambda: kmeans_1d([], 2), lambda: kmeans_1d([np.nan, 1.0], 2),
                 lambda: kmeans_1d([1.0, 2.0], 2, iters=-1)):
        with pytest.raises(HwqError):
            call()
