"""Which kernel method runs a weighted layer's weights in their packed form (docs/gen-c.md,
"Kernels"): the one rule ``hwq.codegen.packing.pack`` packs the weights for and
``hwq.cost.arm`` estimates. The code-grouped repacking comes after it (``hwq.kernels.grouped``
``choose_grouped``, shared as well)."""

from __future__ import annotations

import numpy as np

from hwq.ir.layers import WeightedLayer
from hwq.ir.values import CodebookValues, Pow2Values, TernaryValues


def pairs_ok(layer: WeightedLayer) -> bool:
    """Dense 4-bit codebook weights that the DSP pair-table kernel can run: an even row length
    (rows start on a byte) and centroids that fit int16 (SMLAD's halves)."""
    w = layer.weight
    v = w.values
    return (w.sparse is None and isinstance(v, CodebookValues) and v.bits == 4 and w.matrix_shape[1] % 2 == 0
            and int(np.abs(v.codebook.astype(np.int64)).max(initial=0)) < (1 << 15))


def shifts_ok(layer: WeightedLayer) -> bool:
    """Dense 4-bit pow2 weights with an even row length: the per-lane shift kernels (MVE, NEON;
    kernels/pow2_shifts.c.j2) on int16 lanes, where x << 6 fits for 8-bit activations."""
    w = layer.weight
    v = w.values
    return w.sparse is None and isinstance(v, Pow2Values) and v.bits == 4 and w.matrix_shape[1] % 2 == 0


def code_bits(values) -> int:
    """Width of one packed weight code (int8 8, codebook its index bits, pow2 its bits, ternary 2)."""
    if isinstance(values, CodebookValues):
        return max(1, values.bits)
    if isinstance(values, Pow2Values):
        return values.bits
    if isinstance(values, TernaryValues):
        return 2
    return 8


def kernel_method(layer: WeightedLayer, *, cheap_mla: bool = False, dsp: bool = False,
                  shifts: bool = False, planes: bool = False) -> str:
    """``plain``, ``bucket`` (sums per code, then K multiplies or shifts), ``table`` (CSC: K
    products or shifts per activation), ``pairs``, ``shifts`` or ``planes``.

    ``cheap_mla``: a multiply-accumulate is one instruction with byte entries (the Thumb-2 loops
    of Cortex-M), so the plain codebook lookup beats the per-centroid sums; ``dsp``: SMLAD
    (Cortex-M4/M55), dense 4-bit codebooks run from a table of value pairs; ``shifts``: the
    target has the per-lane shift kernel for dense 4-bit pow2 (MVE, AArch64 NEON); ``planes``:
    dense ternary as lane masks for MVE's predicated adds."""
    w = layer.weight
    v = w.values
    if not isinstance(v, (CodebookValues, Pow2Values, TernaryValues)):
        return "plain"  # int8 (the CMSIS-NN layout) and pq (its sub-codeword tables)
    rows, cols = w.matrix_shape
    cb = code_bits(v)
    if w.sparse is None:
        layout, per_major, field_bits = "dense", float(cols), cb
    else:
        layout = w.sparse.format
        per_major = w.stored / max(1, cols if layout == "csc" else rows)
        field_bits = w.sparse.index_bits + cb
    if isinstance(v, CodebookValues):
        if dsp and pairs_ok(layer):
            return "pairs"
        k = int(v.codebook.shape[0])
        if layout == "csc":  # per column: a table of K products, then adds
            return "table" if per_major >= k / 2 else "plain"
        # per row: sum the activations per centroid, then K multiplies
        return "bucket" if per_major >= 2 * k and not (cheap_mla and field_bits == 8) else "plain"
    if isinstance(v, Pow2Values):
        n = 1 << v.bits
        if layout == "csc":  # per column: the signed shifts of the activation, then adds
            return "table" if per_major >= n / 2 else "plain"
        if shifts and shifts_ok(layer):
            return "shifts"
        return "bucket" if per_major >= 2 * n else "plain"
    if layout == "csc":
        return "table"
    return "planes" if planes and layout == "dense" else "bucket"
