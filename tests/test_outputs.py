"""Outputs never destroy anything (hwq/ir/atomic.py, hwq/dump.py; issue #11 section 3).

Special files are written through and stay what they were, an existing file keeps its mode,
a symlink stays a link, an output that is one of the command's inputs is refused, and
``--dump DIR`` never replaces a file it did not write.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from hwq import ir
from hwq.golden import run_float
from hwq.ir.atomic import OutputError, atomic_write

# the command-line helpers and example files of test_cli: one place for "one error line"
from tests.test_cli import FLOAT_MLP, TEST_X, invoke, one_error_line


@pytest.fixture(scope="module")
def want():
    """The float model's output on the test batch, from the golden model directly."""
    m = ir.load(FLOAT_MLP)
    return run_float(m, np.load(TEST_X))[m.outputs[0]]


def test_dev_null_stays_a_device(want):
    before = os.stat("/dev/null")
    r = invoke("run", FLOAT_MLP, "--input", TEST_X, "-o", "/dev/null")
    assert r.exit_code == 0, r.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino


def test_dev_stdout_is_written_through(tmp_path, want):
    """-o /dev/stdout prints the file (stdout is a pipe here); the message goes to stderr."""
    p = subprocess.run([sys.executable, "-m", "hwq", "run", str(FLOAT_MLP), "--input", str(TEST_X),
                        "-o", "/dev/stdout"], capture_output=True)
    assert p.returncode == 0, p.stderr
    (tmp_path / "y.npy").write_bytes(p.stdout)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)
    assert b"wrote /dev/stdout" in p.stderr


def test_dev_stdout_redirected_to_a_file_appends(tmp_path, want):
    """`hwq ... -o /dev/stdout >> f` keeps what f had: a regular file reached through /dev is
    appended to, never truncated or replaced."""
    out = tmp_path / "log"
    out.write_bytes(b"KEEP")
    with open(out, "ab") as f:
        p = subprocess.run([sys.executable, "-m", "hwq", "run", str(FLOAT_MLP), "--input", str(TEST_X),
                            "-o", "/dev/stdout"], stdout=f, stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr
    data = out.read_bytes()
    assert data.startswith(b"KEEP")
    (tmp_path / "y.npy").write_bytes(data[4:])
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)


def test_fifo_is_written_through(tmp_path, want):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    r = invoke("run", FLOAT_MLP, "--input", TEST_X, "-o", fifo)
    reader.join(30)
    assert r.exit_code == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    (tmp_path / "y.npy").write_bytes(got[0])
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)


def test_existing_file_keeps_its_mode(tmp_path, want):
    out = tmp_path / "y.npy"
    out.write_bytes(b"old")
    os.chmod(out, 0o600)
    assert invoke("run", FLOAT_MLP, "--input", TEST_X, "-o", out).exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    np.testing.assert_array_equal(np.load(out), want)
    os.chmod(out, 0o640)
    assert invoke("random", "-o", out).exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640


def test_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        assert invoke("random", "-o", tmp_path / "r.ir").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "r.ir").st_mode) == 0o640


def test_symlink_stays_a_link_and_its_target_is_replaced(tmp_path, want):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "y.npy"
    target.write_bytes(b"old")
    link = tmp_path / "y.npy"
    link.symlink_to(target)
    assert invoke("run", FLOAT_MLP, "--input", TEST_X, "-o", link).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(np.load(target), want)
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["y.npy"]  # no temporary left


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "r.ir"
    link.symlink_to(tmp_path / "made.ir")
    assert invoke("random", "-o", link).exit_code == 0
    assert link.is_symlink() and ir.load(tmp_path / "made.ir").is_quantized


def test_socket_is_refused(tmp_path):
    path = tmp_path / "s"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        line = one_error_line(invoke("random", "-o", path))
        assert "is not a regular file" in line
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        sock.close()


