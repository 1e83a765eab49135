"""Issue #11 section 3, the command line: no internal errors, usage errors in one line, fail early.

Every case is a user mistake or a hostile input; each must end with one line on stderr,
the documented exit code (1 for a user error, 2 for a usage error), no traceback, no
"internal error", and nothing written.
"""

from __future__ import annotations

import errno
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from hwq import ir

# the command-line helpers and example files of test_cli: one place for "one error line"
from tests.test_cli import FLOAT_MLP, TEST_X, invoke, one_error_line


def digits_npz(path, **override):
    from hwq.data.digits import load_digits_split

    d = load_digits_split()
    arrays = dict(x_train=d.x_train, y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def forge_npy(header: bytes, data: bytes = b"") -> bytes:
    """A version 1.0 .npy with a hand-written header dict (padded as numpy pads it)."""
    pad = 64 - (10 + len(header) + 1) % 64
    return b"\x93NUMPY\x01\x00" + (len(header) + pad + 1).to_bytes(2, "little") + header + b" " * pad + b"\n" + data


TRUNCATED_HEADER = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 64,"  # tokenize.TokenError
HUGE_SHAPE = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 64), }"


# ---------------------------------------------------------------------------- no internal errors


def test_prune_quality_that_prunes_everything_writes_nothing(tmp_path):
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--prune-quality", "1000"))
    assert "prunes every weight of layer fc1" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_prune_quality_out_of_range(tmp_path, value):
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--prune-quality", value, "--int8"))
    assert "--prune-quality" in line
    assert list(tmp_path.iterdir()) == []


def test_data_that_is_a_npy_not_an_npz(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 64)))
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--int8", "--act-bits", "8",
                                 "--data", tmp_path / "x.npy"))
    assert "not an .npz archive" in line
    assert not (tmp_path / "o.ir").exists()


def _two_port_model(path: Path, inputs: int, outputs: int) -> Path:
    """64 -> Dense(10) per input; summed when there are two inputs; two heads when two outputs."""
    rng = np.random.default_rng(0)
    m = ir.Model("two", {}, [])

    def dense(name, src):
        w = ir.Weight((10, 64), ir.Float32Values(rng.standard_normal(640).astype(np.float32)))
        m.layers[name] = ir.Dense(name, [src], in_features=64, out_features=10, weight=w)

    for i in range(inputs):
        m.layers[f"x{i}"] = ir.Input(f"x{i}", [], shape=(64,))
        dense(f"fc{i}", f"x{i}")
    if inputs == 2:
        m.layers["sum"] = ir.Add("sum", ["fc0", "fc1"])
        m.outputs = ["sum"]
    else:
        dense("head", "x0")
        m.outputs = ["fc0", "head"] if outputs == 2 else ["fc0"]
    ir.save(m, path)
    return path


@pytest.mark.parametrize("inputs, outputs", [(2, 1), (1, 2)])
def test_data_with_a_model_of_two_inputs_or_outputs(tmp_path, inputs, outputs):
    src = _two_port_model(tmp_path / "m.ir", inputs, outputs)
    line = one_error_line(invoke("compress", src, "-o", tmp_path / "o.ir", "--int8", "--act-bits", "8",
                                 "--data", "digits"))
    assert "one input and one output" in line and f"{inputs} inputs and {outputs} outputs" in line
    assert not (tmp_path / "o.ir").exists()


@pytest.mark.parametrize("cmd", [["compress", FLOAT_MLP, "--int8"], ["random"]])
def test_negative_seed_is_a_usage_error(tmp_path, cmd):
    line = one_error_line(invoke(*cmd, "-o", tmp_path / "o.ir", "--seed", "-1"), code=2)
    assert "--seed" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("labels, expect", [
    (np.full(1347, 10, np.int64), "y_train holds label 10, but the model has 10 outputs"),
    (np.full(1347, 10, np.uint64), "y_train holds label 10, but the model has 10 outputs"),
    (np.full(1347, 2**64 - 1, np.uint64), "beyond any class index"),  # would wrap to -1 as int64
])
def test_labels_beyond_the_model_outputs(tmp_path, labels, expect):
    npz = digits_npz(tmp_path / "d.npz", y_train=labels)
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--prune", "0.5",
                                 "--retrain-epochs", "1", "--data", npz))
    assert expect in line
    assert not (tmp_path / "o.ir").exists()


