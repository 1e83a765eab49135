"""A slow, per-cycle reference of the accelerator's timing (docs/eie.md), written from the
block descriptions register by register, independently of the fast recurrence in
hwq/eie/cycle_model.py. Tests only: it loops over every cycle."""

from __future__ import annotations

from collections import deque

import numpy as np

from hwq.eie.cycle_model import LOAD_SETUP_CYCLES, OUTPUT_LATENCY


def slow_layer(counts: np.ndarray, active: np.ndarray, out_features: int, fifo_depth: int) -> dict:
    n_pe, in_f = counts.shape
    groups = -(-in_f // n_pe)
    g, fresh, mask = 0, True, 0
    fifos = [deque() for _ in range(n_pe)]
    slot = [None] * n_pe          # column j held by PtrRead
    remaining = [0] * n_pe        # walker: entries left of its current column
    stage_a = [False] * n_pe
    stage_b = [False] * n_pe
    busy = [0] * n_pe
    entries = [0] * n_pe
    fifo_full = [0] * n_pe
    stalls = 0
    t = 0
    while True:
        done = g >= groups
        if (done and all(not f for f in fifos) and all(s is None for s in slot)
                and not any(remaining) and not any(stage_a) and not any(stage_b)):
            break
        # broadcaster
        push = None
        advance = False
        if not done:
            if fresh:
                mask = sum(1 << ln for ln in range(n_pe)
                           if g * n_pe + ln < in_f and active[g * n_pe + ln])
            if mask == 0:
                advance = True
            else:
                lane = (mask & -mask).bit_length() - 1
                if all(len(f) < fifo_depth for f in fifos):
                    push = g * n_pe + lane
                    mask &= ~(1 << lane)
                    fresh = False
                    advance = mask == 0
                else:
                    stalls += 1
                    for p in range(n_pe):
                        fifo_full[p] += len(fifos[p]) == fifo_depth
        # PEs (from the state at the start of the cycle)
        for p in range(n_pe):
            issue = False
            take = False
            if remaining[p]:
                issue = True
                remaining[p] -= 1
                busy[p] += 1
            elif slot[p] is not None:
                take = True
                n = int(counts[p, slot[p]])
                busy[p] += 1
                if n:
                    issue = True
                    remaining[p] = n - 1
            if issue:
                entries[p] += 1
            if fifos[p] and (slot[p] is None or take):
                slot[p] = fifos[p].popleft()
            elif take:
                slot[p] = None
            stage_b[p] = stage_a[p]
            stage_a[p] = issue
        if push is not None:
            for f in fifos:
                f.append(push)
        if advance:
            g += 1
            fresh = True
        t += 1
    rows = -(-out_features // n_pe)
    return {"cycles": LOAD_SETUP_CYCLES + t + 1 + rows + OUTPUT_LATENCY, "busy": busy,
            "entries": entries, "fifo_full": fifo_full, "stalls": stalls}
