"""Malformed input: one line on stderr, exit code 1, no traceback, nothing half-written."""

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from hwq import ir
from hwq.cli import main
from hwq.ir.manifest import to_manifest
from tests.factories import mlp


@pytest.fixture(scope="module")
def good():
    return mlp(np.random.default_rng(0), "codebook", "csc")


def npy_bytes(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)


def raw_entries(model, mutate_manifest=None, mutate_tensors=None):
    manifest, tensors = to_manifest(model)
    tensors = {n: a.copy() for n, a in tensors.items()}  # never mutate the shared fixture
    if mutate_tensors:
        mutate_tensors(tensors)
        manifest["tensors"] = {n: {"dtype": a.dtype.name, "shape": list(a.shape)} for n, a in tensors.items()}
    if mutate_manifest:
        mutate_manifest(manifest)
    entries = [("manifest.json", json.dumps(manifest))]
    entries += [(f"tensors/{n}.npy", npy_bytes(a)) for n, a in tensors.items()]
    return entries


def info_fails(path, expect):
    r = CliRunner().invoke(main, ["info", str(path)])
    assert r.exit_code == 1, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwq: error: "), r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert expect in lines[0], lines[0]
    return lines[0]


def layer(m, name):
    return next(l for l in m["layers"] if l["name"] == name)


