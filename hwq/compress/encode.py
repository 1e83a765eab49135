"""Float weights (+ optional keep-mask) -> ``ir.Weight`` in any value codec and layout.

Every integer codec obeys ``weight.dense_int() * scale == weight.dense_float()``, and
dense_float() is exactly the quantized weight. Pruned positions (mask False) decode to 0.

Layouts: dense stores one value per element in C-order over the logical shape; sparse
("csr"/"csc") stores the kept entries plus *fillers* in storage order (hwq.ir.sparse).
A filler must decode to exactly 0, so every element-wise codec needs a zero code: int8
q = 0, pow2 code 0, ternary code 0, float 0.0 -- and for ``codebook`` index 0 is
*reserved for the value 0* whenever a mask or sparse layout is used. A ``bits``-bit
sparse (or masked) codebook therefore holds at most 2^bits - 1 non-zero centroids.
Product quantization is dense only and cannot keep pruned zeros, so it refuses masks.
"""

from __future__ import annotations

import math

import numpy as np

from hwq.compress.checks import as_finite
from hwq.compress.int8 import quantize_int8, symmetric_scale
from hwq.golden.fixedpoint import round_half_away
from hwq.compress.pow2 import pow2_span, quantize_pow2
from hwq.compress.pq import product_quantize
from hwq.compress.ternary import integerize_ternary, quantize_ternary
from hwq.errors import HwqError
from hwq.ir import sparse as ir_sparse
from hwq.ir.values import (CodebookValues, Float32Values, Int8Values, PQValues, Pow2Values,
                           TernaryValues)
from hwq.ir.weight import Weight

VALUE_KINDS = ("float32", "int8", "codebook", "pow2", "ternary", "pq")


def _int_dtype(value_bits: int):
    if not isinstance(value_bits, (int, np.integer)) or not 2 <= value_bits <= 32:
        raise HwqError(f"value_bits {value_bits!r} not in [2, 32]")
    return np.int16 if value_bits <= 16 else np.int32


def _index_bits(bits, k: int, what: str) -> int:
    """Index width: ``bits`` if given (checked against K), else the fewest that hold K codes."""
    need = max(1, math.ceil(math.log2(k)))
    if bits is None:
        bits = need
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise HwqError(f"{what}: bits {bits!r} not in [1, 16]")
    if k > 1 << bits:
        raise HwqError(f"{what}: {k} codes do not fit {bits}-bit indices (max {1 << bits})")
    return int(bits)


