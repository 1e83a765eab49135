"""QP codec (hwq.compress.methods.qp_codec, seed 000) and its entropy-coded bitstream.

Independent references: the empirical entropy of the codes (no code beats it; an adaptive
code costs at most ~A/2 log2 n more), a uniform quantizer's 6.02 dB per step doubling, the
IR's own decoded weights against the bitstream, the golden model for the integer run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwq import ir
from hwq.cli import main
from hwq.compress.methods import bitstream as bs
from hwq.compress.methods.qp_codec import (forward_transform, inverse_transform, psnr, quantize,
                                           read_bitstream, snap, step_of)
from hwq.golden import run_int

ROOT = Path(__file__).parents[1]
MLP = ROOT / "examples" / "digits_mlp.ir"


def _entropy_bits(q):
    _, c = np.unique(q, return_counts=True)
    p = c / c.sum()
    return float(-(c * np.log2(p)).sum())


@pytest.mark.parametrize("case", ["laplace", "one_value", "wide", "two", "tiny"])
def test_bitstream_round_trip_and_size(case):
    rng = np.random.default_rng(0)
    q = {"laplace": np.round(rng.laplace(0, 3, 20000)),
         "one_value": np.full(500, -7),
         "wide": rng.integers(-30000, 30000, 3000),
         "two": rng.choice([0, 5], 4000, p=[0.9, 0.1]),
         "tiny": np.array([3])}[case].astype(np.int64)
    rec = bs.encode_codes(q)
    back, used = bs.decode_codes(rec + b"trailing")
    assert used == len(rec) and np.array_equal(back, q)
    h = _entropy_bits(q)
    alphabet = int(q.max() - q.min() + 1)
    payload = bs.record_bits(rec) - 128  # the 4-word header
    assert payload >= h - 32  # nothing beats the empirical entropy (one word of coder slack)
    if alphabet < 100:
        assert payload <= h + alphabet * np.log2(q.size + 1) + 64


def test_doubling_qp_doubles_the_step_and_costs_6db():
    w = np.random.default_rng(1).normal(0, 0.1, size=(200, 500))
    for qp in (16, 64, 256):
        assert step_of(2 * qp) == 2 * step_of(qp)
        drop = psnr(w, snap(w, step_of(qp))) - psnr(w, snap(w, step_of(2 * qp)))
        assert drop == pytest.approx(20 * np.log10(2), abs=0.3)  # 6.02 dB, uniform quantizer


def test_dct_is_orthonormal():
    x = np.random.default_rng(2).normal(size=(6, 24))
    c = forward_transform(x)
    assert np.allclose(inverse_transform(c), x)
    assert np.isclose((c ** 2).sum(), (x ** 2).sum())  # Parseval
    q = quantize(x, 1e-6, "dct")
    assert np.abs(snap(x, 1e-6, "dct") - x).max() < 1e-5 and q.shape == x.shape


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_single_layer_bitstream_matches_the_ir(tmp_path):
    out, bits = tmp_path / "c.ir", tmp_path / "c.bin"
    r = invoke("compress", MLP, "-o", out, "--method", "qp-codec", "--qp", "8192", "--only", "fc2",
               "--bitstream", bits, "--data", "digits", "--act-bits", "8")
    assert r.exit_code == 0, r.output
    m = ir.load(out)
    assert m.layers["fc1"].weight.values.TYPE == "int8"  # left float, made int8 by calibration
    w = m.layers["fc2"].weight
    assert w.values.TYPE == "codebook"
    streams = read_bitstream(bits.read_bytes())
    assert list(streams) == ["fc2"]
    step, transform, codes = streams["fc2"]
    assert transform == "none" and step == step_of(8192)
    # the IR weight is exactly codes x step: the bitstream decodes to what the back ends run
    assert np.array_equal(w.dense_float().ravel(), codes * np.float64(np.float32(step)))
    from hwq.data.digits import load_digits_split
    d = load_digits_split()
    y = run_int(m, d.x_test.reshape(-1, 64))[m.outputs[0]]
    assert (y.argmax(1) == d.y_test).mean() > 0.9
    prov = m.provenance["compress"]
    assert prov["method"] == "qp-codec" and prov["layers"]["fc2"]["bits"] == 8 * len(bits.read_bytes()) - \
        8 * (8 + 2 + 3 + 5) + 32  # file = magic/header + name + step/transform + record; +32 step bits


@pytest.mark.parametrize("args,needle", [
    ([], "needs --qp"),
    (["--qp", "0"], "QP must be positive"),
    (["--qp", "4096", "--only", "nope"], "no weighted layer"),
    (["--qp", "fc1=4096"], "no QP for layer"),
])
def test_cli_bad_parameters(tmp_path, args, needle):
    r = invoke("compress", MLP, "-o", tmp_path / "x.ir", "--method", "qp-codec", *args)
    assert r.exit_code == 1 and needle in r.output and r.output.count("\n") == 1
    assert not (tmp_path / "x.ir").exists()
