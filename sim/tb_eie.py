"""cocotb testbench of EieAccelerator: the host protocol of docs/eie.md, driven from a job file.

The job (JSON, path in $HWQ_EIE_JOB) lists the model's host writes, then per sample the input
writes; the testbench starts the accelerator once per sample, records every layer's output
from the trace port, reads the final output and the counters, and writes $HWQ_EIE_RESULT.
"""

from __future__ import annotations

import json
import os

import cocotb
import cocotb.utils
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, ReadOnly, RisingEdge, Timer


async def _write(dut, addr: int, value: int) -> None:
    dut.host_addr.value = addr
    dut.host_wdata.value = value
    dut.host_we.value = 1
    await RisingEdge(dut.clk)
    dut.host_we.value = 0


async def _read(dut, addr: int) -> int:
    dut.host_addr.value = addr
    dut.host_re.value = 1
    await RisingEdge(dut.clk)
    dut.host_re.value = 0
    await ReadOnly()
    v = int(dut.host_rdata.value)
    await Timer(1, "ns")
    return v


@cocotb.test()
async def run_job(dut):
    with open(os.environ["HWQ_EIE_JOB"]) as f:
        job = json.load(f)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.start.value = 0
    dut.host_we.value = 0
    dut.host_re.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    for addr, value in job["load"]:
        await _write(dut, addr, value)
    n_layers = job["n_layers"]
    results = []
    for sample in job["samples"]:
        for addr, value in sample:
            await _write(dut, addr, value)
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        traces = [[] for _ in range(n_layers)]
        deadline = cocotb.utils.get_sim_time("ns") + 10 * job["max_cycles"]
        while True:
            left = deadline - cocotb.utils.get_sim_time("ns")
            await First(RisingEdge(dut.trace_valid), RisingEdge(dut.done), Timer(max(left, 10), "ns"))
            await ReadOnly()
            if int(dut.done.value):
                break
            if cocotb.utils.get_sim_time("ns") >= deadline:
                raise RuntimeError(f"no done after {job['max_cycles']} cycles (deadlock?)")
            while int(dut.trace_valid.value):
                v = dut.trace_data.value
                if not v.is_resolvable:
                    raise RuntimeError(f"trace X: layer {dut.trace_layer.value} row {dut.trace_row.value} data {v}")
                traces[int(dut.trace_layer.value)].append([int(dut.trace_row.value), int(v)])
                await RisingEdge(dut.clk)
                await ReadOnly()
        await Timer(1, "ns")
        out = [await _read(dut, a) for a in job["output_addresses"]]
        total = await _read(dut, job["total_address"])
        layer_stats = [await _read(dut, a) for a in job["layer_stats_addresses"]]
        pe_stats = [[await _read(dut, a) for a in row] for row in job["pe_stats_addresses"]]
        results.append({"output": out, "traces": traces, "total": total, "layer_stats": layer_stats,
                        "pe_stats": pe_stats})
    with open(os.environ["HWQ_EIE_RESULT"], "w") as f:
        json.dump(results, f)
