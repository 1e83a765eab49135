"""The golden model's fast paths (limbs, sparse products, im2col blocks, batch chunks)
against the plain exact path: Python-integer matmul of the dense weight, the way the golden
model computed before (issue #11, section 3). Bit-exact or the test fails."""

from __future__ import annotations

import numpy as np
import pytest

from hwq import golden, ir
from hwq.compress.random_model import random_mlp, random_weight
from hwq.errors import SemanticsError
from hwq.golden import int_kernels as ik
from hwq.golden import run as run_mod
from hwq.golden import windows
from hwq.golden.int_matmul import PreparedWeight
from tests.factories import ENCODINGS, cnn, mlp


def exact_ref(d: np.ndarray, w: np.ndarray, bias=None) -> np.ndarray:
    """bias + d @ w.T in Python integers (object arrays): slow, obviously exact."""
    acc = d.astype(object) @ w.T.astype(object)
    return acc if bias is None else acc + np.asarray(bias).astype(object)


def all_exact(s) -> np.ndarray:
    out = np.empty(s.top.shape, object)
    for idx in np.ndindex(*s.top.shape):
        out[idx] = s.exact(idx)
    return out


def big_pow2_weight(rng, shape, sparse):
    w = random_weight(rng, shape, "pow2", 0.3, 7, sparse, 3)
    return w


@pytest.mark.parametrize("sparse", ["none", "csr", "csc"])
@pytest.mark.parametrize("dense_limit", [0, None])
def test_limb_products_are_exact_for_wide_pow2(sparse, dense_limit):
    rng = np.random.default_rng(7)
    w = big_pow2_weight(rng, (9, 40), sparse)
    dense = w.dense_int()
    assert np.abs(dense).max() >= 2**40  # wide shifts really occur
    d = rng.integers(-(2**15), 2**15, (6, 40))
    d[rng.random(d.shape) < 0.5] = 0
    bias = rng.integers(-(2**31), 2**31, 9)
    pw = PreparedWeight(w, 2**16, dense_limit)
    assert pw.limbs > 1 and pw.sparse == (sparse != "none" and dense_limit == 0)
    got = pw.matmul(d, bias)
    ref = exact_ref(d, dense, bias)
    assert (all_exact(got) == ref).all()
    ok = got.representable()
    fits = np.vectorize(lambda v: -(2**61) < v < 2**61)(ref)
    assert (ok | ~fits).all()  # every value below 2^61 comes back as int64 (those overflow any acc_bits)
    assert (got.values(ok)[ok] == ref[ok].astype(np.int64)).all()


def test_limb_products_cancel_to_a_small_exact_sum():
    # +2^62 and -2^62 weights on equal inputs: the exact sum is tiny, the terms are huge
    v = ir.Pow2Values(np.array([63, 64 | 63, 62, 64 | 62, 1], np.uint8), 7, -64)
    w = ir.Weight((1, 5), v)
    d = np.array([[32767, 32767, -5, -5, 3], [1, 0, 0, 0, 0]])
    got = PreparedWeight(w, 2**16).matmul(d)
    assert [got.exact((0, 0)), got.exact((1, 0))] == [3, 2**62]
    assert got.representable()[0, 0] and got.values(got.representable())[0, 0] == 3


@pytest.mark.parametrize("value_bits", [16, 32])
@pytest.mark.parametrize("sparse", ["csr", "csc"])
def test_sparse_product_equals_dense_product(value_bits, sparse):
    rng = np.random.default_rng(value_bits)
    w = random_weight(rng, (33, 70), "codebook", 0.2, 4, sparse, 3)
    cb = w.values.codebook.astype(np.int64) * (1 << (value_bits - 16)) // 2
    cb[0] = 0
    w.values.codebook = cb.astype(np.int16 if value_bits == 16 else np.int32)
    w.values.value_bits = value_bits
    w.check("w")
    d = rng.integers(-(2**15), 2**15, (5, 70))
    ref = exact_ref(d, w.dense_int())
    for limit in (0, None):
        got = PreparedWeight(w, 2**16, limit).matmul(d)
        assert (all_exact(got) == ref).all()


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("layout", ["csr", "csc", "none"])
def test_golden_runs_agree_with_dense_exact_reference(encoding, layout, monkeypatch):
    rng = np.random.default_rng(11)
    for build in (mlp, cnn):
        m = build(rng, encoding, layout)
        shape = m.layers[m.inputs[0].name].shape
        x = rng.integers(-128, 128, (17,) + tuple(shape))
        want = golden.run_int(m, x, keep_all=True)
        # the reference accumulators of every weighted layer, from the layer's own input
        for layer in m.weighted():
            src = want[layer.inputs[0]]
            q = m.layers[layer.inputs[0]].quant
            if isinstance(layer, ir.Dense):
                ref = exact_ref(src - q.zero_point, layer.weight.dense_int(),
                                layer.bias_q.astype(np.int64) if layer.bias_q is not None else None)
                acc = ik.accumulate_dense(layer, src, q)
                assert (acc.astype(object) == ref).all()
        monkeypatch.setattr("hwq.golden.int_matmul.DENSE_LIMIT", 0)  # every sparse weight sparse
        monkeypatch.setattr(windows, "BLOCK_ELEMENTS", 64)  # im2col in one-row blocks
        monkeypatch.setattr(run_mod, "CHUNK_ELEMENTS", 1)  # one sample per chunk
        got = golden.run_int(m, x, keep_all=True)
        assert got.keys() == want.keys()
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
        ref_f, got_f = golden.run_float(m, x.astype(float) * 0.01), None
        monkeypatch.undo()
        got_f = golden.run_float(m, x.astype(float) * 0.01)
        for k in ref_f:
            np.testing.assert_allclose(ref_f[k], got_f[k], rtol=1e-12, atol=1e-12)


