"""Compression primitives: k-means weight sharing, sparse index encoding, Huffman sizing.

1. ``hwq.compress.kmeans.kmeans_1d`` (sorted data, boundary ``searchsorted`` + prefix
   sums: O(k log n) per iteration after one sort) vs a naive dense-distance Lloyd written
   here (|x - c| for every point and centroid: O(n k) per iteration), same linear init,
   same iteration cap and stopping rule; labels must be identical.
2. ``hwq.ir.sparse.encode`` on an EIE benchmark layer (AlexNet FC7 4096x4096 at 9%
   weight density, CSC, 4-bit relative indices; 1024x1024 in --quick): time, fillers
   ratio (stored entries / non-zeros), and a vectorized re-implementation written here as
   the side-by-side alternative (its output must be identical).
3. ``hwq.ir.huffman.huffman_bits`` throughput on the k-means labels and on the sparse
   relative indices, vs a ``bincount`` histogram + ``code_lengths`` (same bit count).
"""

from __future__ import annotations

import numpy as np

from _common import Row, check, side_by_side

TITLE = "compress: kmeans_1d, sparse.encode, huffman_bits"


# ---------------------------------------------------------------- k-means
def naive_lloyd(values: np.ndarray, k: int, iters: int, chunk: int = 1 << 16):
    """Textbook Lloyd: dense |x - c| distances, argmin, per-cluster means.

    Same init ("linear") and stopping rule (partition unchanged) as ``kmeans_1d``; an
    empty cluster keeps its centroid; ties go to the lower centroid (argmin's first).
    Distances are computed in chunks so memory stays O(chunk * k).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    c = np.linspace(x.min(), x.max(), k)

    def assign(c):
        lab = np.empty(x.size, dtype=np.int64)
        for s in range(0, x.size, chunk):
            lab[s:s + chunk] = np.argmin(np.abs(x[s:s + chunk, None] - c[None, :]), axis=1)
        return lab

    labels, done = None, 0
    for _ in range(iters):
        new = assign(c)
        if labels is not None and np.array_equal(new, labels):
            break
        labels, done = new, done + 1
        counts = np.bincount(labels, minlength=k)
        sums = np.bincount(labels, weights=x, minlength=k)
        c = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), c))
    return c, assign(c), done


def bench_kmeans(quick: bool) -> tuple[list[Row], np.ndarray]:
    from hwq.compress.kmeans import kmeans_1d
    n, k, iters = (200_000, 32, 5) if quick else (1_000_000, 32, 10)
    rng = np.random.default_rng(0)
    # weight-like data: a heavy-tailed mixture, like a trained layer's weights
    v = np.concatenate([rng.normal(0, 0.02, n - n // 20), rng.laplace(0, 0.08, n // 20)])
    rng.shuffle(v)
    c1, l1 = kmeans_1d(v, k, init="linear", iters=iters)
    c2, l2, done = naive_lloyd(v, k, iters)
    case = f"{n:,} values, k={k}, {iters} iters"
    rows = [Row(case, "labels identical", check(np.array_equal(l1, l2),
                f"kmeans: {int(np.sum(l1 != l2))} labels differ from the naive Lloyd"), ""),
            Row(case, "max |centroid diff|", float(np.max(np.abs(c1 - c2))), "")]
    t = side_by_side({"fast": lambda: kmeans_1d(v, k, init="linear", iters=iters),
                      "naive": lambda: naive_lloyd(v, k, iters)},
                     repeat=2 if quick else 3, warmup=0)
    rows += [Row(case, "kmeans_1d", t["fast"] * 1e3, "ms"),
             Row(case, "naive dense Lloyd", t["naive"] * 1e3, f"ms ({done} iters run)"),
             Row(case, "naive/kmeans_1d time", t["naive"] / t["fast"], "x")]
    return rows, l1


# ---------------------------------------------------------------- sparse encode
def encode_vectorized(mask: np.ndarray, fmt: str, index_bits: int):
    """Same output as ``hwq.ir.sparse.encode`` without the per-entry Python loop."""
    from hwq.ir.sparse import SparseIndex
    mask = np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    view = mask.T if fmt == "csc" else mask
    n_major = view.shape[0]
    major, minor = np.nonzero(view)                     # sorted by (major, minor)
    step = (1 << index_bits)                            # a filler covers max_gap zeros + itself
    first = np.ones(major.size, dtype=bool)
    first[1:] = major[1:] != major[:-1]
    prev = np.where(first, -1, np.concatenate(([-1], minor[:-1])))
    gaps = minor - prev - 1
    nfill = gaps // step
    per = nfill + 1                                     # stored slots each non-zero uses
    end = np.cumsum(per)
    total = int(end[-1]) if end.size else 0
    rel = np.full(total, step - 1, dtype=np.int64)
    src = np.full(total, -1, dtype=np.int64)
    at = end - 1                                        # the non-zero's own slot
    rel[at] = gaps - nfill * step
    src[at] = minor * cols + major if fmt == "csc" else major * cols + minor
    counts = np.bincount(major, weights=per, minlength=n_major).astype(np.int64)
    ptr = np.concatenate(([0], np.cumsum(counts)))
    pointer_bits = max(1, total.bit_length())
    rel_dtype = np.uint8 if index_bits <= 8 else np.uint16
    return SparseIndex(fmt, index_bits, pointer_bits, ptr.astype(np.int32),
                       rel.astype(rel_dtype)), src


def bench_sparse(quick: bool) -> tuple[list[Row], np.ndarray]:
    from hwq.ir.sparse import encode
    n = 1024 if quick else 4096
    density, index_bits = 0.09, 4
    rng = np.random.default_rng(1)
    mask = rng.random((n, n)) < density
    nnz = int(mask.sum())
    idx, src = encode(mask, "csc", index_bits)
    vidx, vsrc = encode_vectorized(mask, "csc", index_bits)
    same = (np.array_equal(idx.ptr, vidx.ptr) and np.array_equal(idx.rel, vidx.rel)
            and idx.rel.dtype == vidx.rel.dtype and idx.pointer_bits == vidx.pointer_bits
            and np.array_equal(src, vsrc))
    case = f"FC7 {n}x{n} {density:.0%} csc/{index_bits}b"
    rows = [Row(case, "vectorized == encode", check(same, f"{case}: vectorized encode differs"), "")]
    t = side_by_side({"encode": lambda: encode(mask, "csc", index_bits),
                      "vec": lambda: encode_vectorized(mask, "csc", index_bits)},
                     repeat=2 if quick else 3, warmup=0)
    rows += [Row(case, "non-zeros", nnz, ""),
             Row(case, "stored / non-zeros (fillers)", idx.stored / nnz,
                 f"x ({idx.stored - nnz:,} fillers)"),
             Row(case, "sparse.encode", t["encode"] * 1e3, f"ms ({nnz / t['encode'] / 1e6:.2f} M nnz/s)"),
             Row(case, "vectorized encode (bench)", t["vec"] * 1e3, "ms"),
             Row(case, "encode/vectorized time", t["encode"] / t["vec"], "x")]
    return rows, idx.rel


# ---------------------------------------------------------------- Huffman
def huffman_bits_bincount(symbols: np.ndarray) -> int:
    """Alternative for small non-negative integer symbols: bincount instead of unique."""
    from hwq.ir.huffman import code_lengths
    counts = np.bincount(np.asarray(symbols).ravel())
    return int(np.dot(counts, code_lengths(counts)))


def bench_huffman(quick: bool, streams: dict[str, np.ndarray]) -> list[Row]:
    from hwq.ir.huffman import huffman_bits
    rows = []
    for case, sym in streams.items():
        bits = huffman_bits(sym)
        rows.append(Row(case, "bincount variant == huffman_bits",
                        check(bits == huffman_bits_bincount(sym), f"{case}: Huffman bit counts differ"), ""))
        t = side_by_side({"hb": lambda: huffman_bits(sym), "bc": lambda: huffman_bits_bincount(sym)},
                         repeat=3 if quick else 9)
        rows += [Row(case, "huffman_bits", sym.size / t["hb"] / 1e6, "M symbols/s"),
                 Row(case, "bits / symbol", bits / sym.size, "bits"),
                 Row(case, "huffman_bits/bincount time", t["hb"] / t["bc"], "x")]
    return rows


def run(quick: bool = False) -> list[Row]:
    km_rows, labels = bench_kmeans(quick)
    sp_rows, rel = bench_sparse(quick)
    streams = {f"k-means labels ({labels.size:,})": labels,
               f"sparse rel indices ({rel.size:,})": rel}
    return km_rows + sp_rows + bench_huffman(quick, streams)
