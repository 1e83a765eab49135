"""``estimate_layer``: the cycle model's report for one dense layer and one input vector."""

from __future__ import annotations

import numpy as np

from hwq.errors import HwqError
from hwq.eie.config import EieConfig
from hwq.eie.cycle_model import layer_timing
from hwq.eie.mapping import pe_order
from hwq.ir.layers import Dense


def estimate_layer(layer, x_int, cfg: EieConfig | None = None, zero_point: int = 0) -> dict:
    """Exact counts of the accelerator (docs/eie.md) for dense ``layer`` on input ``x_int``
    (integers, shape (in_features,)); ``zero_point`` is the input's (skipped values)."""
    cfg = cfg or EieConfig()
    if not isinstance(layer, Dense):
        raise HwqError(f"{layer.name}: the eie accelerator runs dense layers only, not {layer.KIND}")
    if layer.weight is None or not layer.weight.is_integer:
        raise HwqError(f"{layer.name}: needs integer weights (quantize the model first)")
    x = np.asarray(x_int).reshape(-1)
    if x.shape[0] != layer.in_features:
        raise HwqError(f"{layer.name}: input has {x.shape[0]} values, the layer takes {layer.in_features}")
    order = pe_order(layer.weight, cfg, with_values=False)
    counts = order.counts()
    active = x != zero_point
    t = layer_timing(counts, active, layer.out_features, cfg)
    macs = int(order.nnz_per_column()[active].sum())
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
    }
