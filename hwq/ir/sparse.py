"""Compressed sparse rows/columns with b-bit relative indices and filler zeros.

The matrix view of a weight is (rows = output channels, cols = inputs x kernel taps).
CSC groups the stored entries by column (EIE), CSR by row (Deep Compression's figure).
Each stored entry carries ``rel`` = the number of zeros skipped since the previous stored
entry of the same column (row) -- EIE's ``z``. When a gap exceeds 2**index_bits - 1 an
explicit *filler* entry whose value decodes to exactly zero is stored at the furthest
reachable position. ``ptr[j]..ptr[j+1]`` delimits column (row) j's stored entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.errors import IRError

SPARSE_FORMATS = ("csr", "csc")
MAX_INDEX_BITS = 16
BLOCK_ENTRIES = 1 << 19  # stored entries handled at once by blocks()


@dataclass
class SparseIndex:
    format: str  # "csr" or "csc"
    index_bits: int
    pointer_bits: int
    ptr: np.ndarray  # int32, n_major + 1
    rel: np.ndarray  # uint8/uint16, one per stored entry

    @property
    def stored(self) -> int:
        return int(self.rel.shape[0])

    def check(self, matrix_shape: tuple[int, int], where: str) -> None:
        if self.format not in SPARSE_FORMATS:
            raise IRError(f"{where}.format: {self.format!r} is not one of csr, csc")
        if type(self.index_bits) is not int or not 1 <= self.index_bits <= MAX_INDEX_BITS:
            raise IRError(f"{where}.index_bits: {self.index_bits!r} not in [1, {MAX_INDEX_BITS}]")
        if type(self.pointer_bits) is not int or not 1 <= self.pointer_bits <= 32:
            raise IRError(f"{where}.pointer_bits: {self.pointer_bits!r} not in [1, 32]")
        n_major, n_minor = _major_minor(self.format, matrix_shape)
        p, rel = self.ptr, self.rel
        if p.shape != (n_major + 1,):
            raise IRError(f"{where}.ptr: shape {p.shape} != ({n_major + 1},)")
        if p[0] != 0 or p[-1] != rel.shape[0]:
            raise IRError(f"{where}.ptr: must start at 0 and end at the stored count {rel.shape[0]}")
        if (np.diff(p) < 0).any():
            raise IRError(f"{where}.ptr: must be non-decreasing")
        if int(p[-1]) >= (1 << self.pointer_bits):
            raise IRError(f"{where}.ptr: value {int(p[-1])} does not fit pointer_bits {self.pointer_bits}")
        limit = 1 << self.index_bits
        if rel.size and int(rel.max()) >= limit:
            raise IRError(f"{where}.rel: value {int(rel.max())} >= 2^index_bits = {limit}")
        # the last entry of major j sits at (entries of j) + (zeros they skip) - 1; summing
        # per major (reduceat) avoids materializing every position (memory: ~1 B per entry)
        counts = np.diff(p).astype(np.int64)
        nonempty = np.flatnonzero(counts)
        if nonempty.size:
            skipped = np.add.reduceat(rel, p[:-1][nonempty], dtype=np.int64)
            ends = counts[nonempty] + skipped
            if int(ends.max()) > n_minor:
                j = int(nonempty[int(np.argmax(ends > n_minor))])
                raise IRError(f"{where}.rel: {'column' if self.format == 'csc' else 'row'} {j} "
                              f"runs past the matrix edge ({n_minor})")

    def blocks(self, max_entries: int = BLOCK_ENTRIES):
        """Yield ``(lo, hi, major, minor)`` for consecutive runs of whole rows (CSR) or
        columns (CSC): stored entries ``lo:hi`` and, per entry, its major index and its
        position inside that row/column (int64). A run holds at most ``max_entries``
        entries unless a single row/column is longer; memory stays ~40 B per run entry.
        """
        ptr = self.ptr.astype(np.int64)
        n_major = ptr.shape[0] - 1
        j = 0
        while j < n_major:
            lo = int(ptr[j])
            j2 = int(np.searchsorted(ptr, lo + max_entries, side="right")) - 1
            j2 = min(max(j2, j + 1), n_major)
            hi = int(ptr[j2])
            counts = np.diff(ptr[j:j2 + 1])
            major = np.repeat(np.arange(j, j2, dtype=np.int64), counts)
            prefix = np.zeros(hi - lo + 1, np.int64)
            np.cumsum(self.rel[lo:hi].astype(np.int64) + 1, out=prefix[1:])
            minor = prefix[1:] - np.repeat(prefix[ptr[j:j2] - lo], counts) - 1
            yield lo, hi, major, minor
            j = j2

    def minor_indices(self) -> np.ndarray:
        """Position of every stored entry inside its row/column (int32): scipy's ``indices``."""
        out = np.empty(self.stored, np.int32)
        for lo, hi, _, minor in self.blocks():
            out[lo:hi] = minor
        return out

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of every stored entry, in storage order."""
        parts = list(self.blocks())
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        major = np.concatenate([p[2] for p in parts])
        minor = np.concatenate([p[3] for p in parts])
        return (minor, major) if self.format == "csc" else (major, minor)


def _major_minor(fmt: str, shape: tuple[int, int]) -> tuple[int, int]:
    rows, cols = shape
    return (cols, rows) if fmt == "csc" else (rows, cols)


def encode(mask: np.ndarray, fmt: str, index_bits: int) -> tuple[SparseIndex, np.ndarray]:
    """Pack the non-zero pattern ``mask`` (2-D bool) into a sparse index.

    Returns the index and, for every stored entry, the flat (row-major) position in the
    matrix it stands for, or -1 for a filler entry (whose value must be zero).
    """
    if fmt not in SPARSE_FORMATS:
        raise IRError(f"sparse format {fmt!r} is not one of csr, csc")
    if not 1 <= index_bits <= MAX_INDEX_BITS:
        raise IRError(f"index_bits {index_bits} not in [1, {MAX_INDEX_BITS}]")
    mask = np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    view = mask.T if fmt == "csc" else mask  # view[major, minor]
    step = 1 << index_bits  # a filler covers 2^b - 1 zeros plus its own position
    major, minor = np.nonzero(view)  # non-zeros, ordered by major then minor
    first = np.ones(major.shape, bool)
    first[1:] = major[1:] != major[:-1]
    prev = np.where(first, -1, np.roll(minor, 1))
    gaps = minor - prev - 1  # zeros before each non-zero
    nfill = gaps // step
    counts = nfill + 1  # fillers, then the entry itself
    last = np.cumsum(counts) - 1
    total = int(counts.sum())
    rel_all = np.full(total, step - 1, dtype=np.int64)
    rel_all[last] = gaps - nfill * step
    src_all = np.full(total, -1, dtype=np.int64)
    src_all[last] = (minor * cols + major) if fmt == "csc" else (major * cols + minor)
    per_major = np.bincount(major, weights=counts, minlength=view.shape[0]).astype(np.int64)
    ptr = np.concatenate([[0], np.cumsum(per_major)])
    stored = int(ptr[-1])
    pointer_bits = max(1, int(stored).bit_length())
    rel_dtype = np.uint8 if index_bits <= 8 else np.uint16
    idx = SparseIndex(fmt, index_bits, pointer_bits, np.array(ptr, dtype=np.int32),
                      rel_all.astype(rel_dtype))
    return idx, src_all