def test_chunked_runs_report_overflow_samples_with_batch_indices(monkeypatch):
    rng = np.random.default_rng(4)
    m = cnn(rng, "int8", "csr")
    m.layers["c1"].acc_bits = 16
    x = rng.integers(-96, 97, (30, 2, 7, 7))
    whole = golden.overflowing_samples(m, x)
    with pytest.raises(SemanticsError) as e1:
        golden.run_int(m, x)
    monkeypatch.setattr(run_mod, "CHUNK_ELEMENTS", 200)  # a few samples per chunk
    monkeypatch.setattr(windows, "BLOCK_ELEMENTS", 100)
    assert golden.overflowing_samples(m, x).tolist() == whole.tolist()
    with pytest.raises(SemanticsError) as e2:
        golden.run_int(m, x)
    assert e2.value.sample == e1.value.sample == int(whole[0])
    assert set(e2.value.samples) <= set(e1.value.samples)


def test_wide_pow2_random_model_runs_in_contract_on_sparse_inputs():
    """7-bit pow2 (shifts up to 62): zero activations keep the accumulators in range."""
    m = random_mlp("32,16,8", 0.2, "pow2", 7, "csc", 4, 8, False, 3)
    rng = np.random.default_rng(0)
    x = np.zeros((8, 32), np.int64)
    x[np.arange(8), rng.integers(0, 32, 8)] = rng.integers(0, 3, 8)
    bad = golden.overflowing_samples(m, x)
    ok = np.setdiff1d(np.arange(8), bad)
    out = golden.run_int(m, x[ok], keep_all=True)
    w = m.layers["fc1"].weight.dense_int()
    q = m.layers["input"].quant
    ref = exact_ref(x[ok] - q.zero_point, w, m.layers["fc1"].bias_q.astype(np.int64))
    acc = ik.accumulate_dense(m.layers["fc1"], x[ok], q)
    assert (acc.astype(object) == ref).all() and out["fc2"].shape == (ok.size, 8)


# ------------------------------------------------------------------ hwq info's acc_bits_needed

def brute_force_bits(layer, q) -> int:
    """Fewest signed bits over every corner input (each d_i at dmin or dmax): the extremes."""
    import itertools
    w = layer.weight.dense_int().reshape(layer.weight.channels, -1)
    dmin, dmax = q.qmin - q.zero_point, q.qmax - q.zero_point
    lo = hi = 0
    for corner in itertools.product((dmin, dmax), repeat=w.shape[1]):
        acc = [sum(int(a) * b for a, b in zip(row, corner)) + (int(layer.bias_q[o]) if layer.bias_q is not None else 0)
               for o, row in enumerate(w)]
        lo, hi = min(lo, *acc), max(hi, *acc)
    bits = 1
    while not -(1 << (bits - 1)) <= lo <= hi <= (1 << (bits - 1)) - 1:
        bits += 1
    return bits


@pytest.mark.parametrize("encoding,bits", [("int8", 4), ("codebook", 4), ("pow2", 4), ("pow2", 7), ("ternary", 4),
                                           ("pq", 3)])
@pytest.mark.parametrize("signed", [True, False])
def test_acc_bits_needed_is_exact(encoding, bits, signed):
    from hwq.info import accumulator_bits_needed
    m = random_mlp("8,3", 0.6, encoding, bits, "none" if encoding == "pq" else "csc", 2, 8, False, 5)
    q = m.layers["input"].quant
    m.layers["input"].quant = ir.QuantParams(q.bits, signed, q.scale, -5 if signed else 7)
    got = accumulator_bits_needed(m)["fc1"]
    assert got == brute_force_bits(m.layers["fc1"], m.layers["input"].quant)
    if (encoding, bits) == ("pow2", 7):
        assert got > 64  # int64 arithmetic would have wrapped


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_float_run_of_a_sparse_float32_weight_stays_sparse(fmt, monkeypatch):
    rng = np.random.default_rng(2)
    w8 = random_weight(rng, (20, 30), "int8", 0.3, 4, fmt, 3)
    w = ir.Weight((20, 30), ir.Float32Values((w8.values.q * np.float32(0.01)).astype(np.float32)), w8.sparse)
    m = ir.Model("f", {"x": ir.Input("x", [], shape=(30,)),
                       "fc": ir.Dense("fc", ["x"], in_features=30, out_features=20, weight=w,
                                      bias=rng.normal(size=20).astype(np.float32))}, ["fc"])
    ir.validate(m)
    x = rng.normal(size=(5, 30))
    want = x @ w.dense_float().T + m.layers["fc"].bias
    monkeypatch.setattr("hwq.golden.int_matmul.DENSE_LIMIT", 0)
    monkeypatch.setattr(ir.Weight, "dense_float", lambda self: pytest.fail("densified"))
    np.testing.assert_allclose(golden.run_float(m, x)["fc"], want, rtol=1e-12, atol=1e-12)
