"""The validator checks the model, not only the file (issue #11, section 2).

``ir.validate`` (so ``ir.save``) enforces every rule that ``ir.load`` enforces, on
in-memory models; writers refuse what readers reject. The property suite: whatever
``validate`` accepts round-trips through save/load unchanged; a model written without
validation that ``load`` rejects, ``validate`` rejects too (and the reverse).
"""

from __future__ import annotations

import copy
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hwq import ir
from hwq.errors import IRError
from hwq.ir import container
from hwq.ir.container import write_container
from hwq.ir.manifest import to_manifest
from hwq.ir.names import Taken, sanitize
from tests.factories import ENCODINGS, cnn, mlp


@pytest.fixture(scope="module")
def base():
    rng = np.random.default_rng(0)
    return {"mlp_codebook": mlp(rng, "codebook", "csc"), "mlp_pow2": mlp(rng, "pow2", "csr"),
            "mlp_int8": mlp(rng, "int8", "none"), "cnn_ternary": cnn(rng, "ternary", "csc"),
            "mlp_pq": mlp(rng, "pq", "none")}


def write_raw(model, path):
    """Write a model without validating it (what a buggy writer would produce)."""
    manifest, tensors = to_manifest(model)
    write_container(path, manifest, tensors)


def same_model(a, b) -> bool:
    ma, ta = to_manifest(a)
    mb, tb = to_manifest(b)
    return ma == mb and ta.keys() == tb.keys() and all(
        ta[k].dtype == tb[k].dtype and np.array_equal(ta[k], tb[k]) for k in ta)


def rq(mode="shift", exponent=(0,), multiplier=None, dtype=np.int32):
    return ir.Requant(mode, np.array(exponent, dtype),
                      None if multiplier is None else np.array(multiplier, dtype))


def add_model():
    q = ir.QuantParams(8, True, 1.0, 0)
    m = ir.Model("t", {}, ["s"])
    m.layers["a"] = ir.Input("a", [], shape=(3,), quant=q)
    m.layers["b"] = ir.Input("b", [], shape=(3,), quant=q)
    m.layers["s"] = ir.Add("s", ["a", "b"], quant=q, requant=[rq(), rq()])
    return ir.validate(m)


# each mutation of a valid model: what to change, and what the error must say
def _fc1(m):
    return m.layers["fc1"]


