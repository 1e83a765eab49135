"""The fixed-point primitives of docs/semantics.md §4-5 as Amaranth expressions (comb logic)."""

from __future__ import annotations

from amaranth.hdl import Const, Mux, Value, signed

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def satshl(x: Value, s: Value) -> Value:
    """clamp(x * 2^s, int32) for signed 32-bit x and 0 <= s <= 31."""
    wide = x.as_signed() << s
    return Mux(wide > INT32_MAX, Const(INT32_MAX, signed(32)),
               Mux(wide < INT32_MIN, Const(INT32_MIN, signed(32)), wide[:32].as_signed()))


def srdhm(x: Value, mult: Value) -> Value:
    """SaturatingRoundingDoublingHighMul(x, mult), mult a non-negative Q31 (never INT32_MIN)."""
    p = x.as_signed() * mult.as_unsigned().as_signed()  # mult < 2^31: fits the signed product
    t = p + Mux(p >= 0, Const(1 << 30, signed(64)), Const(1 - (1 << 30), signed(64)))
    q = Mux(t >= 0, t >> 31, (t + ((1 << 31) - 1)) >> 31)  # truncating division by 2^31
    return q[:32].as_signed()


def rdbpot(x: Value, e: Value) -> Value:
    """RoundingDivideByPOT(x, e) for signed 32-bit x and 0 <= e <= 31."""
    mask = ((Const(1, 33) << e) - 1)[:32]
    rem = (x.as_unsigned() & mask)[:32]
    thr = (mask >> 1) + (x.as_signed() < 0)
    return (x.as_signed() >> e) + (rem > thr)