def integerize_codebook(centroids, value_bits: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Signed ``value_bits``-bit integer codebook (any shape) and one float32 scale (1,).

    scale = max|c| / (2^(value_bits-1) - 1); entries round half away from zero.
    """
    dtype = _int_dtype(value_bits)
    c = as_finite(centroids, "centroids")
    lim = (1 << (value_bits - 1)) - 1
    scale = symmetric_scale([np.abs(c).max(initial=0.0)], lim)
    cb = np.clip(round_half_away(c / float(scale[0])), -lim, lim)
    return cb.astype(dtype), scale


def _codebook(w, keep, reserve_zero, centroids, labels, bits, value_bits):
    """Full-shape indices and CodebookValues factory; index 0 = value 0 when reserve_zero."""
    if centroids is None:
        raise HwqError("codebook encoding needs centroids (e.g. from hwq.compress.kmeans.kmeans_1d)")
    cent = as_finite(centroids, "centroids").ravel()
    if cent.size == 0:
        raise HwqError("codebook encoding: centroids are empty")
    if labels is None:  # nearest centroid, lowest index on ties
        lab = np.abs(w.reshape(-1, 1) - cent[None, :]).argmin(1).reshape(w.shape)
    else:
        labels = np.asarray(labels)
        if labels.shape == w.shape:
            lab = labels.astype(np.int64)
        elif labels.ndim == 1 and labels.size == int(keep.sum()):  # labels of w[mask]
            lab = np.zeros(w.shape, np.int64)
            lab[keep] = labels
        else:
            raise HwqError(f"codebook labels: shape {labels.shape} is neither the weight shape "
                           f"{w.shape} nor ({int(keep.sum())},) kept entries")
        bad = keep & ((lab < 0) | (lab >= cent.size))
        if bad.any():
            raise HwqError(f"codebook labels: value {int(lab[bad][0])} not in [0, {cent.size})")
    table = np.concatenate([[0.0], cent]) if reserve_zero else cent
    idx = np.where(keep, lab + 1, 0) if reserve_zero else lab
    what = "codebook (index 0 reserved for zero)" if reserve_zero else "codebook"
    bits = _index_bits(bits, table.size, what)
    cb, scale = integerize_codebook(table, value_bits)
    idx = idx.astype(np.uint8 if bits <= 8 else np.uint16)
    return idx, lambda c: CodebookValues(c, cb, scale, bits, int(value_bits))


def _pq(w, m, centroids, labels, bits, value_bits, seed) -> PQValues:
    if m is None and centroids is None:
        raise HwqError("pq encoding needs pq_m (the number of subspaces M)")
    if centroids is not None:  # a codebook learned (and maybe fine-tuned) elsewhere
        if labels is None:
            raise HwqError("pq encoding: centroids given without labels (assignments)")
        cbf = as_finite(centroids, "pq codebook")
        assign = np.asarray(labels).astype(np.int64)
        if cbf.ndim != 3:
            raise HwqError(f"pq codebook: must be (M, K, d), got shape {cbf.shape}")
    else:
        if bits is None:
            raise HwqError("pq encoding needs bits (K = 2^bits sub-codewords per subspace)")
        cbf, assign = product_quantize(w, m, 1 << int(bits), seed=seed)
    bits = _index_bits(bits, cbf.shape[1], "pq")
    cb, scale = integerize_codebook(cbf, value_bits)
    if assign.size and (assign.min() < 0 or assign.max() >= cbf.shape[1]):
        raise HwqError(f"pq assignments: values must lie in [0, {cbf.shape[1]})")
    return PQValues(assign.astype(np.uint8 if bits <= 8 else np.uint16), cb, scale, bits, int(value_bits))


def encode_weight(w, *, values: str, mask=None, sparse: str | None = None, index_bits: int = 4,
                  bits: int | None = None, value_bits: int = 16, per_channel: bool = False,
                  centroids=None, labels=None, e_min: int | None = None, pq_m: int | None = None,
                  delta_ratio: float = 0.7, seed: int = 0) -> Weight:
    """Quantize ``w`` ((O, I) or (O, C, KH, KW)) into an ``ir.Weight``.

    values       float32 | int8 | codebook | pow2 | ternary | pq
    mask         keep-mask shaped like w (False = pruned, decodes to 0); a sparse layout
                 without a mask keeps the non-zeros of w
    sparse       None (dense), "csr" or "csc", with ``index_bits``-bit relative indices
    bits         code width: pow2 (required), codebook indices (default: fewest that fit),
                 pq (K = 2^bits when learning here)
    value_bits   integer width of codebook / ternary magnitudes / pq codewords
    per_channel  int8 scale per output channel instead of per tensor
    centroids, labels  codebook: 1-D float centroids and optional labels (weight-shaped, or
                 one per kept entry in C-order; default nearest centroid). pq: a ready
                 (M, K, d) codebook and its assignments
    e_min        pow2: fix the grid (e_max = e_min + 2^(bits-1) - 2) instead of INQ's rule
    pq_m         pq: number of subspaces M (must divide I, or C for conv)
    delta_ratio  ternary threshold Delta = delta_ratio * mean|kept w|
    """
    w = as_finite(w)
    if w.ndim not in (2, 4) or min(w.shape) < 1:
        raise HwqError(f"weight shape {w.shape} is neither (O, I) nor (O, C, KH, KW) with positive sizes")
    if values not in VALUE_KINDS:
        raise HwqError(f"values {values!r} is not one of {', '.join(VALUE_KINDS)}")
    if sparse not in (None,) + ir_sparse.SPARSE_FORMATS:
        raise HwqError(f"sparse layout {sparse!r} is not one of csr, csc (or None for dense)")
    if mask is None:
        keep = w != 0 if sparse else np.ones(w.shape, bool)
    else:
        keep = np.asarray(mask)
        if keep.shape != w.shape:
            raise HwqError(f"mask shape {keep.shape} != weight shape {w.shape}")
        keep = keep.astype(bool)
    wm = np.where(keep, w, 0.0)  # not w * mask: that leaves -0.0 behind

    if values == "pq":
        if sparse is not None:
            raise HwqError("product quantization cannot be combined with a sparse layout")
        if not keep.all():
            raise HwqError("product quantization cannot keep pruned weights at zero; drop the mask")
        weight = Weight(tuple(w.shape), _pq(w, pq_m, centroids, labels, bits, value_bits, seed))
        weight.check("weight")
        return weight

    # element-wise codecs: full-shape codes (pruned -> the zero code), then a layout
    if values == "float32":
        codes, make = wm.astype(np.float32), Float32Values
    elif values == "int8":
        q, scale = quantize_int8(wm, per_channel)
        codes, make = q, (lambda c: Int8Values(c, scale))
    elif values == "pow2":
        if bits is None:
            raise HwqError("pow2 encoding needs bits")
        e_max = None if e_min is None else int(e_min) + pow2_span(bits)
        codes, emin = quantize_pow2(wm, bits, e_max)
        make = lambda c: Pow2Values(c, int(bits), emin)  # noqa: E731
    elif values == "ternary":
        codes, s_pos, s_neg = quantize_ternary(w, delta_ratio, mask=keep)
        mags, scale = integerize_ternary(s_pos, s_neg, value_bits)
        make = lambda c: TernaryValues(c, mags, scale)  # noqa: E731
    else:  # codebook
        reserve = sparse is not None or mask is not None
        codes, make = _codebook(wm, keep, reserve, centroids, labels, bits, value_bits)

    flat = codes.ravel()
    index = None
    if sparse is not None:
        index, src = ir_sparse.encode(keep.reshape(w.shape[0], -1), sparse, index_bits)
        flat = np.where(src >= 0, flat[np.maximum(src, 0)], np.zeros((), flat.dtype)).astype(flat.dtype)
    weight = Weight(tuple(int(s) for s in w.shape), make(np.ascontiguousarray(flat)), index)
    weight.check("weight")
    return weight