MUTATIONS = {
    "requant exponent 31": ("mlp_int8", lambda m: setattr(_fc1(m).requant, "exponent", np.array([31], np.int32)), "[-31, 30]"),
    "requant exponent -32": ("mlp_int8", lambda m: setattr(_fc1(m).requant, "exponent", np.array([-32], np.int32)), "[-31, 30]"),
    "requant exponent 40": ("mlp_int8", lambda m: setattr(_fc1(m), "requant", rq("shift", [40])), "[-31, 30]"),
    "multiplier 2^29": ("mlp_int8", lambda m: setattr(_fc1(m), "requant", rq("multiplier", [0], [1 << 29])), "not 0 and not in [2^30"),
    "negative multiplier": ("mlp_int8", lambda m: setattr(_fc1(m), "requant", rq("multiplier", [0], [-(1 << 30)])), "not 0 and not in [2^30"),
    "mode round": ("mlp_int8", lambda m: setattr(_fc1(m), "requant", rq("round", [0])), "'round' is not one of"),
    "multiplier in shift mode": ("mlp_int8", lambda m: setattr(_fc1(m), "requant", rq("shift", [0], [1 << 30])), "absent in shift mode"),
    "int64 requant": ("mlp_int8", lambda m: setattr(_fc1(m), "requant", rq("shift", [0], dtype=np.int64)), "dtype int64"),
    "int64 bias_q": ("mlp_int8", lambda m: setattr(_fc1(m), "bias_q", _fc1(m).bias_q.astype(np.int64)), "fc1.bias_q: dtype int64"),
    "int8 weight in int16 with 300": ("mlp_int8", lambda m: setattr(_fc1(m).weight.values, "q",
                                                                     np.full(_fc1(m).weight.values.q.shape, 300, np.int16)), "fc1.weight.q: dtype int16"),
    "codebook index -1": ("mlp_codebook", lambda m: _fc1(m).weight.values.__setattr__(
        "indices", np.where(np.arange(_fc1(m).weight.values.indices.size) == 0, -1, _fc1(m).weight.values.indices).astype(np.int64)),
        "fc1.weight.indices: dtype int64"),
    "pow2 code -1": ("mlp_pow2", lambda m: _fc1(m).weight.values.__setattr__(
        "codes", np.full(_fc1(m).weight.values.codes.shape, -1, np.int8)), "fc1.weight.codes: dtype int8"),
    "negative rel": ("mlp_codebook", lambda m: _fc1(m).weight.sparse.__setattr__(
        "rel", np.full(_fc1(m).weight.sparse.rel.shape, -1, np.int8)), "fc1.weight.rel: dtype int8"),
    "stride 2^40": ("cnn_ternary", lambda m: setattr(m.layers["c2"], "stride", (1 << 40, 1)), "c2.stride"),
    "numpy int attribute": ("mlp_int8", lambda m: setattr(_fc1(m), "in_features", np.int64(12)), "fc1.in_features"),
    "acc_bits 33": ("mlp_int8", lambda m: setattr(_fc1(m), "acc_bits", 33), "acc_bits"),
    "quant bits 40": ("mlp_int8", lambda m: setattr(_fc1(m), "quant", ir.QuantParams(40, True, 1.0, 0)), "fc1.quant.bits"),
    "relu with two inputs": ("mlp_int8", lambda m: setattr(m.layers["r1"], "inputs", ["fc1", "fc1"]), "r1.inputs"),
    "float64 bias": ("mlp_int8", lambda m: setattr(_fc1(m), "bias", _fc1(m).bias.astype(np.float64)), "fc1.bias: dtype float64"),
    "2-D pow2 codes": ("mlp_pow2", lambda m: _fc1(m).weight.values.__setattr__(
        "codes", _fc1(m).weight.values.codes.reshape(1, -1)), "must be 1-D"),
    "provenance with a tuple": ("mlp_int8", lambda m: m.provenance.update(x=(1, 2)), "provenance"),
    "provenance with NaN": ("mlp_int8", lambda m: m.provenance.update(x=float("nan")), "provenance"),
    "weight shape of numpy ints": ("mlp_int8", lambda m: setattr(_fc1(m).weight, "shape", tuple(np.int64(s) for s in _fc1(m).weight.shape)), "fc1.weight.shape"),
}


ROUND_TRIP_ONLY = {"provenance with a tuple"}  # a tuple would come back as a list


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_validate_rejects_what_load_rejects(base, tmp_path, case):
    which, mutate, expect = MUTATIONS[case]
    m = copy.deepcopy(base[which])
    mutate(m)
    with pytest.raises(IRError) as info:
        ir.validate(m)
    assert expect in str(info.value)
    with pytest.raises(IRError):
        ir.save(m, tmp_path / "m.ir")
    assert not (tmp_path / "m.ir").exists()
    if case in ROUND_TRIP_ONLY:
        return  # the file would load, but as a different model
    try:
        write_raw(m, tmp_path / "raw.ir")
    except (TypeError, ValueError, IRError):
        return  # not even writable without validation
    with pytest.raises(IRError):
        ir.load(tmp_path / "raw.ir")


@pytest.mark.parametrize("bad", [[rq()], [None, rq()], [rq(), None], rq(), [rq("shift", [0, 0]), rq()]])
def test_add_needs_two_per_tensor_requants(tmp_path, bad):
    m = add_model()
    m.layers["s"].requant = bad
    with pytest.raises(IRError, match="s.requant"):
        ir.validate(m)


def test_bias_at_the_bottom_of_the_accumulator_range_round_trips(base, tmp_path):
    m = copy.deepcopy(base["mlp_int8"])
    for acc_bits in (8, 20, 32):
        m.layers["fc1"].acc_bits = acc_bits
        m.layers["fc1"].bias_q[:] = -(1 << (acc_bits - 1))
        ir.save(m, tmp_path / "m.ir")
        assert same_model(ir.load(tmp_path / "m.ir"), m)
        m.layers["fc1"].bias_q[0] = -(1 << (acc_bits - 1)) - (acc_bits < 32)
        if acc_bits < 32:
            with pytest.raises(IRError, match="fc1.bias_q: a value does not fit"):
                ir.validate(m)
        m.layers["fc1"].bias_q[0] = 0


