"""One IR dense layer onto the PEs: per-PE CSC with PE-local relative indices (docs/eie.md).

Row i of the weight matrix (O, I) goes to PE ``i mod n_pe`` as local row ``i div n_pe``.
Each PE stores, per column, its non-zero weights in increasing local row with ``z`` = local
zeros skipped since the previous entry; gaps longer than ``2^index_bits - 1`` get fillers
(value 0), recomputed for the accelerator's index width. Nothing is densified when the IR
weight is sparse: the cycle model counts entries from these pointers alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.errors import HwqError
from hwq.eie.config import EieConfig
from hwq.eie.row_map import row_perm
from hwq.ir.values import CodebookValues, Pow2Values
from hwq.ir.weight import Weight


def _nonzero_mask(values) -> np.ndarray:
    """Stored entries whose w_int is not 0, without decoding every value when a lookup will do."""
    codes = values.code_array()
    if codes.dtype in (np.uint8, np.int8) and not isinstance(values, CodebookValues):
        lut_in = np.arange(-128, 128) if codes.dtype == np.int8 else np.arange(256)
        if isinstance(values, Pow2Values):
            lut_in = lut_in[lut_in < (1 << values.bits)]
        probe = type(values)(**{**values.__dict__, values.code_tensor: lut_in.astype(codes.dtype)})
        lut = np.zeros(256, bool)
        lut[(lut_in.astype(np.int64) + (128 if codes.dtype == np.int8 else 0))] = probe.int_values() != 0
        return lut[codes.view(np.uint8) ^ (np.uint8(128) if codes.dtype == np.int8 else np.uint8(0))]
    if isinstance(values, CodebookValues):
        return (values.codebook != 0)[codes]
    return values.int_values() != 0


def _nonzeros(weight: Weight, with_values: bool = True):
    """(row, col, w_int or None) of every non-zero weight, ordered by column then row."""
    if weight.sparse is None:
        w = weight.dense_int().reshape(weight.matrix_shape)
        cols, rows = np.nonzero(w.T)
        return rows, cols, w[rows, cols]
    sp = weight.sparse
    o, i = weight.matrix_shape
    idt = np.int32 if o * i < (1 << 31) else np.int64
    counts = np.diff(sp.ptr.astype(np.int64))
    keep = _nonzero_mask(weight.values)
    # position inside the major line: running sum of (rel + 1), restarted at every line
    csum = np.cumsum(sp.rel, dtype=idt)
    csum += np.arange(1, csum.shape[0] + 1, dtype=idt)
    start = sp.ptr[:-1].astype(np.int64)
    base = (np.where(start > 0, csum[np.maximum(start - 1, 0)], 0) if csum.size
            else np.zeros(start.shape, np.int64)).astype(idt)
    minor = (csum - np.repeat(base, counts) - 1)[keep]
    del csum
    major = np.repeat(np.arange(counts.shape[0], dtype=idt), counts)[keep]
    vals = weight.values.int_values()[keep] if with_values else None
    if sp.format == "csc":
        return minor, major, vals
    order = np.lexsort((major, minor))  # CSR: re-sort by column, then row
    return major[order], minor[order], (vals[order] if with_values else None)


@dataclass
class PeOrder:
    """Non-zero weights sorted by (PE, column, local row), with the filler count before each."""

    n_pe: int
    in_features: int
    out_features: int
    pe: np.ndarray     # int, per non-zero
    col: np.ndarray
    local: np.ndarray  # local row
    w: np.ndarray      # w_int
    gap: np.ndarray    # local zeros since the previous entry of the same (PE, column)
    nfill: np.ndarray  # fillers before this entry
    index_bits: int
    row_perm: np.ndarray | None = None  # logical row -> physical index (hwq.eie.row_map); None: identity

    def counts(self) -> np.ndarray:
        """(n_pe, in_features) stored entries (fillers included) per PE and column."""
        key = self.pe.astype(np.int64) * self.in_features + self.col
        size = self.n_pe * self.in_features
        n = np.bincount(key, minlength=size)
        if self.nfill.any():
            n = n + np.bincount(key, weights=self.nfill, minlength=size).astype(np.int64)
        return n.astype(np.int32).reshape(self.n_pe, self.in_features)

    def nnz_per_column(self) -> np.ndarray:
        return np.bincount(self.col, minlength=self.in_features).astype(np.int64)


def pe_order(weight: Weight, cfg: EieConfig, with_values: bool = True,
             col_perm: np.ndarray | None = None) -> PeOrder:
    """The layer's non-zeros in PE order. Rows go where ``cfg.row_map`` puts them; ``col_perm``
    (the previous layer's row permutation) gives each column's physical input index."""
    out_f, in_f = weight.matrix_shape
    rows, cols, w = _nonzeros(weight, with_values)
    n = cfg.n_pe
    perm = row_perm(cfg.row_map, np.bincount(rows, minlength=out_f), n)
    if perm is not None or col_perm is not None:
        if perm is not None:
            rows = perm[rows]
        if col_perm is not None:
            cols = np.asarray(col_perm)[cols]
        order = np.lexsort((rows, cols))  # by physical column, then physical row
        rows, cols = rows[order], cols[order]
        if w is not None:
            w = w[order]
    if n & (n - 1) == 0:
        pe, local = rows & (n - 1), rows >> (n.bit_length() - 1)
    else:
        pe, local = rows % n, rows // n
    order = np.argsort(pe.astype(np.uint8 if n <= 256 else np.uint16), kind="stable")  # radix sort
    pe, cols, local = pe[order], cols[order], local[order]
    if w is not None:
        w = w[order]
    del order
    first = np.ones(pe.shape, bool)
    first[1:] = (pe[1:] != pe[:-1]) | (cols[1:] != cols[:-1])
    gap = np.empty_like(local)
    gap[:1] = local[:1]
    gap[1:] = local[1:] - local[:-1] - 1
    gap[first] = local[first]
    nfill = gap >> cfg.index_bits
    return PeOrder(n, in_f, out_f, pe, cols, local, w, gap, nfill, cfg.index_bits, perm)


@dataclass
class PeImage:
    """One PE's part of one layer: column pointers (relative), z and w_int per entry."""

    ptr: np.ndarray  # (in_features + 1,) int64, relative to the layer's first entry
    z: np.ndarray    # per stored entry
    w: np.ndarray    # per stored entry, 0 for fillers


def pe_images(order: PeOrder) -> list[PeImage]:
    """Expand fillers: every PE's CSC of this layer."""
    step = 1 << order.index_bits
    reps = order.nfill + 1
    z_all = np.full(int(reps.sum()), step - 1, dtype=np.int64)
    w_all = np.zeros(z_all.shape, dtype=np.int64)
    last = np.cumsum(reps) - 1
    z_all[last] = order.gap - order.nfill * step
    w_all[last] = order.w
    pe_all = np.repeat(order.pe.astype(np.int64), reps)
    counts = order.counts()
    images = []
    bounds = np.searchsorted(pe_all, np.arange(order.n_pe + 1))
    for p in range(order.n_pe):
        lo, hi = bounds[p], bounds[p + 1]
        ptr = np.concatenate([[0], np.cumsum(counts[p], dtype=np.int64)])
        images.append(PeImage(ptr, z_all[lo:hi], w_all[lo:hi]))
    return images


def decode_images(images: list[PeImage], out_features: int, n_pe: int) -> np.ndarray:
    """The dense (O, I) matrix the PE images stand for (tests: must equal the IR's)."""
    in_f = images[0].ptr.shape[0] - 1
    out = np.zeros((out_features, in_f), dtype=np.int64)
    for p, im in enumerate(images):
        for j in range(in_f):
            pos = -1
            for e in range(int(im.ptr[j]), int(im.ptr[j + 1])):
                pos += int(im.z[e]) + 1
                if im.w[e]:
                    out[p + pos * n_pe, j] = im.w[e]
    return out


# weight codes ------------------------------------------------------------------------
def pow2_codes(w: np.ndarray, cfg: EieConfig, where: str) -> np.ndarray:
    """w_int -> sign/shift code: 0 for 0, else (s << (wb-1)) | (log2|w| + 1)."""
    wb = cfg.weight_bits
    mag = np.abs(w)
    nz = mag != 0
    shift = np.zeros(w.shape, np.int64)
    if nz.any():
        lg = np.frexp(mag[nz].astype(np.float64))[1] - 1
        if not np.array_equal(np.left_shift(np.int64(1), lg.astype(np.int64)), mag[nz]):
            raise HwqError(f"{where}: weights are not all powers of two (pow2 mode); use weight_mode=codebook")
        shift[nz] = lg
    top = (1 << (wb - 1)) - 2
    if nz.any() and int(shift[nz].max()) > top:
        raise HwqError(f"{where}: weight 2^{int(shift[nz].max())} needs a shift above {top} "
                       f"(weight_bits = {wb})")
    return np.where(nz, ((w < 0).astype(np.int64) << (wb - 1)) | (shift + 1), 0)


def codebook_table(w: np.ndarray, cfg: EieConfig, where: str) -> np.ndarray:
    """The layer's table: [0] + sorted distinct non-zero w_int."""
    table = np.concatenate([[0], np.unique(w[w != 0])]).astype(np.int64)
    if table.shape[0] > cfg.codebook_size:
        raise HwqError(f"{where}: {table.shape[0]} distinct weight values (zero included) exceed the "
                       f"codebook of 2^weight_bits = {cfg.codebook_size}")
    lim = (1 << (cfg.value_bits - 1)) - 1
    if np.abs(table).max() > lim:
        raise HwqError(f"{where}: weight {int(table[np.argmax(np.abs(table))])} does not fit "
                       f"value_bits = {cfg.value_bits}")
    return table


def codebook_codes(w: np.ndarray, table: np.ndarray) -> np.ndarray:
    if table.shape[0] == 1:
        return np.zeros(w.shape, np.int64)
    return np.where(w == 0, 0, np.searchsorted(table[1:], w) + 1)


def ternary_table(w: np.ndarray, cfg: EieConfig, where: str) -> np.ndarray:
    """The layer's magnitudes [0, pos, neg]: w_int in {+pos, 0, -neg} (ternary mode)."""
    table = [0]
    for sign, name in ((1, "positive"), (-1, "negative")):
        vals = np.unique(w[sign * w > 0])
        if vals.shape[0] > 1:
            raise HwqError(f"{where}: {vals.shape[0]} distinct {name} weight values; ternary mode takes one "
                           f"positive and one negative value per layer (use weight_mode=codebook)")
        mag = int(abs(vals[0])) if vals.shape[0] else 0
        if mag >= 1 << cfg.value_bits:
            raise HwqError(f"{where}: ternary magnitude {mag} does not fit value_bits = {cfg.value_bits}")
        table.append(mag)
    return np.array(table, np.int64)


def ternary_codes(w: np.ndarray) -> np.ndarray:
    """w_int -> 2-bit code: 0 zero (and fillers), 1 +pos, 2 -neg."""
    return np.where(w > 0, 1, np.where(w < 0, 2, 0)).astype(np.int64)
