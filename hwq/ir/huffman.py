"""Huffman sizing (Deep Compression, Sec. 4): how many bits the value codes and the
relative indices take once entropy-coded with an optimal prefix code.

Only *sizes* are needed for storage accounting; :func:`canonical_codes` turns the
lengths into the canonical code words a decoder table would hold. The code table itself
is not counted here (the paper does not count it either).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

import numpy as np

from hwq.errors import HwqError


def _lengths(counts: np.ndarray) -> np.ndarray:
    """Code length per entry of a 1-D count array; 0 for zero counts."""
    out = np.zeros(counts.shape[0], dtype=np.int64)
    live = np.flatnonzero(counts > 0)
    if live.size == 1:
        out[live] = 1  # a lone symbol still needs one bit per occurrence
    if live.size <= 1:
        return out
    # heap items (count, node id): leaves get ids 0..n-1 in symbol order, internal nodes
    # increasing ids after them, so equal counts always merge in the same order
    n = live.size
    heap = [(int(counts[s]), i) for i, s in enumerate(live)]
    heapq.heapify(heap)
    parent = np.zeros(2 * n - 1, dtype=np.int64)
    nxt = n
    while len(heap) > 1:
        c1, a = heapq.heappop(heap)
        c2, b = heapq.heappop(heap)
        parent[a] = parent[b] = nxt
        heapq.heappush(heap, (c1 + c2, nxt))
        nxt += 1
    depth = np.zeros(2 * n - 1, dtype=np.int64)  # root (id 2n-2) has depth 0
    for node in range(2 * n - 3, -1, -1):  # parents have larger ids: visit them first
        depth[node] = depth[parent[node]] + 1
    out[live] = depth[:n]
    return out


def code_lengths(counts):
    """Huffman code lengths for symbol counts.

    ``counts`` is a sequence/array (symbol = position; returns an int64 array) or a
    mapping symbol -> count (returns a dict over the symbols with non-zero count).
    Zero-count symbols get no code (length 0 in the array form); a single symbol gets
    length 1. Ties are broken deterministically (lower symbol position merges first).
    """
    if isinstance(counts, Mapping):
        keys = list(counts)
        lengths = code_lengths([counts[k] for k in keys])
        return {k: int(n) for k, n in zip(keys, lengths) if n}
    arr = np.asarray(counts)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)
                         and not np.array_equal(arr, np.floor(arr))):
        raise HwqError("huffman: counts must be a 1-D sequence of integers")
    arr = arr.astype(np.int64)
    if (arr < 0).any():
        raise HwqError("huffman: counts must be >= 0")
    return _lengths(arr)


def canonical_codes(lengths) -> dict[int, str]:
    """Canonical code words (bit strings) for an array of code lengths (0 = no code).

    Symbols sorted by (length, symbol) get consecutive code values, shifted left when
    the length grows -- the form a decoder can rebuild from the lengths alone.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = sorted((int(n), s) for s, n in enumerate(lengths) if n > 0)
    codes, code, prev = {}, 0, 0
    for n, s in order:
        code <<= n - prev
        codes[s] = format(code, f"0{n}b")
        code, prev = code + 1, n
    return codes


def huffman_bits(symbols) -> int:
    """Total bits of ``symbols`` (any array of integers, or other hashable numbers)
    Huffman-coded with the code built from their own histogram; 0 for an empty input."""
    arr = np.asarray(symbols).ravel()
    if arr.size == 0:
        return 0
    if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2:
        # 8/16-bit codes: bincount in chunks of the raw bits (sign bit flipped, so symbols keep
        # their order): no int64 copy of a whole VGG-size weight
        u = arr.view(np.uint8 if arr.dtype.itemsize == 1 else np.uint16)
        if arr.dtype.kind == "i":
            u = u ^ u.dtype.type(1 << (8 * arr.dtype.itemsize - 1))
        n = 1 << (8 * arr.dtype.itemsize)
        counts = sum(np.bincount(u[i:i + (1 << 20)], minlength=n) for i in range(0, u.size, 1 << 20))
        counts = counts[counts > 0]
    elif arr.dtype.kind in "iu":
        # bincount is ~10x faster than np.unique on small unsigned codes (uint8 indices)
        a = arr.astype(np.int64)
        counts = np.bincount(a - a.min())
        counts = counts[counts > 0]
    else:
        _, counts = np.unique(arr, return_counts=True)
    return int(np.dot(counts.astype(np.int64), _lengths(counts.astype(np.int64))))