# ------------------------------------------------------------------ writers respect the readers' caps

def test_save_refuses_too_many_entries(base, tmp_path, monkeypatch):
    m = base["mlp_codebook"]
    n = len(to_manifest(m)[1]) + 1
    monkeypatch.setattr(container, "MAX_ENTRIES", n - 1)
    with pytest.raises(IRError, match="zip entries, over the cap"):
        ir.save(m, tmp_path / "m.ir")
    assert not (tmp_path / "m.ir").exists()
    monkeypatch.setattr(container, "MAX_ENTRIES", n)
    ir.save(m, tmp_path / "m.ir")
    monkeypatch.setattr(container, "MAX_ENTRIES", n - 1)
    with pytest.raises(IRError, match="zip entries exceed the cap"):
        ir.load(tmp_path / "m.ir")


def test_save_refuses_a_manifest_over_the_cap(base, tmp_path, monkeypatch):
    m = base["mlp_int8"]
    size = len(json.dumps(to_manifest(m)[0], indent=1).encode())
    monkeypatch.setattr(container, "MAX_MANIFEST_BYTES", size - 1)
    with pytest.raises(IRError, match="manifest.json: would be .* over the reader's cap"):
        ir.save(m, tmp_path / "m.ir")
    assert not (tmp_path / "m.ir").exists()
    monkeypatch.setattr(container, "MAX_MANIFEST_BYTES", size)
    ir.save(m, tmp_path / "m.ir")
    assert same_model(ir.load(tmp_path / "m.ir"), m)


def test_huge_provenance_is_refused_at_save(base, tmp_path):
    m = copy.deepcopy(base["mlp_int8"])
    m.provenance["producer"] = "x" * (17 << 20)
    with pytest.raises(IRError, match="provenance: .* over the cap"):
        ir.save(m, tmp_path / "m.ir")


