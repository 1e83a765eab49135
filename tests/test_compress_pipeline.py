"""The compression pipeline at library level (``compress_model`` + ``CompressOptions``).

Expectations are independent of the pipeline: the pruning rule written out with an
argsort, the filler count of the sparse format redone by hand, the storage formula of
docs/compression.md recomputed from the IR arrays, accuracies through the golden model.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hwq import ir
from hwq.compress.pipeline import CompressOptions, compress_model
from hwq.data.digits import load_digits_split
from hwq.errors import HwqError
from hwq.ir.storage import compression_rate, layer_storage, model_storage, TOTAL
from hwq.train.evaluate import accuracy

ROOT = Path(__file__).parents[1]
FLOAT_MLP = ROOT / "examples" / "digits_mlp.ir"


@pytest.fixture(scope="module")
def model():
    return ir.load(FLOAT_MLP)


@pytest.fixture(scope="module")
def data():
    return load_digits_split()


def originals(model) -> dict[str, np.ndarray]:
    return {l.name: l.weight.dense_float() for l in model.weighted()}


def keep_largest(w: np.ndarray, rate: float) -> np.ndarray:
    """Independent rule: keep the n - floor(rate*n) largest |w| (ties: not expected)."""
    flat = np.abs(w).ravel()
    k = flat.size - math.floor(rate * flat.size)
    order = np.argsort(-flat, kind="stable")
    # no tie straddles the cut, so "the k largest" is well defined
    if 0 < k < flat.size:
        assert flat[order[k - 1]] > flat[order[k]]
    keep = np.zeros(flat.size, bool)
    keep[order[:k]] = True
    return keep.reshape(w.shape)


def csc_stored(keep: np.ndarray, index_bits: int) -> int:
    """Stored entries of a CSC layout by hand: every kept entry, plus one filler per full
    2^index_bits run of zeros before a kept entry of the same column (hwq.ir.sparse)."""
    span = 1 << index_bits
    total = 0
    for col in keep.T:
        pos = np.flatnonzero(col)
        prev = -1
        for p in pos:
            total += 1 + (p - prev - 1) // span
            prev = p
    return total


# ---------------------------------------------------------------------------- pruning


@pytest.mark.parametrize("rate", [0.5, 0.9])
def test_prune_keeps_exactly_the_largest_magnitudes(model, rate):
    before = originals(model)
    out = compress_model(model, CompressOptions(prune=rate))
    for layer in out.weighted():
        w0 = before[layer.name]
        keep = keep_largest(w0, rate)
        w = layer.weight.dense_float()
        np.testing.assert_array_equal(w != 0, keep, err_msg=layer.name)
        # no retraining, float32 values: the survivors are the original weights
        np.testing.assert_array_equal(w[keep], w0[keep].astype(np.float32).astype(np.float64))
        assert layer.weight.sparse is not None and layer.weight.sparse.format == "csc"
    # the input model is left alone
    for name, w in originals(model).items():
        np.testing.assert_array_equal(w, before[name])


def test_prune_with_retraining_keeps_pruned_weights_at_zero(model, data):
    before = originals(model)
    out = compress_model(model, CompressOptions(prune=0.8, retrain_epochs=1, data="digits"), data)
    changed = 0
    for layer in out.weighted():
        w0 = before[layer.name]
        keep = keep_largest(w0, 0.8)
        w = layer.weight.dense_float()
        assert (w[~keep] == 0).all(), layer.name
        changed += int((w[keep] != w0[keep].astype(np.float32)).sum())
    assert changed > 0  # retraining did move the surviving weights


def test_shared_weights_with_retraining_keep_pruned_zeros(model, data):
    before = originals(model)
    out = compress_model(model, CompressOptions(prune=0.8, share_bits=3, retrain_epochs=1, data="digits"), data)
    for layer in out.weighted():
        keep = keep_largest(before[layer.name], 0.8)
        w = layer.weight.dense_int()
        assert (w[~keep] == 0).all(), layer.name
        assert len(np.unique(w[w != 0])) <= 2 ** 3 - 1


# ---------------------------------------------------------------------------- weight sharing


@pytest.mark.parametrize("bits, prune", [(2, 0.7), (4, 0.7), (3, None), (5, None)])
def test_weight_sharing_limits_distinct_values(model, bits, prune):
    out = compress_model(model, CompressOptions(prune=prune, share_bits=bits))
    # sparse: index 0 is the zero, so 2^b - 1 non-zero values; dense: 2^b values (one may be 0)
    limit = (1 << bits) - 1 if prune else 1 << bits
    for layer in out.weighted():
        w = layer.weight.dense_float()
        distinct = np.unique(w[w != 0])
        assert 1 <= len(distinct) <= limit, (layer.name, len(distinct))
        assert len(np.unique(layer.weight.dense_int())) <= 1 << bits
        assert layer.weight.values.bits == bits


# ---------------------------------------------------------------------------- accuracy


def test_int_accuracy_close_to_float_reference(model, data):
    out = compress_model(model, CompressOptions(prune=0.5, share_bits=5, act_bits=8, data="digits"), data)
    assert out.is_quantized
    acc_ref = accuracy(model, data.x_test, data.y_test, "float")
    acc_float = accuracy(out, data.x_test, data.y_test, "float")
    acc_int = accuracy(out, data.x_test, data.y_test, "int")
    assert abs(acc_int - acc_float) <= 0.01, (acc_int, acc_float)
    assert abs(acc_int - acc_ref) <= 0.01, (acc_int, acc_ref)


# ---------------------------------------------------------------------------- storage


@pytest.mark.parametrize("prune, bits, index_bits", [(0.9, 4, 4), (0.7, 5, 3), (None, 3, None)])
def test_compression_rate_matches_the_hand_formula(model, prune, bits, index_bits):
    before = originals(model)
    out = compress_model(model, CompressOptions(prune=prune, share_bits=bits, index_bits=index_bits))
    num_total = den_total = 0
    for layer in out.weighted():
        v, sp = layer.weight.values, layer.weight.sparse
        n_weights = int(np.prod(layer.weight.shape))
        table = len(v.codebook) * v.value_bits + 32  # K integer entries + one float32 scale
        if prune is None:
            assert sp is None
            stored, ib = len(v.indices), 0
            assert stored == n_weights
        else:
            stored, ib = len(v.indices), sp.index_bits
            assert ib == index_bits and len(sp.rel) == stored
            assert stored == csc_stored(keep_largest(before[layer.name], prune), ib)
        num = stored * (bits + ib) + table
        den = n_weights * 32
        assert compression_rate(layer_storage(layer)) == pytest.approx(num / den, rel=1e-12)
        num_total += num
        den_total += den
    assert compression_rate(model_storage(out)[TOTAL]) == pytest.approx(num_total / den_total, rel=1e-12)


def test_provenance_records_the_steps(model, data):
    out = compress_model(model, CompressOptions(prune=0.5, share_bits=4, act_bits=8, data="digits"), data)
    steps = out.provenance["compress"]["phases"]
    assert any(s.startswith("prune") for s in steps) and any(s.startswith("quantize codebook:4") for s in steps)
    assert any(s.startswith("calibrate 8-bit") for s in steps) and out.provenance["compress"]["act_bits"] == 8
    assert out.provenance["source"] == model.provenance["source"]


@pytest.mark.parametrize("opts", [dict(prune=1.0), dict(share_bits=0), dict(int8=True, ternary=True),
                                  dict(act_bits=8), dict(pq=(4, 16), prune=0.5)])
def test_bad_options_raise_hwq_error(model, opts):
    with pytest.raises(HwqError):
        compress_model(model, CompressOptions(**opts))


def test_act_bits_zero_is_refused(model, data):
    with pytest.raises(HwqError):
        compress_model(model, CompressOptions(int8=True, act_bits=0, data="digits"), data)


def test_fully_pruned_layers_still_encode_with_sharing(model):
    out = compress_model(model, CompressOptions(prune_quality=1e9, share_bits=3))
    for layer in out.weighted():
        assert layer.weight.nnz() == 0 and not layer.weight.dense_int().any()


def test_provenance_lists_retraining_only_when_it_ran(model, data):
    one_shot = compress_model(model, CompressOptions(int8=True, retrain_epochs=1, data="digits"), data)
    assert not any(s.startswith("retrain") for s in one_shot.provenance["compress"]["phases"])
    pruned = compress_model(model, CompressOptions(prune=0.5, int8=True, retrain_epochs=1, data="digits"), data)
    assert "retrain 1 epochs after pruning" in pruned.provenance["compress"]["phases"]


def test_per_layer_prune_rates(model):
    """Deep Compression prunes each layer differently (LeNet-300-100: 92%, 91%, 74%)."""
    from hwq.compress.pipeline import parse_rates

    opts = CompressOptions(prune=parse_rates("fc1=0.92,fc3=0.74,*=0.91"))
    out = compress_model(model, opts)
    for name, rate in (("fc1", 0.92), ("fc2", 0.91), ("fc3", 0.74)):
        w = out.layers[name].weight
        assert w.nnz() == w.size - int(np.floor(rate * w.size)), name
    with pytest.raises(HwqError, match="no weighted layer named 'fc9'"):
        compress_model(model, CompressOptions(prune={"fc9": 0.5}))


def test_info_reports_the_papers_per_entry_columns():
    from hwq import ir
    from hwq.info import model_info

    m = ir.load(Path(__file__).resolve().parents[1] / "examples" / "digits_mlp_pruned_shared.ir")
    info = model_info(m)
    for row in info["layers"]:
        if row["encoding"]:
            w = m.layers[row["name"]].weight
            dc = row["deep_compression"]
            # P+Q columns: code and index widths per stored entry, read straight off the IR
            assert dc["weight_bits"] == w.values.bits and dc["index_bits"] == w.sparse.index_bits
            assert 0 < dc["weight_bits_huffman"] <= w.values.bits


def test_per_layer_share_bits(model):
    """Deep Compression: wider codebooks where a layer needs them (8 bits conv, 5 bits FC)."""
    from hwq.compress.pipeline import parse_per_layer

    out = compress_model(model, CompressOptions(prune=0.5, share_bits=parse_per_layer("--share-bits", "fc3=6,*=3", int)))
    assert {n: out.layers[n].weight.values.bits for n in ("fc1", "fc2", "fc3")} == {"fc1": 3, "fc2": 3, "fc3": 6}
    assert len(np.unique(out.layers["fc1"].weight.dense_int())) <= 2**3  # 7 shared values + zero
    with pytest.raises(HwqError, match="no bits for layer fc1"):
        compress_model(model, CompressOptions(share_bits={"fc3": 6}))


def test_prune_steps_rounds_reach_the_rate_with_nested_masks(model, data):
    """--prune-steps 3: three prune/retrain rounds (Han et al.'s iterative pruning), each
    removing the same fraction of what is left; a weight pruned once stays pruned; the final
    count is the one-shot budget written out (n - floor(rate * n))."""
    from hwq.compress.stages.prune import round_rate

    rate, steps = 0.9, 3
    fracs = [(1 - round_rate(rate, s, steps)) / (1 - round_rate(rate, s - 1, steps) if s > 1 else 1.0)
             for s in range(1, steps + 1)]
    assert fracs == pytest.approx([0.1 ** (1 / 3)] * 3)
    seen: list[str] = []
    out = compress_model(model, CompressOptions(prune=rate, prune_steps=steps, retrain_epochs=1, data="digits"),
                         data, log=seen.append)
    rounds = [s for s in seen if s.startswith("prune (round")]
    assert [r.split(":")[0] for r in rounds] == [f"prune (round {s}/3)" for s in (1, 2, 3)]
    assert any("retrain after pruning (round 2/3)" in s for s in seen)
    for l in out.weighted():
        w = l.weight.dense_float()
        assert np.count_nonzero(w) == w.size - math.floor(rate * w.size)
    assert out.provenance["compress"]["prune_steps"] == 3
    assert sum("prune fc1" in p for p in out.provenance["compress"]["phases"]) == 3


def test_prune_steps_need_rates():
    with pytest.raises(HwqError, match="--prune-steps works with --prune rates"):
        CompressOptions(prune_quality=1.0, prune_steps=2).check()
    with pytest.raises(HwqError, match="must be >= 1"):
        CompressOptions(prune=0.5, prune_steps=0).check()
