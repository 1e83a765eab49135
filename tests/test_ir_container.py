"""IR files: save/load round trips, determinism, sparse index identities."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hwq import golden, ir
from hwq.ir.manifest import to_manifest
from hwq.ir.sparse import encode
from tests.factories import ENCODINGS, LAYOUTS, cnn, mlp


def assert_same_model(a: ir.Model, b: ir.Model) -> None:
    ma, ta = to_manifest(a)
    mb, tb = to_manifest(b)
    assert ma == mb
    assert ta.keys() == tb.keys()
    for k in ta:
        assert ta[k].dtype == tb[k].dtype and np.array_equal(ta[k], tb[k]), k


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), encoding=st.sampled_from(ENCODINGS), layout=st.sampled_from(LAYOUTS),
       index_bits=st.integers(1, 5), kind=st.sampled_from(["mlp", "cnn"]), act_bits=st.sampled_from([4, 8, 16]))
def test_save_load_round_trip(tmp_path_factory, seed, encoding, layout, index_bits, kind, act_bits):
    rng = np.random.default_rng(seed)
    build = mlp if kind == "mlp" else cnn
    m = build(rng, encoding, layout, index_bits=index_bits, density=rng.uniform(0.05, 1.0), act_bits=act_bits)
    path = tmp_path_factory.mktemp("rt") / "m.ir"
    ir.save(m, path)
    back = ir.load(path)
    assert_same_model(m, back)
    x = rng.normal(size=(3,) + tuple(m.inputs[0].shape))
    for name, y in golden.run_int(m, x, keep_all=True).items():
        assert np.array_equal(y, golden.run_int(back, x, keep_all=True)[name])


def test_saving_is_deterministic(tmp_path):
    m = cnn(np.random.default_rng(0), "codebook", "csc")
    ir.save(m, tmp_path / "a.ir")
    ir.save(ir.load(tmp_path / "a.ir"), tmp_path / "b.ir")
    assert (tmp_path / "a.ir").read_bytes() == (tmp_path / "b.ir").read_bytes()


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 40), cols=st.integers(1, 40),
       density=st.floats(0.0, 1.0), fmt=st.sampled_from(["csr", "csc"]), bits=st.integers(1, 6))
def test_sparse_encode_decode_identity(seed, rows, cols, density, fmt, bits):
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, cols)) < density
    idx, src = encode(mask, fmt, bits)
    idx.check((rows, cols), "w")
    r, c = idx.coordinates()
    real = src >= 0
    # every stored non-filler entry sits where its source position says, and covers the mask
    assert np.array_equal(r[real] * cols + c[real], src[real])
    back = np.zeros_like(mask)
    back[r[real], c[real]] = True
    assert np.array_equal(back, mask)
    # fillers: one per 2^bits zeros of every gap (independent count over the runs)
    view = mask.T if fmt == "csc" else mask
    expected = 0
    for line in view:
        pos = np.flatnonzero(line)
        gaps = np.diff(np.concatenate([[-1], pos])) - 1
        expected += int((gaps // 2**bits).sum())
    assert int((~real).sum()) == expected
    assert int(idx.rel.max(initial=0)) < 2**bits
    assert idx.ptr[-1] == idx.stored == mask.sum() + expected


def test_eie_example_relative_indices():
    """The EIE/Deep Compression rule by hand: 4-bit z, a 20-zero gap needs one filler."""
    mask = np.zeros((40, 1), bool)
    mask[[2, 23, 24], 0] = True
    idx, src = encode(mask, "csc", 4)
    assert idx.rel.tolist() == [2, 15, 4, 0]  # 2 zeros; filler at 18 after 15 zeros; 4 zeros; adjacent
    assert src.tolist() == [2, -1, 23, 24]
