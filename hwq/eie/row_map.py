"""Row-to-PE maps (docs/eie.md, "Row maps"): where logical output row ``i`` of a layer lives.

A map is a permutation ``perm`` of ``0 .. out_features-1``: logical row ``i`` sits at physical
index ``perm[i]``, i.e. in PE ``perm[i] mod n_pe`` at local row ``perm[i] div n_pe``. ``mod`` is
the identity (row ``i`` in PE ``i mod n_pe``). ``balanced`` gives every PE an equal share of
the layer's non-zero weights: greedy longest-processing-time first, rows by decreasing
non-zero count, each to the least-loaded PE that still has a free physical slot (a PE keeps
the number of rows the identity gives it, so physical indices stay below ``out_features``).
The permutation is data: the next layer's columns are permuted the same way and the host
reads the last layer's output at the permuted addresses; the RTL is unchanged.
"""

from __future__ import annotations

import heapq

import numpy as np


def balanced_perm(row_nnz: np.ndarray, n_pe: int) -> np.ndarray:
    """logical row -> physical index, balancing the non-zeros per PE (LPT, stable on ties)."""
    o = int(row_nnz.shape[0])
    cap = [len(range(p, o, n_pe)) for p in range(n_pe)]
    heap = [(0, p) for p in range(n_pe) if cap[p]]
    heapq.heapify(heap)
    used = [0] * n_pe
    perm = np.empty(o, np.int64)
    for i in np.argsort(-np.asarray(row_nnz, np.int64), kind="stable"):
        load, p = heapq.heappop(heap)
        perm[i] = p + used[p] * n_pe
        used[p] += 1
        if used[p] < cap[p]:
            heapq.heappush(heap, (load + int(row_nnz[i]), p))
    return perm


def row_perm(row_map: str, row_nnz: np.ndarray, n_pe: int) -> np.ndarray | None:
    """The permutation of ``row_map`` (None for ``mod``, the identity)."""
    if row_map == "mod":
        return None
    return balanced_perm(row_nnz, n_pe)
