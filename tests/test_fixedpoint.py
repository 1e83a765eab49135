"""The fixed-point primitives against independent exact-rational definitions."""

import math
from fractions import Fraction

import numpy as np
import pytest
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
        # gemmlowp's nudge rounds ties toward +infinity: floor(a*b / 2^31 + 1/2)
        assert got == math.floor(Fraction(a * b, 2**31) + Fraction(1, 2))


@pytest.mark.parametrize("a,b,want", [(2**29, 2, 1), (-(2**29), 2, 0), (-3 * 2**29, 2, -1), (3 * 2**29, 2, 2)])
def test_srdhm_ties(a, b, want):
    """Exact ties: +0.5 -> 1, -0.5 -> 0, -1.5 -> -1, +1.5 -> 2 (toward +infinity)."""
    assert int(fp.srdhm(np.array([a]), np.array([b]))[0]) == want


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


def test_round_half_away_is_c_round_on_awkward_doubles():
    x = np.array([0.49999999999999994, -0.49999999999999994, 2.5, -2.5, 4503599627370497.0, -0.5, 1.5])
    assert fp.round_half_away(x).tolist() == [0.0, -0.0, 3.0, -3.0, 4503599627370497.0, -1.0, 2.0]


def test_quantize_saturates_huge_and_tiny_scaled_inputs():
    from hwq.golden import quantize
    from hwq.ir import QuantParams

    q = QuantParams(8, True, 1.0, 0)
    assert quantize(np.array([1e19, 1e300, -1e300, -1e19]), q).tolist() == [127, 127, -128, -128]
    assert quantize(np.array([1.0]), QuantParams(8, False, 1e-30, 0)).tolist() == [255]
