"""ProcessingElement: ActFifo -> PtrRead -> SpmatRead (walker) -> Arith -> Accumulator, plus the
OutputStage and the PE's memories (sparse, pointer banks, bias, requant, accumulators).

Timing exactly as docs/eie.md: a pop reads p[q], p[q+1] in the same cycle (even/odd banks);
the walker issues one entry per cycle (an empty column costs one cycle); the product is
formed one cycle after the issue and accumulated the cycle after that, with a bypass
register for back-to-back updates of one row.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import fifo, memory, wiring
from amaranth.lib.wiring import In, Out

from hwq.eie.config import EieConfig
from hwq.rtl.output_stage import OutputStage


def _log2(n: int) -> int:
    return n.bit_length() - 1


class ProcessingElement(wiring.Component):
    def __init__(self, cfg: EieConfig):
        self.cfg = cfg
        super().__init__({
            # broadcast
            "push": In(1), "push_j": In(16), "push_a": In(cfg.act_payload_bits), "w_rdy": Out(1),
            "stall": In(1),
            # layer
            "setup": In(1), "compute": In(1), "ptr_base": In(16), "cb_base": In(16),
            "idle": Out(1),
            # output phase
            "out_read": In(1), "out_row": In(16), "row_base": In(16), "mode": In(1),
            "zp": In(signed(18)), "lo": In(signed(18)), "hi": In(signed(18)),
            "y_valid": Out(1), "y_row": Out(16), "y": Out(unsigned(cfg.act_bits)),
            # codebook (shared memory at the top)
            "cb_addr": Out(16), "cb_data": In(signed(cfg.value_bits)),
            # counters
            "busy_cnt": Out(32), "entries_cnt": Out(32), "full_cnt": Out(32),
            # host writes
            "hw_addr": In(20), "hw_data": In(cfg.host_bits),
            "hw_sparse": In(1), "hw_ptr": In(1), "hw_bias": In(1), "hw_rq": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        a_bits = cfg.act_payload_bits  # raw: a (signed), or ternary (a * pos, a * neg)
        acc = cfg.acc_bits
        e_log = _log2(cfg.entries_per_word)
        eb = cfg.entry_bits

        # memories ------------------------------------------------------------------------
        m.submodules.sparse = sparse = memory.Memory(shape=cfg.word_bits, depth=cfg.sparse_words, init=[])
        m.submodules.ptr_even = pe_mem = memory.Memory(shape=cfg.pointer_bits, depth=cfg.pointer_depth // 2, init=[])
        m.submodules.ptr_odd = po_mem = memory.Memory(shape=cfg.pointer_bits, depth=cfg.pointer_depth // 2, init=[])
        m.submodules.bias = bias_mem = memory.Memory(shape=acc, depth=cfg.row_depth, init=[])
        m.submodules.requant = rq_mem = memory.Memory(shape=38, depth=cfg.row_depth, init=[])
        m.submodules.accum = acc_mem = memory.Memory(shape=acc, depth=cfg.act_depth, init=[])
        sp_w, pe_w, po_w = sparse.write_port(), pe_mem.write_port(), po_mem.write_port()
        bias_w, rq_w = bias_mem.write_port(), rq_mem.write_port()
        m.d.comb += [
            sp_w.addr.eq(self.hw_addr), sp_w.data.eq(self.hw_data), sp_w.en.eq(self.hw_sparse),
            pe_w.addr.eq(self.hw_addr[1:]), pe_w.data.eq(self.hw_data), pe_w.en.eq(self.hw_ptr & ~self.hw_addr[0]),
            po_w.addr.eq(self.hw_addr[1:]), po_w.data.eq(self.hw_data), po_w.en.eq(self.hw_ptr & self.hw_addr[0]),
            bias_w.addr.eq(self.hw_addr), bias_w.data.eq(self.hw_data), bias_w.en.eq(self.hw_bias),
            rq_w.addr.eq(self.hw_addr), rq_w.data.eq(self.hw_data), rq_w.en.eq(self.hw_rq),
        ]
        sp_r, pe_r, po_r = sparse.read_port(), pe_mem.read_port(), po_mem.read_port()
        bias_r, rq_r = bias_mem.read_port(), rq_mem.read_port()
        acc_r, acc_w = acc_mem.read_port(), acc_mem.write_port()

        # ActFifo -------------------------------------------------------------------------
        m.submodules.fifo = q = fifo.SyncFIFO(width=16 + a_bits, depth=cfg.fifo_depth)
        m.d.comb += [q.w_en.eq(self.push), q.w_data.eq(Cat(self.push_j, self.push_a)),
                     self.w_rdy.eq(q.w_rdy)]
        head_j = q.r_data[:16]
        head_a = q.r_data[16:]

        # PtrRead: one-column slot ------------------------------------------------------------
        slot_valid, slot_odd = Signal(), Signal()
        slot_a = Signal(a_bits)
        # SpmatRead: the walker ------------------------------------------------------------
        cont = Signal()
        e_cur = Signal(cfg.pointer_bits)
        e_end = Signal(cfg.pointer_bits)
        w_a = Signal(a_bits)
        take = Signal()
        issue = Signal()
        issue_e = Signal(cfg.pointer_bits)
        issue_first = Signal()
        issue_a = Signal(a_bits)
        p_start = Mux(slot_odd, po_r.data, pe_r.data)
        p_end = Mux(slot_odd, pe_r.data, po_r.data)
        m.d.comb += take.eq(~cont & slot_valid)
        with m.If(cont):
            m.d.comb += [issue.eq(1), issue_e.eq(e_cur), issue_a.eq(w_a)]
            m.d.sync += [e_cur.eq(e_cur + 1), cont.eq(e_cur + 1 != e_end)]
        with m.Elif(take):
            with m.If(p_start != p_end):
                m.d.comb += [issue.eq(1), issue_e.eq(p_start), issue_first.eq(1), issue_a.eq(slot_a)]
                m.d.sync += [e_cur.eq(p_start + 1), e_end.eq(p_end), cont.eq(p_start + 1 != p_end),
                             w_a.eq(slot_a)]
        pop = Signal()
        qaddr = Signal(17)
        m.d.comb += [pop.eq(q.r_rdy & (~slot_valid | take)), q.r_en.eq(pop),
                     qaddr.eq(self.ptr_base + head_j),
                     pe_r.addr.eq((qaddr + 1) >> 1), po_r.addr.eq(qaddr >> 1),
                     pe_r.en.eq(pop), po_r.en.eq(pop)]
        with m.If(pop):
            m.d.sync += [slot_valid.eq(1), slot_odd.eq(qaddr[0]), slot_a.eq(head_a)]
        with m.Elif(take):
            m.d.sync += slot_valid.eq(0)
        m.d.comb += [sp_r.addr.eq(issue_e >> e_log), sp_r.en.eq(issue)]

        # Arith (one cycle after the issue) ---------------------------------------------------
        a_valid, a_first = Signal(), Signal()
        a_sel = Signal(max(1, e_log))
        a_act = Signal(a_bits)
        m.d.sync += [a_valid.eq(issue), a_first.eq(issue_first), a_act.eq(issue_a)]
        if e_log:
            m.d.sync += a_sel.eq(issue_e[:e_log])
        entry = sp_r.data.word_select(a_sel, eb) if e_log else sp_r.data[:eb]
        z = entry[:cfg.index_bits]
        code = entry[cfg.index_bits:eb]
        pos_prev = Signal(16)
        pos = Signal(16)
        m.d.comb += pos.eq(Mux(a_first, 0, pos_prev + 1) + z)
        with m.If(a_valid):
            m.d.sync += pos_prev.eq(pos)
        a_ext = Signal(signed(acc))
        m.d.comb += a_ext.eq(a_act.as_signed())
        prod = Signal(acc)
        sub = Signal()  # ternary: the accumulator subtracts prod
        if cfg.weight_mode == "ternary":
            sa = cfg.scaled_bits
            a_pos, a_neg = Signal(signed(acc)), Signal(signed(acc))
            m.d.comb += [a_pos.eq(a_act[:sa].as_signed()), a_neg.eq(a_act[sa:2 * sa].as_signed()),
                         prod.eq(Mux(code == 1, a_pos, Mux(code == 2, a_neg, 0))), sub.eq(code == 2),
                         self.cb_addr.eq(0)]
        elif cfg.weight_mode == "pow2":
            wb = cfg.weight_bits
            k = code[:wb - 1]
            sh = Signal(wb - 1)
            m.d.comb += sh.eq(k - 1)
            mag = Signal(acc)
            m.d.comb += mag.eq((a_ext.as_unsigned() << sh)[:acc])
            m.d.comb += prod.eq(Mux(k == 0, 0, Mux(code[wb - 1], (-mag)[:acc], mag)))
            m.d.comb += self.cb_addr.eq(0)
        else:
            m.d.comb += self.cb_addr.eq(self.cb_base + code)
            m.d.comb += prod.eq((a_act.as_signed() * self.cb_data)[:acc])

        # Accumulator (two cycles after the issue) --------------------------------------------
        b_valid = Signal()
        b_row = Signal(16)
        b_prod = Signal(acc)
        m.d.sync += [b_valid.eq(a_valid), b_row.eq(pos), b_prod.eq(prod)]
        last_valid, last_row, last_sum = Signal(), Signal(16), Signal(acc)
        old = Mux(last_valid & (last_row == b_row), last_sum, acc_r.data)
        total = Signal(acc)
        if cfg.weight_mode == "ternary":
            # add/subtract: old + (prod ^ -sub) + sub, one adder with carry-in
            b_sub = Signal()
            m.d.sync += b_sub.eq(sub)
            m.d.comb += total.eq(old + (b_prod ^ b_sub.replicate(acc)) + b_sub)
        else:
            m.d.comb += total.eq(old + b_prod)
        m.d.sync += [last_valid.eq(b_valid), last_row.eq(b_row), last_sum.eq(total)]

        # OutputStage ----------------------------------------------------------------------------
        m.submodules.out = out = OutputStage(cfg)
        m.d.comb += [bias_r.addr.eq(self.row_base + self.out_row), rq_r.addr.eq(self.row_base + self.out_row)]
        o_valid, o_row = Signal(), Signal(16)
        m.d.sync += [o_valid.eq(self.out_read), o_row.eq(self.out_row)]
        m.d.comb += [out.in_valid.eq(o_valid), out.in_row.eq(o_row), out.acc.eq(acc_r.data),
                     out.bias.eq(bias_r.data), out.rq.eq(rq_r.data), out.mode.eq(self.mode),
                     out.zp.eq(self.zp), out.lo.eq(self.lo), out.hi.eq(self.hi),
                     self.y_valid.eq(out.out_valid), self.y_row.eq(out.out_row), self.y.eq(out.out_y)]

        # accumulator ports: compute phase vs output phase (read and clear) ---------------------
        # the clear of row r is written one cycle after its read (no read/write collision)
        with m.If(self.out_read | o_valid):
            m.d.comb += [acc_r.addr.eq(self.out_row), acc_w.addr.eq(o_row), acc_w.data.eq(0),
                         acc_w.en.eq(o_valid)]
        with m.Else():
            m.d.comb += [acc_r.addr.eq(pos), acc_r.en.eq(a_valid),
                         acc_w.addr.eq(b_row), acc_w.data.eq(total), acc_w.en.eq(b_valid)]

        # idle and counters ----------------------------------------------------------------------
        m.d.comb += self.idle.eq(~q.r_rdy & ~slot_valid & ~cont & ~a_valid & ~b_valid)
        with m.If(self.setup):
            m.d.sync += [self.busy_cnt.eq(0), self.entries_cnt.eq(0), self.full_cnt.eq(0)]
        with m.Else():
            with m.If(cont | take):
                m.d.sync += self.busy_cnt.eq(self.busy_cnt + 1)
            with m.If(issue):
                m.d.sync += self.entries_cnt.eq(self.entries_cnt + 1)
            with m.If(self.stall & ~q.w_rdy):
                m.d.sync += self.full_cnt.eq(self.full_cnt + 1)
        return m
