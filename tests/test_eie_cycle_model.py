"""The fast cycle model against the slow per-cycle reference, and the estimate report."""

import numpy as np
import pytest

from hwq import ir
from hwq.compress.random_model import random_weight
from hwq.eie import EieConfig, estimate_layer, layer_timing
from hwq.eie.mapping import pe_order
from tests.eie_reference import slow_layer


def _case(rng):
    n_pe = int(rng.choice([1, 2, 3, 4, 8]))
    in_f = int(rng.integers(1, 40))
    dens = rng.random()
    counts = np.where(rng.random((n_pe, in_f)) < dens, rng.integers(0, 12, (n_pe, in_f)), 0)
    if rng.random() < 0.2:  # one heavy PE: its FIFO fills for long stretches
        counts[int(rng.integers(n_pe))] += rng.integers(5, 30, in_f)
    active = rng.random(in_f) < rng.random()
    return counts.astype(np.int32), active, int(rng.integers(1, 50)), int(rng.choice([1, 2, 3, 8]))


@pytest.mark.parametrize("seed", range(6))
def test_fast_model_equals_per_cycle_reference(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        counts, active, out_f, depth = _case(rng)
        cfg = EieConfig(n_pe=counts.shape[0], fifo_depth=depth)
        fast = layer_timing(counts, active, out_f, cfg)
        slow = slow_layer(counts, active, out_f, depth)
        assert fast.cycles == slow["cycles"]
        assert fast.busy.tolist() == slow["busy"]
        assert fast.entries.tolist() == slow["entries"]
        assert fast.fifo_full.tolist() == slow["fifo_full"]
        assert fast.broadcast_stalls == slow["stalls"]


def test_all_zero_input_costs_one_slot_per_group():
    counts = np.ones((4, 10), np.int32)
    t = layer_timing(counts, np.zeros(10, bool), 8, EieConfig(n_pe=4))
    # 3 groups -> 3 bubble slots (cycles 0..2), done seen in cycle 3; 2 rows per PE
    assert t.cycles == 2 + 4 + 2 + 3
    assert t.busy.tolist() == [0, 0, 0, 0]


def test_estimate_layer_counts_against_dense_formula():
    rng = np.random.default_rng(3)
    w = random_weight(rng, (37, 53), "pow2", 0.3, 5, "csc", 2)
    layer = ir.Dense("fc", ["x"], in_features=53, out_features=37, weight=w)
    x = np.where(rng.random(53) < 0.5, rng.integers(1, 9, 53), 0)
    cfg = EieConfig(n_pe=4, index_bits=2)
    r = estimate_layer(layer, x, cfg)
    dense = w.dense_int()
    assert r["macs_effective"] == int(np.count_nonzero(dense[:, x != 0]))
    # entries per PE and column: non-zeros plus a filler for every 2^index_bits local gap
    want = 0
    for p in range(4):
        sub = dense[p::4][:, x != 0] != 0
        for col in sub.T:
            pos = np.flatnonzero(col)
            gaps = np.diff(np.concatenate([[-1], pos])) - 1
            want += len(pos) + int((gaps // 4).sum())
    assert r["entries_processed"] == want
    assert r["load_efficiency"] == r["ideal_cycles"] / r["cycles"]
    assert sum(r["pe_busy"]) + sum(r["pe_idle"]) == 4 * r["cycles"]
