"""``estimate_layer``: the cycle model's report for one dense layer and one input vector."""

from __future__ import annotations

import numpy as np

from hwq.errors import HwqError
from hwq.eie.config import EieConfig
from hwq.eie.cycle_model import layer_timing
from hwq.eie.mapping import pe_order
from hwq.ir.layers import Dense


def estimate_layer(layer, x_int, cfg: EieConfig | None = None, zero_point: int = 0,
                   col_perm: np.ndarray | None = None) -> dict:
    """Exact counts of the accelerator (docs/eie.md) for dense ``layer`` on input ``x_int``
    (integers, shape (in_features,), logical order); ``zero_point`` is the input's (skipped
    values); ``col_perm``: the previous layer's ``row_perm`` under ``cfg.row_map`` (None: the
    input is the model's, or the map is the identity). The result's ``row_perm`` is this
    layer's, for the next one."""
    cfg = cfg or EieConfig()
    if not isinstance(layer, Dense):
        raise HwqError(f"{layer.name}: the eie accelerator runs dense layers only, not {layer.KIND}")
    if layer.weight is None or not layer.weight.is_integer:
        raise HwqError(f"{layer.name}: needs integer weights (quantize the model first)")
    x = np.asarray(x_int).reshape(-1)
    if x.shape[0] != layer.in_features:
        raise HwqError(f"{layer.name}: input has {x.shape[0]} values, the layer takes {layer.in_features}")
    order = pe_order(layer.weight, cfg, with_values=False, col_perm=col_perm)
    counts = order.counts()
    logical = x != zero_point
    active = logical
    if col_perm is not None:  # input i sits at physical index col_perm[i]
        active = np.zeros_like(logical)
        active[np.asarray(col_perm)] = logical
    t = layer_timing(counts, active, layer.out_features, cfg)
    macs = int(order.nnz_per_column()[active].sum())  # columns by physical index
    return {
        "cycles": t.cycles,
        "compute_cycles": t.compute_cycles,
        "pe_busy": t.busy.tolist(),
        "pe_idle": (t.cycles - t.busy).tolist(),
        "pe_entries": t.entries.tolist(),
        "pe_fifo_full": t.fifo_full.tolist(),
        "fifo_full_stalls": int(t.fifo_full.sum()),
        "broadcast_stalls": t.broadcast_stalls,
        "nonzero_activations": t.items,
        "entries_processed": int(t.entries.sum()),
        "ideal_cycles": t.ideal_cycles,
        "load_efficiency": t.ideal_cycles / t.cycles,
        "macs_effective": macs,
        "seconds": t.cycles / (cfg.clock_mhz * 1e6),
        "row_perm": order.row_perm,
    }
