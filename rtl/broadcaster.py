"""Broadcaster: leading non-zero detection over a group of n_pe activations, one (j, a_j) per
cycle into every PE's FIFO unless any FIFO is full (docs/eie.md); in ternary mode it pushes
(j, a_j * pos, a_j * neg), the only multipliers of that mode."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwq.eie.config import EieConfig


class Broadcaster(wiring.Component):
    def __init__(self, cfg: EieConfig):
        self.cfg = cfg
        n, a = cfg.n_pe, cfg.act_bits
        super().__init__({
            "setup": In(1), "run": In(1),
            "in_features": In(16), "in_zp": In(signed(18)), "in_signed": In(1),
            "lanes": In(unsigned(n * a)),        # group data, lane l = PE l's buffer
            "rd_addr": Out(16), "rd_en": Out(1),
            "all_rdy": In(1),
            "push": Out(1), "push_j": Out(16), "push_a": Out(cfg.act_payload_bits),
            "stall": Out(1), "done": Out(1),
            # ternary mode: the layer's magnitudes; push_a = (a * pos, a * neg)
            "pos": In(cfg.value_bits), "neg": In(cfg.value_bits),
        })

    def elaborate(self, platform):
        m = Module()
        n, a = self.cfg.n_pe, self.cfg.act_bits
        g = Signal(16)
        gbase = Signal(17)
        fresh = Signal()
        mask = Signal(n)
        diffs = []
        active = Signal(n)
        for lane in range(n):
            x = self.lanes[lane * a:(lane + 1) * a]
            ext = Signal(signed(a + 1))
            m.d.comb += ext.eq(Mux(self.in_signed, x.as_signed(), x.as_unsigned()))
            d = Signal(signed(a + 2), name=f"a{lane}")
            m.d.comb += d.eq(ext - self.in_zp)
            diffs.append(d)
            m.d.comb += active[lane].eq((gbase + lane < self.in_features) & (ext != self.in_zp))
        done = Signal()
        m.d.comb += [done.eq(gbase >= self.in_features), self.done.eq(done)]
        eff = Signal(n)
        m.d.comb += eff.eq(Mux(fresh, active, mask))
        low = Signal(n)
        m.d.comb += low.eq(eff & (~eff + 1))
        lane_idx = Signal(range(max(2, n)))
        for lane in reversed(range(n)):
            with m.If(eff[lane]):
                m.d.comb += lane_idx.eq(lane)
        want = Signal()
        m.d.comb += [want.eq(self.run & ~done & (eff != 0)),
                     self.push.eq(want & self.all_rdy), self.stall.eq(want & ~self.all_rdy),
                     self.push_j.eq(gbase + lane_idx)]
        a_sel = Signal(signed(a + 2))
        m.d.comb += a_sel.eq(Array(diffs)[lane_idx])
        if self.cfg.weight_mode == "ternary":
            # the column's two products, once for every PE (docs/eie.md, Ternary mode)
            sa = self.cfg.scaled_bits
            m.d.comb += self.push_a.eq(Cat((a_sel * self.pos)[:sa], (a_sel * self.neg)[:sa]))
        else:
            m.d.comb += self.push_a.eq(a_sel)
        rest = eff & ~low
        advance = Signal()
        m.d.comb += advance.eq(self.run & ~done & ((eff == 0) | (self.push & (rest == 0))))
        with m.If(self.push):
            m.d.sync += [mask.eq(rest), fresh.eq(0)]
        with m.If(self.setup):
            m.d.sync += [g.eq(0), gbase.eq(0), fresh.eq(1)]
            m.d.comb += [self.rd_addr.eq(0), self.rd_en.eq(1)]
        with m.Elif(advance):
            m.d.sync += [g.eq(g + 1), gbase.eq(gbase + n), fresh.eq(1)]
            m.d.comb += [self.rd_addr.eq(g + 1), self.rd_en.eq(1)]
        return m
