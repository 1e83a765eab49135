"""gen-c on the host: every layer kind and weight encoding, bit-exact with the golden model."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwq import ir
from hwq.cli import main
from hwq.codegen import gen_c
from tests.factories import ENCODINGS, LAYOUTS, mlp
from tests.genc_helpers import every_kernel_model, merge, need_target, pow2_shift_limits, with_zero_points

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUANTIZED = sorted(p for p in EXAMPLES.glob("digits_*_*.ir"))
CASES = [(e, l) for e, l in itertools.product(ENCODINGS, LAYOUTS) if e != "pq" or l == "none"]


def check(report):
    bad = [l["name"] for l in report["layers"] if not l["match"]]
    assert report["match"] and not bad, f"mismatch in {bad}"


def test_every_encoding_and_layer_kind(tmp_path):
    """One program: every encoding x layout as a CNN branch (conv with padding and stride,
    relu, max/avg pool, add, flatten, dense; non-zero zero points; few index bits, so many
    fillers), and as an MLP branch ending in softmax (index_bits 1: maximal gaps)."""
    need_target("host")
    check(gen_c(every_kernel_model(), "host", tmp_path / "cnn", run=True))
    rng = np.random.default_rng(2)
    mlps = {f"{e}_{l}": mlp(rng, e, l, index_bits=1, density=0.2, softmax=True) for e, l in CASES}
    check(gen_c(with_zero_points(merge(mlps), {"x": 11}), "host", tmp_path / "mlp", run=True))


@pytest.mark.parametrize("encoding", ["int8", "codebook", "pow2"])
def test_wide_activations_and_shift_requant(tmp_path, encoding):
    need_target("host")
    rng = np.random.default_rng(3)
    m = mlp(rng, encoding, "csr", index_bits=4, density=0.6, act_bits=12, pow2_act=True)
    check(gen_c(m, "host", tmp_path / "m", run=True))


def test_pow2_shifts_at_the_range_limits(tmp_path):
    need_target("host")
    m, x = pow2_shift_limits()
    rep = gen_c(m, "host", tmp_path / "s", x=x, run=True)
    check(rep)
    assert rep["samples"] == 4 and rep["excluded_samples"] == []


def test_overflowing_samples_are_excluded(tmp_path):
    """A sample whose exact sum overflows the accumulator is outside the contract: the golden
    model flags it (hwq.golden.overflowing_samples), gen-c leaves it out and says so."""
    need_target("host")
    m, x = pow2_shift_limits()
    x[1, 1] = (x[1, 0] + 1) % 256  # 2^62 * (x0 - x1) no longer cancels
    rep = gen_c(m, "host", tmp_path / "s", x=x, run=True)
    check(rep)
    assert rep["excluded_samples"] == [1] and rep["samples"] == 3


def test_empty_rows_and_columns(tmp_path):
    need_target("host")
    rng = np.random.default_rng(9)
    for layout in ("csr", "csc"):
        m = mlp(rng, "codebook", layout, index_bits=3, density=0.03)
        w = m.layers["fc1"].weight.dense_int()
        assert (w == 0).all(axis=1).any() and (w == 0).all(axis=0).any()  # the case under test
        check(gen_c(m, "host", tmp_path / layout, run=True))


@pytest.mark.parametrize("path", QUANTIZED, ids=lambda p: p.stem)
def test_quantized_examples(tmp_path, path):
    need_target("host")
    m = ir.load(path)
    x = np.load(EXAMPLES / "digits_test_x.npy")[:4].reshape((4,) + tuple(m.inputs[0].shape))
    check(gen_c(m, "host", tmp_path / "p", x=x, run=True))


def test_cli_json_and_output_npy(tmp_path):
    need_target("host")
    out = tmp_path / "proj"
    r = CliRunner().invoke(main, ["gen-c", str(EXAMPLES / "digits_mlp_pruned_shared.ir"), "--target", "host",
                                  "-o", str(out), "--run", "--json", "--input", str(EXAMPLES / "digits_test_x.npy")])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    for key in ("target", "match", "samples", "layers", "text_bytes", "data_bytes", "ram_bytes",
                "arena_bytes", "instructions", "output"):
        assert key in rep
    assert rep["match"] and rep["target"] == "host"
    from hwq.golden import run_int

    m = ir.load(EXAMPLES / "digits_mlp_pruned_shared.ir")
    want = run_int(m, np.load(EXAMPLES / "digits_test_x.npy"))["fc3"]
    assert np.array_equal(np.load(rep["output"]), want)
    for f in ("model.h", "model.c", "main.c", "Makefile", "weights.h"):
        assert (out / f).is_file()
    assert re.search(r"int hwq_digits_mlp_\w*_run\(const uint8_t \*in0, int8_t \*out0, void \*arena\)",
                     (out / "model.h").read_text())


def test_pow2_kernel_has_no_multiply(tmp_path):
    """Shifts and adds only: the compiled pow2 kernels (shift requantization) hold no multiply."""
    need_target("host")
    if shutil.which("objdump") is None:
        pytest.skip("objdump not installed: apt-get install binutils")
    rng = np.random.default_rng(4)
    for layout in ("none", "csr", "csc"):
        m = mlp(rng, "pow2", layout, density=0.5, pow2_act=True)
        d = tmp_path / layout
        rep = gen_c(m, "host", d)
        assert all(l.requant.mode == "shift" for l in m.weighted())
        obj = d / "fc1.o"
        subprocess.run(["gcc", "-O2", "-std=c99", "-I", str(d), "-c", str(d / "kernels" / "fc1.c"), "-o", str(obj)],
                       check=True)
        asm = subprocess.run(["objdump", "-d", str(obj)], capture_output=True, text=True, check=True).stdout
        assert "fc1" in asm and not re.search(r"\s(i?mul|pmul)\w*\s", asm), layout
        assert rep["layers"][0]["kernel"].startswith("dense/")


def test_bad_input_one_line(tmp_path):
    runner = CliRunner()
    ex = str(EXAMPLES / "digits_mlp_int8.ir")
    r = runner.invoke(main, ["gen-c", ex, "--target", "z80", "-o", str(tmp_path / "a")])
    assert r.exit_code == 1 and "unknown target 'z80'" in r.output
    r = runner.invoke(main, ["gen-c", str(EXAMPLES / "digits_mlp.ir"), "-o", str(tmp_path / "b")])
    assert r.exit_code == 1 and "quantized" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_never_overwrites_the_users_files(tmp_path):
    """-o into a non-empty directory gen-c did not write: one line, exit 1, nothing touched; into
    its own earlier project (a rerun): replaced in place."""
    ex = str(EXAMPLES / "digits_mlp_int8.ir")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "model.c").write_text("my own model.c\n")
    r = CliRunner().invoke(main, ["gen-c", ex, "-o", str(mine)])
    assert r.exit_code == 1 and "not a gen-c project" in r.output and len(r.output.strip().splitlines()) == 1
    assert [p.name for p in mine.iterdir()] == ["model.c"] and (mine / "model.c").read_text() == "my own model.c\n"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # no staging directory left behind
    for _ in range(2):  # a new directory, then the same one again
        r = CliRunner().invoke(main, ["gen-c", ex, "-o", str(tmp_path / "p")])
        assert r.exit_code == 0, r.output
    assert "hwq_digits_mlp_int8_run" in (tmp_path / "p" / "model.h").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "p"]


def test_too_large_for_the_board_one_line_nothing_written(tmp_path):
    """Weights beyond the Cortex-M55 board's 512 kB flash (mps3-an547): refused before anything
    is written, without --run (the link would fail only with --run)."""
    from hwq.compress.random_model import random_mlp

    m = random_mlp("1024,600", density=1.0, encoding="int8", bits=4, sparse="none", index_bits=4, seed=0)
    assert 1024 * 600 > 512 << 10  # int8: one byte a weight
    ir.save(m, tmp_path / "big.ir")
    r = CliRunner().invoke(main, ["gen-c", str(tmp_path / "big.ir"), "--target", "cortex-m55", "-o", str(tmp_path / "o")])
    assert r.exit_code == 1 and "524288 B of flash" in r.output and len(r.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.ir"]


def test_missing_compiler_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no compiler, no qemu
    r = CliRunner().invoke(main, ["gen-c", str(EXAMPLES / "digits_mlp_int8.ir"), "--target", "cortex-m4",
                                  "-o", str(tmp_path / "p"), "--run"])
    assert r.exit_code == 1 and "apt-get install gcc-arm-none-eabi" in r.output


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_two_inputs(tmp_path, target):
    """A model with two graph inputs (signed and unsigned, different sizes) joined by add: one
    pointer per input in the entry point, each input bundled, bit-exact on the host and under
    qemu; the bundled values are the quantized given floats (hwq run's rule)."""
    from hwq.golden.run import quantize
    from tests.genc_helpers import two_input_model

    need_target(target)
    m = two_input_model()
    rng = np.random.default_rng(7)
    x = {"a": rng.normal(size=(4, 16)), "b": rng.random((4, 10))}
    rep = gen_c(m, target, tmp_path / "p", x=x, run=True, count=False)
    check(rep)
    assert rep["samples"] == 4 and [l["kernel"] for l in rep["layers"]][2] == "add"
    header = (tmp_path / "p" / "model.h").read_text()
    assert "int hwq_two_in_run(const int8_t *in0, const uint8_t *in1, int8_t *out0, void *arena);" in header
    assert "HWQ_TWO_IN_INPUT1_SIZE 10u" in header
    bundled = (tmp_path / "p" / "inputs.h").read_text()
    b = re.search(r"hwq_input1\[40\] = \{(.*?)\};", bundled, re.S).group(1)
    np.testing.assert_array_equal(np.array(b.replace(",", " ").split(), int),
                                  quantize(x["b"], m.layers["b"].quant).reshape(-1))


def test_two_inputs_cli(tmp_path):
    """--input NAME=x.npy once per input (or one .npz); a missing or unknown name, a plain .npy
    for a two-input model and unequal sample counts are one-line errors."""
    from tests.genc_helpers import two_input_model

    need_target("host")
    ir.save(two_input_model(), tmp_path / "m.ir")
    rng = np.random.default_rng(1)
    np.save(tmp_path / "a.npy", rng.normal(size=(3, 16)))
    np.save(tmp_path / "b.npy", rng.random((3, 10)))
    np.save(tmp_path / "b2.npy", rng.random((2, 10)))
    np.savez(tmp_path / "x.npz", a=rng.normal(size=(2, 16)), b=rng.random((2, 10)))
    run = lambda *a: CliRunner().invoke(main, ["gen-c", str(tmp_path / "m.ir"), "-o", str(tmp_path / "o"), *a])  # noqa: E731
    r = run("--run", "--json", "--input", f"a={tmp_path / 'a.npy'}", "--input", f"b={tmp_path / 'b.npy'}")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["match"] and json.loads(r.output)["samples"] == 3
    r = run("--run", "--json", "--input", str(tmp_path / "x.npz"))
    assert r.exit_code == 0 and json.loads(r.output)["samples"] == 2
    for args, msg in ([("--input", f"a={tmp_path / 'a.npy'}"), "no array for the model's input 'b'"],
                      [("--input", f"c={tmp_path / 'a.npy'}"), "has no input 'c'"],
                      [("--input", str(tmp_path / "a.npy")), "the model has 2 inputs"],
                      [("--input", f"a={tmp_path / 'a.npy'}", "--input", f"b={tmp_path / 'b2.npy'}"),
                       "different numbers of samples (a: 3, b: 2)"]):
        r = run(*args)
        assert r.exit_code == 1 and msg in r.output and "Traceback" not in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
