"""The encode stage: every layer's float weights and encoder arguments -> ``ir.Weight``, laid out.

Layout per layer (``--sparse``): ``none`` dense; ``csc``/``csr`` that layout; ``auto`` dense when
nothing was pruned, else whichever of CSC and dense stores fewer bits (a barely pruned layer
with wide relative indices is smaller dense, its zeros stored as zero codes).
"""

from __future__ import annotations

import numpy as np

from hwq.compress.encode import encode_weight
from hwq.compress.plan import LayerPlan, Plan
from hwq.compress.stages.state import State
from hwq.ir.model import Model
from hwq.ir.rewrite import with_weights
from hwq.ir.weight import Weight


def encode(plan: Plan, model: Model, st: State, specs: dict[str, dict]) -> Model:
    encoded = {lp.name: _encode_layer(plan, lp, st, dict(specs[lp.name])) for lp in plan}
    return with_weights(model, encoded, st.biases)


def _weight_bits(weight: Weight) -> int:
    v, sp = weight.values, weight.sparse
    bits = weight.stored * v.payload_bits() + int(v.table_bits())
    if sp is not None:
        bits += sp.stored * sp.index_bits + int(sp.ptr.shape[0]) * sp.pointer_bits
    return bits


def _encode_layer(plan: Plan, lp: LayerPlan, st: State, spec: dict) -> Weight:
    w, keep = st.weights[lp.name], st.masks[lp.name]
    values = spec.pop("values")
    mask_nonzero = spec.pop("mask_nonzero", False)
    if values == "codebook":
        spec["labels"] = np.where(spec["labels"] >= 0, spec["labels"], 0)

    def build(sparse: str | None) -> Weight:
        mask = None if sparse is None and keep.all() else keep
        if mask_nonzero:  # ternary zeros inside the kept set are zeros too
            mask = keep & (w != 0)
        return encode_weight(w, mask=mask, values=values, sparse=sparse, index_bits=lp.index_bits,
                             seed=plan.seed, **spec)

    if lp.sparse == "none" or values == "pq":
        return build(None)
    if lp.sparse in ("csc", "csr"):
        return build(lp.sparse)
    if keep.all():  # auto, nothing pruned
        return build(None)
    sparse, dense = build("csc"), build(None)
    return dense if _weight_bits(dense) < _weight_bits(sparse) else sparse
