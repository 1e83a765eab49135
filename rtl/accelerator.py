"""EieAccelerator: the top level. Layer sequencer, host interface, the broadcaster, n_pe PEs,
activation buffers, the shared codebook and descriptor memories and the stats memories
(docs/eie.md). Depends on the configuration only: every model is data."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hwq.eie.config import DESCRIPTOR_BITS, DESCRIPTOR_FIELDS, REGIONS, EieConfig
from hwq.rtl.act_buffer import ActBuffer
from hwq.rtl.broadcaster import Broadcaster
from hwq.rtl.pe import ProcessingElement

IDLE, LOAD, SETUP, COMPUTE, OUTPUT, DONE = range(6)


class EieAccelerator(wiring.Component):
    def __init__(self, cfg: EieConfig):
        self.cfg = cfg
        hb = cfg.host_bits
        super().__init__({
            "host_addr": In(32), "host_wdata": In(hb), "host_we": In(1), "host_re": In(1),
            "host_rdata": Out(hb),
            "start": In(1), "busy": Out(1), "done": Out(1),
            "trace_valid": Out(1), "trace_layer": Out(8), "trace_row": Out(16),
            "trace_data": Out(cfg.n_pe * cfg.act_bits),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        n = cfg.n_pe
        region = self.host_addr[28:32]
        pe_sel = self.host_addr[20:28]
        off = self.host_addr[:20]

        state = Signal(3)
        layer = Signal(8)
        n_layers = Signal(8)
        total = Signal(32)
        layer_cyc = Signal(32)
        bstall = Signal(32)
        busy = Signal()
        m.d.comb += [busy.eq((state != IDLE) & (state != DONE)), self.busy.eq(busy),
                     self.done.eq(state == DONE)]

        def host_w(name):
            return self.host_we & ~busy & (region == REGIONS[name])

        with m.If(host_w("control") & (off == 0)):
            m.d.sync += n_layers.eq(self.host_wdata)

        # descriptor memory and fields -----------------------------------------------------------
        m.submodules.descriptors = dmem = memory.Memory(shape=DESCRIPTOR_BITS, depth=cfg.max_layers, init=[])
        dw, dr = dmem.write_port(), dmem.read_port()
        m.d.comb += [dw.addr.eq(off), dw.data.eq(self.host_wdata), dw.en.eq(host_w("descriptor")),
                     dr.addr.eq(layer), dr.en.eq(state == LOAD)]
        desc = {}
        at = 0
        for name, bits, sgn in DESCRIPTOR_FIELDS:
            desc[name] = Signal(signed(bits) if sgn else unsigned(bits), name=f"d_{name}")
            with m.If(state == SETUP):
                m.d.sync += desc[name].eq(dr.data[at:at + bits])
            at += bits

        # codebook (shared; one comb read port per PE) ----------------------------------------------
        cb_ports = []
        if cfg.weight_mode == "codebook":
            m.submodules.codebook = cmem = memory.Memory(shape=signed(cfg.value_bits),
                                                         depth=cfg.max_layers * cfg.codebook_size, init=[])
            cw = cmem.write_port()
            m.d.comb += [cw.addr.eq(off), cw.data.eq(self.host_wdata), cw.en.eq(host_w("codebook"))]
            cb_ports = [cmem.read_port(domain="comb") for _ in range(n)]
        elif cfg.weight_mode == "ternary":
            # layer k's magnitudes pos, neg at 4k + 1, 4k + 2, read by the broadcaster
            m.submodules.codebook = cmem = memory.Memory(shape=unsigned(cfg.value_bits),
                                                         depth=cfg.max_layers * cfg.codebook_size, init=[])
            cw = cmem.write_port()
            m.d.comb += [cw.addr.eq(off), cw.data.eq(self.host_wdata), cw.en.eq(host_w("codebook"))]
            mag_ports = [cmem.read_port(domain="comb") for _ in range(2)]

        # broadcaster, buffers, PEs --------------------------------------------------------------------
        m.submodules.bcast = bc = Broadcaster(cfg)
        setup = state == SETUP
        run = state == COMPUTE
        m.d.comb += [bc.setup.eq(setup), bc.run.eq(run), bc.in_features.eq(desc["in_features"]),
                     bc.in_zp.eq(desc["in_zp"]), bc.in_signed.eq(desc["in_signed"])]
        if cfg.weight_mode == "ternary":
            m.d.comb += [mag_ports[0].addr.eq((layer << 2) | 1), mag_ports[1].addr.eq((layer << 2) | 2),
                         bc.pos.eq(mag_ports[0].data), bc.neg.eq(mag_ports[1].data)]
        src_b = layer[0]
        pes, bufs = [], []
        lanes = []
        all_rdy = Signal()
        rdys = []
        r_row = Signal(16)
        rbase = Signal(17)
        reading = Signal()
        drain = Signal(2)
        m.d.comb += reading.eq((state == OUTPUT) & (rbase < desc["out_features"]))
        pe_stats_r = []
        for p in range(n):
            pe = ProcessingElement(cfg)
            buf = ActBuffer(cfg)
            m.submodules[f"pe{p}"] = pe
            m.submodules[f"buf{p}"] = buf
            pes.append(pe)
            bufs.append(buf)
            lanes.append(Mux(src_b, buf.data_b, buf.data_a))
            rdys.append(pe.w_rdy)
            mine = pe_sel == p
            m.d.comb += [
                pe.push.eq(bc.push), pe.push_j.eq(bc.push_j), pe.push_a.eq(bc.push_a), pe.stall.eq(bc.stall),
                pe.setup.eq(setup), pe.compute.eq(run), pe.ptr_base.eq(desc["ptr_base"]),
                pe.cb_base.eq(layer << cfg.weight_bits),
                pe.out_read.eq(reading), pe.out_row.eq(r_row), pe.row_base.eq(desc["row_base"]),
                pe.mode.eq(desc["mode"]), pe.zp.eq(desc["out_zp"]), pe.lo.eq(desc["lo"]), pe.hi.eq(desc["hi"]),
                pe.hw_addr.eq(off), pe.hw_data.eq(self.host_wdata),
                pe.hw_sparse.eq(host_w("sparse") & mine), pe.hw_ptr.eq(host_w("pointer") & mine),
                pe.hw_bias.eq(host_w("bias") & mine), pe.hw_rq.eq(host_w("requant") & mine),
            ]
            if cb_ports:
                m.d.comb += [cb_ports[p].addr.eq(pe.cb_addr), pe.cb_data.eq(cb_ports[p].data)]
            # buffers: broadcaster reads the source, the output stage writes the destination;
            # the host reads and writes them while not busy
            with m.If(busy):
                m.d.comb += [buf.rd_addr.eq(bc.rd_addr), buf.rd_en.eq(bc.rd_en),
                             buf.wr_addr.eq(pe.y_row), buf.wr_data.eq(pe.y),
                             buf.wr_a.eq(pe.y_valid & src_b), buf.wr_b.eq(pe.y_valid & ~src_b)]
            with m.Else():
                m.d.comb += [buf.rd_addr.eq(off), buf.rd_en.eq(1), buf.wr_addr.eq(off),
                             buf.wr_data.eq(self.host_wdata),
                             buf.wr_a.eq(host_w("act_a") & mine), buf.wr_b.eq(host_w("act_b") & mine)]
            # per-PE stats: entries | fifo_full | busy, one word per layer
            smem = memory.Memory(shape=96, depth=cfg.max_layers, init=[])
            m.submodules[f"pe_stats{p}"] = smem
            sw, sr = smem.write_port(), smem.read_port()
            m.d.comb += [sw.addr.eq(layer), sw.data.eq(Cat(pe.busy_cnt, pe.full_cnt, pe.entries_cnt)),
                         sw.en.eq((state == OUTPUT) & ~reading & (drain == 2)), sr.addr.eq(off)]
            pe_stats_r.append(sr)
        m.d.comb += [bc.lanes.eq(Cat(*lanes)), all_rdy.eq(Cat(*rdys).all()), bc.all_rdy.eq(all_rdy)]
        all_idle = Signal()
        m.d.comb += all_idle.eq(bc.done & Cat(*[pe.idle for pe in pes]).all())

        # layer stats: cycles | broadcast stalls
        m.submodules.layer_stats = lmem = memory.Memory(shape=64, depth=cfg.max_layers, init=[])
        lw, lr = lmem.write_port(), lmem.read_port()
        m.d.comb += [lw.addr.eq(layer), lw.data.eq(Cat((layer_cyc + 1)[:32], bstall)),
                     lw.en.eq((state == OUTPUT) & ~reading & (drain == 2)), lr.addr.eq(off)]

        # trace of every layer's output (for the testbench) ------------------------------------
        m.d.comb += [self.trace_valid.eq(pes[0].y_valid), self.trace_layer.eq(layer),
                     self.trace_row.eq(pes[0].y_row), self.trace_data.eq(Cat(*[pe.y for pe in pes]))]

        # sequencer --------------------------------------------------------------------------------
        with m.If(busy):
            m.d.sync += total.eq(total + 1)
            with m.If(state == LOAD):
                m.d.sync += layer_cyc.eq(1)
            with m.Else():
                m.d.sync += layer_cyc.eq(layer_cyc + 1)
        with m.If(setup):
            m.d.sync += bstall.eq(0)
        with m.Elif(bc.stall):
            m.d.sync += bstall.eq(bstall + 1)
        with m.Switch(state):
            with m.Case(IDLE, DONE):
                with m.If(self.start):
                    m.d.sync += [state.eq(Mux(n_layers == 0, DONE, LOAD)), layer.eq(0), total.eq(1)]
            with m.Case(LOAD):
                m.d.sync += state.eq(SETUP)
            with m.Case(SETUP):
                m.d.sync += state.eq(COMPUTE)
            with m.Case(COMPUTE):
                with m.If(all_idle):
                    m.d.sync += [state.eq(OUTPUT), r_row.eq(0), rbase.eq(0), drain.eq(0)]
            with m.Case(OUTPUT):
                with m.If(reading):
                    m.d.sync += [r_row.eq(r_row + 1), rbase.eq(rbase + n)]
                with m.Else():
                    m.d.sync += drain.eq(drain + 1)
                    with m.If(drain == 2):
                        with m.If(layer + 1 < n_layers):
                            m.d.sync += [layer.eq(layer + 1), state.eq(LOAD)]
                        with m.Else():
                            m.d.sync += state.eq(DONE)

        # host reads (data the cycle after host_re) ---------------------------------------------------
        rd_region = Signal(4)
        rd_pe = Signal(8)
        rd_off = Signal(20)
        with m.If(self.host_re):
            m.d.sync += [rd_region.eq(region), rd_pe.eq(pe_sel), rd_off.eq(off)]
        with m.Switch(rd_region):
            with m.Case(REGIONS["control"]):
                m.d.comb += self.host_rdata.eq(Mux(rd_off == 0, n_layers, total))
            with m.Case(REGIONS["layer_stats"]):
                m.d.comb += self.host_rdata.eq(lr.data)
            for name, pick in (("act_a", lambda b: b.data_a), ("act_b", lambda b: b.data_b)):
                with m.Case(REGIONS[name]):
                    with m.Switch(rd_pe):
                        for p in range(n):
                            with m.Case(p):
                                m.d.comb += self.host_rdata.eq(pick(bufs[p]))
            with m.Case(REGIONS["pe_stats"]):
                with m.Switch(rd_pe):
                    for p in range(n):
                        with m.Case(p):
                            m.d.comb += self.host_rdata.eq(pe_stats_r[p].data)
        return m