def test_manifest_integer_of_5000_digits_is_one_line(base, tmp_path):
    manifest, tensors = to_manifest(base["mlp_int8"])
    text = json.dumps(manifest).replace('"acc_bits": 32', '"acc_bits": ' + "9" * 5000, 1)
    path = tmp_path / "m.ir"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", text)
    with pytest.raises(IRError, match="manifest.json: not valid JSON") as info:
        ir.load(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


# ------------------------------------------------------------------ linear costs

def test_reach_check_is_one_sweep_and_still_finds_dead_layers():
    q = ir.QuantParams(8, True, 1.0, 0)
    m = ir.Model("chain", {"x": ir.Input("x", [], shape=(4,), quant=q)}, [])
    prev = "x"
    for i in range(2000):
        m.layers[f"r{i}"] = ir.ReLU(f"r{i}", [prev], quant=q)
        prev = f"r{i}"
    m.outputs = list(m.layers)[1:]  # every tensor a graph output
    ir.validate(m)
    m.outputs = ["r1000"]
    with pytest.raises(IRError, match="r1001: does not lead to any output"):
        ir.validate(m)


def test_name_set_gives_the_plain_set_names():
    names = ["conv"] * 300 + ["conv_2"] + ["a/b", "a_b", "a.b"] * 50 + ["9x"] * 3 + ["x" * 100] * 20
    plain, fast = set(), Taken()
    assert [sanitize(n, plain) for n in names] == [sanitize(n, fast) for n in names]
    fast.add("conv_400")  # names added behind sanitize's back are still avoided
    plain.add("conv_400")
    assert [sanitize("conv", plain) for _ in range(200)] == [sanitize("conv", fast) for _ in range(200)]


# ------------------------------------------------------------------ the property suite

def _mutate(draw, m):
    """One random change to one random field, plausible or hostile."""
    layers = [l for l in m.layers.values() if isinstance(l, ir.WeightedLayer)]
    layer = draw(st.sampled_from(layers))
    ints = st.one_of(st.integers(-3, 3), st.sampled_from([-(1 << 31), (1 << 31) - 1, 1 << 31, 1 << 40, 300, -129, 128]))
    dtypes = st.sampled_from([np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64, np.float32, np.float64])
    what = draw(st.sampled_from(["exponent", "multiplier", "mode", "bias_q", "acc_bits", "codes", "codes_dtype",
                                 "rel", "ptr", "quant_bits", "zero_point", "attr", "nothing"]))
    rqt = layer.requant
    if what == "exponent":
        rqt.exponent = np.full(rqt.exponent.shape, draw(ints)).astype(draw(dtypes))
    elif what == "multiplier":
        rqt.multiplier = np.full(rqt.exponent.shape, draw(st.sampled_from([0, 1 << 29, 1 << 30, (1 << 31) - 1, -5]))).astype(
            draw(st.sampled_from([np.int32, np.int64])))
    elif what == "mode":
        rqt.mode = draw(st.sampled_from(["shift", "multiplier", "round"]))
    elif what == "bias_q" and layer.bias_q is not None:
        # the accumulator's limits (an earlier "attr" mutation may have made acc_bits hostile: then int32's)
        ab = layer.acc_bits if isinstance(layer.acc_bits, int) and 1 <= layer.acc_bits <= 64 else 32
        v = draw(st.sampled_from([-(1 << (ab - 1)), (1 << (ab - 1)) - 1, 1 << 31, -(1 << 31) - 1, 0]))
        layer.bias_q = np.full(layer.bias_q.shape, v).astype(draw(st.sampled_from([np.int32, np.int64])))
    elif what == "acc_bits":
        layer.acc_bits = draw(st.sampled_from([7, 8, 20, 32, 33]))
    elif what in ("codes", "codes_dtype"):
        v = layer.weight.values
        name = v.code_tensor
        arr = getattr(v, name)
        if arr.size:
            arr = arr.astype(np.int64)
            arr.reshape(-1)[draw(st.integers(0, arr.size - 1))] = draw(ints)
        dt = draw(dtypes) if what == "codes_dtype" else getattr(v, name).dtype
        with np.errstate(over="ignore"):
            setattr(v, name, arr.astype(dt))
    elif what == "rel" and layer.weight.sparse is not None:
        sp = layer.weight.sparse
        rel = sp.rel.astype(np.int64)
        if rel.size:
            rel[draw(st.integers(0, rel.size - 1))] = draw(ints)
        with np.errstate(over="ignore"):
            sp.rel = rel.astype(draw(st.sampled_from([np.uint8, np.uint16, np.int8, np.int64])))
    elif what == "ptr" and layer.weight.sparse is not None:
        sp = layer.weight.sparse
        ptr = sp.ptr.astype(np.int64)
        ptr[draw(st.integers(0, ptr.size - 1))] += draw(st.integers(-2, 2))
        sp.ptr = ptr.astype(draw(st.sampled_from([np.int32, np.int64])))
    elif what == "quant_bits":
        q = layer.quant
        layer.quant = ir.QuantParams(draw(st.sampled_from([1, 2, 8, 16, 17])), q.signed, q.scale, q.zero_point)
    elif what == "zero_point":
        q = layer.quant
        layer.quant = ir.QuantParams(q.bits, q.signed, q.scale, draw(ints))
    elif what == "attr":
        a = draw(st.sampled_from(layer.ATTRS))
        cur = getattr(layer, a)
        setattr(layer, a, tuple(draw(ints) for _ in cur) if isinstance(cur, tuple) else draw(ints))


@st.composite
def mutated_models(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    enc = draw(st.sampled_from(ENCODINGS))
    layout = draw(st.sampled_from(["none", "csr", "csc"]))
    m = draw(st.sampled_from([mlp, cnn]))(rng, enc, layout)
    for _ in range(draw(st.integers(0, 2))):
        _mutate(draw, m)
    return m


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(m=mutated_models())
def test_validate_and_load_agree(tmp_path, m):
    try:
        ir.validate(m)
        accepted = True
    except IRError:
        accepted = False
    path = tmp_path / "m.ir"
    path.unlink(missing_ok=True)
    event("accepted" if accepted else "rejected")
    if accepted:
        ir.save(m, path)
        assert same_model(ir.load(path), m)
        return
    try:
        write_raw(m, path)
    except (TypeError, ValueError, OverflowError, IRError):
        event("not serializable")
        return  # the model cannot even be serialized
    with pytest.raises(IRError):
        ir.load(path)
