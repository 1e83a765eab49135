"""The per-layer plan of ``hwq compress`` (hwq/compress/plan.py, issue #15 "Per-layer control").

Expectations come from the option text itself (which scheme a layer was given), from the
README/--help rules (index bits 4 fc / 5 conv, Q-CNN's M = inputs / DIM), or from the written
IR's own arrays; never from the plan under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwq import ir
from hwq.compress.pipeline import CompressOptions, compress_model
from hwq.compress.plan import Scheme, build_plan, for_layer, parse_per_layer
from hwq.errors import HwqError
from tests.test_cli import EXAMPLES, FLOAT_MLP, invoke, ok, one_error_line

LENET = EXAMPLES / "digits_lenet.ir"


@pytest.mark.parametrize("text, kind, bits, dim, k", [
    ("float", "float", None, None, None), ("int8", "int8", None, None, None),
    ("ternary", "ternary", None, None, None), ("codebook:5", "codebook", 5, None, None),
    ("pow2:4", "pow2", 4, None, None), ("pq:4:32", "pq", None, 4, 32)])
def test_scheme_spellings(text, kind, bits, dim, k):
    s = Scheme.parse(text)
    assert (s.kind, s.bits, s.dim, s.k) == (kind, bits, dim, k)
    assert str(s) == text


@pytest.mark.parametrize("text", ["zstd", "codebook", "pq:4", "pow2:x", "int8:3", "pq:4:32:1"])
def test_bad_scheme_spellings(text):
    with pytest.raises(HwqError, match="scheme"):
        Scheme.parse(text)


def test_exact_name_then_first_glob_then_star():
    table = parse_per_layer("--scheme", "conv1=int8,conv*=codebook:8,c*=ternary,*=codebook:5", Scheme.parse)
    assert str(for_layer(table, "conv1")) == "int8"
    assert str(for_layer(table, "conv2")) == "codebook:8"
    assert str(for_layer(table, "cx")) == "ternary"
    assert str(for_layer(table, "fc1")) == "codebook:5"


def test_scheme_per_layer_from_the_command_line(tmp_path):
    out = tmp_path / "o.ir"
    r = ok("compress", FLOAT_MLP, "-o", out, "--scheme", "fc1=pq:4:32,fc3=float,*=codebook:5")
    # progress names each long step: Q-CNN's M = 64 inputs / DIM 4 = 16 subspaces for fc1
    assert "quantize pq:4:32 fc1: k-means on M = 16 subspaces" in r.stdout
    m = ir.load(out)
    v = {l.name: l.weight.values for l in m.weighted()}
    assert v["fc1"].TYPE == "pq" and v["fc1"].codebook.shape[2] == 4  # DIM 4
    assert v["fc2"].TYPE == "codebook" and v["fc2"].bits == 5
    assert v["fc3"].TYPE == "float32"
    np.testing.assert_array_equal(m.layers["fc3"].weight.dense_float(),
                                  ir.load(FLOAT_MLP).layers["fc3"].weight.dense_float())


def test_pq_dim_k_gives_the_same_sub_vector_size_everywhere(tmp_path):
    """Issue #15: `--pq 4:32` on the 64-300-100-10 MLP is C's = 4 in every layer (M = 16/75/25)."""
    ok("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--pq", "4:32")
    for layer in ir.load(tmp_path / "o.ir").weighted():
        m_sub, k, d = layer.weight.values.codebook.shape
        assert d == 4 and m_sub == layer.in_features // 4 and k <= 32, layer.name


@pytest.mark.parametrize("args", [["--pq", "7:16"], ["--scheme", "fc2=pq:8:16,*=int8"]])
def test_pq_dim_that_does_not_divide_is_refused(tmp_path, args):
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", *args))
    assert "does not divide" in line
    assert list(tmp_path.iterdir()) == []


def test_unknown_layer_or_pattern_is_refused(tmp_path):
    assert "named 'fc9'" in one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir",
                                                  "--scheme", "fc9=int8"))
    assert "matches 'conv*'" in one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir",
                                                      "--scheme", "conv*=int8,*=codebook:4"))


def test_scheme_star_and_a_shorthand_conflict(tmp_path):
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--scheme", "*=int8",
                                 "--share-bits", "4"))
    assert "--share-bits" in line


def test_shorthand_plus_scheme_for_named_layers(tmp_path):
    ok("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--share-bits", "4", "--scheme", "fc3=float")
    v = {l.name: l.weight.values.TYPE for l in ir.load(tmp_path / "o.ir").weighted()}
    assert v == {"fc1": "codebook", "fc2": "codebook", "fc3": "float32"}


def test_index_bits_default_is_4_fc_and_5_conv(tmp_path):
    """--help: "default 4 fc, 5 conv" (Deep Compression's widths)."""
    ok("compress", LENET, "-o", tmp_path / "o.ir", "--prune", "0.7", "--share-bits", "4", "--sparse", "csc")
    m = ir.load(tmp_path / "o.ir")
    widths = {l.name: (l.KIND, l.weight.sparse.index_bits) for l in m.weighted()}
    assert {kind: {b for k, b in widths.values() if k == kind} for kind in ("conv2d", "dense")} == \
        {"conv2d": {5}, "dense": {4}}, widths


