"""OutputStage: accumulator + bias -> requant (shift or multiplier) -> + zero point -> clamp.

Three register stages (docs/eie.md): row read in cycle u, O1 (sum, saturating left shift)
in u+1, O2 (rounding doubling high multiply) in u+2, written in u+3 (RDBPOT, zero point,
clamp with the fused ReLU's lower bound).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwq.eie.config import EieConfig
from hwq.rtl.requant import rdbpot, satshl, srdhm


class OutputStage(wiring.Component):
    def __init__(self, cfg: EieConfig):
        self.cfg = cfg
        super().__init__({
            "in_valid": In(1), "in_row": In(16),
            "acc": In(unsigned(cfg.acc_bits)), "bias": In(unsigned(cfg.acc_bits)), "rq": In(unsigned(38)),
            "mode": In(1), "zp": In(signed(18)), "lo": In(signed(18)), "hi": In(signed(18)),
            "out_valid": Out(1), "out_row": Out(16), "out_y": Out(unsigned(cfg.act_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        # O1 -------------------------------------------------------------------------
        s = Signal(cfg.acc_bits)
        x = Signal(signed(32))
        e = Signal(signed(6))
        m.d.comb += [s.eq(self.acc + self.bias), x.eq(s.as_signed()), e.eq(self.rq[32:38].as_signed())]
        lsh = Signal(5)
        m.d.comb += lsh.eq(Mux(e > 0, e, 0))
        v1, row1, x1, rsh1, mult1 = Signal(), Signal(16), Signal(signed(32)), Signal(5), Signal(32)
        m.d.sync += [v1.eq(self.in_valid), row1.eq(self.in_row), x1.eq(satshl(x, lsh)),
                     rsh1.eq(Mux(e < 0, -e, 0)), mult1.eq(self.rq[:32])]
        # O2 -------------------------------------------------------------------------
        v2, row2, q2, rsh2 = Signal(), Signal(16), Signal(signed(32)), Signal(5)
        m.d.sync += [v2.eq(v1), row2.eq(row1), rsh2.eq(rsh1),
                     q2.eq(Mux(self.mode, srdhm(x1, mult1), x1))]
        # O3: write ----------------------------------------------------------------------
        r = Signal(signed(33))
        y = Signal(signed(34))
        m.d.comb += [r.eq(rdbpot(q2, rsh2)), y.eq(r + self.zp)]
        clamped = Mux(y < self.lo, self.lo, Mux(y > self.hi, self.hi, y))
        m.d.comb += [self.out_valid.eq(v2), self.out_row.eq(row2), self.out_y.eq(clamped[:cfg.act_bits])]
        return m
