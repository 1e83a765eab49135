"""The cycle-exact model of the accelerator: docs/eie.md "Timing", evaluated per broadcast
item and vectorized over PEs (no per-cycle loop). The RTL's counters must equal it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.eie.config import EieConfig

LOAD_SETUP_CYCLES = 2   # LOAD + SETUP of a layer
OUTPUT_LATENCY = 3      # output stage pipeline: read -> O1 -> O2 -> write
DRAIN = 3               # an entry issued in cycle t leaves the accumulator stage after t + 2
NEG = -(1 << 40)


@dataclass
class LayerTiming:
    cycles: int
    compute_cycles: int
    busy: np.ndarray       # (n_pe,) walker-occupied cycles
    entries: np.ndarray    # (n_pe,) stored entries visited, fillers included
    fifo_full: np.ndarray  # (n_pe,) cycles the broadcaster waited while this FIFO was full
    broadcast_stalls: int
    items: int             # non-zero activations broadcast

    @property
    def ideal_cycles(self) -> int:
        n = self.busy.shape[0]
        return int(-(-int(self.entries.sum()) // n))


def layer_timing(counts: np.ndarray, active: np.ndarray, out_features: int, cfg: EieConfig) -> LayerTiming:
    """counts: (n_pe, in_features) entries per PE and column; active: (in_features,) bool,
    True where the input activation is not its zero point."""
    n_pe, in_f = counts.shape
    d = cfg.fifo_depth
    cols = np.flatnonzero(active)
    k_items = cols.shape[0]
    groups = -(-in_f // n_pe)
    per_group = np.bincount(cols // n_pe, minlength=groups)
    empty_before = np.concatenate([[0], np.cumsum(per_group == 0)])  # empty groups before g
    item_group = cols // n_pe
    eb = empty_before[item_group]
    bubbles = np.diff(np.concatenate([[0], eb]))
    trailing = int(empty_before[groups] - (eb[-1] if k_items else 0))

    n = counts[:, cols].T.astype(np.int64)      # (K, n_pe)
    c = np.maximum(n, 1)
    # s[k] = max(b_k + 2, s[k-1] + c[k-1]) and r[k] = max(b_k + 1, s[k-1]) (docs/eie.md,
    # using c >= 1), so only s is kept per item; r is rebuilt where a stall needs it
    s_hist = np.empty((k_items, n_pe), dtype=np.int64)
    b_hist = np.empty(k_items, dtype=np.int64)
    rmax = np.empty(k_items, dtype=np.int64)
    fifo_full = np.zeros(n_pe, dtype=np.int64)
    stalls = 0
    f = np.full(n_pe, NEG, dtype=np.int64)  # s[k-1] + c[k-1]: when each walker is free
    smax_prev = NEG
    b = -1
    for k in range(k_items):
        e = b + 1 + int(bubbles[k])
        b = e
        if k >= d:
            gate = int(rmax[k - d]) + 1
            if gate > e:
                b = gate
                stalls += gate - e
                r_old = np.maximum(b_hist[k - d] + 1, s_hist[k - d - 1]) if k > d else \
                    np.full(n_pe, b_hist[0] + 1)
                fifo_full += np.maximum(r_old + 1 - e, 0)
        b_hist[k] = b
        rmax[k] = max(b + 1, smax_prev)
        s = np.maximum(f, b + 2)
        s_hist[k] = s
        smax_prev = int(s.max())
        f = s + c[k]
    b_last = b + trailing if k_items else trailing - 1
    t_end = b_last + 1
    if k_items:
        has = n > 0
        last_k = k_items - 1 - np.argmax(has[::-1], axis=0)        # last item with entries, per PE
        pe_idx = np.arange(n_pe)
        last_issue = np.where(has.any(axis=0), s_hist[last_k, pe_idx] + n[last_k, pe_idx] - 1, NEG)
        t_end = max(t_end, int(f.max()), int(last_issue.max()) + DRAIN)
    compute = t_end + 1
    rows = -(-out_features // n_pe)
    total = LOAD_SETUP_CYCLES + compute + rows + OUTPUT_LATENCY
    return LayerTiming(total, compute, c.sum(axis=0), n.sum(axis=0), fifo_full, stalls, k_items)


def model_cycles(timings: list[LayerTiming]) -> int:
    """Cycles from start sampled to done asserted for a chain of layers from one start."""
    return 1 + sum(t.cycles for t in timings)