@pytest.mark.parametrize("header, expect", [(TRUNCATED_HEADER, "not a plain .npy array"),
                                            (HUGE_SHAPE, "over the cap")])
def test_malformed_npy_header_in_run_input(tmp_path, header, expect):
    (tmp_path / "x.npy").write_bytes(forge_npy(header, b"\0" * 1024))
    line = one_error_line(invoke("run", FLOAT_MLP, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy"))
    assert expect in line
    assert not (tmp_path / "y.npy").exists()


def test_npy_declaring_more_data_than_it_holds(tmp_path):
    (tmp_path / "x.npy").write_bytes(forge_npy(b"{'descr': '<f8', 'fortran_order': False, 'shape': (9, 64), }",
                                               b"\0" * 64))
    line = one_error_line(invoke("run", FLOAT_MLP, "--input", tmp_path / "x.npy"))
    assert "declares 4608 bytes of data but holds at most" in line


@pytest.mark.parametrize("header, expect", [(TRUNCATED_HEADER, "member 'x_test': not a plain .npy array"),
                                            (HUGE_SHAPE, "member 'x_test': declares")])
def test_malformed_npy_header_in_an_npz_member(tmp_path, header, expect):
    npz = digits_npz(tmp_path / "d.npz")
    with zipfile.ZipFile(npz) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["x_test.npy"] = forge_npy(header, b"\0" * 1024)
    with zipfile.ZipFile(npz, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--int8", "--act-bits", "8",
                                 "--data", npz))
    assert expect in line
    assert not (tmp_path / "o.ir").exists()


def test_npz_members_are_capped_before_reading(tmp_path, monkeypatch):
    import hwq.npyio

    npz = digits_npz(tmp_path / "d.npz")
    monkeypatch.setattr(hwq.npyio, "MAX_NPZ_BYTES", 100_000)  # the digits arrays hold ~ 1 MB
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--int8", "--act-bits", "8",
                                 "--data", npz))
    assert "over the cap of 100000" in line


def test_npz_member_that_inflates_beyond_its_declared_size(tmp_path):
    """A member whose data is longer than its zip record says is cut at the declared size."""
    npz = digits_npz(tmp_path / "d.npz")
    raw = bytearray(npz.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as z:
        info = z.getinfo("x_test.npy")
    # shrink the declared (uncompressed) size in the central directory record of x_test.npy:
    # reading must stop there and see that the .npy header declares more than that
    cd = raw.find(b"PK\x01\x02")
    while raw[cd + 46:cd + 46 + int.from_bytes(raw[cd + 28:cd + 30], "little")] != b"x_test.npy":
        cd = raw.find(b"PK\x01\x02", cd + 4)
    raw[cd + 24:cd + 28] = (1000).to_bytes(4, "little")
    assert info.file_size > 1000
    npz.write_bytes(bytes(raw))
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--int8", "--act-bits", "8",
                                 "--data", npz))
    assert "x_test" in line  # reading stops at the declared size: a CRC or size error, never more data


@pytest.mark.parametrize("bits", ["-1", "0", "17", "64"])
def test_random_bits_outside_the_option_range(tmp_path, bits):
    line = one_error_line(invoke("random", "-o", tmp_path / "r.ir", "--bits", bits), code=2)
    assert "--bits" in line
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- OS errors on outputs


def test_output_name_too_long(tmp_path):
    line = one_error_line(invoke("run", FLOAT_MLP, "--input", TEST_X, "-o", tmp_path / ("a" * 300 + ".npy")))
    assert "too long" in line.lower()
    assert list(tmp_path.iterdir()) == []


