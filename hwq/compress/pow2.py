"""Power-of-two quantization (INQ; ESLQ "power of two or zero" t-centroids).

Levels are {0} U {+-2^e : e_min <= e <= e_max} with e_max - e_min = 2^(bits-1) - 2, so that
k = e - e_min + 1 fills the low bits-1 bits of a ``bits``-bit code (k = 0 with sign 0 is
the zero; sign 1 with k = 0 stays unused). w_int = +-2^(k-1) and the scale is 2^e_min.
"""

from __future__ import annotations

import math

import numpy as np

from hwq.compress.checks import as_finite
from hwq.errors import HwqError

E_MIN_RANGE = (-64, 63)  # Pow2Values.e_min as the IR accepts it


def pow2_span(bits: int) -> int:
    """e_max - e_min for ``bits``-bit codes."""
    # 8 bits would span 2^126: w_int = 2^(k-1) would overflow the int64 integer weight and
    # e_min would leave [-64, 63] for any ordinary weight, so the IR stops at 7 bits.
    if not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 7:
        raise HwqError(f"pow2 bits {bits!r} not in [2, 7]")
    return (1 << (int(bits) - 1)) - 2


def default_e_max(maxabs: float) -> int:
    """INQ's rule e_max = floor(log2(4 max|w| / 3)): max|w| then rounds to 2^e_max, not above.

    An all-zero weight has no scale; e_max = 0 is an arbitrary but valid choice.
    """
    return int(math.floor(math.log2(4.0 * maxabs / 3.0))) if maxabs > 0 else 0


def quantize_pow2(w, bits: int, e_max: int | None = None) -> tuple[np.ndarray, int]:
    """Map every weight to the nearest level in linear distance; return ``(codes uint8, e_min)``.

    Ties (|w| exactly halfway between two levels, e.g. 1.5 * 2^e, or 2^(e_min-1) between 0
    and 2^e_min) go to the larger magnitude, i.e. round half away from zero, like int8.
    Magnitudes above 2^e_max saturate to 2^e_max.
    """
    w = as_finite(w)
    span = pow2_span(bits)
    a = np.abs(w)
    if e_max is None:
        e_max = default_e_max(float(a.max(initial=0.0)))
    e_max = int(e_max)
    e_min = e_max - span
    if not E_MIN_RANGE[0] <= e_min <= E_MIN_RANGE[1]:
        raise HwqError(f"pow2: e_min = {e_min} (e_max {e_max}, bits {bits}) is outside "
                       f"[{E_MIN_RANGE[0]}, {E_MIN_RANGE[1]}]; use fewer bits or another e_max")
    mant, ex = np.frexp(a)  # a = mant * 2^ex, mant in [0.5, 1): a in [2^(ex-1), 2^ex)
    # nearest of 2^(ex-1), 2^ex: the midpoint is 0.75 * 2^ex (exact compare on the mantissa)
    r = (ex - 1 + (mant >= 0.75)).astype(np.int64)
    r = np.minimum(r, e_max)
    # below e_min the choice is 0 vs 2^e_min, split at 2^(e_min-1)
    nonzero = (a > 0) & ((r >= e_min) | (a >= math.ldexp(1.0, e_min - 1)))
    r = np.maximum(r, e_min)
    k = np.where(nonzero, r - e_min + 1, 0)
    sign = (w < 0) & nonzero
    codes = (k | (sign.astype(np.int64) << (bits - 1))).astype(np.uint8)
    return codes, e_min


def pow2_decode(codes, bits: int, e_min: int) -> np.ndarray:
    """Real values of ``codes`` (float64), the same arithmetic as Pow2Values."""
    c = np.asarray(codes).astype(np.int64)
    k = c & ((1 << (bits - 1)) - 1)
    mag = np.where(k > 0, np.ldexp(1.0, (k - 1 + e_min).astype(np.int32)), 0.0)
    return np.where((c >> (bits - 1)) & 1, -mag, mag)


def snap_pow2(w, bits: int, e_max: int | None = None) -> np.ndarray:
    """The quantized weight as floats (same shape), e.g. for INQ-style retraining."""
    codes, e_min = quantize_pow2(w, bits, e_max)
    return pow2_decode(codes, bits, e_min)


def pow2_codes_from_values(w_values, bits: int, e_min: int) -> np.ndarray:
    """Codes of values that already are levels (0 or +-2^e, e_min <= e <= e_min + span).

    Raises HwqError on any other value: unlike quantize_pow2 this never rounds, so a weight
    retrained on the grid keeps exactly its values (and its e_min).
    """
    v = as_finite(w_values)
    span = pow2_span(bits)
    mant, ex = np.frexp(np.abs(v))
    e = ex - 1
    ok = (v == 0) | ((mant == 0.5) & (e >= e_min) & (e <= e_min + span))
    if not ok.all():
        i = int(np.flatnonzero(~ok.ravel())[0])
        raise HwqError(f"pow2: element {i} = {v.ravel()[i]!r} is not 0 or +-2^e with "
                       f"{e_min} <= e <= {e_min + span}")
    k = np.where(v != 0, e - e_min + 1, 0)
    return (k | ((v < 0).astype(np.int64) << (bits - 1))).astype(np.uint8)
