"""1-D k-means for weight sharing (Deep Compression, Sec. 3.1).

Lloyd's algorithm in one dimension: with sorted centroids the clusters are contiguous
intervals whose boundaries are the midpoints between neighbouring centroids, so one
iteration is a ``searchsorted`` of k-1 boundaries into the once-sorted data plus prefix
sums -- O(k log n) per iteration instead of O(n k).

Initializations (Deep Compression, Fig. 4):

* ``"forgy"``   -- k observations drawn at random from the data (``seed``), as the paper
  does: frequent values are drawn more often (duplicates leave a cluster empty);
* ``"density"`` -- the data's quantiles at the evenly spaced probabilities
  ``(i + 0.5) / k``, i = 0..k-1 (k equal-mass slices of the CDF, one centroid in the
  middle of each; ``np.quantile``'s default linear interpolation);
* ``"linear"``  -- ``np.linspace(min, max, k)``: evenly spaced over the range, the
  paper's recommended init because it keeps the rare large weights represented.

A point exactly on a boundary joins the lower centroid; an empty cluster keeps its
centroid. If the data has at most k distinct values, the distinct values themselves are
returned (fewer than k centroids when there are fewer distinct values): that clustering
is exact and Lloyd cannot improve it.
"""

from __future__ import annotations

import numpy as np

from hwq.errors import HwqError

INITS = ("linear", "density", "forgy")


def _init(xs: np.ndarray, distinct: np.ndarray, k: int, init: str, seed: int) -> np.ndarray:
    if init == "linear":
        return np.linspace(xs[0], xs[-1], k)
    if init == "density":
        return np.quantile(xs, (np.arange(k) + 0.5) / k)
    rng = np.random.default_rng(seed)
    return np.sort(xs[rng.choice(xs.size, size=k, replace=False)])


def _labels(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    # number of midpoints strictly below x: ties go to the lower centroid
    return np.searchsorted((c[:-1] + c[1:]) / 2, x, side="left").astype(np.int64)


MAX_ITERS = 10_000  # a cap only: Lloyd stops when the partition no longer changes


def kmeans_1d(values, k: int, init: str = "linear", iters: int = MAX_ITERS,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``values`` into at most ``k`` shared values.

    Returns ``(centroids, labels)``: centroids float64 sorted ascending, labels int64 of
    ``values``' shape with ``values ~ centroids[labels]``. Iterates to convergence (an
    iteration leaves every cluster unchanged), at most ``iters`` times; at convergence the
    labels are nearest-centroid assignments and every non-empty centroid is its
    cluster's mean. Deterministic for a given ``seed`` (only ``forgy`` uses it).
    """
    if init not in INITS:
        raise HwqError(f"kmeans: init {init!r} is not one of {', '.join(INITS)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise HwqError(f"kmeans: k {k!r} must be an integer >= 1")
    if isinstance(iters, bool) or not isinstance(iters, (int, np.integer)) or iters < 0:
        raise HwqError(f"kmeans: iters {iters!r} must be an integer >= 0")
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise HwqError("kmeans: no values to cluster")
    if not np.isfinite(x).all():
        raise HwqError("kmeans: values must be finite")
    flat = x.ravel()
    xs = np.sort(flat)
    distinct = np.unique(xs)
    if distinct.size <= k:
        return distinct, np.searchsorted(distinct, flat).reshape(x.shape).astype(np.int64)

    c = _init(xs, distinct, int(k), init, seed)
    shift = xs[xs.size // 2]  # centre the prefix sums: less cancellation in sums / counts
    csum = np.concatenate(([0.0], np.cumsum(xs - shift)))
    edges = None
    for _ in range(iters):
        # cluster i = xs[edges[i]:edges[i+1]]; a point equal to a midpoint goes below
        cuts = np.searchsorted(xs, (c[:-1] + c[1:]) / 2, side="right")
        new_edges = np.concatenate(([0], cuts, [xs.size]))
        if edges is not None and np.array_equal(new_edges, edges):
            break  # same partition -> same means: converged
        edges = new_edges
        counts = np.diff(edges)
        sums = csum[edges[1:]] - csum[edges[:-1]]
        # sort: an empty cluster's kept centroid may have been overtaken by a neighbour
        c = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1) + shift, c))
    return c, _labels(flat, c).reshape(x.shape)
