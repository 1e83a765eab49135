"""Run a program on the RTL and hold every layer's output to the golden model and every cycle
count to the cycle model (docs/eie.md). Returns the report ``hwq simulate --json`` prints."""

from __future__ import annotations

import numpy as np

from hwq.eie.cycle_model import model_cycles
from hwq.eie.program import Program
from hwq.golden import run_int
from hwq.ir.model import Model
from hwq.sim import runner

MASK32 = (1 << 32) - 1


def _signed(vals: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    vals = vals & ((1 << bits) - 1)
    return np.where(vals >= 1 << (bits - 1), vals - (1 << bits), vals) if signed else vals


def golden_activations(model: Model, program: Program, x: np.ndarray) -> dict[str, np.ndarray]:
    """Golden outputs by layer name for the integer batch ``x`` of the program's input."""
    if program.input_name == model.inputs[0].name:
        return run_int(model, x, keep_all=True)
    # one layer (--layer): x is already the golden input of that layer
    lp = program.layers[0]
    single = Model(model.name, {}, [lp.layer.name])
    from hwq.ir.layers import Input

    single.layers[program.input_name] = Input(program.input_name, [], shape=(lp.layer.in_features,),
                                              quant=lp.in_quant)
    single.layers[lp.layer.name] = lp.layer
    out = run_int(single, x, keep_all=True)
    return out


def _trace_values(rows: list[list[int]], n_pe: int, a_bits: int, out_features: int):
    """(values, seen) of one layer's output rows from its trace rows ([local row, packed data])."""
    got = np.zeros(out_features, dtype=np.int64)
    seen = np.zeros(out_features, dtype=bool)
    mask = (1 << a_bits) - 1
    for row, data in rows:
        for p in range(n_pe):
            i = row * n_pe + p
            if i < out_features:
                got[i] = (data >> (p * a_bits)) & mask
                seen[i] = True
    return got, seen


def check(model: Model, program: Program, x: np.ndarray, simulator: str = "icarus",
          waves: str | None = None, jobs: int | None = None, netlist: str | None = None) -> dict:
    """Run the integer batch ``x`` (the program's input) on the RTL (``runner.run``: ``jobs``
    simulator processes, ``netlist`` kind) and compare; the report of ``hwq simulate --json``."""
    cfg = program.cfg
    gold = golden_activations(model, program, x)
    n_samples = x.shape[0]
    # the cycle model of every layer of every sample, computed once
    timings = []
    for s in range(n_samples):
        prev, ts = program.input_name, []
        for lp in program.layers:
            ts.append(lp.timing(gold[prev][s], cfg))
            prev = lp.golden_name
        timings.append(ts)
    expected = [model_cycles(ts) for ts in timings]
    raw = runner.run(program, gold[program.input_name], simulator, waves,
                     max_cycles=4 * max(expected, default=0) + 1000, jobs=jobs, netlist=netlist)
    n, a_bits = cfg.n_pe, cfg.act_bits
    layers = []
    all_match = True
    for k, lp in enumerate(program.layers):
        o = lp.layer.out_features
        want = gold[lp.golden_name]
        entry = {"name": lp.name, "golden": lp.golden_name, "match": True, "cycles_rtl": 0, "cycles_model": 0,
                 "pe_busy": [0] * n, "pe_busy_model": [0] * n, "first_mismatch": None}
        for s, res in enumerate(raw):
            got, seen = _trace_values(res["traces"][k], n, a_bits, o)
            got, seen = lp.logical(got), lp.logical(seen)  # physical -> logical rows (row map)
            got = _signed(got, a_bits, lp.out_quant.signed)
            bad = np.flatnonzero((got != want[s]) | ~seen)
            if bad.size and entry["first_mismatch"] is None:
                i = int(bad[0])
                entry["first_mismatch"] = {"sample": s, "index": i, "expected": int(want[s][i]),
                                           "got": int(got[i]) if seen[i] else None}
            timing = timings[s][k]
            cyc = res["layer_stats"][k] & MASK32
            busy = [w & MASK32 for w in res["pe_stats"][k]]
            entry["cycles_rtl"] += cyc
            entry["cycles_model"] += timing.cycles
            entry["pe_busy"] = [b + v for b, v in zip(entry["pe_busy"], busy)]
            entry["pe_busy_model"] = [b + int(v) for b, v in zip(entry["pe_busy_model"], timing.busy)]
            rtl_counts = {"entries": [(w >> 64) & MASK32 for w in res["pe_stats"][k]],
                          "fifo_full": [(w >> 32) & MASK32 for w in res["pe_stats"][k]],
                          "broadcast_stalls": res["layer_stats"][k] >> 32}
            model_counts = {"entries": timing.entries.tolist(), "fifo_full": timing.fifo_full.tolist(),
                            "broadcast_stalls": timing.broadcast_stalls}
            counts_ok = cyc == timing.cycles and busy == timing.busy.tolist() and rtl_counts == model_counts
            if not counts_ok and "counter_mismatch" not in entry:
                entry["counter_mismatch"] = {"sample": s, "rtl": rtl_counts, "model": model_counts}
            if bad.size or not counts_ok:
                entry["match"] = False
        layers.append(entry)
        all_match &= entry["match"]
    total_rtl = total_model = total_harness = 0
    for s, res in enumerate(raw):
        total_model += expected[s]
        total_rtl += res["total"]
        total_harness += res["cycles_harness"]
        final = program.decode_output(res["output"])
        if not np.array_equal(final, gold[program.layers[-1].golden_name][s]):
            all_match = False
    # the accelerator's own cycle counter, the harness's count from start to done, the model
    all_match &= total_rtl == total_model == total_harness
    return {"match": bool(all_match), "simulator": simulator, "params": cfg.to_json(), "samples": int(n_samples),
            "cycles_rtl": total_rtl, "cycles_model": total_model, "layers": layers}
