"""Activation quantization parameters and the requantization step between layers.

The exact integer meaning of these fields is defined in docs/semantics.md; this module
only holds and checks them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwq.errors import IRError

MIN_ACT_BITS, MAX_ACT_BITS = 2, 16
MIN_SCALE, MAX_SCALE = 1e-30, 1e30  # keeps x / scale and the requant factors far from under/overflow


@dataclass(frozen=True)
class QuantParams:
    """real = scale * (q - zero_point), q an integer of ``bits`` bits (signed or not)."""

    bits: int = 8
    signed: bool = True
    scale: float = 1.0
    zero_point: int = 0

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def is_pow2(self) -> bool:
        """True when scale is an exact power of two and zero_point is 0 (a pure shift)."""
        m, _ = math.frexp(self.scale)
        return self.zero_point == 0 and m == 0.5

    def check(self, where: str) -> None:
        if (not isinstance(self.bits, int) or isinstance(self.bits, bool)
                or not MIN_ACT_BITS <= self.bits <= MAX_ACT_BITS):
            raise IRError(f"{where}.bits: {self.bits!r} not in [{MIN_ACT_BITS}, {MAX_ACT_BITS}]")
        if not isinstance(self.signed, bool):
            raise IRError(f"{where}.signed: must be true or false")
        if not (isinstance(self.scale, float) and MIN_SCALE <= self.scale <= MAX_SCALE):
            raise IRError(f"{where}.scale: {self.scale!r} must be a number in [1e-30, 1e30]")
        if (not isinstance(self.zero_point, int) or isinstance(self.zero_point, bool)
                or not self.qmin <= self.zero_point <= self.qmax):
            raise IRError(f"{where}.zero_point: {self.zero_point!r} not in [{self.qmin}, {self.qmax}]")

    def to_json(self) -> dict:
        return {"bits": self.bits, "signed": self.signed, "scale": self.scale,
                "zero_point": self.zero_point}

    @staticmethod
    def from_json(d: object, where: str) -> "QuantParams":
        if not isinstance(d, dict) or set(d) != {"bits", "signed", "scale", "zero_point"}:
            raise IRError(f"{where}: expected keys bits, signed, scale, zero_point")
        scale = d["scale"]
        if isinstance(scale, int) and not isinstance(scale, bool):
            scale = float(scale) if abs(scale) < 1 << 128 else float("inf")
        q = QuantParams(bits=d["bits"], signed=d["signed"], scale=scale, zero_point=d["zero_point"])
        q.check(where)
        return q


REQUANT_MODES = ("multiplier", "shift")


@dataclass
class Requant:
    """Integer rescale of an accumulator to the output grid, per output channel.

    mode "multiplier": real factor = multiplier * 2**(exponent - 31), multiplier a Q31
    integer in [2**30, 2**31) (or 0 for a zero factor), TFLite double rounding.
    mode "shift": real factor = 2**exponent exactly, a single rounding shift.
    ``multiplier`` is None in shift mode. Arrays have length 1 (per tensor) or C.
    """

    mode: str
    exponent: np.ndarray  # int32
    multiplier: np.ndarray | None = None  # int32

    @property
    def channels(self) -> int:
        return int(self.exponent.shape[0])

    def check(self, where: str) -> None:
        if self.mode not in REQUANT_MODES:
            raise IRError(f"{where}.mode: {self.mode!r} is not one of {', '.join(REQUANT_MODES)}")
        e = self.exponent
        if e.ndim != 1 or e.size == 0:
            raise IRError(f"{where}.exponent: must be a non-empty 1-D array")
        if e.min() < -31 or e.max() > 30:
            raise IRError(f"{where}.exponent: values must lie in [-31, 30]")
        if self.mode == "multiplier":
            m = self.multiplier
            if m is None or m.shape != e.shape:
                raise IRError(f"{where}.multiplier: must have the shape of exponent {e.shape}")
            bad = (m != 0) & ((m < (1 << 30)) | (m > (1 << 31) - 1))
            if bad.any():
                raise IRError(f"{where}.multiplier: value {int(m[bad][0])} not 0 and not in [2^30, 2^31)")
        elif self.multiplier is not None:
            raise IRError(f"{where}.multiplier: must be absent in shift mode")


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(multiplier, exponent) with real ~= multiplier * 2**(exponent-31), multiplier Q31.

    Rounds the mantissa to nearest, ties away from zero, like TFLite's QuantizeMultiplier
    (std::round). ``mant * 2**31 + 0.5`` is exact in float64 (at most 32 significant bits).
    """
    if not math.isfinite(real) or real < 0:
        raise IRError(f"requantization factor {real!r} must be finite and non-negative")
    if real == 0.0:
        return 0, 0
    mant, exp = math.frexp(real)  # real = mant * 2**exp, mant in [0.5, 1)
    q = math.floor(mant * (1 << 31) + 0.5)
    if q == 1 << 31:
        q //= 2
        exp += 1
    if exp < -31:  # too small to represent: the factor flushes to zero
        return 0, 0
    if exp > 30:
        raise IRError(f"requantization factor {real!r} is too large (exponent {exp} > 30)")
    return int(q), int(exp)


def make_requant(factors: np.ndarray) -> Requant:
    """Requant for per-channel real factors; shift mode when every factor is a power of two."""
    factors = np.asarray(factors, dtype=np.float64).reshape(-1)
    pow2 = [f > 0 and math.frexp(f)[0] == 0.5 for f in factors]
    if all(pow2):
        exps = [math.frexp(f)[1] - 1 for f in factors]
        if min(exps) >= -31 and max(exps) <= 30:
            return Requant("shift", np.array(exps, dtype=np.int32))
    pairs = [quantize_multiplier(float(f)) for f in factors]
    return Requant("multiplier", np.array([p[1] for p in pairs], dtype=np.int32),
                   np.array([p[0] for p in pairs], dtype=np.int32))
