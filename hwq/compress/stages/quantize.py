"""The quantize stage: each layer's value scheme, with the retraining that scheme calls for.

- ``codebook:B`` (Deep Compression): 1-D k-means on the kept weights (index 0 reserved for the
  zero when the layer is pruned or sparse), then centroid fine-tuning when retraining.
- ``pq:DIM:K`` (Q-CNN): k-means per subspace of DIM inputs. Q-CNN itself does not backpropagate
  into the codebooks; hwq fine-tunes them when retraining (an extension), and trains the layers
  left float at the same time (Q-CNN's own step).
- ``pow2:B`` and ``ternary`` (INQ's procedure; ternary levels by TWN's threshold): the largest-
  magnitude half of the kept weights is snapped to the grid and frozen, the rest retrained,
  then half of the rest, and so on (50 %, 75 %, 87.5 %, 100 %).
- ``int8`` and ``float``: nothing here; int8 is one-shot at the encode stage.

Layers of different schemes retrain together: clustered layers through their codebooks,
incremental layers through their unfrozen weights, the others element-wise.
Returns, per layer, the encoder arguments (hwq/compress/stages/encode.py).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hwq.compress.kmeans import kmeans_1d
from hwq.compress.plan import CLUSTERED, INCREMENTAL, LayerPlan, Plan, codebook_size, pq_subspaces
from hwq.compress.pow2 import default_e_max, pow2_decode, pow2_span, quantize_pow2
from hwq.compress.stages.retrain import retrain
from hwq.compress.stages.state import State
from hwq.compress.ternary import quantize_ternary
from hwq.errors import HwqError

INCREMENTS = (0.5, 0.75, 0.875, 1.0)  # INQ's accumulated quantized fractions


def reserves_zero(lp: LayerPlan, keep: np.ndarray) -> bool:
    """A codebook needs index 0 = 0 when fillers or pruned zeros must decode to 0."""
    return lp.sparse in ("csc", "csr") or not keep.all()


def quantize(plan: Plan, model, st: State, data, log) -> dict[str, dict]:
    specs: dict[str, dict] = {}
    params: dict = {}  # clustered layers: their codebook parameterization
    for lp in plan.with_scheme(*CLUSTERED):
        if log is not None:  # clustering a large layer takes long: say what runs
            what = f"M = {lp.inputs // lp.scheme.dim} subspaces" if lp.scheme.kind == "pq" else \
                f"{int(st.masks[lp.name].sum())} kept weights"
            log(f"quantize {lp.scheme} {lp.name}: k-means on {what}")
        params[lp.name] = (_cluster if lp.scheme.kind == "codebook" else _pq)(lp, st, plan.seed)
        st.weights[lp.name] = params[lp.name].value().copy()
    frozen = {n: np.zeros(w.shape, bool) for n, w in st.weights.items()}
    incremental = plan.with_scheme(*INCREMENTAL)
    if incremental:
        snaps = {lp.name: _snapper(lp, st, specs) for lp in incremental}
        _incremental(plan, model, st, data, log, snaps, frozen, params)
    if params:
        kept = retrain(plan, model, st, data, _trainable(st, frozen, params), plan.retrain_epochs, log,
                       "retrain codebooks", select_best=True)
        params.update({n: kept[n] for n in params})
    for lp in plan:
        p = params.get(lp.name)
        if lp.scheme.kind == "codebook":
            specs[lp.name] = {"values": "codebook", "centroids": p.centroids, "labels": p.indices,
                              "bits": lp.scheme.bits, "value_bits": lp.value_bits}
        elif lp.scheme.kind == "pq":
            specs[lp.name] = {"values": "pq", "centroids": p.codebook, "labels": p.assignments,
                              "bits": max(1, int(np.ceil(np.log2(p.codebook.shape[1])))),
                              "value_bits": lp.value_bits}
        elif lp.scheme.kind == "int8":
            specs[lp.name] = {"values": "int8", "per_channel": True}
        elif lp.scheme.kind == "float":
            specs[lp.name] = {"values": "float32"}
    return specs


def _trainable(st: State, frozen: dict, params: dict) -> dict:
    from hwq.train.params import FreeWeight

    return {n: params[n] if n in params else FreeWeight(st.weights[n], trainable=st.masks[n] & ~frozen[n])
            for n in st.weights}


def _cluster(lp: LayerPlan, st: State, seed: int):
    """Deep Compression's weight sharing: k-means on the kept weights of one layer."""
    from hwq.train.params import SharedWeight

    w, keep = st.weights[lp.name], st.masks[lp.name]
    k = codebook_size(lp, reserves_zero(lp, keep))
    if k < 1:
        raise HwqError(f"--scheme {lp.scheme} ({lp.name}): a sparse codebook needs 2^bits - 1 >= 1 values")
    if keep.any():
        centroids, labels = kmeans_1d(w[keep], k, init=lp.init, seed=seed)
    else:  # everything pruned: a one-entry codebook that nothing uses
        centroids, labels = np.zeros(1), np.zeros(0, np.int64)
    idx = np.full(w.shape, -1, np.int64)
    idx[keep] = labels
    return SharedWeight(idx, centroids)


