"""The command line end to end, through click's CliRunner.

Every expectation is computed independently of the command under test: NumPy versions of
the network, recounts from the IR arrays, the golden model called directly, the pruning
rule written out with an argsort, or a rule stated in the README / --help.
"""

from __future__ import annotations

import json
import math
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from hwq import ir
from hwq.cli import main
from hwq.golden import quantize, run_int
from hwq.ir.layers import WeightedLayer

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"
FLOAT_MLP = EXAMPLES / "digits_mlp.ir"
SHARED_MLP = EXAMPLES / "digits_mlp_pruned_shared.ir"
TEST_X = EXAMPLES / "digits_test_x.npy"

SUBCOMMANDS = ("import", "info", "run", "compress", "random", "estimate", "gen-c", "gen-rtl", "simulate")
PARTS = ("payload", "index", "pointer", "codebook", "total")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(*args):
    r = invoke(*args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    assert r.stderr == "", r.stderr
    return r


def one_error_line(r, code=1):
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("hwq: error: "), lines[0]
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    return lines[0]


def n_kept(n: int, rate: float) -> int:
    """README/prune docstring: a layer keeps its n - floor(rate * n) largest-|w| weights."""
    return n - math.floor(rate * n)


def top_k_mask(w: np.ndarray, k: int) -> np.ndarray:
    """Independent of hwq: the k largest |w| (no ties in the trained example weights)."""
    flat = np.abs(w).ravel()
    order = np.argsort(-flat)
    keep = np.zeros(flat.size, bool)
    keep[order[:k]] = True
    return keep.reshape(w.shape)


def is_pow2(x: float) -> bool:
    return x > 0 and math.frexp(x)[0] == 0.5


# ---------------------------------------------------------------------------- version, help


def test_version():
    r = ok("--version")
    assert version("hwq") in r.stdout and "hwq" in r.stdout


def test_top_level_help_lists_every_subcommand():
    r = ok("--help")
    for name in SUBCOMMANDS:
        assert name in r.stdout, name


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help_mentions_its_options(name):
    r = ok(name, "--help")
    assert "Usage:" in r.stdout and name in r.stdout
    cmd = main.commands[name]
    for p in cmd.params:
        for opt in p.opts:
            if opt.startswith("-"):
                assert opt in r.stdout, (name, opt)


@pytest.mark.parametrize("name, options", [
    ("compress", ["--prune", "--prune-quality", "--share-bits", "--init", "--pow2", "--ternary", "--int8",
                  "--pq", "--sparse", "--index-bits", "--retrain-epochs", "--act-bits", "--pow2-act", "--data"]),
    ("run", ["--input", "--mode", "--json", "-o"]),
    ("info", ["--json"]),
    ("random", ["--layers", "--density", "--encoding", "--sparse", "--index-bits"]),
    ("import", ["-o"]),
])
def test_help_has_the_options_the_readme_documents(name, options):
    out = ok(name, "--help").stdout
    for opt in options:
        assert opt in out, (name, opt)


# ---------------------------------------------------------------------------- import + run (float)


def onnx_mlp(path: Path, rng) -> dict[str, np.ndarray]:
    """x[N,6] -> Gemm(transB=1) -> Relu -> Gemm(transB=0) -> y[N,3]; returns the weights."""
    p = {"w1": rng.standard_normal((5, 6)).astype(np.float32), "b1": rng.standard_normal(5).astype(np.float32),
         "w2": rng.standard_normal((5, 3)).astype(np.float32), "b2": rng.standard_normal(3).astype(np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu1"),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2")]
    graph = helper.make_graph(
        nodes, "tiny_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=[numpy_helper.from_array(v, k) for k, v in p.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path.write_bytes(model.SerializeToString())
    return p


def test_import_then_float_run_equals_numpy(tmp_path):
    rng = np.random.default_rng(1)
    p = onnx_mlp(tmp_path / "m.onnx", rng)
    r = ok("import", tmp_path / "m.onnx", "-o", tmp_path / "m.ir")
    assert "m.ir" in r.stdout
    m = ir.load(tmp_path / "m.ir")
    assert not m.is_quantized and len(m.weighted()) == 2

    x = rng.standard_normal((7, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    ok("run", tmp_path / "m.ir", "--mode", "float", "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    y = np.load(tmp_path / "y.npy")

    x64 = x.astype(np.float64)
    h = np.maximum(x64 @ p["w1"].astype(np.float64).T + p["b1"], 0.0)
    want = h @ p["w2"].astype(np.float64) + p["b2"]
    assert y.shape == (7, 3)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-9)


def test_import_of_a_non_onnx_file_fails_cleanly(tmp_path):
    src = tmp_path / "junk.onnx"
    src.write_bytes(b"this is not a protobuf \xff\xfe" * 20)
    line = one_error_line(invoke("import", src, "-o", tmp_path / "out.ir"))
    assert "junk.onnx" in line
    assert not (tmp_path / "out.ir").exists()


def test_import_of_a_missing_file_fails_cleanly(tmp_path):
    one_error_line(invoke("import", tmp_path / "nope.onnx", "-o", tmp_path / "out.ir"))
    assert not (tmp_path / "out.ir").exists()


# ---------------------------------------------------------------------------- info


@pytest.fixture(scope="module")
def shared_info():
    r = ok("info", "--json", SHARED_MLP)
    return json.loads(r.stdout)


def test_info_json_has_the_required_keys(shared_info):
    assert "storage_bits" in shared_info
    for part in PARTS:
        assert part in shared_info["storage_bits"]
    weighted = [r for r in shared_info["layers"] if r["storage_bits"] is not None]
    assert len(weighted) == 3
    for row in weighted:
        for key in ("name", "kind", "nnz", "density", "encoding", "bits", "storage_bits"):
            assert key in row, (row["name"], key)
        if row["kind"] == "dense":
            assert {"in_features", "out_features"} <= row.keys()
        else:
            assert {"in_channels", "out_channels", "kernel"} <= row.keys()
        for part in PARTS:
            assert isinstance(row["storage_bits"][part], int), (row["name"], part)
        sb = row["storage_bits"]
        assert sb["total"] == sb["payload"] + sb["index"] + sb["pointer"] + sb["codebook"] + sb["bias"]


def test_info_model_totals_are_the_sum_over_layers(shared_info):
    weighted = [r for r in shared_info["layers"] if r["storage_bits"] is not None]
    for part in PARTS + ("bias",):
        assert shared_info["storage_bits"][part] == sum(r["storage_bits"][part] for r in weighted), part
    assert shared_info["nnz"] == sum(r["nnz"] for r in weighted)


def test_info_counts_match_a_recount_from_the_ir(shared_info):
    m = ir.load(SHARED_MLP)
    rows = {r["name"]: r for r in shared_info["layers"]}
    assert set(rows) == set(m.layers)
    for layer in m.weighted():
        w = layer.weight.dense_int()
        row = rows[layer.name]
        assert row["nnz"] == int(np.count_nonzero(w))
        assert row["density"] == pytest.approx(np.count_nonzero(w) / w.size)
        assert (row["out_features"], row["in_features"]) == w.shape
        v, sp = layer.weight.values, layer.weight.sparse
        assert row["encoding"] == f"{sp.format}+{v.TYPE}"
        # storage by hand: one code of v.bits per stored entry, one index_bits index per entry,
        # K value_bits-wide codebook entries + a float32 scale (docs/compression.md)
        stored = len(v.indices)
        assert row["bits"] == v.bits
        assert row["storage_bits"]["payload"] == stored * v.bits
        assert row["storage_bits"]["index"] == len(sp.rel) * sp.index_bits
        assert row["storage_bits"]["codebook"] == len(v.codebook) * v.value_bits + 32
        assert row["storage_bits"]["bias"] == 32 * layer.out_features
    total_w = sum(l.weight.size for l in m.weighted())
    total_nnz = sum(int(np.count_nonzero(l.weight.dense_int())) for l in m.weighted())
    assert shared_info["density"] == pytest.approx(total_nnz / total_w)


def test_info_table_names_every_layer(shared_info):
    out = ok("info", SHARED_MLP).stdout
    for row in shared_info["layers"]:
        assert row["name"] in out
    assert shared_info["name"] in out
    # total storage in bytes appears in the table
    assert str((shared_info["storage_bits"]["total"] + 7) // 8) in out


# ---------------------------------------------------------------------------- run (int)


@pytest.mark.parametrize("example", ["digits_mlp_pruned_shared.ir", "digits_mlp_pow2.ir"])
def test_run_json_equals_golden_run_int(tmp_path, example):
    path = EXAMPLES / example
    m = ir.load(path)
    x = np.load(TEST_X)[:20]
    xq = quantize(x, m.inputs[0].quant).astype(np.int64)
    np.save(tmp_path / "xf.npy", x)
    np.save(tmp_path / "xi.npy", xq)
    want = run_int(m, xq)[m.outputs[0]]

    for f in ("xi.npy", "xf.npy"):  # ints are taken as quantized, floats are quantized
        r = ok("run", path, "--input", tmp_path / f, "--json")
        data = json.loads(r.stdout)
        assert data["mode"] == "int" and data["output"] == m.outputs[0]
        assert data["shape"] == list(want.shape)
        np.testing.assert_array_equal(np.array(data["values"], dtype=np.int64), want)
        assert data["argmax"] == want.argmax(1).tolist()

    ok("run", path, "--input", tmp_path / "xi.npy", "-o", tmp_path / "y.npy")
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y, want)


def test_run_int_on_a_float_model_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.load(TEST_X)[:2])
    one_error_line(invoke("run", FLOAT_MLP, "--mode", "int", "--input", tmp_path / "x.npy"))


# ---------------------------------------------------------------------------- random


@pytest.mark.parametrize("sparse", ["csc", "csr", "none"])
@pytest.mark.parametrize("encoding", ["int8", "codebook", "pow2", "ternary"])
def test_random_model(tmp_path, encoding, sparse):
    out = tmp_path / "r.ir"
    density = 0.3
    ok("random", "-o", out, "--layers", "64,48,10", "--density", density, "--encoding", encoding,
       "--sparse", sparse, "--seed", 3)
    m = ir.load(out)
    assert m.is_quantized
    ws = m.weighted()
    assert [l.weight.shape for l in ws] == [(48, 64), (10, 48)]
    for layer in ws:
        assert layer.weight.values.TYPE == encoding
        want_name = encoding if sparse == "none" else f"{sparse}+{encoding}"
        assert layer.weight.encoding_name() == want_name
        if sparse != "none":
            assert layer.weight.sparse.format == sparse
    w = [l.weight.dense_int() for l in ws]
    nnz = sum(int(np.count_nonzero(a)) for a in w)
    n = sum(a.size for a in w)
    sigma = math.sqrt(density * (1 - density) / n)  # binomial spread of the measured density
    assert abs(nnz / n - density) < 5 * sigma, nnz / n
    # the model runs through the golden model
    y = run_int(m, np.random.default_rng(0).random((4, 64)))[m.outputs[0]]
    assert y.shape == (4, 10)


# ---------------------------------------------------------------------------- compress


COMPRESS = ("--prune", "0.9", "--share-bits", "4", "--act-bits", "8", "--data", "digits")


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    d = tmp_path_factory.mktemp("compress")
    r = ok("compress", FLOAT_MLP, "-o", d / "a.ir", *COMPRESS)
    return d / "a.ir", r.stdout


def test_compress_prunes_to_the_requested_density(compressed):
    path, _ = compressed
    src, out = ir.load(FLOAT_MLP), ir.load(path)
    for a, b in zip(src.weighted(), out.weighted()):
        w0 = a.weight.dense_float()
        w = b.weight.dense_int()
        k = n_kept(w0.size, 0.9)
        assert abs(int(np.count_nonzero(w)) - k) <= 1, (b.name, np.count_nonzero(w), k)
        # the survivors are among the largest-magnitude originals
        assert not (w != 0)[~top_k_mask(w0, k)].any(), b.name


def test_compress_codebooks_layout_and_quantization(compressed):
    path, _ = compressed
    out = ir.load(path)
    assert out.is_quantized
    for layer in out.layers.values():
        if layer.KIND != "softmax":
            assert layer.quant.bits == 8, layer.name
    for layer in out.weighted():
        v = layer.weight.values
        assert v.TYPE == "codebook" and v.bits == 4
        assert len(v.codebook) <= 2 ** 4
        assert v.codebook[0] == 0  # index 0 is the zero of the sparse codebook
        assert layer.weight.sparse is not None and layer.weight.sparse.format == "csc"
        assert layer.requant is not None


def test_compress_report(compressed):
    from hwq.data.digits import load_digits_split
    from hwq.train.evaluate import accuracy

    path, report = compressed
    lines = report.splitlines()
    before = [l for l in lines if l.startswith("before")]
    after = [l for l in lines if l.startswith("after")]
    assert len(before) == 1 and len(after) == 1, report

    # before: dense float32 weights + float32 biases, counted by hand
    src = ir.load(FLOAT_MLP)
    float_bytes = sum(4 * (l.weight.size + len(l.bias)) for l in src.weighted())
    assert before[0].split()[1] == str(float_bytes)
    # after: what `hwq info` says the written file stores
    info = json.loads(ok("info", "--json", path).stdout)
    assert after[0].split()[1] == str((info["storage_bits"]["total"] + 7) // 8)
    # accuracies: recomputed on the written file
    d = load_digits_split()
    out = ir.load(path)
    acc_f = accuracy(out, d.x_test, d.y_test, "float")
    acc_i = accuracy(out, d.x_test, d.y_test, "int")
    assert after[0].split()[-2:] == [f"{acc_f:.4f}", f"{acc_i:.4f}"]
    assert before[0].split()[-2:] == [f"{accuracy(src, d.x_test, d.y_test, 'float'):.4f}", "-"]


def test_compress_is_deterministic(tmp_path, compressed):
    path, _ = compressed
    ok("compress", FLOAT_MLP, "-o", tmp_path / "b.ir", *COMPRESS)
    assert (tmp_path / "b.ir").read_bytes() == path.read_bytes()


def test_compress_pow2_act_gives_shift_requant_everywhere(tmp_path):
    ok("compress", FLOAT_MLP, "-o", tmp_path / "p.ir", "--pow2", "4", "--pow2-act", "--act-bits", "8",
       "--data", "digits")
    m = ir.load(tmp_path / "p.ir")
    assert m.is_quantized
    for layer in m.layers.values():
        assert is_pow2(layer.quant.scale) and layer.quant.zero_point == 0, layer.name
        if isinstance(layer, WeightedLayer):
            v = layer.weight.values
            assert v.TYPE == "pow2" and v.bits == 4
            assert layer.requant.mode == "shift", layer.name
            w = layer.weight.dense_int()
            mags = np.abs(w[w != 0])
            assert ((mags & (mags - 1)) == 0).all()  # every non-zero is +-2^k


@pytest.mark.parametrize("args, encoding", [(["--ternary"], "ternary"), (["--int8"], "int8"),
                                            (["--pq", "4:16"], "pq")])
def test_compress_value_schemes(tmp_path, args, encoding):
    ok("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", *args)
    m = ir.load(tmp_path / "o.ir")
    for layer in m.weighted():
        v = layer.weight.values
        assert v.TYPE == encoding, layer.name
        assert layer.weight.sparse is None  # nothing pruned: dense (sparse auto)
        w = layer.weight.dense_int()
        if encoding == "ternary":
            pos, neg = (int(x) for x in v.magnitudes)
            assert set(np.unique(w).tolist()) <= {-neg, 0, pos}
        elif encoding == "int8":
            assert np.abs(w).max() <= 127
            assert v.scale.shape == (layer.weight.channels,)  # per channel
        else:
            m_sub, k, d = v.codebook.shape
            assert d == 4 and k <= 16 and m_sub * d == layer.weight.shape[1]  # --pq DIM:K (Q-CNN's C's)


def test_compress_takes_onnx_input(tmp_path):
    """README: `hwq compress in.(ir|onnx)`; the result equals compressing the imported IR."""
    onnx_mlp(tmp_path / "m.onnx", np.random.default_rng(2))
    ok("compress", tmp_path / "m.onnx", "-o", tmp_path / "a.ir", "--prune", "0.5", "--int8")
    ok("import", tmp_path / "m.onnx", "-o", tmp_path / "m.ir")
    ok("compress", tmp_path / "m.ir", "-o", tmp_path / "b.ir", "--prune", "0.5", "--int8")
    a, b = ir.load(tmp_path / "a.ir"), ir.load(tmp_path / "b.ir")
    for la, lb in zip(a.weighted(), b.weighted()):
        assert la.weight.encoding_name() == "csc+int8"
        np.testing.assert_array_equal(la.weight.dense_int(), lb.weight.dense_int())


def test_compress_pq_with_pruning_is_refused(tmp_path):
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--pq", "4:16", "--prune", "0.5"))
    assert "--pq" in line
    assert not (tmp_path / "o.ir").exists()


@pytest.mark.parametrize("args, expect", [
    (["--prune", "1.5"], "--prune"),
    (["--share-bits", "0"], "--share-bits"),
    (["--share-bits", "4", "--int8"], "one value scheme"),
    (["--ternary", "--pow2", "3"], "one value scheme"),
    (["--act-bits", "8"], "--data"),
    (["--retrain-epochs", "1", "--prune", "0.5"], "--data"),
])
def test_compress_option_errors(tmp_path, args, expect):
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", *args))
    assert expect in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--act-bits", "0", "--data", "digits"], ["--act-bits", "0"]])
def test_compress_act_bits_zero_is_refused(tmp_path, args):
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--int8", *args))
    assert "--act-bits" in line
    assert list(tmp_path.iterdir()) == []


def test_compress_unknown_sparse_is_a_usage_error(tmp_path):
    r = invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--sparse", "diagonal")
    assert r.exit_code == 2
    assert "--sparse" in r.stderr and "diagonal" in r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_compress_missing_file(tmp_path):
    line = one_error_line(invoke("compress", tmp_path / "nope.ir", "-o", tmp_path / "o.ir", "--int8"))
    assert "nope.ir" in line
    assert list(tmp_path.iterdir()) == []


def test_compress_with_a_users_npz_data_set(tmp_path):
    """--data FILE.npz: the same digits passed as a file give the same result as --data digits."""
    from hwq.data.digits import load_digits_split

    d = load_digits_split()
    np.savez(tmp_path / "d.npz", x_train=d.x_train, y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    args = ["--prune", "0.5", "--int8", "--act-bits", "8"]
    assert invoke("compress", FLOAT_MLP, "-o", tmp_path / "a.ir", *args, "--data", tmp_path / "d.npz").exit_code == 0
    assert invoke("compress", FLOAT_MLP, "-o", tmp_path / "b.ir", *args, "--data", "digits").exit_code == 0
    a, b = ir.load(tmp_path / "a.ir"), ir.load(tmp_path / "b.ir")
    # the provenance names the data it came from; everything else is byte-identical
    assert (a.provenance["compress"]["data"], b.provenance["compress"]["data"]) == (str(tmp_path / "d.npz"), "digits")
    b.provenance = a.provenance
    ir.save(b, tmp_path / "b2.ir")
    assert (tmp_path / "a.ir").read_bytes() == (tmp_path / "b2.ir").read_bytes()


@pytest.mark.parametrize("arrays,expect", [
    ({"x_train": np.zeros((4, 64))}, "missing array 'x_test'"),  # labels are optional, x_test is not
    ({"x_train": np.zeros((4, 64)), "x_test": np.zeros((2, 64)), "y_train": np.zeros(4, int)},
     "has y_train but no y_test"),
    ({"x_train": np.zeros((4, 63)), "y_train": np.zeros(4, int), "x_test": np.zeros((2, 63)),
      "y_test": np.zeros(2, int)}, "does not take 63 values"),
    ({"x_train": np.full((4, 64), np.nan), "y_train": np.zeros(4, int), "x_test": np.zeros((2, 64)),
      "y_test": np.zeros(2, int)}, "NaN"),
    ({"x_train": np.zeros((4, 64)), "y_train": np.zeros(3, int), "x_test": np.zeros((2, 64)),
      "y_test": np.zeros(2, int)}, "y_train must hold 4"),
])
def test_compress_rejects_bad_npz_data(tmp_path, arrays, expect):
    np.savez(tmp_path / "d.npz", **arrays)
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--int8", "--act-bits", "8",
                                 "--data", tmp_path / "d.npz"))
    assert expect in line
    assert not (tmp_path / "o.ir").exists()


def test_run_dump_writes_every_layer_bit_exactly(tmp_path):
    from hwq import golden, ir

    path = Path(__file__).resolve().parents[1] / "examples" / "digits_lenet_pow2.ir"
    x = np.load(Path(__file__).resolve().parents[1] / "examples" / "digits_test_x.npy")[:5].reshape(5, 1, 8, 8)
    np.save(tmp_path / "x.npy", x)
    r = invoke("run", path, "--input", tmp_path / "x.npy", "--dump", tmp_path / "d")
    assert r.exit_code == 0, r.stderr
    want = golden.run_int(ir.load(path), x, keep_all=True)
    # every layer's output, plus the record of what the dump wrote (hwq/dump.py)
    assert {p.name for p in (tmp_path / "d").iterdir()} == {f"{n}.npy" for n in want} | {"hwq-dump.json"}
    for name, v in want.items():
        assert np.array_equal(np.load(tmp_path / "d" / f"{name}.npy"), v), name