def test_index_bits_per_layer(tmp_path):
    ok("compress", LENET, "-o", tmp_path / "o.ir", "--prune", "0.7", "--share-bits", "4", "--sparse", "csc",
       "--index-bits", "conv*=3,*=6")
    for layer in ir.load(tmp_path / "o.ir").weighted():
        assert layer.weight.sparse.index_bits == (3 if layer.KIND == "conv2d" else 6), layer.name


def test_value_bits_sets_the_codebook_width_and_its_storage(tmp_path):
    ok("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--share-bits", "4", "--value-bits", "fc1=32,*=8")
    m = ir.load(tmp_path / "o.ir")
    info = {r["name"]: r for r in json.loads(ok("info", "--json", tmp_path / "o.ir").stdout)["layers"]}
    for layer in m.weighted():
        v = layer.weight.values
        want = 32 if layer.name == "fc1" else 8
        assert v.value_bits == want
        # docs/compression.md: K entries of value_bits each plus one float32 scale
        assert info[layer.name]["storage_bits"]["codebook"] == len(v.codebook) * want + 32


def test_sparse_auto_picks_the_smaller_layout(tmp_path):
    """A barely pruned layer is smaller dense; a heavily pruned one is smaller as CSC."""
    sizes = {}
    for layout in ("auto", "csc", "none"):
        ok("compress", FLOAT_MLP, "-o", tmp_path / f"{layout}.ir", "--prune", "fc1=0.05,*=0.9",
           "--share-bits", "4", "--sparse", layout)
        rows = json.loads(ok("info", "--json", tmp_path / f"{layout}.ir").stdout)["layers"]
        sizes[layout] = {r["name"]: (r["encoding"], r["storage_bits"]["total"]) for r in rows if r["encoding"]}
    for name in ("fc1", "fc2", "fc3"):
        auto = sizes["auto"][name][1]
        assert auto == min(sizes["csc"][name][1], sizes["none"][name][1]), name
    assert sizes["auto"]["fc1"][0] == "codebook" and sizes["auto"]["fc2"][0] == "csc+codebook"


def test_pow2_accumulator_check_names_the_layer(tmp_path):
    r = invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--scheme", "fc2=pow2:6,*=codebook:4",
               "--act-bits", "8", "--data", "digits", "--retrain-epochs", "2")
    line = one_error_line(r)
    assert "fc2" in line and "accumulator" in line and "retrain" not in r.stdout


def test_plan_is_checked_before_any_work():
    model = ir.load(FLOAT_MLP)
    with pytest.raises(HwqError, match="does not divide"):
        build_plan(model, CompressOptions(scheme={"fc2": Scheme("pq", dim=7, k=4), "*": Scheme("int8")}))


def test_mixed_schemes_retrain_together():
    from hwq.data.digits import load_digits_split
    from hwq.train.evaluate import accuracy

    d = load_digits_split()
    model = ir.load(FLOAT_MLP)
    opts = CompressOptions(prune=0.5, scheme="fc1=codebook:4,fc2=pow2:4,fc3=float", data="digits",
                           retrain_epochs=1)
    out = compress_model(model, opts, d)
    v = {l.name: l.weight for l in out.weighted()}
    assert v["fc1"].values.TYPE == "codebook" and len(np.unique(v["fc1"].dense_int())) <= 16
    w2 = v["fc2"].dense_int()
    mags = np.abs(w2[w2 != 0])
    assert v["fc2"].values.TYPE == "pow2" and ((mags & (mags - 1)) == 0).all()
    assert v["fc3"].values.TYPE == "float32"
    assert accuracy(out, d.x_test, d.y_test, "float") >= 0.9
    prov = out.provenance["compress"]
    assert prov["layers"]["fc2"]["scheme"] == "pow2:4" and prov["seed"] == 0 and prov["lr"] == 0.01
    assert any(p.startswith("incremental") for p in prov["phases"])
    assert any(p.startswith("retrain 1 epochs: codebook") for p in prov["phases"])


def test_provenance_records_every_parameter(tmp_path):
    ok("compress", LENET, "-o", tmp_path / "o.ir", "--prune", "0.5", "--share-bits", "conv*=6,*=4",
       "--init", "density", "--seed", "3", "--sparse", "csc")
    prov = ir.load(tmp_path / "o.ir").provenance["compress"]
    assert prov["seed"] == 3
    for name, row in prov["layers"].items():
        conv = name.startswith("conv")
        assert row["scheme"] == ("codebook:6" if conv else "codebook:4")
        assert row["index_bits"] == (5 if conv else 4) and row["init"] == "density" and row["prune_rate"] == 0.5
