"""Value codecs: how each stored weight value is represented.

Every codec except ``float32`` is an *exact integer* representation: it decodes to an
integer weight ``w_int`` and a per-tensor or per-output-channel ``scale`` so that the real
weight is ``w_int * scale``. The golden model computes with ``w_int`` only; how the
integer is stored (a codebook index, a sign+shift code, a ternary code...) changes the
kernel, never the arithmetic. docs/semantics.md gives the bit layouts.

Element-wise codecs hold one code per stored element (dense: C-order over the logical
weight shape; sparse: storage order). Product quantization is not element-wise: it holds
one assignment per sub-vector and only exists with a dense layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from hwq.errors import IRError


def _scale_ok(scale: np.ndarray, channels: int, where: str) -> None:
    if scale.ndim != 1 or scale.shape[0] not in (1, channels):
        raise IRError(f"{where}.scale: shape {scale.shape} is neither (1,) nor ({channels},)")
    if not np.isfinite(scale).all() or (scale <= 0).any():
        raise IRError(f"{where}.scale: values must be finite and positive")


def _bits_ok(bits: object, lo: int, hi: int, where: str) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not lo <= bits <= hi:
        raise IRError(f"{where}: {bits!r} not in [{lo}, {hi}]")
    return bits


def _max_code(arr: np.ndarray) -> int:
    return int(arr.max()) if arr.size else 0


@dataclass
class Values:
    """Base class. Subclasses list their tensors and integer attributes."""

    TYPE: ClassVar[str] = ""
    TENSORS: ClassVar[dict[str, tuple[str, ...]]] = {}  # name -> allowed dtypes
    ATTRS: ClassVar[tuple[str, ...]] = ()
    ELEMENTWISE: ClassVar[bool] = True
    INTEGER: ClassVar[bool] = True

    @property
    def n_elements(self) -> int:
        return int(getattr(self, self.code_tensor).shape[0])

    code_tensor: ClassVar[str] = ""

    def code_array(self) -> np.ndarray:
        """The stored per-element (or per-sub-vector) codes, for entropy (Huffman) sizing."""
        return getattr(self, self.code_tensor)

    def int_values(self) -> np.ndarray:
        """Integer value of every element (int64, 1-D)."""
        return self.decode(self.code_array())

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Integer values (int64) of some of this codec's stored codes, e.g. a slice."""
        raise NotImplementedError

    def channel_scale(self) -> np.ndarray:
        """Scale, shape (1,) or (channels,), float64."""
        return np.asarray(self.scale, dtype=np.float64)  # type: ignore[attr-defined]

    def payload_bits(self) -> int:
        """Bits of one stored code."""
        raise NotImplementedError

    def table_bits(self) -> int:
        """Bits of shared tables (codebooks, scales, magnitudes)."""
        return 32 * int(self.scale.shape[0])  # type: ignore[attr-defined]

    def check(self, channels: int, where: str) -> None:
        raise NotImplementedError

    # manifest round trip --------------------------------------------------
    def attrs(self) -> dict:
        return {a: getattr(self, a) for a in self.ATTRS}

    def tensors(self) -> dict[str, np.ndarray]:
        return {t: getattr(self, t) for t in self.TENSORS}

    @classmethod
    def build(cls, attrs: dict, tensors: dict[str, np.ndarray]) -> "Values":
        names = [f.name for f in fields(cls)]
        return cls(**{n: (tensors[n] if n in cls.TENSORS else attrs[n]) for n in names})


@dataclass
class Float32Values(Values):
    """Unquantized float32 weights (no integer form: the integer run rejects them)."""

    data: np.ndarray
    TYPE: ClassVar[str] = "float32"
    TENSORS: ClassVar[dict] = {"data": ("float32",)}
    INTEGER: ClassVar[bool] = False
    code_tensor: ClassVar[str] = "data"

    def float_values(self) -> np.ndarray:
        return self.data.astype(np.float64)

    def channel_scale(self) -> np.ndarray:
        return np.ones(1)

    def payload_bits(self) -> int:
        return 32

    def table_bits(self) -> int:
        return 0

    def check(self, channels: int, where: str) -> None:
        if not np.isfinite(self.data).all():
            k = int(np.flatnonzero(~np.isfinite(self.data))[0])
            raise IRError(f"{where}.data: element {k} is {self.data[k]} (weights must be finite)")


@dataclass
class Int8Values(Values):
    """Symmetric int8: w = q * scale, q in [-127, 127], per-tensor or per-channel scale."""

    q: np.ndarray
    scale: np.ndarray
    TYPE: ClassVar[str] = "int8"
    TENSORS: ClassVar[dict] = {"q": ("int8",), "scale": ("float32",)}
    code_tensor: ClassVar[str] = "q"

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return codes.astype(np.int64)

    def payload_bits(self) -> int:
        return 8

    def check(self, channels: int, where: str) -> None:
        _scale_ok(self.scale, channels, where)
        if self.q.size and int(self.q.min()) == -128:
            raise IRError(f"{where}.q: value -128 outside the symmetric range [-127, 127]")


