"""Quantizers (int8, pow2, ternary, PQ) and their encoding into ir.Weight."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwq import ir
from hwq.compress.encode import encode_weight, integerize_codebook
from hwq.compress.int8 import quantize_int8
from hwq.compress.pow2 import pow2_codes_from_values, pow2_decode, quantize_pow2, snap_pow2
from hwq.compress.pq import pq_reconstruct, product_quantize
from hwq.compress.ternary import integerize_ternary, quantize_ternary
from hwq.errors import HwqError

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LAYOUTS = [None, "csr", "csc"]
# magnitudes below 1e-9 become 0: pow2's grid must fit the IR's e_min range [-64, 63]
FLOATS = st.floats(-4, 4, allow_nan=False, width=64).map(lambda x: x if abs(x) >= 1e-9 else 0.0)


@st.composite
def weight_and_mask(draw, conv=None):
    conv = draw(st.booleans()) if conv is None else conv
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3)),
             draw(st.integers(1, 3))) if conv else (draw(st.integers(1, 5)), draw(st.integers(1, 7)))
    # a few exact zeros and repeated values make ties and empty rows likely
    w = draw(hnp.arrays(np.float64, shape, elements=st.one_of(FLOATS, st.sampled_from([0.0, 0.5, -1.5]))))
    mask = draw(hnp.arrays(np.bool_, shape))
    return w, mask


CENTROIDS = np.array([-1.2, -0.4, 0.1, 0.9])


def expected(values, w, keep, **kw):
    """The quantizer's own output for the kept weights (what decoding must reproduce)."""
    wm = np.where(keep, w, 0.0)
    if values == "float32":
        return wm.astype(np.float32).astype(np.float64)
    if values == "int8":
        q, s = quantize_int8(wm, kw.get("per_channel", False))
        return q * s.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    if values == "pow2":
        return snap_pow2(wm, kw["bits"])
    if values == "ternary":
        codes, sp, sn = quantize_ternary(w, mask=keep)
        mags, scale = integerize_ternary(sp, sn)
        return np.where(codes > 0, mags[0], np.where(codes < 0, -int(mags[1]), 0)) * float(scale[0])
    if values == "codebook":  # index 0 = 0 is reserved because a mask is always given here
        cb, scale = integerize_codebook(np.concatenate([[0.0], CENTROIDS]), 16)
        near = np.abs(wm[..., None] - CENTROIDS).argmin(-1) + 1
        return np.where(keep, cb[near], 0) * float(scale[0])
    raise AssertionError(values)


CODECS = [("float32", {}), ("int8", {}), ("int8", {"per_channel": True}), ("pow2", {"bits": 4}),
          ("pow2", {"bits": 2}), ("ternary", {}), ("codebook", {"centroids": CENTROIDS, "bits": 3})]


def check_invariants(W, keep):
    W.check("x.weight")
    f = W.dense_float()
    assert f.shape == tuple(W.shape)
    assert (f[~keep] == 0).all()  # pruned weights stay zero
    if W.is_integer:
        s = W.scale_vector().reshape((-1,) + (1,) * (len(W.shape) - 1))
        np.testing.assert_array_equal(W.dense_int() * s, f)
    return f


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("values,kw", CODECS)
@SETTINGS
@given(wm=weight_and_mask(), index_bits=st.integers(1, 3))
def test_encode_decode_identity(values, kw, layout, wm, index_bits):
    w, keep = wm
    W = encode_weight(w, values=values, mask=keep, sparse=layout, index_bits=index_bits, **kw)
    f = check_invariants(W, keep)
    np.testing.assert_array_equal(f, expected(values, w, keep, **kw))
    assert W.encoding_name() == (values if layout is None else f"{layout}+{values}")
    if layout:
        assert W.stored >= keep.sum()


def test_fillers_occur_and_decode_to_zero():
    w = np.zeros((40, 40))
    w[[0, 0, 39, 20], [0, 39, 0, 20]] = [1.0, -2.0, 0.5, 3.0]  # long gaps in rows and columns
    for values, kw in CODECS:
        for layout in ("csr", "csc"):
            W = encode_weight(w, values=values, sparse=layout, index_bits=2, **kw)
            assert W.stored > 4  # runs of 38 zeros need fillers with 2-bit indices
            f = check_invariants(W, w != 0)
            assert (f[w == 0] == 0).all()


def test_sparse_without_mask_keeps_nonzeros_and_dense_order():
    w = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, -3.0]])
    W = encode_weight(w, values="int8", sparse="csc", index_bits=4)
    assert W.stored == 3
    np.testing.assert_array_equal(W.values.q, [85, 42, -127])  # column-major storage order
    D = encode_weight(w, values="int8")
    np.testing.assert_array_equal(D.values.q, [0, 42, 0, 85, 0, -127])  # C-order


