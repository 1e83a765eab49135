"""Exact integer products ``acc = bias + d @ W.T`` without Python-object arithmetic.

docs/semantics.md asks for the *exact* sum (bias included) of products that may reach
2^78 (7-bit pow2 weights), then a range check against ``acc_bits``. Here:

* the weight is split into K signed limbs, ``W = sum_k W_k 2^(b k)`` with
  ``|W_k| < 2^b``, b chosen so that every partial sum of ``d @ W_k.T`` stays below 2^53:
  each limb product is then exact in float64 (BLAS for dense weights, scipy's CSR/CSC
  product for sparse ones, which never densifies). Most models need one limb (K = 1);
* the limb results ``A_k`` (exact int64) are carried into base 2^b, giving
  ``acc = T * 2^m + L`` with ``0 <= L < 2^m`` and ``m = b (K - 1) <= 61``; ``acc`` is a
  representable int64 exactly when ``|T| < 2^(62 - m)``, and is then computed in int64.
  Otherwise ``|acc| >= 2^61`` overflows every accumulator (acc_bits <= 32), and its exact
  value (for the error message) is ``int(T) << m + int(L)`` of that one element.

A :class:`PreparedWeight` is built once per layer and run; the bound that picks K uses the
exact per-row weight sums (``Weight.row_sums``) and the widest input the layer can see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from hwq.ir.weight import Weight

EXACT_FLOAT_BITS = 53  # float64 holds every integer below 2^53 exactly
DENSE_LIMIT = 1 << 22  # sparse weights with at most this many dense elements run dense
MAX_TOP_SHIFT = 61


@dataclass
class ExactSum:
    """``acc = top * 2^shift + low`` elementwise (int64 arrays, ``0 <= low < 2^shift``)."""

    top: np.ndarray
    low: np.ndarray | int
    shift: int

    def representable(self) -> np.ndarray:
        """Where ``acc`` fits int64 (``|acc| < 2^62 + 2^shift``); elsewhere ``|acc| >= 2^61``."""
        lim = 1 << (62 - self.shift)
        return (self.top > -lim) & (self.top < lim)

    def values(self, ok: np.ndarray) -> np.ndarray:
        """int64 ``acc`` where ``ok`` (see :meth:`representable`), 0 elsewhere."""
        t = np.where(ok, self.top, 0)
        return (t << self.shift) + np.where(ok, self.low, 0) if self.shift else t

    def exact(self, index) -> int:
        low = self.low if isinstance(self.low, int) else int(self.low[index])
        return (int(self.top[index]) << self.shift) + low


def _slices(rows: np.ndarray, vals: np.ndarray, step: int = 1 << 19):
    """(rows, values) in bounded slices: the row sums' temporaries stay small."""
    for lo in range(0, vals.shape[0], step):
        yield rows[lo:lo + step], vals[lo:lo + step]


class PreparedWeight:
    """A layer's integer weight matrix ``(O, I)`` ready for exact products with inputs
    whose magnitudes stay below ``d_limit`` (``max |x - zx| + 1``)."""

    def __init__(self, weight: Weight, d_limit: int, dense_limit: int | None = None):
        o, i = weight.matrix_shape
        self.shape = (o, i)
        limit = DENSE_LIMIT if dense_limit is None else dense_limit
        self.sparse = weight.sparse is not None and weight.size > limit
        if self.sparse:
            sp = weight.sparse
            self._fmt = sp.format
            self._ptr, self._idx = sp.ptr, sp.minor_indices()
            vals = weight.values.int_values()
            rows = self._idx if sp.format == "csc" else np.repeat(np.arange(o, dtype=np.int32), np.diff(sp.ptr))
        else:
            vals = weight.dense_int().reshape(o, i)
            rows = np.repeat(np.arange(o, dtype=np.int32), i)
        self._vals = vals
        wmax = int(np.abs(vals).max(initial=0))
        if (d_limit - 1) * wmax * i < 1 << EXACT_FLOAT_BITS:
            row_max = wmax * i  # a cheap bound suffices (int8, codebook...): no row-sum pass
        else:  # exact row sums, from the positions and values already at hand
            pos, neg = weight.row_sums(_slices(rows, vals.reshape(-1)))
            row_max = max((int(p) + int(n) for p, n in zip(pos, neg)), default=0)
        del rows
        if (d_limit - 1) * row_max < 1 << EXACT_FLOAT_BITS:
            self.limb_bits, self.limbs = None, 1  # one float64 product is exact
        else:
            # |d| < 2^bd and at most i terms: partial sums < 2^(bd + bits(i) + b) <= 2^52
            b = EXACT_FLOAT_BITS - 1 - (d_limit - 1).bit_length() - i.bit_length()
            b = max(1, b)
            k = -(-wmax.bit_length() // b)
            while b * (k - 1) > MAX_TOP_SHIFT:  # keep the top limb's shift <= 61
                b -= 1
                k = -(-wmax.bit_length() // b)
            self.limb_bits, self.limbs = b, k
        self._float = self._matrix(vals.astype(np.float64)) if self.limbs == 1 else None

    def _matrix(self, data: np.ndarray):
        if not self.sparse:
            return data
        cls = scipy.sparse.csc_matrix if self._fmt == "csc" else scipy.sparse.csr_matrix
        return cls((data, self._idx, self._ptr), shape=self.shape)

    def _limb(self, k: int):
        b = self.limb_bits
        mag = np.abs(self._vals)
        part = ((mag >> (b * k)) & ((1 << b) - 1)) * np.sign(self._vals)
        return self._matrix(part.astype(np.float64))

    def _product(self, df: np.ndarray, mat) -> np.ndarray:
        if self.sparse:
            out = np.asarray(mat @ df.T).T
        else:
            out = df @ mat.T
        return np.rint(out).astype(np.int64)

    def matmul(self, d: np.ndarray, bias: np.ndarray | None = None) -> ExactSum:
        """Exact ``bias + d @ W.T`` for ``d`` (M, I) int64 with ``|d| < d_limit``."""
        df = np.ascontiguousarray(d, dtype=np.float64)
        if self.limbs == 1:
            acc = self._product(df, self._float)
            return ExactSum(acc if bias is None else acc + bias, 0, 0)
        b, mask = self.limb_bits, (1 << self.limb_bits) - 1
        low = np.zeros((d.shape[0], self.shape[0]), np.int64)
        carry = np.zeros_like(low) if bias is None else np.broadcast_to(bias, low.shape).astype(np.int64)
        for k in range(self.limbs):
            a = self._product(df, self._limb(k)) + carry  # |a| < 2^53 + small carries
            if k == self.limbs - 1:
                return ExactSum(a, low, b * k)
            low += (a & mask) << (b * k)
            carry = a >> b
        raise AssertionError("unreachable")  # pragma: no cover
