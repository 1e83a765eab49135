"""Fixed-point primitives of docs/semantics.md, vectorized over int64 NumPy arrays.

Every function takes and returns int64 arrays holding int32-range values; int64 is only
the host container, the results are exactly what 32-bit hardware computes.
"""

from __future__ import annotations

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def as_i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def saturate(x, lo: int, hi: int) -> np.ndarray:
    return np.clip(as_i64(x), lo, hi)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Float -> nearest integer (as a float), ties away from zero, exactly like C's round().

    ``floor(x + 0.5)`` is wrong for 0.49999999999999994 and above 2^52 (the addition
    rounds), so compare the exact fractional part instead.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.sign(x), t)


def trunc_div_pow2(n: np.ndarray, s: int) -> np.ndarray:
    """n / 2**s rounded toward zero (C's integer division by a power of two)."""
    n = as_i64(n)
    return np.where(n >= 0, n >> s, -((-n) >> s))


def srdhm(a, b) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul(a, b) of gemmlowp: a*b / 2**31 rounded to nearest.

    With the nudge and the truncating division, exact ties round toward +infinity
    (+0.5 -> 1, -0.5 -> 0); the only overflow, INT32_MIN * INT32_MIN, saturates to INT32_MAX.
    """
    a, b = as_i64(a), as_i64(b)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    out = trunc_div_pow2(ab + nudge, 31)
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, out)


def rdbpot(x, exponent) -> np.ndarray:
    """RoundingDivideByPOT(x, exponent): x / 2**exponent, ties away from zero (exponent >= 0)."""
    x, e = as_i64(x), as_i64(exponent)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def shift_left_saturate(x, s) -> np.ndarray:
    """x * 2**s saturated to int32 (s >= 0, s <= 31)."""
    return saturate(as_i64(x) << as_i64(s), INT32_MIN, INT32_MAX)


def multiply_by_quantized_multiplier(x, multiplier, exponent) -> np.ndarray:
    """TFLite's double-rounding MultiplyByQuantizedMultiplier.

    x * multiplier * 2**(exponent-31): a saturating left shift by max(exponent, 0) first,
    then the rounding high multiply, then a rounding right shift by max(-exponent, 0).
    """
    e = as_i64(exponent)
    left, right = np.maximum(e, 0), np.maximum(-e, 0)
    return rdbpot(srdhm(shift_left_saturate(x, left), multiplier), right)


def shift_requantize(x, exponent) -> np.ndarray:
    """x * 2**exponent with a single rounding (ties away from zero) or a saturating left shift."""
    e = as_i64(exponent)
    return np.where(e >= 0, shift_left_saturate(x, np.maximum(e, 0)), rdbpot(x, np.maximum(-e, 0)))


def divide_round_half_away(s, n: int) -> np.ndarray:
    """s / n for n > 0, rounded to nearest with ties away from zero (pool averages)."""
    s = as_i64(s)
    mag = (np.abs(s) + n // 2) // n
    return np.where(s < 0, -mag, mag)
