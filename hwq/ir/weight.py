"""A layer's weight: a value codec plus a layout (dense, or sparse CSR/CSC)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.errors import IRError
from hwq.ir.sparse import SparseIndex
from hwq.ir.values import CodebookValues, Float32Values, PQValues, Values


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
        if isinstance(self.values, PQValues):
            return int(np.count_nonzero(self.dense_int()))
        if isinstance(self.values, Float32Values):
            return int(np.count_nonzero(self.values.data))
        return int(np.count_nonzero(self.values.int_values()))

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
