"""Product quantization (Q-CNN, sections 3.1-3.2).

FC (O, I): each row is split along the input axis into M sub-vectors of d = I / M.
Conv (O, C, KH, KW): each kernel is split along input channels at every tap (kh, kw), so
the sub-vectors are (C/M)-long channel slices -- the split that lets a kernel reuse the
per-subspace inner products at every window position. One k-means per subspace learns K
sub-codewords; input channel c lies in subspace c // d, slot c % d (PQValues' layout).
"""

from __future__ import annotations

import numpy as np

from hwq.compress.checks import as_finite
from hwq.errors import HwqError


def _sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(n, k) squared distances; the expanded form avoids an (n, k, d) temporary."""
    d = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans_vectors(x: np.ndarray, k: int, iters: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding on rows of ``x`` (n, d); k <= n.

    Returns (centroids (k, d), labels (n,)) with every label the nearest centroid (lowest
    index on ties). An emptied cluster keeps its previous centroid.
    """
    n = x.shape[0]
    c = np.empty((k, x.shape[1]))
    c[0] = x[rng.integers(n)]
    d2 = _sq_dist(x, c[:1])[:, 0]
    for j in range(1, k):
        tot = d2.sum()
        # all remaining points coincide with a centroid (duplicates): any pick is as good
        i = rng.integers(n) if tot <= 0 else rng.choice(n, p=d2 / tot)
        c[j] = x[i]
        d2 = np.minimum(d2, _sq_dist(x, c[j:j + 1])[:, 0])
    labels = _sq_dist(x, c).argmin(1)
    for _ in range(iters):
        counts = np.bincount(labels, minlength=k)
        sums = np.stack([np.bincount(labels, x[:, j], k) for j in range(x.shape[1])], 1)
        full = counts > 0
        c[full] = sums[full] / counts[full, None]
        new = _sq_dist(x, c).argmin(1)
        if np.array_equal(new, labels):
            break
        labels = new
    return c, labels


def split_subvectors(w: np.ndarray, m: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Sub-vectors of ``w`` as (n, M, d) and the leading assignment shape ((O,) or (O, KH, KW))."""
    if w.ndim == 2:
        lead, axis = (w.shape[0],), w.shape[1]
        rows = w
    elif w.ndim == 4:
        lead, axis = (w.shape[0], w.shape[2], w.shape[3]), w.shape[1]
        rows = w.transpose(0, 2, 3, 1)  # (O, KH, KW, C): channels last, one row per tap
    else:
        raise HwqError(f"product quantization needs an FC (O, I) or conv (O, C, KH, KW) weight, got shape {w.shape}")
    if not isinstance(m, (int, np.integer)) or m < 1 or axis % m:
        what = "input size I" if w.ndim == 2 else "input channels C"
        raise HwqError(f"product quantization: {what} = {axis} is not divisible by M = {m}")
    return rows.reshape(-1, int(m), axis // int(m)), lead


def product_quantize(w, m: int, k: int, iters: int = 25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learn M sub-codebooks of K codewords; returns (codebook float64 (M, K, d), assignments int64).

    Assignments have shape (O, M) for FC, (O, KH, KW, M) for conv. K is capped at the
    number of sub-vectors per subspace (more codewords than points would be duplicates).
    Deterministic for a given seed.
    """
    w = as_finite(w)
    sub, lead = split_subvectors(w, m)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise HwqError(f"product quantization: K = {k!r} must be a positive integer")
    n, m, d = sub.shape
    k = min(int(k), n)
    rng = np.random.default_rng(seed)
    codebook = np.empty((m, k, d))
    assign = np.empty((n, m), dtype=np.int64)
    for j in range(m):
        codebook[j], assign[:, j] = kmeans_vectors(sub[:, j], k, iters, rng)
    return codebook, assign.reshape(lead + (m,))


def pq_reconstruct(codebook: np.ndarray, assignments: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The weight of logical ``shape`` that (codebook, assignments) stand for (float64)."""
    m, _, d = codebook.shape
    sub = np.asarray(codebook, np.float64)[np.arange(m), np.asarray(assignments)]  # (..., M, d)
    if len(shape) == 2:
        return sub.reshape(shape[0], m * d)
    o, _, kh, kw = shape
    return sub.reshape(o, kh, kw, m * d).transpose(0, 3, 1, 2).copy()
