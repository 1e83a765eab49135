"""`hwq run` input handling and the machine-readable reports (issue #15, "hwq run and reports")."""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from hwq import ir
from hwq.golden import quantize, run_int
from tests.test_cli import EXAMPLES, FLOAT_MLP, SHARED_MLP, TEST_X, invoke, ok, one_error_line

LENET_INT8 = EXAMPLES / "digits_lenet_int8.ir"


def test_run_reshapes_flat_rows_for_an_image_input(tmp_path):
    """The bundled LeNet runs on the bundled flat digits_test_x.npy."""
    m = ir.load(LENET_INT8)
    x = np.load(TEST_X)[:7]
    want = run_int(m, x.reshape(7, 1, 8, 8))[m.outputs[0]]
    ok("run", LENET_INT8, "--input", TEST_X, "-o", tmp_path / "y.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy")[:7], want)


def test_dequantize_gives_real_outputs(tmp_path):
    m = ir.load(SHARED_MLP)
    x = np.load(TEST_X)[:5]
    q = m.layers[m.outputs[0]].quant
    codes = run_int(m, x)[m.outputs[0]]
    ok("run", SHARED_MLP, "--input", TEST_X, "--dequantize", "-o", tmp_path / "y.npy")
    np.testing.assert_allclose(np.load(tmp_path / "y.npy")[:5], (codes - q.zero_point) * q.scale, rtol=1e-12)


def test_input_kind_real_quantizes_integer_images(tmp_path):
    """uint8 pixels are real values with --input-kind real, not codes (a dtype accident)."""
    m = ir.load(SHARED_MLP)
    x = np.load(TEST_X)[:6]
    pix = np.round(x * 16).astype(np.uint8)  # 0..16, as the digits come
    np.save(tmp_path / "p.npy", pix)
    ok("run", SHARED_MLP, "--input", tmp_path / "p.npy", "--input-kind", "real", "-o", tmp_path / "y.npy")
    want = run_int(m, quantize(pix.astype(np.float64), m.inputs[0].quant))[m.outputs[0]]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)
    np.save(tmp_path / "f.npy", x)
    assert "not integer codes" in one_error_line(invoke("run", SHARED_MLP, "--input", tmp_path / "f.npy",
                                                        "--input-kind", "quantized"))


def test_info_csv_rows_match_the_json(tmp_path):
    data = json.loads(ok("info", "--json", SHARED_MLP).stdout)
    rows = list(csv.DictReader(io.StringIO(ok("info", "--csv", SHARED_MLP).stdout)))
    assert [r["name"] for r in rows] == [l["name"] for l in data["layers"]]
    for r, l in zip(rows, data["layers"]):
        if l["storage_bits"]:
            assert int(r["total_bits"]) == l["storage_bits"]["total"] and int(r["nnz"]) == l["nnz"]
        else:
            assert r["total_bits"] == ""
    assert "alternatives" in one_error_line(invoke("info", "--json", "--csv", SHARED_MLP))


def test_compress_json_report(tmp_path):
    r = invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--prune", "0.5", "--int8", "--json")
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)  # stdout is the JSON alone; progress went to stderr
    assert rep["output"] == str(tmp_path / "o.ir") and rep["plan"]["layers"]["fc1"]["scheme"] == "int8"
    info = json.loads(ok("info", "--json", tmp_path / "o.ir").stdout)
    assert rep["after"]["bits"] == info["storage_bits"]["total"]
    src = ir.load(FLOAT_MLP)
    assert rep["before"]["bits"] == sum(32 * (l.weight.size + len(l.bias)) for l in src.weighted())


def test_report_names_both_rates(tmp_path):
    """The table's rates: Deep Compression's and the whole file's (input bytes / output bytes)."""
    r = ok("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--prune", "0.9", "--share-bits", "4")
    after = next(l for l in r.stdout.splitlines() if l.startswith("after")).split()
    before = next(l for l in r.stdout.splitlines() if l.startswith("before")).split()
    info = json.loads(ok("info", "--json", tmp_path / "o.ir").stdout)
    assert after[3] == f"{1 / info['compression_rate']:.1f}x"  # DC rate
    assert abs(float(after[7][:-1]) - int(before[1]) / int(after[1])) < 0.06  # vs input, from the byte counts
    assert "DC rate" in r.stdout and "vs input" in r.stdout


def _two_inputs_two_outputs(tmp_path):
    """a, b -> add -> dense (output y) and relu(a) (output r); float weights."""
    rng = np.random.default_rng(4)
    m = ir.Model("two", {}, ["fc", "r"])
    L = m.layers
    L["a"] = ir.Input("a", [], shape=(6,))
    L["b"] = ir.Input("b", [], shape=(6,))
    L["s"] = ir.Add("s", ["a", "b"])
    L["fc"] = ir.Dense("fc", ["s"], in_features=6, out_features=3,
                       weight=ir.Weight((3, 6), ir.Float32Values(rng.normal(size=18).astype(np.float32))),
                       bias=rng.normal(size=3).astype(np.float32))
    L["r"] = ir.ReLU("r", ["a"])
    path = tmp_path / "two.ir"
    ir.save(ir.validate(m), path)
    a, b = rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    np.savez(tmp_path / "ab.npz", a=a, b=b)
    want = {"fc": (a + b) @ m.layers["fc"].weight.dense_float().T + m.layers["fc"].bias, "r": np.maximum(a, 0)}
    return path, want


def test_run_several_inputs_and_every_output_as_npz(tmp_path):
    path, want = _two_inputs_two_outputs(tmp_path)
    for inputs in (["--input", f"a={tmp_path / 'a.npy'}", "--input", f"b={tmp_path / 'b.npy'}"],
                   ["--input", tmp_path / "ab.npz"]):
        out = tmp_path / "y.npz"
        r = ok("run", path, *inputs, "-o", out)
        assert "fc [5, 3]" in r.stdout and "r [5, 6]" in r.stdout
        got = np.load(out)
        assert sorted(got.files) == ["fc", "r"]
        np.testing.assert_allclose(got["fc"], want["fc"], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(got["r"], want["r"])
        out.unlink()
    # .npy holds one output: the message names it and the one left out
    r = ok("run", path, "--input", tmp_path / "ab.npz", "-o", tmp_path / "y.npy")
    assert "fc [5, 3]" in r.stdout and "not written: r" in r.stdout
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want["fc"], rtol=1e-6, atol=1e-6)


def test_run_input_mistakes_are_one_line(tmp_path):
    path, _ = _two_inputs_two_outputs(tmp_path)
    a, b = f"a={tmp_path / 'a.npy'}", f"b={tmp_path / 'b.npy'}"
    for args, needle in ((["--input", a], "no array for the model's input 'b'"),
                         (["--input", tmp_path / "a.npy"], "has 2 inputs"),
                         (["--input", a, "--input", b, "--input", f"c={tmp_path / 'a.npy'}"], "no input 'c'"),
                         (["--input", a, "--input", tmp_path / "ab.npz"], "a given twice")):
        assert needle in one_error_line(invoke("run", path, *args, "-o", tmp_path / "z.npz"))
        assert not (tmp_path / "z.npz").exists()
