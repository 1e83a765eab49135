"""MLQ (seed 003, Algorithm 2): multi-level ternary quantization with incremental layer
compensation; and TTQ-style trained ternary scales (``--method ttq``).

MLQ. Every layer is clustered into 3 clusters a < b < c by k-means, the middle one (the
Heart) pinned at 0 so the result is ternary {a, 0, c}; a and c are the Boundaries. Then

1. the Boundaries are quantized layer group by layer group (ILC, eq. 7): the remaining layers
   are scored by their quantization loss (network loss increase when only that layer's
   boundary clusters are snapped, ``scores.LossProbe``), the group with the largest loss
   (``--partition`` sizes, default one layer per step) is snapped and frozen, and every other
   weight of the network is retrained; the still-free layers are re-clustered each step;
2. the Hearts likewise: a layer's remaining free weights go to the nearest of its {a, 0, c}
   (a weight retrained far from 0 joins a boundary rather than being forced to 0 -- our
   reading; the paper only says the Hearts are quantized), frozen, the rest retrained.

``--partition N`` with N = the number of layers quantizes all layers at once (no ILC).
Output: ``TernaryValues`` per layer (2-bit codes, per-sign magnitudes).

TTQ: ``hwq.train.params.TTQWeight`` trained for ``--retrain-epochs`` from the float model
(threshold 0.05 max|w|, TTQ's value), scales learned. ``--only`` restricts either method to
some layers (TTQ keeps the first and last layers float).
"""

from __future__ import annotations

import numpy as np

from hwq.compress.encode import encode_weight
from hwq.compress.methods.result import MethodResult
from hwq.compress.methods.scores import LossProbe
from hwq.compress.methods.slq import lloyd, masked_retrain
from hwq.errors import HwqError
from hwq.ir.rewrite import with_float_weights, with_weights

TTQ_THRESHOLD = 0.05


def _layers(model, p) -> list[str]:
    from hwq.compress.methods.options import chosen_layers

    return chosen_layers(model, p)


def _three(xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = (float(xs.min()), float(xs.max())) if xs.size else (-1.0, 1.0)
    c, lab, _ = lloyd(xs, np.array([min(lo, -1e-12), 0.0, max(hi, 1e-12)]), pin_zero=True)
    return c, lab


def _groups(p, n: int) -> list[int]:
    if p.partition is None:
        return [1] * n
    try:
        sizes = [int(v) for v in p.partition.split(",")]
    except ValueError:
        raise HwqError(f"--partition {p.partition!r}: expected layer-group sizes like 2,1,1") from None
    if any(s < 1 for s in sizes) or sum(sizes) != n:
        raise HwqError(f"--partition {p.partition}: sizes must be >= 1 and add up to the {n} layers")
    return sizes


def _mlq(model, data, p, log, names, weights, biases):
    if data is None:
        raise HwqError("--method mlq needs a data set for its layer scores and retraining (--data digits)")
    idx = np.random.default_rng(p.seed).permutation(len(data.x_train))[:p.score_samples]
    probe = LossProbe(model, data.x_train[idx], data.y_train[idx], biases)
    all_names = list(weights)
    frozen = {n: np.zeros(w.shape, bool) for n, w in weights.items()}
    levels = {}
    order = []
    for phase in ("boundaries", "hearts"):
        remaining = list(names)
        for size in _groups(p, len(names)):
            base = probe.loss(weights)
            snaps, eq = {}, {}
            for n in remaining:
                w, free = weights[n], ~frozen[n]
                xs = w[free]
                if phase == "boundaries":
                    c, lab = _three(xs)
                    levels[n] = (float(c[0]), float(c[2]))
                    take = lab != 1
                    vals = c[lab]
                else:
                    cand = np.array([levels[n][0], 0.0, levels[n][1]])
                    take = np.ones(xs.size, bool)
                    vals = cand[np.abs(xs[:, None] - cand[None, :]).argmin(1)]
                snapped = w.copy()
                snapped[free] = np.where(take, vals, xs)
                newly = np.zeros(w.shape, bool)
                newly[free] = take
                snaps[n] = (snapped, newly)
                eq[n] = probe.increase(weights, n, snapped, base)
            chosen = sorted(remaining, key=lambda n: -eq[n])[:size]  # larger loss first (L_q)
            for n in chosen:
                weights[n], newly = snaps[n]
                frozen[n] |= newly
                remaining.remove(n)
            order.append({"phase": phase, "layers": chosen, "eq": {n: float(v) for n, v in eq.items()}})
            if any(not frozen[n].all() for n in all_names):
                masked_retrain(model, weights, biases, data, {n: ~frozen[n] for n in all_names}, p, log)
    return levels, order


def _ttq(model, data, p, log, names, weights, biases):
    from hwq.train.params import TTQWeight
    from hwq.train.sgd import train

    if data is None or not p.retrain_epochs:
        raise HwqError("--method ttq trains its scales: give --data and --retrain-epochs")
    params = {n: TTQWeight(weights[n], TTQ_THRESHOLD) for n in names}
    res = train(with_float_weights(model, weights, biases), data.x_train, data.y_train,
                epochs=p.retrain_epochs, lr=p.lr, seed=p.seed, params=params, log=log)
    for n, prm in res.params.items():
        weights[n] = np.asarray(prm.value(), np.float64).copy()
    biases.update({n: b.copy() for n, b in res.biases.items()})
    return {n: (-float(params[n].scales[1]), float(params[n].scales[0])) for n in names}, []


def compress(model, data, p, log=None) -> MethodResult:
    names = _layers(model, p)
    weights = {l.name: l.weight.dense_float() for l in model.weighted()}
    biases = {l.name: None if l.bias is None else l.bias.astype(np.float64) for l in model.weighted()}
    run = _ttq if p.method == "ttq" else _mlq
    levels, order = run(model, data, p, log, names, weights, biases)
    encoded = {}
    report = [f"{'layer':8}{'-s_n':>10}{'+s_p':>10}{'zeros':>8}"]
    for l in model.weighted():
        n = l.name
        if n in levels:
            encoded[n] = encode_weight(weights[n], values="ternary", delta_ratio=0.0)
            report.append(f"{n:8}{levels[n][0]:>10.4g}{levels[n][1]:>10.4g}{(weights[n] == 0).mean():>8.1%}")
        else:
            encoded[n] = encode_weight(weights[n], values="float32")
    for step in order:
        losses = ", ".join(f"{step['eq'][n]:.3g}" for n in step["layers"])
        report.append(f"  {step['phase']}: {', '.join(step['layers'])} (loss increase {losses})")
    prov = {"layers": names, "levels": {n: list(v) for n, v in levels.items()}, "ilc": order,
            "retrain_epochs": p.retrain_epochs}
    if p.method == "ttq":
        prov["threshold"] = TTQ_THRESHOLD
    return MethodResult(with_weights(model, encoded, biases), report, prov)