def test_directory_is_refused_by_the_writer(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        atomic_write(tmp_path / "d", lambda f: f.write(b"x"))


def test_failed_write_leaves_no_temporary(tmp_path):
    (tmp_path / "y").write_bytes(b"old")

    def boom(f):
        f.write(b"half")
        raise RuntimeError("stop")

    for name in ("y", "new"):
        with pytest.raises(RuntimeError):
            atomic_write(tmp_path / name, boom)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y"] and (tmp_path / "y").read_bytes() == b"old"


def test_read_only_file_is_not_replaced(tmp_path, monkeypatch):
    import hwq.ir.atomic

    out = tmp_path / "r.ir"
    out.write_bytes(b"keep")
    os.chmod(out, 0o444)
    real_access = os.access
    # as root every file is writable to os.access: answer as for an ordinary user
    monkeypatch.setattr(hwq.ir.atomic.os, "access",
                        lambda p, mode: False if Path(p) == out and mode & os.W_OK else real_access(p, mode))
    assert "read-only" in one_error_line(invoke("random", "-o", out))
    assert out.read_bytes() == b"keep"


# ---------------------------------------------------------------------------- outputs over inputs


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def test_run_refuses_to_write_over_its_model_or_input(tmp_path):
    m = _copy(FLOAT_MLP, tmp_path / "m.ir")
    x = _copy(TEST_X, tmp_path / "x.npy")
    (tmp_path / "alias.npy").symlink_to(x)
    for out in (m, x, tmp_path / "alias.npy"):
        line = one_error_line(invoke("run", m, "--input", x, "-o", out))
        assert "is the input" in line
    assert m.read_bytes() == FLOAT_MLP.read_bytes() and x.read_bytes() == TEST_X.read_bytes()


def test_compress_refuses_to_write_over_its_input(tmp_path):
    a = _copy(FLOAT_MLP, tmp_path / "a.ir")
    (tmp_path / "hard.ir").hardlink_to(a)
    for out in (a, tmp_path / "hard.ir"):
        assert "is the input" in one_error_line(invoke("compress", a, "-o", out, "--int8"))
    assert a.read_bytes() == FLOAT_MLP.read_bytes()


def test_compress_refuses_to_write_over_its_data(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((2, 64)))
    before = (tmp_path / "d.npz").read_bytes()
    assert "is the input" in one_error_line(invoke("compress", FLOAT_MLP, "-o", tmp_path / "d.npz", "--int8",
                                                   "--act-bits", "8", "--data", tmp_path / "d.npz"))
    assert (tmp_path / "d.npz").read_bytes() == before


def test_import_refuses_to_write_over_its_input(tmp_path):
    from tests.test_cli import onnx_mlp

    onnx_mlp(tmp_path / "x.onnx", np.random.default_rng(0))
    before = (tmp_path / "x.onnx").read_bytes()
    assert "is the input" in one_error_line(invoke("import", tmp_path / "x.onnx", "-o", tmp_path / "x.onnx"))
    assert (tmp_path / "x.onnx").read_bytes() == before


# ---------------------------------------------------------------------------- --dump DIR


def test_dump_never_overwrites_a_file_it_did_not_write(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    x = _copy(TEST_X, d / "fc1.npy")  # the input batch, saved under a layer's name
    line = one_error_line(invoke("run", FLOAT_MLP, "--input", x, "--dump", d))
    assert "fc1.npy" in line
    assert x.read_bytes() == TEST_X.read_bytes() and sorted(p.name for p in d.iterdir()) == ["fc1.npy"]


def test_dump_may_redo_its_own_files(tmp_path):
    m = ir.load(FLOAT_MLP)
    d = tmp_path / "d"
    for _ in range(2):  # the second run replaces what the first one wrote
        r = invoke("run", FLOAT_MLP, "--input", TEST_X, "--dump", d)
        assert r.exit_code == 0, r.stderr
    want = run_float(m, np.load(TEST_X), keep_all=True)
    for name, v in want.items():
        np.testing.assert_array_equal(np.load(d / f"{name}.npy"), v)
    (d / "notes.txt").write_text("mine")  # other files in the directory are left alone
    assert invoke("run", FLOAT_MLP, "--input", TEST_X, "--dump", d).exit_code == 0
    assert (d / "notes.txt").read_text() == "mine"


def test_dump_refuses_a_directory_holding_the_output(tmp_path):
    d = tmp_path / "d"
    assert invoke("run", FLOAT_MLP, "--input", TEST_X, "--dump", d).exit_code == 0
    line = one_error_line(invoke("run", FLOAT_MLP, "--input", TEST_X, "--dump", d, "-o", d / "fc3.npy"))
    assert "would overwrite" in line and "fc3.npy" in line


def test_dump_record_that_hwq_did_not_write(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "hwq-dump.json").write_text("not json")
    assert "hwq-dump.json" in one_error_line(invoke("run", FLOAT_MLP, "--input", TEST_X, "--dump", d))
