"""docs/semantics.md points an implementer must not have to guess (issue #11, section 1).

Expected values come from the document's formulas written out here, never from the golden
model under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwq import golden, ir
from hwq.compress.random_model import random_weight
from hwq.errors import HwqError, IRError, SemanticsError
from tests.factories import cnn, mlp

Q8 = ir.QuantParams(8, True, 1.0, 0)


def one_dense(weight, acc_bits=32, in_q=Q8, bias_q=None):
    """x (I,) -> fc (O,) with unit requant: the output is the clamped accumulator."""
    o, i = weight.shape
    m = ir.Model("t", {}, ["fc"])
    m.layers["x"] = ir.Input("x", [], shape=(i,), quant=in_q)
    m.layers["fc"] = ir.Dense("fc", ["x"], in_features=i, out_features=o, weight=weight, acc_bits=acc_bits,
                              bias=None if bias_q is None else np.zeros(o, np.float32),
                              bias_q=None if bias_q is None else np.asarray(bias_q, np.int32),
                              requant=ir.make_requant(np.array([1.0])), quant=ir.QuantParams(16, True, 1.0, 0))
    return ir.validate(m)


# ------------------------------------------------------------------ overflow is per sample

def test_overflow_names_and_carries_the_sample():
    w = ir.Weight((1, 2), ir.Int8Values(np.array([100, 100], np.int8), np.array([1.0], np.float32)))
    m = one_dense(w, acc_bits=12)  # acc = 100 * (a + b) must lie in [-2048, 2047]
    x = np.array([[1, 2], [10, 11], [0, 0], [-11, -10], [-30, 30]])
    with pytest.raises(SemanticsError) as info:
        golden.run_int(m, x)
    e = info.value
    assert (e.layer, e.sample, e.samples) == ("fc", 1, (1, 3))
    assert isinstance(e.sample, int) and "(sample 1)" in str(e) and "2100" in str(e)
    assert golden.overflowing_samples(m, x).tolist() == [1, 3]
    ok = np.delete(x, [1, 3], axis=0)  # the others give the formula's results
    assert golden.run_int(m, ok)["fc"][:, 0].tolist() == [100 * (a + b) for a, b in ok]


def test_overflow_bottom_of_range_and_bias_at_the_limit():
    w = ir.Weight((1, 1), ir.Int8Values(np.array([1], np.int8), np.array([1.0], np.float32)))
    m = one_dense(w, acc_bits=8, bias_q=[-128])  # -2^(acc_bits-1) fits
    assert golden.run_int(m, np.array([[0], [5]]))["fc"][:, 0].tolist() == [-128, -123]
    with pytest.raises(SemanticsError) as info:
        golden.run_int(m, np.array([[5], [-1], [-3]]))
    assert info.value.samples == (1, 2) and "-129" in str(info.value)


def test_overflowing_samples_agree_with_one_sample_runs():
    rng = np.random.default_rng(4)
    m = cnn(rng, "int8", "csr")
    m.layers["c1"].acc_bits = 16
    x = rng.integers(-96, 97, (40, 2, 7, 7))
    bad = []
    for n in range(x.shape[0]):
        try:
            golden.run_int(m, x[n:n + 1])
        except SemanticsError:
            bad.append(n)
    assert 0 < len(bad) < x.shape[0]  # the test must exercise both kinds
    assert golden.overflowing_samples(m, x).tolist() == bad


def test_batch_is_the_same_as_one_sample_runs():
    rng = np.random.default_rng(5)
    m = cnn(rng, "codebook", "csc")
    x = rng.integers(-128, 128, (9, 2, 7, 7))
    whole = golden.run_int(m, x, keep_all=True)
    for n in range(x.shape[0]):
        one = golden.run_int(m, x[n], keep_all=True)  # the per-sample shape: a batch of one
        for k, v in one.items():
            assert v.shape[0] == 1
            np.testing.assert_array_equal(v[0], whole[k][n])


def test_inputs_with_different_batch_sizes_are_rejected():
    m = ir.Model("t", {}, ["s"])
    q = ir.QuantParams(8, True, 1.0, 0)
    m.layers["a"] = ir.Input("a", [], shape=(3,), quant=q)
    m.layers["b"] = ir.Input("b", [], shape=(3,), quant=q)
    m.layers["s"] = ir.Add("s", ["a", "b"], quant=q,
                           requant=[ir.make_requant(np.array([1.0])), ir.make_requant(np.array([1.0]))])
    ir.validate(m)
    assert golden.run_int(m, {"a": np.ones((2, 3), int), "b": np.ones((2, 3), int)})["s"].tolist() == [[2] * 3] * 2
    for run in (golden.run_int, golden.run_float):
        with pytest.raises(HwqError, match="different batch sizes"):
            run(m, {"a": np.ones((1, 3), int), "b": np.ones((4, 3), int)})


# ------------------------------------------------------------------ inputs

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_rejected(bad):
    m = mlp(np.random.default_rng(0), "int8")
    x = np.zeros((3, 12))
    x[1, 4] = bad
    for run in (golden.run_int, golden.run_float):
        with pytest.raises(HwqError, match="NaN or Inf"):
            run(m, x)


def test_huge_finite_inputs_saturate():
    q = ir.QuantParams(8, False, 2.0**-90, 3)
    got = golden.quantize(np.array([1e308, -1e308, 0.0, 2.5 * 2.0**-90, -2.5 * 2.0**-90]), q)
    # x / scale overflows to +-inf for the first two: clamp; round_half_away(+-2.5) = +-3
    assert got.tolist() == [255, 0, 3, 6, 0]


def test_float16_and_float32_inputs_are_widened_first():
    q = ir.QuantParams(8, True, 0.1, 0)
    x32 = np.array([0.25, 0.35, -0.05, 1.15, 12.7], np.float32)  # ties in decimal, not in binary
    want = [int(np.round(float(v) / 0.1)) if abs(float(v) / 0.1 - round(float(v) / 0.1)) != 0.5
            else int(np.sign(v) * np.floor(abs(float(v) / 0.1) + 0.5)) for v in x32]
    assert golden.quantize(x32, q).tolist() == want
    x16 = x32.astype(np.float16)
    assert golden.quantize(x16, q).tolist() == golden.quantize(x16.astype(np.float64), q).tolist()


def test_integer_inputs_outside_the_range_are_rejected_not_clamped():
    m = mlp(np.random.default_rng(0), "int8")
    q = m.layers["x"].quant
    x = np.zeros((2, 12), np.int64)
    x[1, 0] = q.qmax + 1
    with pytest.raises(HwqError, match=r"outside \["):
        golden.run_int(m, x)
    x[1, 0] = q.qmax
    golden.run_int(m, x.astype(np.uint64) if q.qmin >= 0 else x.astype(np.int16))
    with pytest.raises(HwqError, match="neither integer nor float"):
        golden.run_int(m, np.zeros((2, 12), bool))


def test_json_scale_is_the_nearest_binary64(tmp_path):
    m = mlp(np.random.default_rng(1), "int8")
    path = tmp_path / "m.ir"
    ir.save(m, path)
    import json
    import zipfile
    with zipfile.ZipFile(path) as zf:
        man = json.loads(zf.read("manifest.json"))
    for layer in man["layers"]:
        if layer["quant"]:
            assert float(repr(layer["quant"]["scale"])) == m.layers[layer["name"]].quant.scale
    assert ir.load(path).layers["fc1"].quant.scale == m.layers["fc1"].quant.scale


def test_two_dimensional_inputs_are_invalid():
    m = ir.Model("t", {"x": ir.Input("x", [], shape=(4, 4)), "f": ir.Flatten("f", ["x"])}, ["f"])
    with pytest.raises(IRError, match=r"must be \[F\] or \[C, H, W\]"):
        ir.validate(m)
    m.layers["x"] = ir.Input("x", [], shape=(1, 4, 4))
    ir.validate(m)


# ------------------------------------------------------------------ encodings

def test_ternary_codes_map_plus_one_to_pos_and_minus_one_to_minus_neg():
    v = ir.TernaryValues(np.array([1, 0, -1, 1], np.int8), np.array([7, 3], np.int16), np.array([0.5], np.float32))
    assert v.int_values().tolist() == [7, 0, -3, 7]
    w = ir.Weight((1, 4), v)
    m = one_dense(w)
    assert golden.run_int(m, np.array([[1, 1, 1, 0]]))["fc"].tolist() == [[7 + 0 - 3]]
    assert golden.run_float(ir.validate(m), np.array([[1.0, 1, 1, 0]]))["fc"].tolist() == [[(7 - 3) * 0.5]]


def test_pow2_shift_of_32_or_more_is_exact_when_the_sum_fits():
    # codes: k = 40 -> +2^39, k = 40 with the sign -> -2^39; bits 7, sign bit 64
    w = ir.Weight((1, 3), ir.Pow2Values(np.array([40, 64 | 40, 3], np.uint8), 7, -64))
    m = one_dense(w)
    x = np.array([[5, 5, 2], [0, 0, -7], [9, 9, 9]])
    assert golden.run_int(m, x)["fc"][:, 0].tolist() == [8, -28, 36]
    # what C on uint32 computes: shifts >= 32 contribute 0, everything mod 2^32
    for row, want in zip(x, [8, -28, 36]):
        acc = 0
        for code, d in zip([40, 64 | 40, 3], row):
            s = (code & 63) - 1
            p = 0 if s >= 32 else ((int(d) % 2**32) << s) % 2**32
            acc = (acc + ((-p) % 2**32 if code & 64 else p)) % 2**32
        assert acc - 2**32 * (acc >= 2**31) == want
    with pytest.raises(SemanticsError, match="sample 0"):
        golden.run_int(m, np.array([[1, 0, 0]]))


# ------------------------------------------------------------------ sparse layouts

def test_rel_at_its_maximum_is_a_real_nonzero_not_a_filler():
    # CSR, index_bits 2: row 0 = [0, 0, 0, 5]: one entry with rel = 3 = 2^2 - 1, a real weight
    sp = ir.SparseIndex("csr", 2, 2, np.array([0, 1], np.int32), np.array([3], np.uint8))
    w = ir.Weight((1, 4), ir.Int8Values(np.array([5], np.int8), np.array([1.0], np.float32)), sp)
    m = one_dense(w)
    assert golden.run_int(m, np.array([[1, 2, 3, 4]]))["fc"].tolist() == [[20]]
    assert w.nnz() == 1


def test_explicit_zeros_are_legal_and_sparse_codebooks_hold_zero_at_index_0():
    # csc, index_bits 4, 1x3: column entries at rows 0; every column stores one entry
    sp = ir.SparseIndex("csc", 4, 2, np.array([0, 1, 2, 3], np.int32), np.zeros(3, np.uint8))
    cb = np.array([0, 4, 0, -6], np.int16)  # a second zero at index 2: an explicit zero
    w = ir.Weight((1, 3), ir.CodebookValues(np.array([1, 2, 3], np.uint8), cb, np.array([1.0], np.float32), 2, 8), sp)
    m = one_dense(w)
    assert golden.run_int(m, np.array([[1, 100, 2]]))["fc"].tolist() == [[4 - 12]]
    assert w.nnz() == 2 and w.stored == 3
    bad = ir.Weight((1, 3), ir.CodebookValues(np.array([1, 2, 3], np.uint8), np.array([1, 4, 0, -6], np.int16),
                                              np.array([1.0], np.float32), 2, 8), sp)
    with pytest.raises(IRError, match="sparse codebook must hold 0 at index 0"):
        one_dense(bad)
    dense = ir.Weight((1, 3), ir.CodebookValues(np.array([1, 2, 3], np.uint8), np.array([1, 4, 0, -6], np.int16),
                                                np.array([1.0], np.float32), 2, 8))
    one_dense(dense)  # a dense codebook needs no zero


@pytest.mark.parametrize("enc", ["int8", "codebook", "pow2", "ternary"])
def test_random_sparse_weights_keep_index_0_zero(enc):
    rng = np.random.default_rng(3)
    w = random_weight(rng, (30, 50), enc, 0.05, 3, "csc", 2)
    w.check("w")
    assert w.stored > w.nnz()  # fillers were needed


# ------------------------------------------------------------------ pools and conv

@pytest.mark.parametrize("h,w,k,s", [(7, 7, (2, 2), (2, 2)), (8, 5, (3, 2), (2, 3)), (5, 9, (2, 3), (1, 1)),
                                     (6, 6, (1, 1), (4, 5))])
def test_pool_output_size_and_windows(h, w, k, s):
    q = ir.QuantParams(8, True, 1.0, 0)
    m = ir.Model("t", {}, ["mp", "ap"])
    m.layers["x"] = ir.Input("x", [], shape=(2, h, w), quant=q)
    m.layers["mp"] = ir.MaxPool("mp", ["x"], kernel=k, stride=s, quant=q)
    m.layers["ap"] = ir.AvgPool("ap", ["x"], kernel=k, stride=s, quant=q)
    ir.validate(m)
    x = np.random.default_rng(0).integers(-128, 128, (3, 2, h, w))
    out = golden.run_int(m, x)
    oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    assert out["mp"].shape == out["ap"].shape == (3, 2, oh, ow)
    for n in range(3):
        for c in range(2):
            for p in range(oh):
                for r in range(ow):
                    win = [int(v) for v in x[n, c, p * s[0]:p * s[0] + k[0], r * s[1]:r * s[1] + k[1]].ravel()]
                    assert len(win) == k[0] * k[1]
                    assert out["mp"][n, c, p, r] == max(win)
                    tot, area = sum(win), len(win)
                    mag = (abs(tot) + area // 2) // area
                    assert out["ap"][n, c, p, r] == (mag if tot >= 0 else -mag)


def test_conv_padding_must_be_smaller_than_the_kernel():
    rng = np.random.default_rng(0)
    m = cnn(rng)
    m.layers["c1"].padding = (1, 1, 3, 1)  # kernel 3x3: bottom padding 3 would be a window of padding
    with pytest.raises(IRError, match="c1.padding: .* smaller than the kernel"):
        ir.validate(m)
