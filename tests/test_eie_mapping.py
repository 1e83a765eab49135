"""The per-PE images decode back to the IR's integer matrix; codes decode to the weights."""

import numpy as np
import pytest

from hwq import ir
from hwq.compress.random_model import random_weight
from hwq.eie import EieConfig
from hwq.eie.mapping import (codebook_codes, codebook_table, decode_images, pe_images, pe_order, pow2_codes,
                             ternary_codes, ternary_table)
from hwq.eie.program import plan_model
from hwq.errors import HwqError
from tests.factories import cnn


@pytest.mark.parametrize("encoding", ["pow2", "codebook", "ternary", "int8"])
@pytest.mark.parametrize("layout", ["csc", "csr", "none"])
def test_images_decode_to_the_ir_matrix(encoding, layout):
    rng = np.random.default_rng(hash((encoding, layout)) % 1000)
    for n_pe, index_bits, density in [(1, 1, 0.05), (3, 2, 0.3), (4, 4, 0.02), (16, 3, 1.0), (7, 1, 0.5)]:
        w = random_weight(rng, (int(rng.integers(1, 40)), int(rng.integers(1, 30))), encoding, density, 4,
                          layout, 3)
        cfg = EieConfig(n_pe=n_pe, index_bits=index_bits)
        order = pe_order(w, cfg)
        images = pe_images(order)
        dense = w.dense_int()
        assert np.array_equal(decode_images(images, dense.shape[0], n_pe), dense)
        for p, im in enumerate(images):
            assert (im.z < (1 << index_bits)).all()
            assert np.array_equal(np.diff(im.ptr), order.counts()[p])
            # entries = non-zeros of the PE's rows + one filler per 2^index_bits local zeros
            want = 0
            for col in (dense[p::n_pe] != 0).T:
                pos = np.flatnonzero(col)
                want += len(pos) + int(((np.diff(np.concatenate([[-1], pos])) - 1) >> index_bits).sum())
            assert im.ptr[-1] == want


def test_weight_codes_decode():
    w = np.array([0, 1, -1, 2, -16, 4096, -8192])
    cfg = EieConfig(weight_mode="pow2", weight_bits=5)
    c = pow2_codes(w, cfg, "t")
    k = c & 15
    dec = np.where(k > 0, 1 << np.maximum(k - 1, 0), 0) * np.where(c >> 4, -1, 1)
    assert np.array_equal(dec, w)
    with pytest.raises(HwqError, match="powers of two"):
        pow2_codes(np.array([3]), cfg, "t")
    with pytest.raises(HwqError, match="shift above 14"):
        pow2_codes(np.array([1 << 15]), cfg, "t")
    cb = EieConfig(weight_mode="codebook", weight_bits=3)
    vals = np.array([0, -5, 7, 7, 100, 0, -5])
    table = codebook_table(vals, cb, "t")
    assert table[0] == 0 and np.array_equal(table[codebook_codes(vals, table)], vals)
    with pytest.raises(HwqError, match="exceed the codebook"):
        codebook_table(np.arange(9), cb, "t")


def test_ternary_table_and_codes():
    """Ternary mode: magnitudes [0, pos, neg]; codes 1 -> +pos, 2 -> -neg decode to w_int."""
    cfg = EieConfig(weight_mode="ternary", weight_bits=2, value_bits=16)
    w = np.array([0, 300, -7, 300, 0, -7])
    table = ternary_table(w, cfg, "t")
    c = ternary_codes(w)
    assert table.tolist() == [0, 300, 7]
    assert np.array_equal(np.select([c == 1, c == 2], [table[1], -table[2]], 0), w)
    assert ternary_table(np.array([0, 5, 5]), cfg, "t").tolist() == [0, 5, 0]  # no negative value
    assert ternary_table(np.array([65535, -65535]), cfg, "t").tolist() == [0, 65535, 65535]
    with pytest.raises(HwqError, match="2 distinct positive weight values"):
        ternary_table(np.array([1, 2, -1]), cfg, "t")
    with pytest.raises(HwqError, match="2 distinct negative"):
        ternary_table(np.array([1, -2, -1]), cfg, "t")
    with pytest.raises(HwqError, match="65536 does not fit value_bits = 16"):
        ternary_table(np.array([-65536]), cfg, "t")


