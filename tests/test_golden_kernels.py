"""Integer kernels against plain-Python loops written from docs/semantics.md."""

from fractions import Fraction

import numpy as np
import pytest

from hwq import golden
from hwq.errors import SemanticsError
from tests.factories import ENCODINGS, LAYOUTS, cnn, mlp
from tests.test_fixedpoint import round_half_away, tflite_mbqm


def requant_ref(acc, rq, c):
    ch = c if rq.channels > 1 else 0
    e = int(rq.exponent[ch])
    if rq.mode == "shift":
        if e >= 0:
            return max(-(2**31), min(2**31 - 1, acc * 2**e))
        return round_half_away(Fraction(acc, 2 ** (-e)))
    return tflite_mbqm(acc, int(rq.multiplier[ch]), e)


def out_ref(r, q):
    return max(q.qmin, min(q.qmax, r + q.zero_point))


def dense_ref(layer, x, qin):
    w = layer.weight.dense_int()
    out = []
    for o in range(w.shape[0]):
        acc = int(layer.bias_q[o]) if layer.bias_q is not None else 0
        for i in range(w.shape[1]):
            acc += int(w[o, i]) * (int(x[i]) - qin.zero_point)
        out.append(out_ref(requant_ref(acc, layer.requant, o), layer.quant))
    return out


def conv_ref(layer, x, qin):
    w = layer.weight.dense_int()
    C, H, W = x.shape
    t, l, b, r = layer.padding
    (KH, KW), (SH, SW) = layer.kernel, layer.stride
    OH, OW = (H + t + b - KH) // SH + 1, (W + l + r - KW) // SW + 1
    out = np.zeros((layer.out_channels, OH, OW), np.int64)
    for o in range(layer.out_channels):
        for p in range(OH):
            for q in range(OW):
                acc = int(layer.bias_q[o]) if layer.bias_q is not None else 0
                for c in range(C):
                    for i in range(KH):
                        for j in range(KW):
                            h, v = p * SH + i - t, q * SW + j - l
                            xv = int(x[c, h, v]) if 0 <= h < H and 0 <= v < W else qin.zero_point
                            acc += int(w[o, c, i, j]) * (xv - qin.zero_point)
                out[o, p, q] = out_ref(requant_ref(acc, layer.requant, o), layer.quant)
    return out


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_dense_matches_loop(encoding, layout):
    rng = np.random.default_rng(hash((encoding, layout)) % 2**32)
    m = mlp(rng, encoding, layout)
    x = rng.normal(size=(5, 12))
    allv = golden.run_int(m, x, keep_all=True)
    for n in range(5):
        for name in ("fc1", "fc2"):
            layer = m.layers[name]
            src = layer.inputs[0]
            assert allv[name][n].tolist() == dense_ref(layer, allv[src][n], m.layers[src].quant)
        assert allv["r1"][n].tolist() == [max(v, m.layers["fc1"].quant.zero_point) for v in allv["fc1"][n]]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("pow2_act", [False, True])
def test_cnn_layers_match_loops(encoding, pow2_act):
    rng = np.random.default_rng(7)
    m = cnn(rng, encoding, "csc" if encoding != "int8" else "none", pow2_act=pow2_act)
    x = rng.random((3, 2, 7, 7)) * 2 - 0.5
    v = golden.run_int(m, x, keep_all=True)
    L = m.layers
    for n in range(3):
        for name in ("c1", "c2"):
            assert (v[name][n] == conv_ref(L[name], v["x"][n], L["x"].quant)).all()
        # maxpool 2x2/2 on r1
        r1 = v["r1"][n]
        mp = np.array([[[r1[c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max() for j in range(3)] for i in range(3)] for c in range(4)])
        assert (v["p1"][n] == mp).all()
        # avgpool 2x2/1 on c2, ties away from the real zero
        q = L["c2"].quant
        c2 = v["c2"][n]
        ap = np.array([[[out_ref(round_half_away(Fraction(int((c2[c, i:i + 2, j:j + 2] - q.zero_point).sum()), 4)), q)
                         for j in range(3)] for i in range(3)] for c in range(4)])
        assert (v["p2"][n] == ap).all()
        # add: each input rescaled to the output grid, then summed and clamped
        qs = L["sum"].quant
        ra = [requant_ref(int(a) - L["p1"].quant.zero_point, L["sum"].requant[0], 0) for a in v["p1"][n].ravel()]
        rb = [requant_ref(int(b) - L["p2"].quant.zero_point, L["sum"].requant[1], 0) for b in v["p2"][n].ravel()]
        assert v["sum"][n].ravel().tolist() == [out_ref(a + b, qs) for a, b in zip(ra, rb)]
        assert v["flat"][n].tolist() == v["sum"][n].ravel().tolist()


def test_pow2_activations_give_shift_requant_for_pow2_weights():
    m = mlp(np.random.default_rng(3), "pow2", "csc", pow2_act=True)
    assert all(m.layers[n].requant.mode == "shift" for n in ("fc1", "fc2"))


def test_int_run_tracks_float_reference():
    rng = np.random.default_rng(11)
    m = mlp(rng, "int8", "none", act_bits=16)
    x = rng.normal(size=(200, 12)) * 0.5  # inside the calibrated range: no clipping
    yi = golden.output_as_float(m, "fc2", golden.run_int(m, x)["fc2"])
    yf = golden.run_float(m, x)["fc2"]
    # 16-bit activations: the integer model is within a few output LSBs of the float one
    assert np.abs(yi - yf).max() <= 4 * m.layers["fc2"].quant.scale + 1e-3 * np.abs(yf).max()


def test_softmax_output_is_float_and_normalised():
    rng = np.random.default_rng(5)
    m = mlp(rng, "codebook", "csr", softmax=True)
    y = golden.run_int(m, rng.normal(size=(4, 12)))["sm"]
    assert y.dtype == np.float64 and np.allclose(y.sum(1), 1.0)


def test_accumulator_overflow_is_reported():
    rng = np.random.default_rng(2)
    m = mlp(rng, "int8", "none")
    m.layers["fc1"].acc_bits = 8
    with pytest.raises(SemanticsError, match="fc1: accumulator value .* overflows acc_bits = 8"):
        golden.run_int(m, rng.normal(size=(4, 12)) * 10)


def test_accumulation_is_exact_beyond_int64_partial_sums():
    """7-bit pow2 codes reach w = 2^62; products cancel to a small exact sum (modular hardware agrees)."""
    from hwq import ir

    m = ir.Model("t", {}, ["fc"])
    m.layers["x"] = ir.Input("x", [], shape=(3,), quant=ir.QuantParams(8, True, 1.0, 0))
    m.layers["fc"] = ir.Dense("fc", ["x"], in_features=3, out_features=1,
                              weight=ir.Weight((1, 3), ir.Pow2Values(np.array([63, 1, 64 | 63], np.uint8), 7, 0)),
                              requant=ir.make_requant(np.array([1.0])), quant=ir.QuantParams(8, True, 1.0, 0))
    ir.validate(m)
    assert golden.run_int(m, np.array([[1, 1, 1], [2, 5, 2]]))["fc"].tolist() == [[1], [5]]
    with pytest.raises(SemanticsError, match=f"accumulator value {2**62 + 1} overflows"):
        golden.run_int(m, np.array([[1, 1, 0]]))