CASES = {
    "unknown schema version": (lambda m: m.update(schema_version=99), None, "schema_version 99 is not supported"),
    "wrong format": (lambda m: m.update(format="onnx"), None, "format is 'onnx'"),
    "hostile layer name": (lambda m: layer(m, "fc1").update(name="../../etc/passwd"), None, "is not a valid identifier"),
    "C injection name": (lambda m: layer(m, "fc2").update(name="x;system(\"rm\")"), None, "is not a valid identifier"),
    "unknown layer kind": (lambda m: layer(m, "r1").update(kind="lstm"), None, "unknown layer kind 'lstm'"),
    "unknown input": (lambda m: layer(m, "fc2").update(inputs=["nope"]), None, "fc2.inputs: unknown layer 'nope'"),
    "cycle": (lambda m: layer(m, "fc1").update(inputs=["r1"]), None, "r1 is listed after its consumer"),
    "out of order": (lambda m: m.update(layers=m["layers"][::-1]), None, "listed after its consumer"),
    "unknown encoding": (lambda m: layer(m, "fc1")["weight"]["values"].update(type="zstd"), None, "unknown encoding 'zstd'"),
    "bad weight shape": (lambda m: layer(m, "fc1")["weight"].update(shape=[9, 13]), None, "fc1.weight.shape"),
    "huge declared shape": (lambda m: m["tensors"]["fc1.bias"].update(shape=[1 << 20, 1 << 20]), None, "over the cap"),
    "absurd dimension": (lambda m: m["tensors"]["fc1.bias"].update(shape=[10**30]), None, "integers in [0, 2^31)"),
    "declared vs actual shape": (lambda m: m["tensors"]["fc1.bias"].update(shape=[8]), None, "manifest declares float32[8]"),
    "disallowed dtype": (lambda m: m["tensors"]["fc1.bias"].update(dtype="object"), None, "dtype 'object' is not allowed"),
    "kind is a list": (lambda m: layer(m, "r1").update(kind=["relu"]), None, "unknown layer kind"),
    "encoding type is a dict": (lambda m: layer(m, "fc1")["weight"]["values"].update(type={}), None, "unknown encoding"),
    "huge scale": (lambda m: layer(m, "fc1")["quant"].update(scale=10**400), None, "fc1.quant.scale"),
    "denormal scale": (lambda m: layer(m, "fc1")["quant"].update(scale=5e-324), None, "fc1.quant.scale"),
    "huge attribute": (lambda m: layer(m, "fc1")["attrs"].update(in_features=10**30), None, "below 2^31"),
    "extra top-level key": (lambda m: m.update(extra=1), None, "unknown key 'extra'"),
    "schema_version true": (lambda m: m.update(schema_version=True), None, "schema_version True"),
    "schema_version 1.0": (lambda m: m.update(schema_version=1.0), None, "schema_version 1.0"),
    "missing attrs": (lambda m: layer(m, "r1").pop("attrs"), None, "r1: missing key 'attrs'"),
    "missing quant": (lambda m: layer(m, "r1").pop("quant"), None, "r1: missing key 'quant'"),
    "missing requant": (lambda m: layer(m, "fc1").pop("requant"), None, "fc1: missing key 'requant'"),
    "unknown layer key": (lambda m: layer(m, "fc1").update(fused="relu"), None, "fc1: unknown key 'fused'"),
    "bool index bits": (lambda m: layer(m, "fc1")["weight"]["sparse"].update(index_bits=True), None, "index_bits"),
    "bias_q beyond acc_bits": (lambda m: layer(m, "fc1")["attrs"].update(acc_bits=8), None, "fc1.bias_q: a value does not fit"),
    "bool zero point": (lambda m: layer(m, "fc1")["quant"].update(zero_point=True), None, "fc1.quant.zero_point"),
    "bad quant": (lambda m: layer(m, "fc1")["quant"].update(scale=-1.0), None, "fc1.quant.scale"),
    "index out of range": (None, lambda t: t["fc2.weight.indices"].__setitem__(0, 17),
                           "fc2.weight.indices: value 17 >= codebook size 16"),
    "NaN weights": (None, lambda t: t.__setitem__("fc1.bias", np.full(9, np.nan, np.float32)), "fc1.bias: values must be finite"),
    "wrong dtype": (None, lambda t: t.__setitem__("fc2.weight.indices", t["fc2.weight.indices"].astype(np.float32)),
                    "fc2.weight.indices: dtype float32 not one of uint8, uint16"),
    "rel index too big": (None, lambda t: t["fc1.weight.rel"].__setitem__(0, 200), "fc1.weight.rel: value 200 >= 2^index_bits"),
    "entry past the matrix edge": (None, lambda t: t["fc2.weight.rel"].__setitem__(slice(None), 7),
                                   "fc2.weight.rel: column"),
    "bad pointer": (None, lambda t: t["fc1.weight.ptr"].__setitem__(-1, 3), "fc1.weight.ptr"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_manifest_or_tensor(tmp_path, good, case):
    mm, mt, expect = CASES[case]
    path = tmp_path / "bad.ir"
    write_zip(path, raw_entries(good, mm, mt))
    info_fails(path, expect)


def test_nan_float_weights(tmp_path):
    m = ir.Model("f", {}, ["fc"])
    m.layers["x"] = ir.Input("x", [], shape=(3,))
    w = np.ones(6, np.float32)
    m.layers["fc"] = ir.Dense("fc", ["x"], in_features=3, out_features=2, weight=ir.Weight((2, 3), ir.Float32Values(w)))
    ir.save(m, tmp_path / "ok.ir")
    w[4] = np.inf
    write_zip(tmp_path / "bad.ir", raw_entries(m))
    info_fails(tmp_path / "bad.ir", "fc.weight.data: element 4 is inf")


def test_corrupt_zip(tmp_path):
    (tmp_path / "bad.ir").write_bytes(np.random.default_rng(0).bytes(5000))
    info_fails(tmp_path / "bad.ir", "not a readable zip")


def test_truncated_zip(tmp_path, good):
    ir.save(good, tmp_path / "ok.ir")
    data = (tmp_path / "ok.ir").read_bytes()
    (tmp_path / "bad.ir").write_bytes(data[: len(data) // 2])
    info_fails(tmp_path / "bad.ir", "bad.ir")


@pytest.mark.parametrize("entry", ["../evil.npy", "/abs/evil.npy", "tensors/../../x.npy", "C:\\x.npy"])
def test_unsafe_entry_names(tmp_path, good, entry):
    write_zip(tmp_path / "bad.ir", raw_entries(good) + [(entry, b"x")])
    info_fails(tmp_path / "bad.ir", "unsafe path")


def test_undeclared_entry(tmp_path, good):
    write_zip(tmp_path / "bad.ir", raw_entries(good) + [("tensors/extra.npy", npy_bytes(np.zeros(2)))])
    info_fails(tmp_path / "bad.ir", "not declared")


def test_no_manifest(tmp_path):
    write_zip(tmp_path / "bad.ir", [("hello.txt", "hi")])
    info_fails(tmp_path / "bad.ir", "no manifest.json")


def test_manifest_not_json_and_nan_constant(tmp_path, good):
    entries = raw_entries(good)
    write_zip(tmp_path / "a.ir", [("manifest.json", "{not json")] + entries[1:])
    info_fails(tmp_path / "a.ir", "not valid JSON")
    text = entries[0][1].replace('"scale": ', '"scale": NaN, "x": ', 1)
    write_zip(tmp_path / "b.ir", [("manifest.json", text)] + entries[1:])
    info_fails(tmp_path / "b.ir", "NaN is not allowed")


def test_pickled_array_is_never_loaded(tmp_path, good):
    entries = raw_entries(good)
    obj = np.array([{"boom": 1}, None], dtype=object)
    entries = [(n, npy_bytes(obj, allow_pickle=True) if n == "tensors/fc1.bias.npy" else d) for n, d in entries]
    write_zip(tmp_path / "bad.ir", entries)
    info_fails(tmp_path / "bad.ir", "pickled or structured arrays are never loaded")


def test_zip_bomb_is_capped(tmp_path, good):
    """A tensor entry that inflates far beyond its declared size is rejected without reading it all."""
    entries = raw_entries(good)
    bomb = npy_bytes(np.zeros(9, np.float32)) + b"\0" * (64 << 20)
    entries = [(n, bomb if n == "tensors/fc1.bias.npy" else d) for n, d in entries]
    path = tmp_path / "bomb.ir"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in entries:
            zf.writestr(n, d)
    assert path.stat().st_size < 1 << 20
    info_fails(path, "fc1.bias: holds")


def test_manifest_bomb_is_capped(tmp_path, good):
    entries = raw_entries(good)
    path = tmp_path / "bomb.ir"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", entries[0][1] + " " * (20 << 20))
    info_fails(path, "over the cap")


def test_failed_write_leaves_target_untouched(tmp_path, good):
    out = tmp_path / "out.ir"
    out.write_bytes(b"previous")
    bad = mlp(np.random.default_rng(1), "int8", "none")
    bad.layers["fc1"].bias = np.full(9, np.nan, np.float32)
    with pytest.raises(ir.IRError):
        ir.save(bad, out)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ir"]


def test_run_rejects_bad_input_arrays(tmp_path, good):
    ir.save(good, tmp_path / "m.ir")
    np.save(tmp_path / "obj.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    np.save(tmp_path / "shape.npy", np.zeros((2, 5)))
    np.save(tmp_path / "nan.npy", np.full((2, 12), np.nan))
    np.save(tmp_path / "range.npy", np.full((2, 12), 10**6, dtype=np.int64))
    for f, expect in [("obj.npy", "not a plain .npy array"), ("shape.npy", "expects shape [N, 12]"),
                      ("nan.npy", "NaN"), ("range.npy", "outside"), ("missing.npy", "no such file")]:
        r = CliRunner().invoke(main, ["run", str(tmp_path / "m.ir"), "--input", str(tmp_path / f), "-o", str(tmp_path / "y.npy")])
        assert r.exit_code == 1 and expect in r.stderr and len(r.stderr.strip().splitlines()) == 1, (f, r.stderr)
    assert not (tmp_path / "y.npy").exists()


def test_cli_process_prints_one_line(tmp_path):
    """The installed entry point, as a user runs it: no traceback on a corrupt file."""
    (tmp_path / "bad.ir").write_bytes(b"PK\x03\x04garbage")
    p = subprocess.run([sys.executable, "-m", "hwq", "info", str(tmp_path / "bad.ir")], capture_output=True, text=True)
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_pool_kernel_with_three_values(tmp_path):
    m = ir.Model("p", {}, ["pool"])
    m.layers["x"] = ir.Input("x", [], shape=(1, 4, 4))
    m.layers["pool"] = ir.MaxPool("pool", ["x"], kernel=(2, 2, 2), stride=(2, 2))
    write_zip(tmp_path / "bad.ir", raw_entries(m))
    info_fails(tmp_path / "bad.ir", "pool.kernel: needs 2 values, has 3")


def _rewrite_entry(src, dst, name, transform):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, transform(data) if info.filename == name else data)


def test_corrupt_deflate_stream(tmp_path, good):
    ir.save(good, tmp_path / "ok.ir")
    raw = bytearray((tmp_path / "ok.ir").read_bytes())
    with zipfile.ZipFile(tmp_path / "ok.ir") as zf:
        info = zf.getinfo("tensors/fc1.weight.indices.npy")
    start = info.header_offset + 30 + len(info.filename)  # local header, then deflate data
    for k in range(start, start + 8):
        raw[k] ^= 0xFF
    (tmp_path / "bad.ir").write_bytes(bytes(raw))
    info_fails(tmp_path / "bad.ir", "fc1.weight.indices")


def test_unsupported_zip_version(tmp_path, good):
    ir.save(good, tmp_path / "ok.ir")
    raw = bytearray((tmp_path / "ok.ir").read_bytes())
    cd = raw.rfind(b"PK\x01\x02")  # last central directory record: "version needed" at +6
    raw[cd + 6] = 255
    (tmp_path / "bad.ir").write_bytes(bytes(raw))
    info_fails(tmp_path / "bad.ir", "bad.ir")


@pytest.mark.parametrize("header", [
    b"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (9,), }",  # structured dtype
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (9,",  # truncated header literal
])
def test_malformed_npy_headers(tmp_path, good, header):
    ir.save(good, tmp_path / "ok.ir")

    def forge(data):
        pad = 64 - 10 - len(header) % 64
        return b"\x93NUMPY\x01\x00" + (len(header) + pad).to_bytes(2, "little") + header + b" " * (pad - 1) + b"\n" + data[128:]

    _rewrite_entry(tmp_path / "ok.ir", tmp_path / "bad.ir", "tensors/fc1.bias.npy", forge)
    info_fails(tmp_path / "bad.ir", "fc1.bias")


def test_empty_input_batch(tmp_path, good):
    ir.save(good, tmp_path / "m.ir")
    np.save(tmp_path / "empty.npy", np.zeros((0, 12)))
    r = CliRunner().invoke(main, ["run", str(tmp_path / "m.ir"), "--input", str(tmp_path / "empty.npy")])
    assert r.exit_code == 1 and "empty batch" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_float_add_with_requant_is_rejected():
    m = ir.Model("a", {}, ["s"])
    m.layers["x"] = ir.Input("x", [], shape=(4,))
    m.layers["s"] = ir.Add("s", ["x", "x"], requant=[ir.make_requant(np.ones(1))] * 2)
    with pytest.raises(ir.IRError, match="s.requant"):
        ir.validate(m)


def test_avgpool_window_sum_must_fit_int32():
    def model(bits, k):
        q = ir.QuantParams(bits, True, 0.01, 0)
        m = ir.Model("ap", {}, ["p"])
        m.layers["x"] = ir.Input("x", [], shape=(1, k, k), quant=q)
        m.layers["p"] = ir.AvgPool("p", ["x"], kernel=(k, k), stride=(1, 1), quant=q)
        return m

    ir.validate(model(8, 256))  # 2^16 * 2^8 fits int32
    with pytest.raises(ir.IRError, match="p: a 256x256 window of 16-bit values"):
        ir.validate(model(16, 256))


def test_info_on_a_model_without_weights(tmp_path):
    m = ir.Model("nw", {}, ["r"])
    m.layers["x"] = ir.Input("x", [], shape=(4,))
    m.layers["r"] = ir.ReLU("r", ["x"])
    ir.save(m, tmp_path / "nw.ir")
    r = CliRunner().invoke(main, ["info", str(tmp_path / "nw.ir"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["compression_rate"] is None