@dataclass
class CodebookValues(Values):
    """Weight sharing: ``bits``-bit indices into K <= 2**bits shared integer values.

    w = codebook[index] * scale; codebook entries are ``value_bits``-bit signed integers
    (EIE: 4-bit indices, 16-bit codebook values).
    """

    indices: np.ndarray
    codebook: np.ndarray
    scale: np.ndarray
    bits: int
    value_bits: int
    TYPE: ClassVar[str] = "codebook"
    TENSORS: ClassVar[dict] = {"indices": ("uint8", "uint16"), "codebook": ("int16", "int32"),
                               "scale": ("float32",)}
    ATTRS: ClassVar[tuple] = ("bits", "value_bits")
    code_tensor: ClassVar[str] = "indices"

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self.codebook.astype(np.int64)[codes]

    def payload_bits(self) -> int:
        return self.bits

    def table_bits(self) -> int:
        return self.codebook.shape[0] * self.value_bits + 32

    def check(self, channels: int, where: str) -> None:
        _bits_ok(self.bits, 1, 16, f"{where}.bits")
        _bits_ok(self.value_bits, 2, 32, f"{where}.value_bits")
        k = self.codebook.shape[0]
        if self.codebook.ndim != 1 or not 1 <= k <= (1 << self.bits):
            raise IRError(f"{where}.codebook: size {k} not in [1, 2^bits = {1 << self.bits}]")
        lim = (1 << (self.value_bits - 1)) - 1
        if k and int(np.abs(self.codebook.astype(np.int64)).max()) > lim:
            raise IRError(f"{where}.codebook: a value exceeds value_bits {self.value_bits} (|v| <= {lim})")
        if self.scale.shape != (1,):
            raise IRError(f"{where}.scale: a codebook has one scale, shape (1,), not {self.scale.shape}")
        _scale_ok(self.scale, channels, where)
        top = _max_code(self.indices)
        if top >= k:
            raise IRError(f"{where}.indices: value {top} >= codebook size {k}")


@dataclass
class Pow2Values(Values):
    """Power-of-two weights: a ``bits``-bit code per weight, sign + exponent, plus zero.

    code 0 is the exact zero; otherwise the top bit is the sign (1 = negative) and the low
    ``bits``-1 bits hold k >= 1, w_int = +-2**(k-1). The real weight is w_int * 2**e_min,
    so the multiply is a left shift by k-1 and the scale is a pure power of two.
    """

    codes: np.ndarray
    bits: int
    e_min: int
    TYPE: ClassVar[str] = "pow2"
    TENSORS: ClassVar[dict] = {"codes": ("uint8",)}
    ATTRS: ClassVar[tuple] = ("bits", "e_min")
    code_tensor: ClassVar[str] = "codes"

    @property
    def scale(self) -> np.ndarray:
        return np.array([math.ldexp(1.0, self.e_min)], dtype=np.float64)

    @property
    def max_shift(self) -> int:
        return (1 << (self.bits - 1)) - 2

    def decode(self, codes: np.ndarray) -> np.ndarray:
        c = codes.astype(np.int64)
        k = c & ((1 << (self.bits - 1)) - 1)
        mag = np.where(k > 0, np.left_shift(1, np.maximum(k - 1, 0)), 0)
        return np.where((c >> (self.bits - 1)) & 1, -mag, mag)

    def payload_bits(self) -> int:
        return self.bits

    def table_bits(self) -> int:
        return 8  # e_min

    def check(self, channels: int, where: str) -> None:
        # 7 bits already allow shifts up to 62; wider codes would overflow 64-bit hosts
        _bits_ok(self.bits, 2, 7, f"{where}.bits")
        _bits_ok(self.e_min, -64, 63, f"{where}.e_min")
        top = _max_code(self.codes)
        if top >= (1 << self.bits):
            raise IRError(f"{where}.codes: value {top} >= 2^bits = {1 << self.bits}")
        neg_zero = self.codes == (1 << (self.bits - 1))
        if neg_zero.any():
            raise IRError(f"{where}.codes: element {int(np.flatnonzero(neg_zero)[0])} is the "
                          f"unused code {1 << (self.bits - 1)} (sign set, k = 0)")


