"""The stages a sweep point runs, as a small registry.

A stage is a function ``run(params, artifacts) -> {column: value}``: ``params`` are the
point's parameters (its axes plus ``model``, ``data``, ``seed``), ``artifacts`` what earlier
stages left (``model``: the input model, ``data``: the data split; ``compress`` adds
``compressed``). A stage may add artifacts for later stages; it returns result columns only.

``scope`` says what a stage's result depends on: ``compression`` stages (compress,
accuracy) run once per distinct compressed model, in one Dask task keyed by the compression
parameters, and every hardware point that needs that model shares the result; ``point``
stages (estimate, simulate, gen-c run) run once per point. A point stage's ``prepare`` runs in
the compression task (the estimate stage's golden activations: measured once per compressed
model, not per hardware point).

The accelerator's parameters (``hwq.eie.EieConfig`` fields: n_pe, fifo_depth, ...) are
hardware axes of the simulate stage; a point builds one ``EieConfig`` from them
(``eie_config``), which the estimate stage's ``eie`` target and the simulate stage both use.

A stage raising `HwqError` (e.g. a layer the target cannot run) ends its point with the
message in the ``error`` column; later stages of that point do not run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from hwq.errors import HwqError
from hwq.sweep import compression

INF = math.inf


@dataclass(frozen=True)
class Column:
    """A result column, with the range its values can take (to reject unreachable constraints)."""

    name: str
    doc: str
    low: float = -INF
    high: float = INF


@dataclass(frozen=True)
class Stage:
    name: str
    scope: str  # "compression" or "point"
    run: Callable[[dict, dict], dict] | None
    columns: tuple[Column, ...] = ()
    needs: tuple[str, ...] = ()
    missing: str | None = None  # why the stage cannot run here (refused before any work)
    # hardware axes: ``axes`` are the stage's own names (e.g. target); ``hardware(axes_left)``
    # checks the hardware axes no other stage of the sweep owns and returns the names it takes
    # (raising on bad values), e.g. a target's parameters
    hardware: Callable[[dict], set] | None = None
    axes: tuple[str, ...] = ()
    doc: str = ""
    # a point-scope stage's work that depends on the compressed model only: run once per
    # compressed model in its compression task, ``prepare(params, artifacts)`` adds artifacts
    # that every hardware point of that model then reads
    prepare: Callable[[dict, dict], None] | None = None


REGISTRY: dict[str, Stage] = {}


def register(stage: Stage) -> Stage:
    REGISTRY[stage.name] = stage
    return stage


def get(name: str) -> Stage:
    stage = REGISTRY.get(name)
    if stage is None:
        raise HwqError(f"unknown stage {name!r} (stages: {', '.join(REGISTRY)})")
    if stage.missing:
        raise HwqError(f"stage {name} not available yet: {stage.missing}")
    return stage


# ---------------------------------------------------------------------------- compress
def _compress(params: dict, art: dict) -> dict:
    axes = {k: v for k, v in params.items() if compression.is_axis(k)}
    model = compression.compress(art["model"], axes, art["data"], params["data"], params["seed"])
    art["compressed"] = model
    return compression.storage(model)


register(Stage(
    "compress", "compression", _compress,
    columns=(Column("storage_bytes", "stored weights, every part (payload, index, pointer, codebook, bias)", 0),
             Column("compression", "Deep Compression's rate: dense float32 / (payload + index + codebook)", 0),
             Column("compression_huffman", "the same with Huffman-coded payload and index", 0),
             Column("density", "non-zero weights / weights", 0, 1)),
    doc="hwq compress with the point's compression axes"))


# ---------------------------------------------------------------------------- accuracy
def _accuracy(params: dict, art: dict) -> dict:
    data = art["data"]
    base = compression.evaluate(art["model"], data)
    got = compression.evaluate(art.get("compressed", art["model"]), data)
    return {"acc": 100 * got["acc"], "acc_float": 100 * got["acc_float"], "acc_base": 100 * base["acc"],
            "acc_drop": 100 * (base["acc"] - got["acc"])}


register(Stage(
    "accuracy", "compression", _accuracy, needs=("compress",),
    columns=(Column("acc", "test accuracy, %: the bit-exact integer golden model (float if not quantized)", 0, 100),
             Column("acc_float", "test accuracy of the float reference run, %", 0, 100),
             Column("acc_base", "test accuracy of the uncompressed input model, %", 0, 100),
             Column("acc_drop", "acc_base - acc, in percentage points", -100, 100)),
    doc="top-1 accuracy on the data set's test split through the golden model"))


# ---------------------------------------------------------------------------- estimate
ESTIMATE_SAMPLES = 64  # test inputs the golden model runs to measure activation densities
ESTIMATE_AXES = ("target", "act_density")  # hardware axes of the stage itself; the rest are target parameters


def _missing(module: str, what: str) -> str | None:
    """Why a stage cannot run here: None when ``module`` (its back end's API) is installed."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    return None if found else f"{what} is not installed"


def _targets(hw: dict) -> list[str]:
    names = hw.get("target", ["generic"])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise HwqError("target: expected a target name or a list of them")
    return names


def _estimate_hardware(hw: dict) -> set:
    """Check the hardware axes against every target named; the axis names the stage takes."""
    from hwq.cost.targets import make_target, target_class

    params = {k: v for k, v in hw.items() if k not in ESTIMATE_AXES}
    for name in _targets(hw):
        cls = target_class(name)
        for key, values in params.items():
            if key not in cls.PARAMS:
                raise HwqError(f"target {name} has no parameter {key!r} (it has: {', '.join(sorted(cls.PARAMS))})")
            for v in (values if isinstance(values, list) else [values.low, values.high]):
                make_target(name, config={key: v})  # out of range, wrong type: refused now
    for v in hw.get("act_density", []) if isinstance(hw.get("act_density"), list) else []:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
            raise HwqError(f"act_density {v!r}: expected a number in [0, 1]")
    return set(ESTIMATE_AXES) | set(params)


def _estimate_inputs(art: dict):
    model = art.get("compressed", art["model"])
    if art["data"] is None:
        return None
    return art["data"].x_test[:ESTIMATE_SAMPLES].reshape((-1,) + tuple(model.inputs[0].shape))


def _estimate_prepare(params: dict, art: dict) -> None:
    """The golden activations of the compressed model on the test inputs, once per model."""
    from hwq.cost.activity import measure

    x = _estimate_inputs(art)
    if x is not None:
        art["activations"] = measure(art.get("compressed", art["model"]), x)


# the eie target's parameters that come from the point's EieConfig (the simulate stage's too)
EIE_TARGET_FROM_CONFIG = ("n_pe", "fifo_depth", "index_bits", "entries_per_word", "sparse_words", "pointer_bits",
                          "row_map")


def _estimate(params: dict, art: dict) -> dict:
    from hwq.cost.estimate import estimate_model

    model = art.get("compressed", art["model"])
    from hwq.cost.targets import target_class

    hw = params.get("hardware", {})
    target = hw.get("target", "generic")
    density = hw.get("act_density")
    known = target_class(target).PARAMS
    config = {k: v for k, v in hw.items() if k in known}  # other stages' axes are not the target's
    if target == "eie":
        cfg = eie_config(params, art)
        config.update({k: getattr(cfg, k) for k in EIE_TARGET_FROM_CONFIG})
        config.setdefault("clock_hz", cfg.clock_mhz * 1e6)
    x = _estimate_inputs(art) if density is None else None
    report = estimate_model(model, target=target, config=config, x=x,
                            act_density=None if density is None else str(density),
                            activations=art.get("activations") if x is not None else None)
    t = report["total"]
    return {"energy_pj": float(t["energy_pj"]["total"]), "cycles": float(t["cycles"]),
            "seconds": float(t["seconds"]), "macs_effective": float(t["macs_effective"]),
            "macs_executed": float(t["macs_executed"]),
            "dram_bytes": float(t["traffic_bytes"].get("dram", 0.0)),
            "fits": all(t["fits"].values())}


register(Stage(
    "estimate", "point", _estimate, missing=_missing("hwq.cost.estimate", "hwq.cost (hwq estimate)"), hardware=_estimate_hardware, axes=ESTIMATE_AXES,
    prepare=_estimate_prepare,
    columns=(Column("energy_pj", "energy per inference, pJ (hwq estimate's total)", 0),
             Column("cycles", "cycles per inference at the target", 0),
             Column("seconds", "time per inference, s", 0),
             Column("macs_effective", "non-zero weight x non-zero activation MACs", 0),
             Column("macs_executed", "MACs the encoding's kernel runs", 0),
             Column("dram_bytes", "DRAM traffic per inference, bytes", 0),
             Column("fits", "weights and activations fit on chip (1) or not (0)", 0, 1)),
    doc="hwq estimate on the point's target and hardware parameters (activation densities "
        "measured by the golden model on the test split once per compressed model, or the act_density axis)"))


# ---------------------------------------------------------------------------- simulate
SIMULATE_SAMPLES = 8  # test inputs each point runs on the RTL (all of them held to the golden model)
SIMULATE_AXES = ("simulator",)  # plus every EieConfig field (eie_axes)


def eie_axes() -> tuple[str, ...]:
    import dataclasses

    from hwq.eie import EieConfig

    return tuple(f.name for f in dataclasses.fields(EieConfig))


def eie_config(params: dict, art: dict):
    """The point's accelerator configuration: ``EieConfig`` with the point's values of its
    fields, built once per point (kept in the point's artifacts) and shared by the estimate
    stage's eie target and the simulate stage."""
    if "eie_config" not in art:
        from hwq.eie import EieConfig

        fields = set(eie_axes())
        hw = params.get("hardware", {})
        given = {k: v for k, v in hw.items() if k in fields}
        if "act_depth" not in given and "n_pe" in given:  # as the eie target does: n_pe * act_depth < 2^16
            given["act_depth"] = max(1, min(EieConfig.act_depth, (1 << 16) // int(given["n_pe"]) - 1))
        art["eie_config"] = EieConfig().replace(**given)
    return art["eie_config"]


def model_eie_config(params: dict, art: dict):
    """``eie_config`` with the weight mode chosen from the point's model's weights
    (``hwq.sim.api.auto_config``, as ``hwq simulate`` does) unless a weight_mode axis gives it;
    once per point."""
    if "eie_config_model" not in art:
        from hwq.sim.api import auto_config

        cfg = eie_config(params, art)
        if "weight_mode" not in params.get("hardware", {}):
            cfg = auto_config(art.get("compressed", art["model"]), cfg)
        art["eie_config_model"] = cfg
    return art["eie_config_model"]


def _simulate_hardware(hw: dict) -> set:
    """EieConfig fields (each value checked by EieConfig) and ``simulator`` (installed)."""
    from hwq.eie import EieConfig
    from hwq.sim.runner import check_simulator

    fields = set(eie_axes())
    for key, values in hw.items():
        if key not in fields:
            continue
        for v in (values if isinstance(values, list) else [values.low, values.high]):
            EieConfig().replace(**{key: v})
    sims = hw.get("simulator", ["icarus"])
    if not isinstance(sims, list) or not all(isinstance(v, str) for v in sims):
        raise HwqError("simulator: expected icarus, verilator or a list of them")
    for v in sims:
        check_simulator(v)
    return (fields | set(SIMULATE_AXES)) & set(hw)


def _simulate(params: dict, art: dict) -> dict:
    from hwq.sim import simulate

    model = art.get("compressed", art["model"])
    hw = params.get("hardware", {})
    cfg = model_eie_config(params, art)
    x = None
    if art["data"] is not None:
        x = art["data"].x_test[:SIMULATE_SAMPLES].reshape((-1,) + tuple(model.inputs[0].shape))
    # one simulator process per point: the sweep's workers are the parallelism
    r = simulate(model, x, cfg, simulator=hw.get("simulator", "icarus"), samples=SIMULATE_SAMPLES, jobs=1)
    n = r["samples"]
    return {"rtl_match": bool(r["match"]), "cycles_rtl": r["cycles_rtl"] / n, "cycles_model": r["cycles_model"] / n}


register(Stage(
    "simulate", "point", _simulate, missing=_missing("hwq.sim.api", "hwq.sim (hwq simulate)"),
    hardware=_simulate_hardware, axes=SIMULATE_AXES + eie_axes(),
    columns=(Column("rtl_match", "every layer's RTL output equals the golden model's and every counter the "
                                 "cycle model's, on every sample (1) or not (0)", 0, 1),
             Column("cycles_rtl", "accelerator cycles per inference, mean over the samples (the RTL's counter)", 0),
             Column("cycles_model", "the same from the cycle model (equal to cycles_rtl when rtl_match)", 0)),
    doc=f"hwq simulate on the point's EieConfig ({SIMULATE_SAMPLES} test samples, cocotb + Icarus or Verilator)"))


# ---------------------------------------------------------------------------- area
def _area_hardware(hw: dict) -> set:
    """The accelerator's parameters, as the simulate stage takes them (without ``simulator``)."""
    return _simulate_hardware({k: v for k, v in hw.items() if k != "simulator"})


def _area(params: dict, art: dict) -> dict:
    from hwq.rtl.synthesis import synthesis_report

    t = synthesis_report(model_eie_config(params, art))["total"]
    return {"area": t["logic_cells"] + t["flip_flops"], "logic_cells": t["logic_cells"],
            "flip_flops": t["flip_flops"], "memory_bits": t["memory_bits"]}


register(Stage(
    "area", "point", _area, missing=_missing("hwq.rtl.synthesis", "hwq.rtl.synthesis (hwq gen-rtl --synth)"),
    hardware=_area_hardware, axes=eie_axes(),
    columns=(Column("area", "gate-level cells of the accelerator: logic cells + flip-flop bits (memories apart)", 0),
             Column("logic_cells", "2-input gates and muxes after Yosys + ABC (hwq.rtl.synthesis)", 0),
             Column("flip_flops", "flip-flop bits", 0),
             Column("memory_bits", "bits of the memories (SRAM macros or register files, not gates)", 0)),
    doc="hwq gen-rtl --synth's gate-level synthesis of the point's EieConfig (cached per configuration)"))


# ---------------------------------------------------------------------------- gen-c
GENC_SAMPLES = 4  # test inputs the generated program runs, compared with the golden model
GENC_AXES = ("c_target", "c_simd")


def _genc_hardware(hw: dict) -> set:
    """c_target: gen-c targets (default host), their tools installed; c_simd: true/false."""
    from hwq.codegen.targets import get_target

    names = hw.get("c_target", ["host"])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise HwqError("c_target: expected a gen-c target name or a list of them")
    for name in names:
        get_target(name).check_tools()
    simd = hw.get("c_simd", [True])
    if not isinstance(simd, list) or not all(isinstance(v, bool) for v in simd):
        raise HwqError("c_simd: expected true or false")
    return set(GENC_AXES)


def _genc(params: dict, art: dict) -> dict:
    import tempfile
    from pathlib import Path

    from hwq.codegen.flow import gen_c

    model = art.get("compressed", art["model"])
    hw = params.get("hardware", {})
    x = None
    if art["data"] is not None:
        x = art["data"].x_test[:GENC_SAMPLES].reshape((-1,) + tuple(model.inputs[0].shape))
    with tempfile.TemporaryDirectory(prefix="hwq-sweep-genc-") as tmp:
        r = gen_c(model, hw.get("c_target", "host"), Path(tmp) / "c", x=x, run=True,
                  simd=hw.get("c_simd", True))
    return {"c_match": bool(r["match"]), "c_instructions": r.get("instructions"),
            "c_text_bytes": r.get("text_bytes"), "c_ram_bytes": r.get("ram_bytes")}


register(Stage(
    "gen-c", "point", _genc, missing=_missing("hwq.codegen.flow", "hwq.codegen (hwq gen-c --run)"), hardware=_genc_hardware, axes=GENC_AXES,
    columns=(Column("c_match", "the C program's outputs equal the golden model's on every layer (1) or not", 0, 1),
             Column("c_instructions", "instructions per inference, one sample (qemu count; empty on the host)", 0),
             Column("c_text_bytes", "code size of the program, bytes", 0),
             Column("c_ram_bytes", "RAM: static data + activation arena, bytes", 0)),
    doc=f"hwq gen-c --run on the point's compressed model ({GENC_SAMPLES} test samples)"))