def test_ternary_config():
    """weight_bits is 2 in ternary mode; replace() sets it, a clash is refused in one line."""
    c = EieConfig().replace(weight_mode="ternary")
    assert c.weight_bits == 2 and c.entry_bits == c.index_bits + 2
    assert c.scaled_bits == min(c.acc_bits, c.act_bits + 2 + c.value_bits) and c.act_payload_bits == 2 * c.scaled_bits
    assert c.replace(weight_mode="pow2").weight_bits == EieConfig().weight_bits
    assert EieConfig(act_bits=4, value_bits=8, weight_mode="ternary", weight_bits=2).scaled_bits == 14
    with pytest.raises(HwqError, match=r"weight_bits \(ternary\) = 5"):
        EieConfig(weight_mode="ternary")
    with pytest.raises(HwqError, match=r"weight_bits \(ternary\) = 3"):
        EieConfig().replace(weight_mode="ternary", weight_bits=3)


def test_auto_weight_mode():
    """auto: ternary for a ternary model (one positive, one negative value per layer), pow2 for
    the pow2 MLP, codebook for the pruned+shared MLP."""
    from hwq.commands.eie_options import make_config
    from hwq.compress.random_model import random_mlp

    t = random_mlp(layers="12,9,5", density=0.5, encoding="ternary", seed=3)
    assert make_config(t, None, None, None, "auto", ()).weight_mode == "ternary"
    assert make_config(t, None, None, None, "auto", ()).weight_bits == 2
    assert make_config(ir.load("examples/digits_mlp_pow2.ir"), None, None, None, "auto", ()).weight_mode == "pow2"
    cb = ir.load("examples/digits_mlp_pruned_shared.ir")
    assert make_config(cb, None, None, None, "auto", ()).weight_mode == "codebook"
    with pytest.raises(HwqError, match="distinct positive weight values"):
        plan_model(cb, make_config(cb, None, None, None, "ternary", ()))
    # one rule: hwq simulate's Python API (and so the sweep) picks what the commands pick
    from hwq.sim.api import auto_config
    for m in (t, cb, ir.load("examples/digits_mlp_pow2.ir")):
        assert auto_config(m) == make_config(m, None, None, None, "auto", ())


def test_balanced_row_map():
    """The balanced map is a permutation that keeps every PE's row count (physical indices stay
    below out_features), spreads the non-zeros over the PEs more evenly than i mod n_pe on rows
    of unequal density, and the images decode to the matrix with rows and columns permuted."""
    from hwq.eie.row_map import balanced_perm

    rng = np.random.default_rng(4)
    for o, i, n_pe in [(37, 23, 4), (5, 9, 8), (64, 16, 16), (1, 3, 2)]:
        dens = np.minimum(1.0, rng.lognormal(0, 1, o) * 0.2)
        mask = rng.random((o, i)) < dens[:, None]
        codes = np.where(mask, rng.integers(1, 32, (o, i)) | 1, 0).astype(np.uint8).reshape(-1)
        wt = ir.Weight((o, i), ir.Pow2Values(codes, 5, -17), None)
        nnz = (wt.dense_int().reshape(o, i) != 0).sum(1)
        perm = balanced_perm(nnz, n_pe)
        assert sorted(perm.tolist()) == list(range(o))
        assert np.array_equal(np.bincount(perm % n_pe, minlength=n_pe), np.bincount(np.arange(o) % n_pe, minlength=n_pe))
        load = lambda p: np.bincount(p % n_pe, weights=nnz, minlength=n_pe)  # noqa: E731
        assert np.ptp(load(perm)) <= np.ptp(load(np.arange(o)))
        col_perm = rng.permutation(i)
        cfg = EieConfig(n_pe=n_pe, row_map="balanced")
        order = pe_order(wt, cfg, col_perm=col_perm)
        assert np.array_equal(order.row_perm, perm)
        phys = np.zeros((o, i), np.int64)
        phys[np.ix_(perm, col_perm)] = wt.dense_int().reshape(o, i)
        assert np.array_equal(decode_images(pe_images(order), o, n_pe), phys)


def test_refusals_name_the_layer_and_memory():
    rng = np.random.default_rng(0)
    with pytest.raises(HwqError, match=r"c1 \(conv2d\)"):
        plan_model(cnn(rng, "pow2", "csc"), EieConfig())
    m = ir.load("examples/digits_mlp_pow2.ir")
    with pytest.raises(HwqError, match="sparse memory of PE 0 needs"):
        plan_model(m, EieConfig(sparse_words=8))
    with pytest.raises(HwqError, match="act_depth"):
        plan_model(m, EieConfig(act_depth=16))
    with pytest.raises(HwqError, match="unknown parameter 'npe'"):
        EieConfig().replace(npe=3)
    with pytest.raises(HwqError, match="fifo_depth = 0"):
        EieConfig(fifo_depth=0)
