"""``hwq estimate`` end to end: table, JSON and CSV agree; targets and bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwq.cli import main
from hwq.cost.report import TABLE_COLUMNS, si
from hwq.cost.targets import REGISTRY, Param, Target, make_target

ROOT = Path(__file__).parents[1]
EX = ROOT / "examples"
MODELS = ["digits_mlp_pruned_shared.ir", "digits_lenet_pow2.ir", "digits_mlp_pq.ir", "digits_lenet.ir"]


def run(*args):
    return CliRunner().invoke(main, ["estimate", *map(str, args)])


def ok(*args):
    r = run(*args)
    assert r.exit_code == 0, r.output + r.stderr
    return r.stdout


@pytest.mark.parametrize("name", MODELS)
def test_json_csv_and_table_agree(name):
    model = EX / name
    rep = json.loads(ok(model, "--json"))
    assert set(rep) >= {"model", "target", "params", "layers", "total"}
    for r in rep["layers"]:
        assert set(r) >= {"name", "kind", "macs_dense", "macs_effective", "flops_dense", "flops_effective",
                          "weight_bytes", "activation_bytes", "energy_pj", "cycles", "seconds"}
        assert set(r["weight_bytes"]) >= {"payload", "index", "pointer", "codebook", "bias", "total"}
        assert "total" in r["energy_pj"]
    rows = list(csv.DictReader(io.StringIO(ok(model, "--csv"))))
    assert [r["name"] for r in rows] == [r["name"] for r in rep["layers"]] + ["total"]
    for c, j in zip(rows, rep["layers"] + [rep["total"]]):
        assert float(c["macs_dense"]) == j["macs_dense"]
        assert float(c["macs_effective"]) == pytest.approx(j["macs_effective"])
        assert float(c["energy_pj_total"]) == pytest.approx(j["energy_pj"]["total"])
        assert float(c["weight_bytes_total"]) == pytest.approx(j["weight_bytes"]["total"])
        assert float(c["cycles"]) == pytest.approx(j["cycles"])
    table = ok(model).splitlines()
    for j in rep["layers"] + [dict(rep["total"], name="total")]:
        line = next(t for t in table if t.split() and t.split()[0] == j["name"])
        for _, get in TABLE_COLUMNS:
            assert si(get(j)) in line.split(), (j["name"], si(get(j)), line)


def test_totals_are_sums_and_kind_is_the_irs():
    from hwq import ir

    m = ir.load(EX / "digits_lenet_pruned_shared.ir")
    rep = json.loads(ok(EX / "digits_lenet_pruned_shared.ir", "--json"))
    assert [r["kind"] for r in rep["layers"]] == [l.KIND for l in m.topo_order()]
    for k in ("macs_dense", "macs_effective", "cycles", "seconds"):
        assert rep["total"][k] == pytest.approx(sum(r[k] for r in rep["layers"]))
    assert rep["total"]["seconds"] == pytest.approx(rep["total"]["cycles"] / rep["params"]["clock_hz"])


def test_measured_density_matches_golden(tmp_path):
    from hwq import ir
    from hwq.golden import run_int

    x = np.load(EX / "digits_test_x.npy")[:32]
    np.save(tmp_path / "x.npy", x)
    rep = json.loads(ok(EX / "digits_mlp_pruned_shared.ir", "--input", tmp_path / "x.npy", "--json"))
    m = ir.load(EX / "digits_mlp_pruned_shared.ir")
    acts = run_int(m, x, keep_all=True)
    for r in rep["layers"]:
        if r["kind"] == "dense":
            src = m.layers[r["name"]].inputs[0]
            assert r["act_density"] == pytest.approx(np.mean(acts[src] != m.layers[src].quant.zero_point))
    assert "measured" in rep["act_density_source"]
    digits = json.loads(ok(EX / "digits_mlp_pruned_shared.ir", "--input", "digits", "--samples", "32", "--json"))
    assert digits["layers"][1]["act_density"] < 1


def test_params_and_config_override(tmp_path):
    (tmp_path / "c.yaml").write_text("sram_bytes: 1024\nclock_hz: 5.0e8\n")
    rep = json.loads(ok(EX / "digits_mlp_pruned_shared.ir", "--config", tmp_path / "c.yaml",
                        "--param", "clock_hz=2e8", "--json"))
    assert rep["params"]["sram_bytes"] == 1024 and rep["params"]["clock_hz"] == 2e8
    # 9.2 kB of weights do not fit 1 kB: streamed from DRAM, flagged
    assert rep["total"]["fits"]["weights"] is False
    assert rep["total"]["traffic_bytes"]["dram"] >= rep["total"]["weight_bytes"]["total"]
    big = json.loads(ok(EX / "digits_mlp_pruned_shared.ir", "--json"))
    assert big["total"]["traffic_bytes"]["dram"] == 0 and big["total"]["fits"]["weights"] is True


def test_roofline_bound():
    slow = json.loads(ok(EX / "digits_mlp.ir", "--param", "macs_per_cycle=1", "--json"))
    fc = [r for r in slow["layers"] if r["kind"] == "dense"]
    assert all(r["bound"] == "compute" for r in fc)
    for r in fc:  # one lane: cycles = executed MACs + one element-wise op per output
        assert r["cycles"] == pytest.approx(r["macs_executed"] + r["macs_dense"] / (r["activation_bytes"]["in"] / 4))
    mem = json.loads(ok(EX / "digits_mlp.ir", "--param", "sram_bytes=0", "--param", "dram_bandwidth=1e6",
                        "--json"))
    assert all(r["bound"] == "dram" for r in mem["layers"] if r["kind"] == "dense")


def test_plot(tmp_path):
    ok(EX / "digits_lenet_pruned_shared.ir", "--plot", tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run(EX / "digits_lenet_pruned_shared.ir", "--plot", tmp_path / "no" / "p.png")
    assert r.exit_code == 1 and "does not exist" in r.stderr
    model = tmp_path / "m.ir"
    model.write_bytes((EX / "digits_lenet_pruned_shared.ir").read_bytes())
    r = run(model, "--plot", model)
    assert r.exit_code == 1 and "is the input" in r.stderr and model.read_bytes()[:2] == b"PK"


@pytest.mark.parametrize("args,msg", [
    (["--target", "nope"], "unknown target"),
    (["--target", "cortex-m4", "--param", "sram_bytes=1"], "has no parameter 'sram_bytes'"),
    (["--param", "nope=1"], "has no parameter 'nope'"),
    (["--param", "sram_bytes=-5"], "below its minimum"),
    (["--param", "clock_hz=fast"], "not a valid float"),
    (["--param", "justaname"], "expected name=value"),
    (["--act-density", "1.5"], "outside [0, 1]"),
    (["--act-density", "-0.1"], "outside [0, 1]"),
    (["--act-density", "fc9=0.5"], "no layer named"),
    (["--act-density", "x"], "not a number"),
    (["--energy-table", "nope"], "neither a file nor a known table"),
    (["--samples", "0", "--input", "digits"], "at least 1"),
    (["--json", "--csv"], "choose one"),
])
def test_bad_input_one_line(args, msg):
    r = run(EX / "digits_mlp_pruned_shared.ir", *args)
    assert r.exit_code == 1 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("name,text,msg", [
    ("c.json", "{broken", "malformed"),
    ("c.yaml", "- a\n- b\n", "mapping"),
    ("c.yaml", "sram_bytes: [1, 2\n", "malformed"),
    ("c.txt", "x", ".json, .yaml"),
    ("c.json", '{"sram_bytes": -1}', "below its minimum"),
    ("c.json", '{"banks": 4}', "no parameter 'banks'"),
])
def test_malformed_config(tmp_path, name, text, msg):
    (tmp_path / name).write_text(text)
    r = run(EX / "digits_mlp_pruned_shared.ir", "--config", tmp_path / name)
    assert r.exit_code == 1 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_registry_is_extensible(monkeypatch):
    """A new target is a Target subclass plus one registry line (docs/estimate.md)."""
    import sys
    import types

    from hwq.cost.estimate import estimate_model
    from hwq.cost.targets import LayerCost
    from hwq.cost.traffic import Level

    class Toy(Target):
        NAME = "toy"
        PARAMS = {"clock_hz": Param(1e6, "Hz", "clock"), "lanes": Param(2, "", "lanes", 1)}

        def levels(self):
            return [Level("dram", "dram")]

        def layer_cost(self, c):
            return LayerCost(cycles=c.work.slots / self.params["lanes"], traffic={"dram": c.weight_bytes["total"]},
                             bound="compute")

    mod = types.ModuleType("toy_target")
    mod.Toy = Toy
    monkeypatch.setitem(sys.modules, "toy_target", mod)
    monkeypatch.setitem(REGISTRY, "toy", "toy_target:Toy")
    assert make_target("toy", ["lanes=4"]).params["lanes"] == 4
    from hwq import ir

    rep = estimate_model(ir.load(EX / "digits_mlp_pruned_shared.ir"), target="toy", params=["lanes=4"])
    assert rep["total"]["cycles"] == pytest.approx(sum(r["cycles"] for r in rep["layers"]))
    assert rep["total"]["energy_pj"]["dram"] == pytest.approx(rep["total"]["weight_bytes"]["total"] * 1300 / 8)
