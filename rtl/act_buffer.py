"""ActBuffer: a PE's two activation memories A and B (source and destination, swapped per layer)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hwq.eie.config import EieConfig


class ActBuffer(wiring.Component):
    def __init__(self, cfg: EieConfig):
        self.cfg = cfg
        a = cfg.act_bits
        super().__init__({
            "rd_addr": In(16), "rd_en": In(1), "data_a": Out(a), "data_b": Out(a),
            "wr_addr": In(16), "wr_data": In(a), "wr_a": In(1), "wr_b": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        for name, out, we in (("a", self.data_a, self.wr_a), ("b", self.data_b, self.wr_b)):
            mem = memory.Memory(shape=cfg.act_bits, depth=cfg.act_depth, init=[])
            m.submodules[name] = mem
            r, w = mem.read_port(), mem.write_port()
            m.d.comb += [r.addr.eq(self.rd_addr), r.en.eq(self.rd_en), out.eq(r.data),
                         w.addr.eq(self.wr_addr), w.data.eq(self.wr_data), w.en.eq(we)]
        return m
