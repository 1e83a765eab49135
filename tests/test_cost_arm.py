"""The ARM targets of hwq estimate (hwq/cost/arm.py) against what gen-c's kernels really
execute: exact qemu instruction counts of `hwq gen-c --target T --run --json` on layers NOT
used for the fit (shapes 512x280, 520x140 and the tiny 80x10; per-channel and shift
requantization; conv layers of shapes not in bench_genc.CONV_SHAPES), per target, within the fit's stated error band
(hwq/cost/arm_models/genc_qemu_fit.json)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwq.cli import main
from hwq.codegen.targets import TARGETS
from hwq.compress.random_model import random_mlp
from hwq.cost.arm import ARM_TARGETS, fit_data
from hwq.cost.targets import PLANNED, REGISTRY, make_target, target_class
from hwq.errors import HwqError
from hwq.ir import save
from hwq.ir.quant import make_requant
from hwq.ir.rewrite import branches

EX = Path(__file__).resolve().parents[1] / "examples"
ARM = ["host", "cortex-a53", "cortex-a72", "cortex-m4", "cortex-m55"]


def need_m4():
    for tool, pkg in (("arm-none-eabi-gcc", "gcc-arm-none-eabi"), ("qemu-system-arm", "qemu-system-arm")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed: apt-get install {pkg}")


def need(target: str):
    try:
        TARGETS[target].check_tools()
    except HwqError as e:
        pytest.skip(str(e))


def run_json(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def measured_vs_estimated(model_path: Path, x_path: Path, tmp: Path, target: str = "cortex-m4"):
    gen = run_json(["gen-c", str(model_path), "--target", target, "--run", "--json", "--input", str(x_path),
                    "-o", str(tmp / "proj")])
    assert gen["match"]
    est = run_json(["estimate", str(model_path), "--target", target, "--input", str(x_path), "--json"])
    meas = {l["name"]: (l["instructions"], l["kernel"]) for l in gen["layers"]}
    return {l["name"]: (l["extra"]["instructions"], *meas[l["name"]], l["extra"]) for l in est["layers"]
            if l["name"] in meas and "kernel" in l["extra"]}


def with_requant(m, mode: str, per_channel: bool, seed: int = 0):
    """``m`` with its one layer's requantization factor replaced: per channel (x 2^u, u in
    [-1, 1)) and/or rounded to a power of two (shift mode)."""
    layer = m.weighted()[0]
    rq = layer.requant
    f = float(rq.multiplier[0]) * 2.0 ** (int(rq.exponent[0]) - 31)
    f = f * 2.0 ** np.random.default_rng(seed).uniform(-1, 1, layer.weight.matrix_shape[0] if per_channel else 1)
    if mode == "shift":
        f = 2.0 ** np.round(np.log2(f))
    m.layers[layer.name] = replace(layer, requant=make_requant(f))
    rq = m.layers[layer.name].requant
    assert rq.mode == mode and (rq.channels > 1) == per_channel
    return m


def case_models(n_in: int, n_out: int, cases) -> dict:
    out = {}
    for k, (enc, sparse, bits, density, rq) in enumerate(cases):
        m = random_mlp(f"{n_in},{n_out}", density=density, encoding=enc, bits=bits, sparse=sparse, index_bits=4,
                       seed=11 + k)
        out[f"b{k}"] = with_requant(m, *rq) if rq else m
    return out


# per target, one build each (within the Cortex-M55's 512 kB): shapes the fit never saw (512x280
# and 520x140 inside the fitted range, 80x10 a tiny output layer), every kernel family,
# per-channel and shift requantization
SHAPE_CASES = {
    "512x280": [("pow2", "csc", 4, 0.1, None), ("codebook", "csr", 4, 0.1, None), ("pow2", "csr", 5, 0.05, None),
                ("pow2", "csc", 4, 0.3, ("shift", False))],
    "520x140": [("codebook", "none", 4, 1.0, None), ("ternary", "csc", 4, 0.1, None), ("pq", "none", 4, 1.0, None),
                ("int8", "none", 4, 1.0, None), ("int8", "none", 4, 1.0, ("multiplier", True))],
    "80x10": [("int8", "none", 4, 1.0, ("multiplier", True)), ("codebook", "csc", 5, 0.1, None),
              ("pow2", "csc", 5, 0.2, ("shift", False)), ("codebook", "csr", 4, 0.3, None)],
}


FITTED = ["cortex-m4", "cortex-m55", "cortex-a53", "cortex-a72"]  # the targets with a fit of their own


@pytest.mark.parametrize("shape", list(SHAPE_CASES))
@pytest.mark.parametrize("target", FITTED)
def test_estimate_within_fit_error_of_qemu(tmp_path, target, shape):
    need(target)
    n_in, n_out = map(int, shape.split("x"))
    m = branches(case_models(n_in, n_out, SHAPE_CASES[shape]), "cases")
    save(m, tmp_path / "m.ir")
    rng = np.random.default_rng(3)
    x = rng.integers(1, 256, (1, n_in))
    np.save(tmp_path / "x.npy", x)
    band = fit_data()["provenance"]["max_relative_error"][target]
    rows = measured_vs_estimated(tmp_path / "m.ir", tmp_path / "x.npy", tmp_path, target)
    assert len(rows) == len(SHAPE_CASES[shape])
    for name, (est, meas, kernel, extra) in rows.items():
        assert kernel.split("+relu")[0] == extra["kernel"], (name, kernel, extra)
        assert abs(est - meas) / meas <= band, (name, est, meas, kernel, extra)


def conv_case(c: int, o: int, k: int, h: int, enc: str, sparse: str, density: float, bits: int, seed: int,
              rq: tuple | None = None):
    """One random conv2d layer (padding k // 2, stride 1, fused ReLU), calibrated; optionally with
    its requantization replaced (``with_requant``'s mode, per channel)."""
    from hwq.compress.calibrate import calibrate
    from hwq.compress.random_model import random_weight
    from hwq.ir.layers import Conv2d, Input, ReLU
    from hwq.ir.model import Model

    rng = np.random.default_rng(seed)
    m = Model("conv_case", {}, [], {"source": "tests/test_cost_arm.py", "seed": seed})
    m.layers["input"] = Input("input", [], shape=(c, h, h))
    m.layers["conv1"] = Conv2d("conv1", ["input"], in_channels=c, out_channels=o, kernel=(k, k), padding=(k // 2,) * 4,
                               weight=random_weight(rng, (o, c, k, k), enc, density, bits, sparse, 4),
                               bias=(rng.normal(size=o) * 0.1).astype(np.float32))
    m.layers["relu1"] = ReLU("relu1", ["conv1"])
    m.outputs = ["relu1"]
    m = calibrate(m, rng.random((32, c, h, h)), weights_to_int8=False)
    return with_requant(m, *rq, seed) if rq else m


# conv layers of shapes the fit never saw (bench_genc.CONV_SHAPES; nor the LeNet examples' (1, 8, 3, 8)
# and (8, 16, 3, 4)) in the examples' regimes: one input channel, 72 columns, per-channel multiplier
# and per-tensor shift requantization
PC, SHIFT = ("multiplier", True), ("shift", False)
CONV_CASES = [(1, 10, 3, 7, "int8", "none", 1.0, 8, PC), (8, 10, 3, 4, "int8", "none", 1.0, 8, PC),
              (1, 10, 3, 7, "codebook", "csc", 0.3, 4, None), (8, 10, 3, 4, "codebook", "csc", 0.3, 4, None),
              (1, 10, 3, 7, "pow2", "none", 1.0, 5, None), (8, 10, 3, 4, "pow2", "none", 1.0, 5, None),
              (1, 10, 3, 7, "pow2", "none", 0.5, 5, SHIFT), (8, 10, 3, 4, "pow2", "none", 0.5, 5, SHIFT)]


@pytest.mark.parametrize("target", FITTED)
def test_conv_estimate_within_the_issue_goal_of_qemu(tmp_path, target):
    """Conv layers the fit never saw, against gen-c's exact qemu count: within issue #14's goal
    of 5 %, as the example models' conv layers are (the fit's provenance)."""
    need(target)
    band = 0.05
    assert fit_data()["provenance"]["examples_max_relative_error_conv"][target] <= band
    rng = np.random.default_rng(5)
    for k, (c, o, ks, h, enc, sparse, density, bits, rq) in enumerate(CONV_CASES):
        m = conv_case(c, o, ks, h, enc, sparse, density, bits, 20 + k, rq)
        save(m, tmp_path / f"c{k}.ir")
        x = rng.integers(0, 256, (1, c, h, h)) * (rng.random((1, c, h, h)) < 0.6)  # zero taps too (CSC skips them)
        np.save(tmp_path / f"x{k}.npy", x)
        rows = measured_vs_estimated(tmp_path / f"c{k}.ir", tmp_path / f"x{k}.npy", tmp_path / f"p{k}", target)
        (est, meas, kernel, extra), = rows.values()
        assert kernel.startswith("conv2d/") and kernel.split("+relu")[0] == extra["kernel"], (k, kernel, extra)
        assert abs(est - meas) / meas <= band, (k, est, meas, kernel, band)


# issue #14's goal (within 5 %) on a tiny layer the fit never saw (68x14), ReLU-like inputs (19 %
# non-zero): the kernels that missed it on 100x10 -- 5-bit pow2 CSC's plain loop (-15 % on
# Cortex-M55: gcc spilled its column loop's pointer at some shapes), the code-grouped MVE rows
# (the activations' copy per column), the NEON shift kernel (the activations' widening loop
# gcc vectorizes only for a multiple of 8 columns); on Cortex-A72 PQ with sub-vectors of 17 taps
# (one block and a one-tap tail, -16 % before 68x22 was fitted: the same 68 columns, other rows)
TINY_CASES = {"cortex-m55": [("pow2", "csc", 5, 0.05, None), ("codebook", "csc", 5, 0.1, None),
                             ("ternary", "csr", 4, 0.1, None), ("pow2", "none", 5, 1.0, None)],
              "cortex-a53": [("pow2", "none", 4, 1.0, None), ("pow2", "csc", 5, 0.05, None)],
              "cortex-a72": [("pow2", "none", 4, 1.0, None), ("pow2", "csc", 5, 0.05, None), ("pq", "none", 4, 1.0, None)]}


@pytest.mark.parametrize("target", list(TINY_CASES))
def test_tiny_layer_within_the_issue_goal(tmp_path, target):
    need(target)
    m = branches(case_models(68, 14, TINY_CASES[target]), "tiny")
    save(m, tmp_path / "m.ir")
    rng = np.random.default_rng(5)
    x = np.where(rng.random((1, 68)) < 0.19, rng.integers(1, 256, (1, 68)), 0)
    np.save(tmp_path / "x.npy", x)
    rows = measured_vs_estimated(tmp_path / "m.ir", tmp_path / "x.npy", tmp_path, target)
    assert len(rows) == len(TINY_CASES[target])
    for name, (est, meas, kernel, extra) in rows.items():
        assert kernel.split("+relu")[0] == extra["kernel"], (name, kernel, extra)
        assert abs(est - meas) / meas <= 0.05, (name, est, meas, kernel)


@pytest.mark.parametrize("name", ["digits_mlp_int8", "digits_mlp_pq", "digits_lenet_pruned_shared"])
def test_m4_example_layers_within_their_recorded_error(tmp_path, name):
    """Example models (never fitted; 100x10 / 64x10 output layers, per-channel int8, PQ): the
    estimate names the kernel gen-c runs (conv layers too) and every dense layer is within the
    largest error recorded for the examples' dense layers on this target (bench_genc.py
    examples, the fit's provenance)."""
    need("cortex-m4")
    x = np.load(EX / "digits_test_x.npy")[:1]
    if "lenet" in name:
        x = x.reshape(1, 1, 8, 8)
    np.save(tmp_path / "x.npy", x)
    band = fit_data()["provenance"]["examples_max_relative_error_dense"]["cortex-m4"]
    rows = measured_vs_estimated(EX / f"{name}.ir", tmp_path / "x.npy", tmp_path)
    assert rows
    for layer, (est, meas, kernel, extra) in rows.items():
        assert kernel.split("+relu")[0] == extra["kernel"], (layer, kernel, extra)
        if kernel.startswith("dense/"):
            assert abs(est - meas) / meas <= band, (layer, est, meas, kernel)


def test_registry_has_every_arm_target():
    for name in ARM:
        assert name in REGISTRY and name not in PLANNED
        t = make_target(name)
        assert target_class(name).NAME == name
        assert t.clock_hz == ARM_TARGETS[name]["clock_hz"] and t.params["cpi"] == 1.0


def test_cpi_scales_cycles_and_memory_sizes():
    m4 = make_target("cortex-m4", ["cpi=2", "ram_bytes=1024"])
    assert m4.params["cpi"] == 2.0
    assert [lv.name for lv in m4.levels()] == ["flash", "ram", "rf"]
    assert m4.levels()[1].size_bytes == 1024
    assert [lv.name for lv in make_target("cortex-a53").levels()] == ["dram", "rf"]
    a = run_json(["estimate", str(EX / "digits_mlp_int8.ir"), "--target", "cortex-m4", "--json"])
    b = run_json(["estimate", str(EX / "digits_mlp_int8.ir"), "--target", "cortex-m4", "--param", "cpi=2", "--json"])
    assert b["total"]["cycles"] == pytest.approx(2 * a["total"]["cycles"])


def test_small_ram_does_not_fit():
    est = run_json(["estimate", str(EX / "digits_mlp_int8.ir"), "--target", "cortex-m55",
                    "--param", "ram_bytes=16", "--param", "flash_bytes=16", "--json"])
    fc = [l for l in est["layers"] if l["name"] == "fc1"][0]
    assert fc["fits"] == {"weights": False, "activations": False}


def test_unfitted_layers_say_so():
    """``host`` (not measured under qemu) borrows the Cortex-A53 fit and says so; Cortex-A72 has
    its own fit (its own measurements: gen-c builds it with -mcpu=cortex-a72) and no note."""
    est = run_json(["estimate", str(EX / "digits_lenet_int8.ir"), "--target", "host", "--json"])
    notes = [l["extra"].get("model", "") for l in est["layers"]]
    assert any("host" in n and "Cortex-A53" in n for n in notes)
    kernels = {l["name"]: l["extra"].get("kernel") for l in est["layers"]}
    assert kernels["conv1"].startswith("conv2d/int8/") and kernels["fc1"].startswith("dense/int8/")
    est = run_json(["estimate", str(EX / "digits_lenet_int8.ir"), "--target", "cortex-a72", "--json"])
    assert all(l["extra"].get("fit") == "cortex-a72" and "model" not in l["extra"] for l in est["layers"]
               if "kernel" in l["extra"])
    assert any(s["target"] == "cortex-a72" for s in fit_data()["measurements"])


@pytest.mark.parametrize("args,msg", [(["--param", "cpi=0"], "below its minimum"),
                                      (["--param", "flash_bytes=1"], "has no parameter 'flash_bytes'"),
                                      (["--param", "cpi=x"], "not a valid float")])
def test_bad_params_one_line(args, msg):
    r = CliRunner().invoke(main, ["estimate", str(EX / "digits_mlp_int8.ir"), "--target", "cortex-a53", *args])
    assert r.exit_code != 0 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
    with pytest.raises(HwqError):
        make_target("cortex-a53", args[1:])


def test_duplicate_centroids_counted_as_the_kernels_groups(tmp_path):
    """A codebook whose 16 centroids hold only 6 distinct non-zero values (each code its own group
    in gen-c's code-grouped rows, hwq.kernels.grouped): the estimate counts the groups the kernel
    loops over (``layer_groups``: 14 non-zero codes, not the 6 distinct values) and is within
    the fit's band of the qemu count on Cortex-M4's Thumb-2 grouped rows."""
    from hwq.cost.arm import layer_groups

    need("cortex-m4")
    m = random_mlp("300,60", density=0.1, encoding="codebook", bits=4, sparse="csr", index_bits=4, seed=3)
    layer = m.weighted()[0]
    cb = layer.weight.values.codebook
    cb[:] = np.resize(np.array([0, 37, -52, 90, -15], cb.dtype), cb.shape)  # codes 0, 5, 10, 15: zero
    cb[5], cb[10] = 61, -44  # 14 non-zero codes, 6 distinct non-zero values
    assert np.count_nonzero(np.unique(cb)) == 6 and layer_groups(layer) == 14
    save(m, tmp_path / "m.ir")
    rng = np.random.default_rng(4)
    np.save(tmp_path / "x.npy", rng.integers(1, 256, (1, 300)))
    rows = measured_vs_estimated(tmp_path / "m.ir", tmp_path / "x.npy", tmp_path)
    (est, meas, kernel, extra), = rows.values()
    assert kernel.split("+relu")[0] == extra["kernel"] == "dense/csr+codebook/grouped/thumb2", (kernel, extra)
    assert abs(est - meas) / meas <= fit_data()["provenance"]["max_relative_error"]["cortex-m4"], (est, meas)