@dataclass
class TernaryValues(Values):
    """Ternary {-s_n, 0, +s_p}: codes in {-1, 0, 1}; w_int = +pos (1), -neg (-1), 0.

    ``magnitudes`` = [pos, neg] as integers; s_p = pos * scale, s_n = neg * scale.
    """

    codes: np.ndarray
    magnitudes: np.ndarray
    scale: np.ndarray
    TYPE: ClassVar[str] = "ternary"
    TENSORS: ClassVar[dict] = {"codes": ("int8",), "magnitudes": ("int16", "int32"),
                               "scale": ("float32",)}
    code_tensor: ClassVar[str] = "codes"

    def decode(self, codes: np.ndarray) -> np.ndarray:
        pos, neg = (int(v) for v in self.magnitudes)
        c = codes.astype(np.int64)
        return np.where(c > 0, pos, np.where(c < 0, -neg, 0))

    def payload_bits(self) -> int:
        return 2

    def table_bits(self) -> int:
        return 2 * 16 + 32

    def check(self, channels: int, where: str) -> None:
        if self.magnitudes.shape != (2,) or (self.magnitudes < 0).any():
            raise IRError(f"{where}.magnitudes: must be two non-negative integers [pos, neg]")
        if self.scale.shape != (1,):
            raise IRError(f"{where}.scale: ternary has one scale, shape (1,), not {self.scale.shape}")
        _scale_ok(self.scale, channels, where)
        bad = (self.codes < -1) | (self.codes > 1)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise IRError(f"{where}.codes: element {k} is {int(self.codes[k])}, not in {{-1, 0, 1}}")


@dataclass
class PQValues(Values):
    """Product quantization (Q-CNN): M subspaces of the input axis, K sub-codewords each.

    codebook (M, K, d) holds integer sub-codewords; assignments hold one codeword index
    per (output, [kh, kw,] subspace). Input channel c belongs to subspace c // d.
    """

    assignments: np.ndarray
    codebook: np.ndarray
    scale: np.ndarray
    bits: int
    value_bits: int
    TYPE: ClassVar[str] = "pq"
    TENSORS: ClassVar[dict] = {"assignments": ("uint8", "uint16"), "codebook": ("int16", "int32"),
                               "scale": ("float32",)}
    ATTRS: ClassVar[tuple] = ("bits", "value_bits")
    ELEMENTWISE: ClassVar[bool] = False
    code_tensor: ClassVar[str] = "assignments"

    @property
    def n_elements(self) -> int:
        return int(self.assignments.size)

    def code_array(self) -> np.ndarray:
        return self.assignments.reshape(-1)

    def dense_int(self, shape: tuple[int, ...]) -> np.ndarray:
        """Reconstruct the integer weight of logical ``shape`` (FC (O, I) or conv (O, C, KH, KW))."""
        m, _, d = self.codebook.shape
        cb = self.codebook.astype(np.int64)
        a = self.assignments.astype(np.int64)
        sub = cb[np.arange(m), a]  # (..., M, d): gather along the last assignment axis
        if len(shape) == 2:  # (O, M, d) -> (O, I)
            return sub.reshape(shape[0], m * d)
        o, c, kh, kw = shape  # (O, KH, KW, M, d) -> (O, C, KH, KW)
        return sub.reshape(o, kh, kw, m * d).transpose(0, 3, 1, 2).copy()

    def payload_bits(self) -> int:
        return self.bits

    def table_bits(self) -> int:
        return self.codebook.size * self.value_bits + 32

    def check(self, channels: int, where: str) -> None:
        _bits_ok(self.bits, 1, 16, f"{where}.bits")
        _bits_ok(self.value_bits, 2, 32, f"{where}.value_bits")
        if self.codebook.ndim != 3:
            raise IRError(f"{where}.codebook: must be 3-D (M, K, d), not {self.codebook.shape}")
        m, k, _ = self.codebook.shape
        if not 1 <= k <= (1 << self.bits):
            raise IRError(f"{where}.codebook: K = {k} not in [1, 2^bits = {1 << self.bits}]")
        lim = (1 << (self.value_bits - 1)) - 1
        if self.codebook.size and int(np.abs(self.codebook.astype(np.int64)).max()) > lim:
            raise IRError(f"{where}.codebook: a value exceeds value_bits {self.value_bits}")
        if self.scale.shape != (1,):
            raise IRError(f"{where}.scale: PQ has one scale, shape (1,), not {self.scale.shape}")
        _scale_ok(self.scale, channels, where)
        if self.assignments.ndim < 2 or self.assignments.shape[-1] != m:
            raise IRError(f"{where}.assignments: last axis must be M = {m}, shape is {self.assignments.shape}")
        top = _max_code(self.assignments)
        if top >= k:
            raise IRError(f"{where}.assignments: value {top} >= codebook size {k}")


VALUE_TYPES: dict[str, type[Values]] = {
    cls.TYPE: cls for cls in (Float32Values, Int8Values, CodebookValues, Pow2Values,
                              TernaryValues, PQValues)
}
