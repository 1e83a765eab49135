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


def check(model: Model, program: Program, x: np.ndarray, simulator: str = "icarus",
          waves: str | None = None) -> dict:
    cfg = program.cfg
    gold = golden_activations(model, program, x)
    expected = []
    for s in range(x.shape[0]):
        prev, ts = program.input_name, []
        for lp in program.layers:
            ts.append(lp.timing(gold[prev][s], cfg))
            prev = lp.golden_name
        expected.append(model_cycles(ts))
    raw = runner.run(program, gold[program.input_name], simulator, waves, max_cycles=4 * max(expected) + 1000)
    n, a_bits = cfg.n_pe, cfg.act_bits
    layers = []
    all_match = True
    total_rtl = total_model = 0
    prev = program.input_name
    for k, lp in enumerate(program.layers):
        o = lp.layer.out_features
        want = gold[lp.golden_name]
        x_in = gold[prev]
        entry = {"name": lp.name, "golden": lp.golden_name, "match": True, "cycles_rtl": 0, "cycles_model": 0,
                 "pe_busy": [0] * n, "pe_busy_model": [0] * n, "first_mismatch": None}
        for s, res in enumerate(raw):
            got = np.zeros(o, dtype=np.int64)
            seen = np.zeros(o, dtype=bool)
            for row, data in res["traces"][k]:
                for p in range(n):
                    i = row * n + p
                    if i < o:
                        got[i] = (data >> (p * a_bits)) & ((1 << a_bits) - 1)
                        seen[i] = True
            got = _signed(got, a_bits, lp.out_quant.signed)
            bad = np.flatnonzero((got != want[s]) | ~seen)
            if bad.size and entry["first_mismatch"] is None:
                i = int(bad[0])
                entry["first_mismatch"] = {"sample": s, "index": i, "expected": int(want[s][i]),
                                           "got": int(got[i]) if seen[i] else None}
            timing = lp.timing(x_in[s], cfg)
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
        prev = lp.golden_name
    for s, res in enumerate(raw):
        timings = []
        prev = program.input_name
        for lp in program.layers:
            timings.append(lp.timing(gold[prev][s], cfg))
            prev = lp.golden_name
        total_model += model_cycles(timings)
        total_rtl += res["total"]
        final = program.decode_output(res["output"])
        if not np.array_equal(final, gold[program.layers[-1].golden_name][s]):
            all_match = False
    all_match &= total_rtl == total_model
    return {"match": bool(all_match), "simulator": simulator, "params": cfg.to_json(), "samples": int(x.shape[0]),
            "cycles_rtl": total_rtl, "cycles_model": total_model, "layers": layers}
