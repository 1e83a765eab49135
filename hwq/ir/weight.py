"""A layer's weight: a value codec plus a layout (dense, or sparse CSR/CSC)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.errors import IRError
from hwq.ir.sparse import BLOCK_ENTRIES, SparseIndex
from hwq.ir.values import CodebookValues, Float32Values, PQValues, Values


_SUM_LIMB_BITS, _SUM_LIMBS = 21, 3  # |w_int| <= 2^62 < 2^63 = 3 limbs of 21 bits


@dataclass
class Weight:
    shape: tuple[int, ...]  # logical dense shape: (O, I) or (O, C, KH, KW)
    values: Values
    sparse: SparseIndex | None = None

    @property
    def channels(self) -> int:
        return int(self.shape[0])

    @property
    def matrix_shape(self) -> tuple[int, int]:
        return int(self.shape[0]), int(np.prod(self.shape[1:], dtype=np.int64))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def stored(self) -> int:
        """Stored entries: every element when dense, non-zeros + fillers when sparse."""
        return self.sparse.stored if self.sparse is not None else self.values.n_elements

    @property
    def is_integer(self) -> bool:
        return self.values.INTEGER

    def encoding_name(self) -> str:
        return self.values.TYPE if self.sparse is None else f"{self.sparse.format}+{self.values.TYPE}"

    def _scatter(self, flat_values: np.ndarray, dtype) -> np.ndarray:
        if self.sparse is None:
            return flat_values.astype(dtype).reshape(self.shape)
        out = np.zeros(self.matrix_shape, dtype=dtype)
        r, c = self.sparse.coordinates()
        out[r, c] = flat_values  # positions are unique: rel >= 0 always advances
        return out.reshape(self.shape)

    def dense_int(self) -> np.ndarray:
        """The integer weight ``w_int`` in the logical shape (int64)."""
        if not self.values.INTEGER:
            raise IRError("float32 weights have no integer form; quantize the model first")
        if isinstance(self.values, PQValues):
            return self.values.dense_int(self.shape)
        return self._scatter(self.values.int_values(), np.int64)

    def scale_vector(self) -> np.ndarray:
        """Per-output-channel scale (float64, shape (O,))."""
        return np.broadcast_to(self.values.channel_scale(), (self.channels,)).astype(np.float64)

    def dense_float(self) -> np.ndarray:
        """The real weight in the logical shape (float64): ``w_int * scale`` or the floats."""
        if isinstance(self.values, Float32Values):
            return self._scatter(self.values.float_values(), np.float64)
        w = self.dense_int().astype(np.float64)
        return w * self.scale_vector().reshape((-1,) + (1,) * (len(self.shape) - 1))

    def nnz(self) -> int:
        """Non-zero weights (fillers and explicit zeros excluded)."""
        if isinstance(self.values, Float32Values):
            return int(np.count_nonzero(self.values.data))
        return sum(int(np.count_nonzero(v)) for _, v in self.row_blocks())

    def row_blocks(self, max_entries: int = BLOCK_ENTRIES):
        """Yield ``(rows, values)``: the output channel and the integer weight (int64) of
        the stored entries, a bounded block at a time (dense: every element, C order).
        Sparse weights are never expanded to their dense shape."""
        if not self.values.INTEGER:
            raise IRError("float32 weights have no integer form; quantize the model first")
        o, i = self.matrix_shape
        if self.sparse is not None:
            codes = self.values.code_array()
            for lo, hi, major, minor in self.sparse.blocks(max_entries):
                yield (minor if self.sparse.format == "csc" else major), self.values.decode(codes[lo:hi])
            return
        if isinstance(self.values, PQValues):
            full = self.dense_int().reshape(o, i)
        step = max(1, max_entries // max(i, 1))
        for r0 in range(0, o, step):
            r1 = min(o, r0 + step)
            vals = full[r0:r1].reshape(-1) if isinstance(self.values, PQValues) else \
                self.values.decode(self.values.code_array()[r0 * i:r1 * i])
            yield np.repeat(np.arange(r0, r1, dtype=np.int64), i), vals

    def row_sums(self, blocks=None) -> tuple[np.ndarray, np.ndarray]:
        """Exact per-output-channel sums of the positive weights and of the magnitudes of
        the negative ones, as object arrays of Python ints (no int64 overflow: 7-bit pow2
        weights reach 2^62). Sums are taken in 21-bit limbs with float64 ``bincount``,
        exact because every limb sum stays below 2^53. ``blocks`` (default
        :meth:`row_blocks`) may pass ``(rows, values)`` pairs the caller already has."""
        o = self.channels
        acc = np.zeros((2, _SUM_LIMBS, o), np.int64)
        mask = (1 << _SUM_LIMB_BITS) - 1
        for rows, vals in (self.row_blocks() if blocks is None else blocks):
            rows = rows.astype(np.intp, copy=False)  # bincount is ~10x slower on int32 indices
            top = int(np.abs(vals).max(initial=0))
            limbs = max(1, -(-top.bit_length() // _SUM_LIMB_BITS))  # usually 1 (|w| < 2^21)
            for s, mag in enumerate((np.maximum(vals, 0), np.maximum(-vals, 0))):
                for k in range(limbs):
                    limb = mag if limbs == 1 else (mag >> (_SUM_LIMB_BITS * k)) & mask
                    acc[s, k] += np.bincount(rows, weights=limb.astype(np.float64), minlength=o).astype(np.int64)
        obj = acc.astype(object)
        pos, neg = (sum(obj[s, k] * (1 << (_SUM_LIMB_BITS * k)) for k in range(_SUM_LIMBS)) for s in (0, 1))
        return pos, neg

    def check(self, where: str) -> None:
        v = self.values
        if isinstance(v, PQValues) and self.sparse is not None:
            raise IRError(f"{where}: product quantization cannot be combined with a sparse layout")
        v.check(self.channels, f"{where}")
        if isinstance(v, PQValues):
            m, _, d = v.codebook.shape
            inputs = self.shape[1]
            if m * d != inputs:
                raise IRError(f"{where}.codebook: M*d = {m}*{d} != input size {inputs}")
            want = (self.shape[0], m) if len(self.shape) == 2 else \
                (self.shape[0], self.shape[2], self.shape[3], m)
            if v.assignments.shape != want:
                raise IRError(f"{where}.assignments: shape {v.assignments.shape} != {want}")
            return
        if self.sparse is None:
            if v.n_elements != self.size:
                raise IRError(f"{where}: {v.n_elements} stored values != {self.size} "
                              f"elements of shape {tuple(self.shape)}")
            return
        self.sparse.check(self.matrix_shape, f"{where}")
        if v.n_elements != self.sparse.stored:
            raise IRError(f"{where}: {v.n_elements} stored values != {self.sparse.stored} sparse entries")
        if isinstance(v, CodebookValues) and int(v.codebook[0]) != 0:
            raise IRError(f"{where}.codebook: a sparse codebook must hold 0 at index 0, holds "
                          f"{int(v.codebook[0])} (docs/semantics.md, sparse layouts)")