def test_output_name_near_the_limit_still_works(tmp_path):
    """The temporary file beside the target has a short name of its own."""
    out = tmp_path / ("b" * 250 + ".npy")
    r = invoke("run", FLOAT_MLP, "--input", TEST_X, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert np.load(out).shape == (450, 10)


@pytest.mark.parametrize("existing", [False, True])
def test_disk_full_leaves_nothing_behind(tmp_path, monkeypatch, existing):
    import hwq.ir.atomic

    out = tmp_path / "o.ir"
    if existing:
        out.write_bytes(b"previous")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hwq.ir.atomic.os, "fsync", full)
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", out, "--int8"))
    assert "No space left on device" in line and "o.ir" in line
    assert [p.name for p in tmp_path.iterdir()] == (["o.ir"] if existing else [])
    if existing:
        assert out.read_bytes() == b"previous"


@pytest.mark.parametrize("target", ["/proc/hwq_out.ir", "/proc/self/hwq_out.ir"])
def test_output_under_proc(target):
    line = one_error_line(invoke("random", "-o", target))
    assert target in line


def test_output_below_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    one_error_line(invoke("random", "-o", tmp_path / "f" / "r.ir"))
    assert (tmp_path / "f").read_text() == "x"


def test_dump_below_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    line = one_error_line(invoke("run", FLOAT_MLP, "--input", TEST_X, "--dump", tmp_path / "f" / "d"))
    assert "is not a directory" in line
    line = one_error_line(invoke("run", FLOAT_MLP, "--input", TEST_X, "--dump", tmp_path / "f"), code=2)
    assert "is a file" in line  # click's own check of the option: a usage error
    assert (tmp_path / "f").read_text() == "x"


def test_closed_stdout_ends_quietly(tmp_path):
    """`hwq run ... | head -c 100`: the reader leaves early; hwq stops without a word, exit 0."""
    x = np.tile(np.load(TEST_X), (20, 1))  # about 2 MB of JSON: far more than a pipe buffer
    np.save(tmp_path / "x.npy", x)
    for extra in (["--json"], ["-o", "/dev/stdout"]):
        p = subprocess.Popen([sys.executable, "-m", "hwq", "run", str(FLOAT_MLP), "--input", str(tmp_path / "x.npy"),
                              *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.read(100)
        p.stdout.close()
        err = p.stderr.read().decode()
        assert p.wait(60) == 0, err
        assert "error" not in err and "Traceback" not in err and "Exception" not in err, err


# ---------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize("args, expect", [
    (["compress", FLOAT_MLP], "Missing option '-o'"),
    (["compress", FLOAT_MLP, "-o", "x.ir", "--sparse", "diagonal"], "--sparse"),
    (["run", FLOAT_MLP, "--bogus"], "--bogus"),
    (["frobnicate"], "No such command 'frobnicate'"),
    (["info"], "Missing argument 'MODEL'"),
    (["random", "-o", "r.ir", "--density", "lots"], "--density"),
])
def test_usage_errors_are_one_line(tmp_path, args, expect):
    line = one_error_line(invoke(*args), code=2)
    assert expect in line
    assert "Usage:" not in line


def test_usage_error_one_line_in_a_real_process():
    p = subprocess.run([sys.executable, "-m", "hwq", "compress", "--pow2", "x"], capture_output=True, text=True)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert p.stderr.startswith("hwq: error: compress: ")


def test_pow2_takes_the_next_word_only_when_it_is_an_integer(tmp_path):
    r = invoke("compress", "--pow2", FLOAT_MLP, "-o", tmp_path / "a.ir")
    assert r.exit_code == 0, r.stderr
    r = invoke("compress", "--pow2", "3", FLOAT_MLP, "-o", tmp_path / "b.ir")
    assert r.exit_code == 0, r.stderr
    r = invoke("compress", FLOAT_MLP, "-o", tmp_path / "c.ir", "--pow2=4")
    assert r.exit_code == 0, r.stderr
    for name, bits in (("a.ir", 5), ("b.ir", 3), ("c.ir", 4)):
        for layer in ir.load(tmp_path / name).weighted():
            assert layer.weight.values.TYPE == "pow2" and layer.weight.values.bits == bits, (name, layer.name)
    line = one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "d.ir", "--pow2", "9"), code=2)
    assert "--pow2" in line


# ---------------------------------------------------------------------------- fail early


