"""cocotb testbench of EieAccelerator through the Verilog harness (sim/eie_harness.v).

The harness replays the host protocol of docs/eie.md from a transaction file at one
transaction per clock and writes every layer's output rows (trace port), the host reads and
its own cycle counts to an output file (paths in plusargs, prepared by hwq.sim.runner). This
testbench only runs the clock (cocotb's GPI clock, no Python per cycle) and waits for the
harness's ``finished`` flag.
"""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer


@cocotb.test()
async def run_job(dut):
    Clock(dut.clk, 10, unit="ns", impl="gpi").start()
    await Timer(1, "ns")
    await ReadOnly()
    if not int(dut.finished.value):
        await RisingEdge(dut.finished)