# int8 ------------------------------------------------------------------------------
@SETTINGS
@given(wm=weight_and_mask(), per_channel=st.booleans())
def test_int8_error_bound(wm, per_channel):
    w, _ = wm
    q, s = quantize_int8(w, per_channel)
    assert q.dtype == np.int8 and s.dtype == np.float32 and (s > 0).all()
    assert s.shape == ((w.shape[0],) if per_channel else (1,))
    assert q.min(initial=0) >= -127
    sv = s.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    err = np.abs(w - q * sv)
    assert (err <= sv / 2 * (1 + 1e-6)).all()


def test_int8_zero_channel_and_rounding():
    w = np.array([[0.0, 0.0], [127.0, -0.5], [2.5, 127.0]])
    q, s = quantize_int8(w, per_channel=True)
    np.testing.assert_array_equal(s, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(q, [[0, 0], [127, -1], [3, 127]])  # half away from zero


# pow2 ------------------------------------------------------------------------------
def _levels(bits, e_min):
    span = (1 << (bits - 1)) - 2
    mags = [Fraction(2) ** e for e in range(e_min, e_min + span + 1)]
    return [Fraction(0)] + mags + [-m for m in mags]


@SETTINGS
@given(wm=weight_and_mask(), bits=st.integers(2, 6), shift=st.one_of(st.none(), st.integers(-3, 3)))
def test_pow2_nearest_level_brute_force(wm, bits, shift):
    w, _ = wm
    e_max = None if shift is None else shift
    codes, e_min = quantize_pow2(w, bits, e_max)
    if e_max is None and np.abs(w).max() > 0:
        assert e_min + (1 << (bits - 1)) - 2 == int(np.floor(np.log2(4 * np.abs(w).max() / 3)))
    assert codes.dtype == np.uint8 and (codes < (1 << bits)).all()
    assert not (codes == (1 << (bits - 1))).any()  # "negative zero" is never produced
    v = pow2_decode(codes, bits, e_min)
    mant, ex = np.frexp(np.abs(v))
    span = (1 << (bits - 1)) - 2
    assert ((v == 0) | ((mant == 0.5) & (ex - 1 >= e_min) & (ex - 1 <= e_min + span))).all()
    levels = _levels(bits, e_min)
    for x, y in zip(w.ravel(), v.ravel()):
        dist = [abs(Fraction(x) - L) for L in levels]
        best = min(dist)
        assert abs(Fraction(x) - Fraction(y)) == best
        tied = [abs(L) for L, d in zip(levels, dist) if d == best]
        assert abs(Fraction(y)) == max(tied)  # ties go to the larger magnitude
    np.testing.assert_array_equal(pow2_codes_from_values(v, bits, e_min), codes)
    np.testing.assert_array_equal(snap_pow2(w, bits, e_max), v)


def test_pow2_ties_layout_and_errors():
    codes, e_min = quantize_pow2(np.array([1.5, -0.75, 2.0 ** -4, 2.0 ** -4 * 0.99, 100.0, 0.0]), 3, e_max=1)
    assert e_min == -1  # 3 bits: k in 1..3 covers 2^-1 .. 2^1
    np.testing.assert_array_equal(pow2_decode(codes, 3, e_min), [2.0, -1.0, 0.0, 0.0, 2.0, 0.0])
    np.testing.assert_array_equal(codes, [3, 4 | 2, 0, 0, 3, 0])
    c, e = quantize_pow2(np.array([0.25, -0.125]), 3, e_max=1)
    np.testing.assert_array_equal(pow2_decode(c, 3, e), [0.5, 0.0])  # 0.25 is a 0 / 2^-1 tie
    with pytest.raises(HwqError, match="e_min"):
        quantize_pow2(np.array([1e-30]), 4)  # the grid would leave the IR's e_min range
    with pytest.raises(HwqError, match="bits"):
        quantize_pow2(np.array([0.5]), 8)  # 2^126 integer weights do not fit int64
    with pytest.raises(HwqError, match="not 0 or"):
        pow2_codes_from_values(np.array([0.3]), 4, -3)


def test_pow2_encode_fixed_grid():
    w = np.array([[0.5, -0.25, 100.0], [0.0, 3.0, 2.9]])
    W = encode_weight(w, values="pow2", bits=4, e_min=-4)  # e_max = -4 + 6 = 2
    assert W.values.e_min == -4
    np.testing.assert_array_equal(W.dense_float(), [[0.5, -0.25, 4.0], [0.0, 4.0, 2.0]])


# ternary ---------------------------------------------------------------------------
@SETTINGS
@given(wm=weight_and_mask(), ratio=st.floats(0, 1.5), value_bits=st.integers(2, 32))
def test_ternary_threshold_rule(wm, ratio, value_bits):
    w, keep = wm
    codes, sp, sn = quantize_ternary(w, ratio, mask=keep)
    kept = w[keep]
    delta = ratio * np.abs(kept).mean() if kept.size else 0.0
    want = np.where(keep & (w > delta), 1, np.where(keep & (w < -delta), -1, 0))
    np.testing.assert_array_equal(codes, want)
    assert sp == (w[want == 1].mean() if (want == 1).any() else 0.0)
    assert sn == (-w[want == -1].mean() if (want == -1).any() else 0.0)
    mags, scale = integerize_ternary(sp, sn, value_bits)
    lim = (1 << (value_bits - 1)) - 1
    assert scale.shape == (1,) and scale[0] > 0 and (0 <= mags).all() and (mags <= lim).all()
    if max(sp, sn) > 0 and value_bits <= 22:  # wider grids exceed float32's precision
        assert mags.max() == lim
        assert abs(mags[0] * float(scale[0]) - sp) <= float(scale[0]) / 2 * (1 + 1e-6)


def test_ternary_asymmetric_scales():
    w = np.array([[2.0, 3.0, -1.5, -1.7, 0.01]])  # Delta = 0.7 * 1.642 = 1.149
    codes, sp, sn = quantize_ternary(w)
    np.testing.assert_array_equal(codes, [[1, 1, -1, -1, 0]])
    assert sp == 2.5 and sn == pytest.approx(1.6)
    mags, scale = integerize_ternary(sp, sn)
    np.testing.assert_array_equal(mags, [32767, round(1.6 / 2.5 * 32767)])


# product quantization ----------------------------------------------------------------
def _loop_reconstruct(cb, a, shape, scale):
    m, _, d = cb.shape
    out = np.zeros(shape)
    if len(shape) == 2:
        for o in range(shape[0]):
            for j in range(m):
                out[o, j * d:(j + 1) * d] = cb[j, a[o, j]]
    else:
        for o in range(shape[0]):
            for y in range(shape[2]):
                for x in range(shape[3]):
                    for j in range(m):
                        out[o, j * d:(j + 1) * d, y, x] = cb[j, a[o, y, x, j]]
    return out * scale


@SETTINGS
@given(data=st.data(), conv=st.booleans(), bits=st.integers(1, 4))
def test_pq_reconstruction_matches_loop(data, conv, bits):
    m = data.draw(st.integers(1, 3))
    d = data.draw(st.integers(1, 3))
    shape = (data.draw(st.integers(1, 5)), m * d) + ((data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2))) if conv else ())
    w = data.draw(hnp.arrays(np.float64, shape, elements=FLOATS))
    W = encode_weight(w, values="pq", pq_m=m, bits=bits)
    check_invariants(W, np.ones(shape, bool))
    v = W.values
    assert v.codebook.shape[:1] == (m,) and v.codebook.shape[2] == d
    assert v.codebook.shape[1] <= min(1 << bits, int(np.prod(shape)) // (m * d))
    np.testing.assert_array_equal(W.dense_float(), _loop_reconstruct(v.codebook.astype(np.int64), v.assignments,
                                                                     shape, float(v.scale[0])))
    cbf, a = product_quantize(w, m, 1 << bits)
    np.testing.assert_array_equal(pq_reconstruct(cbf, a, shape), _loop_reconstruct(cbf, a, shape, 1.0))


@pytest.mark.parametrize("shape,m", [((64, 16), 4), ((16, 8, 3, 3), 2)])
def test_pq_error_decreases_with_k(shape, m):
    w = np.random.default_rng(1).normal(size=shape)
    errs = [np.square(pq_reconstruct(*product_quantize(w, m, k), shape) - w).sum()
            for k in (1, 2, 4, 8, 16, 32)]
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    n = int(np.prod(shape)) // (shape[1])  # sub-vectors per subspace
    cb, _ = product_quantize(w, m, 10 * n)
    assert cb.shape[1] == n  # K capped at the number of sub-vectors
    assert np.square(pq_reconstruct(*product_quantize(w, m, n), shape) - w).sum() < 1e-20


def test_pq_split_and_determinism():
    # FC rows are split along inputs; conv kernels along channels at each tap
    w = np.arange(2 * 4 * 1 * 2, dtype=float).reshape(2, 4, 1, 2)
    cb, a = product_quantize(w, 2, 4)
    assert a.shape == (2, 1, 2, 2) and cb.shape == (2, 4, 2)
    for o in range(2):
        for x in range(2):
            for j in range(2):
                np.testing.assert_array_equal(cb[j, a[o, 0, x, j]], w[o, 2 * j:2 * j + 2, 0, x])
    w2 = np.random.default_rng(3).normal(size=(30, 6))
    r1, r2 = product_quantize(w2, 3, 4, seed=5), product_quantize(w2, 3, 4, seed=5)
    np.testing.assert_array_equal(r1[0], r2[0])
    np.testing.assert_array_equal(r1[1], r2[1])
    with pytest.raises(HwqError, match="I = 6 is not divisible by M = 4"):
        product_quantize(w2, 4, 2)
    with pytest.raises(HwqError, match="C = 4 is not divisible by M = 3"):
        product_quantize(w, 3, 2)


# errors and edge cases ---------------------------------------------------------------
def test_encode_errors():
    w = np.ones((2, 4))
    bad = w.copy()
    bad[1, 2] = np.nan
    with pytest.raises(HwqError, match="element 6"):
        encode_weight(bad, values="int8")
    with pytest.raises(HwqError, match="sparse"):
        encode_weight(w, values="pq", sparse="csr", pq_m=2, bits=1)
    with pytest.raises(HwqError, match="mask"):
        encode_weight(w, values="pq", mask=w == 0, pq_m=2, bits=1)
    with pytest.raises(HwqError, match="reserved for zero"):  # 4 centroids + zero > 2^2
        encode_weight(w, values="codebook", sparse="csr", centroids=CENTROIDS, bits=2)
    W = encode_weight(w, values="codebook", centroids=CENTROIDS, bits=2)  # dense: no zero code
    assert W.values.codebook.shape == (4,)
    with pytest.raises(HwqError, match="values"):
        encode_weight(w, values="int4")
    with pytest.raises(HwqError):
        encode_weight(w, values="codebook")


def test_codebook_labels_forms():
    w = np.array([[0.0, 1.0, -1.0], [0.5, 0.0, 2.0]])
    keep = w != 0
    cent = np.array([-1.0, 1.0])
    lab_kept = np.array([1, 0, 1, 1])  # one per kept entry, C-order
    A = encode_weight(w, values="codebook", sparse="csr", centroids=cent, labels=lab_kept)
    B = encode_weight(w, values="codebook", mask=keep, centroids=cent,
                      labels=np.where(keep, [[9, 1, 0], [1, 9, 1]], 0))
    np.testing.assert_allclose(A.dense_float(), [[0, 1, -1], [1, 0, 1]], rtol=1e-6)
    np.testing.assert_array_equal(B.dense_float(), A.dense_float())
    assert A.values.bits == 2 and A.values.codebook[0] == 0


def test_all_zero_weight():
    w = np.zeros((3, 2))
    for values, kw in CODECS:
        for layout in LAYOUTS:
            W = encode_weight(w, values=values, sparse=layout, **kw)
            f = check_invariants(W, np.ones(w.shape, bool))
            # a dense unmasked codebook has no zero code: zeros go to the nearest centroid
            assert (f == 0).all() or (values == "codebook" and layout is None)


# IR save / load ----------------------------------------------------------------------------
def _model(W):
    if len(W.shape) == 2:
        o, i = W.shape
        layer = ir.Dense("fc", ["x"], weight=W, in_features=i, out_features=o)
        x = ir.Input("x", [], shape=(i,))
    else:
        o, c, kh, kw = W.shape
        layer = ir.Conv2d("conv", ["x"], weight=W, in_channels=c, out_channels=o, kernel=(kh, kw))
        x = ir.Input("x", [], shape=(c, kh + 2, kw + 2))
    return ir.Model("m", {"x": x, layer.name: layer}, [layer.name])


@pytest.mark.parametrize("values,layout,kw", [
    ("float32", "csr", {}), ("int8", "csc", {"per_channel": True}), ("pow2", "csr", {"bits": 5}),
    ("ternary", "csc", {}), ("codebook", "csr", {"centroids": CENTROIDS, "bits": 4}),
    ("pq", None, {"pq_m": 2, "bits": 3}),
])
def test_save_load_round_trip(tmp_path, values, layout, kw):
    rng = np.random.default_rng(7)
    shape = (6, 4, 3, 3) if values in ("pq", "ternary") else (5, 30)
    w = rng.normal(size=shape)
    mask = None if values == "pq" else rng.random(shape) < 0.3
    W = encode_weight(w, values=values, mask=mask, sparse=layout, index_bits=2, **kw)
    model = _model(W)
    ir.save(model, tmp_path / "m.ir")
    back = ir.load(tmp_path / "m.ir")
    W2 = back.layers[next(reversed(back.layers))].weight
    assert W2.encoding_name() == W.encoding_name()
    np.testing.assert_array_equal(W2.dense_float(), W.dense_float())
    for name, arr in W.values.tensors().items():
        np.testing.assert_array_equal(W2.values.tensors()[name], arr)
    if layout:
        np.testing.assert_array_equal(W2.sparse.rel, W.sparse.rel)
        np.testing.assert_array_equal(W2.sparse.ptr, W.sparse.ptr)
