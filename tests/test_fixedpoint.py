"""The fixed-point primitives against independent exact-rational definitions."""

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hwq.golden import fixedpoint as fp
from hwq.ir.quant import make_requant, quantize_multiplier

I32 = st.integers(-(2**31), 2**31 - 1)


def round_half_away(fr: Fraction) -> int:
    """Nearest integer, ties away from zero, on exact rationals."""
    n = abs(fr)
    down = n.numerator // n.denominator
    r = down + (1 if n - down >= Fraction(1, 2) else 0)
    return r if fr >= 0 else -r


@settings(max_examples=300, deadline=None)
@given(I32, I32)
def test_srdhm_is_rounded_doubling_high_product(a, b):
    got = int(fp.srdhm(np.array([a]), np.array([b]))[0])
    if a == b == -(2**31):
        assert got == 2**31 - 1
    else:
        assert got == round_half_away(Fraction(a * b, 2**31))


@settings(max_examples=300, deadline=None)
@given(I32, st.integers(0, 31))
def test_rdbpot_rounds_half_away(x, e):
    assert int(fp.rdbpot(np.array([x]), e)[0]) == round_half_away(Fraction(x, 2**e))


def tflite_mbqm(x: int, m: int, e: int) -> int:
    """Scalar transcription of TFLite MultiplyByQuantizedMultiplier (Python ints)."""
    left, right = max(e, 0), max(-e, 0)
    v = max(-(2**31), min(2**31 - 1, x * 2**left))
    if v == m == -(2**31):
        h = 2**31 - 1
    else:
        p = v * m
        nudge = 2**30 if p >= 0 else 1 - 2**30
        q = p + nudge
        h = abs(q) // 2**31 * (1 if q >= 0 else -1)  # C division truncates
    mask = (1 << right) - 1
    rem = h & mask
    thr = (mask >> 1) + (1 if h < 0 else 0)
    return (h >> right) + (1 if rem > thr else 0)


@settings(max_examples=300, deadline=None)
@given(I32, st.integers(2**30, 2**31 - 1), st.integers(-31, 30))
def test_multiply_by_quantized_multiplier_matches_scalar_transcription(x, m, e):
    assert int(fp.multiply_by_quantized_multiplier(np.array([x]), m, e)[0]) == tflite_mbqm(x, m, e)


@settings(max_examples=200, deadline=None)
@given(I32, st.integers(-31, 30))
def test_shift_requantize_single_rounding(x, e):
    got = int(fp.shift_requantize(np.array([x]), e)[0])
    exact = round_half_away(Fraction(x) * Fraction(2) ** e)
    assert got == max(-(2**31), min(2**31 - 1, exact))


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-9, max_value=1e9, allow_nan=False))
def test_quantize_multiplier_relative_error(real):
    m, e = quantize_multiplier(real)
    assert 2**30 <= m < 2**31
    approx = Fraction(m) * Fraction(2) ** (e - 31)
    assert abs(approx - Fraction(real)) <= Fraction(2) ** (e - 32)


def test_make_requant_uses_shift_mode_only_for_exact_powers_of_two():
    assert make_requant(np.array([0.25, 2.0**-10])).mode == "shift"
    assert list(make_requant(np.array([0.25, 2.0**-10])).exponent) == [-2, -10]
    assert make_requant(np.array([0.25, 0.3])).mode == "multiplier"


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**6), 10**6), st.integers(1, 64))
def test_divide_round_half_away(s, n):
    assert int(fp.divide_round_half_away(np.array([s]), n)[0]) == round_half_away(Fraction(s, n))