def _no_work_done(r):
    assert "retrain" not in r.stdout, r.stdout


@pytest.mark.parametrize("bits", ["6", "7"])
@pytest.mark.parametrize("act", ["8", "16"])
def test_pow2_that_cannot_fit_the_accumulator_fails_before_training(tmp_path, bits, act):
    r = invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--prune", "0.5", "--pow2", bits,
               "--act-bits", act, "--retrain-epochs", "3", "--data", "digits")
    line = one_error_line(r)
    assert "32-bit accumulator" in line and f"--pow2 {bits}" in line
    _no_work_done(r)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("act", ["1", "17"])
def test_act_bits_range_before_training(tmp_path, act):
    r = invoke("compress", FLOAT_MLP, "-o", tmp_path / "o.ir", "--prune", "0.5", "--share-bits", "4",
               "--act-bits", act, "--retrain-epochs", "3", "--data", "digits")
    assert "--act-bits" in one_error_line(r)
    _no_work_done(r)


@pytest.mark.parametrize("where", ["missing/dir/o.ir", "file/o.ir", "adir"])
def test_unwritable_output_is_found_before_training(tmp_path, where):
    (tmp_path / "file").write_text("x")
    (tmp_path / "adir").mkdir()
    r = invoke("compress", FLOAT_MLP, "-o", tmp_path / where, "--prune", "0.5", "--share-bits", "4",
               "--retrain-epochs", "3", "--data", "digits")
    one_error_line(r, code=2 if where == "adir" else 1)  # a directory: click's own usage check
    _no_work_done(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "file"]
    assert list((tmp_path / "adir").iterdir()) == []


# ---------------------------------------------------------------------------- ONNX importer bounds


def test_name_deduplication_is_linear():
    """10,000 names that cut to one base: each new name costs O(1) membership tests."""
    from hwq.ir.names import Taken, is_valid_name, sanitize

    class Counting(Taken):
        tests = 0

        def __contains__(self, item):
            Counting.tests += 1
            return super().__contains__(item)

    taken = Counting()
    prefix = "/encoder/layer/" + "very_long_module_path_" * 5
    names = [sanitize(f"{prefix}{i}", taken) for i in range(10_000)]
    assert len(set(names)) == 10_000 and all(is_valid_name(n) for n in names)
    assert Counting.tests <= 3 * 10_000, Counting.tests
    # the same names as a plain set would give (the first free base, base_2, base_3, ...)
    assert names[:3] == [names[0], f"{names[0]}_2", f"{names[0]}_3"]


def _relu_chain_onnx(n_nodes: int, producer: str = "test") -> bytes:
    prefix = "/model/blocks/" + "a_long_module_name_" * 4
    nodes, prev = [], "x"
    for i in range(n_nodes):
        nodes.append(helper.make_node("Relu", [prev], [f"t{i}"], name=f"{prefix}{i}/Relu"))
        prev = f"t{i}"
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name=producer)
    return model.SerializeToString()


def test_import_of_many_nodes_sharing_a_long_prefix():
    from hwq.frontends.onnx_import import import_onnx

    m = import_onnx(_relu_chain_onnx(500))
    names = [l.name for l in m.layers.values() if l.KIND == "relu"]
    assert len(names) == 500 and len(set(names)) == 500
    assert import_onnx(_relu_chain_onnx(500)).layers.keys() == m.layers.keys()  # deterministic


def test_provenance_copied_from_onnx_is_bounded(tmp_path):
    from hwq.frontends.onnx_import import MAX_PROVENANCE_TEXT, import_onnx

    huge = "p\n\x00" * (6 << 20)  # a 17 MiB producer_name with control characters
    m = import_onnx(_relu_chain_onnx(2, producer=huge))
    producer = m.provenance["producer"]
    assert len(producer) <= MAX_PROVENANCE_TEXT and producer.isprintable() and producer.startswith("p p p")
    ir.save(m, tmp_path / "m.ir")
    assert ir.load(tmp_path / "m.ir").provenance["producer"] == producer
    assert (tmp_path / "m.ir").stat().st_size < 100_000