def _pq(lp: LayerPlan, st: State, seed: int):
    """Q-CNN product quantization with M = inputs / DIM subspaces of K sub-codewords."""
    from hwq.compress.pq import product_quantize
    from hwq.train.params import PQWeight

    w = st.weights[lp.name]
    codebook, assignments = product_quantize(w, pq_subspaces(lp), lp.scheme.k, seed=seed)
    return PQWeight(codebook, assignments, w.shape)


def _snapper(lp: LayerPlan, st: State, specs: dict) -> Callable[[np.ndarray], np.ndarray]:
    """The grid function of an incremental layer (fixed before the rounds start); its encoder spec."""
    w, keep = st.weights[lp.name], st.masks[lp.name]
    if lp.scheme.kind == "pow2":
        bits, e_max = lp.scheme.bits, default_e_max(float(np.abs(w).max(initial=0.0)))
        specs[lp.name] = {"values": "pow2", "bits": bits, "e_min": e_max - pow2_span(bits)}

        def snap(v):
            codes, e_min = quantize_pow2(v, bits, e_max)
            return pow2_decode(codes, bits, e_min)
        return snap
    _, s_pos, s_neg = quantize_ternary(w, mask=keep)
    # final weights sit exactly on {-s_n, 0, s_p}: encode with a zero threshold to keep them
    specs[lp.name] = {"values": "ternary", "delta_ratio": 0.0, "mask_nonzero": True}
    return lambda v: _ternary_values(v, (s_pos, s_neg), keep)


def _ternary_values(w, levels, keep):
    """Nearest of {-s_n, 0, +s_p} per weight (fixed levels, so frozen weights never move)."""
    s_pos, s_neg = levels
    cand = np.stack([np.zeros_like(w), np.full_like(w, s_pos), np.full_like(w, -s_neg)])
    pick = np.abs(cand - w[None]).argmin(axis=0)
    return np.where(keep, np.choose(pick, cand), 0.0)


def _incremental(plan: Plan, model, st: State, data, log, snap: dict, frozen: dict, params: dict) -> None:
    """INQ: freeze growing fractions of the weights on grid (largest |w| first), retrain the rest."""
    steps = INCREMENTS if plan.retrains else (1.0,)
    for i, frac in enumerate(steps, start=1):
        for name in snap:
            w, keep = st.weights[name], st.masks[name]
            free = keep & ~frozen[name]
            n_total, n_frozen = int(keep.sum()), int(frozen[name].sum())
            n_new = int(round(frac * n_total)) - n_frozen
            if n_new > 0:
                order = np.argsort(-np.abs(np.where(free, w, 0.0)).ravel(), kind="stable")[:n_new]
                frozen[name].ravel()[order] = True
            q = snap[name](w)
            st.weights[name] = np.where(frozen[name], q, np.where(keep, w, 0.0))
        if frac < 1.0:
            kept = retrain(plan, model, st, data, _trainable(st, frozen, params), max(1, plan.retrain_epochs // 2),
                           log, f"incremental round {i}/{len(steps) - 1} ({frac:.1%} on grid)")
            params.update({n: kept[n] for n in params})
