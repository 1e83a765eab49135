"""The weight mode a model's weights call for (docs/eie.md, "Weight modes"): ternary when every
dense layer has at most one positive and one negative weight value, else pow2 when every weight
is a power of two, else codebook. One rule for ``hwq gen-rtl``, ``hwq simulate`` and the sweep."""

from __future__ import annotations

from hwq.eie.config import EieConfig
from hwq.eie.mapping import pow2_codes, ternary_table
from hwq.errors import HwqError
from hwq.ir.layers import Dense


def _all_fit(model, fits, layer: str | None) -> bool:
    """Does ``fits(w_int of a dense layer)`` hold (no HwqError) for every integer dense layer
    (only ``layer`` when given)?"""
    for lay in model.weighted():
        if layer is not None and lay.name != layer:
            continue
        if not isinstance(lay, Dense) or lay.weight is None or not lay.weight.is_integer:
            continue
        try:
            fits(lay.weight.values.int_values() if lay.weight.values.ELEMENTWISE
                 else lay.weight.dense_int().reshape(-1))
        except HwqError:
            return False
    return True


def auto_weight_mode(model, cfg: EieConfig, layer: str | None = None) -> str:
    """The weight mode for ``model`` (or its one ``layer``) on ``cfg``'s widths."""
    if model is None:
        return "codebook"
    tern = cfg.replace(weight_mode="ternary", value_bits=24)
    if _all_fit(model, lambda w: ternary_table(w, tern, ""), layer):
        return "ternary"
    if _all_fit(model, lambda w: pow2_codes(w, cfg.replace(weight_mode="pow2", weight_bits=7), ""), layer):
        return "pow2"
    return "codebook"


def with_auto_weight_mode(model, cfg: EieConfig, layer: str | None = None) -> EieConfig:
    """``cfg`` with ``auto_weight_mode``'s mode (``EieConfig.replace`` sets ternary's 2-bit codes)."""
    return cfg.replace(weight_mode=auto_weight_mode(model, cfg, layer))
