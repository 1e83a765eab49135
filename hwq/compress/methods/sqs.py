"""SQS (seed 004): per-layer sparsity and bit-width chosen jointly under a budget, applied in
one training run.

The seed's method text is unreadable (only its abstract, tables and figure labels survive),
so this design follows the abstract -- "adaptive layer-wise sparsity and bit-width",
"joint compression training" -- and is ours in every detail:

1. **Sensitivity.** For every layer l and candidate (s, b) -- s in SPARSITIES, b in BITS -- the
   loss increase when only layer l is magnitude-pruned to s and its kept weights quantized to
   b bits (``scores.LossProbe``, ``--score-samples`` training images).
2. **Allocation.** Minimise the summed loss increases subject to the SQS size
   sum_l n_l (1 - s_l) b_l <= 32 N / target: a Lagrangian search (each layer takes
   argmin dL + lambda x bits; lambda by bisection), the cheapest feasible point kept.
   ``--max-accuracy-drop D`` instead walks up a ladder of targets (x1.25 each) while the
   one-shot accuracy on a held-out part of the training set stays within D points, and
   compresses at the last target that did (the drop is then checked after training).
3. **Joint training** (``--retrain-epochs``): one run in which every step prunes each layer
   by magnitude to its sparsity on the cubic schedule s_l(t) = s_l (1 - (1 - t/T)^3) and
   quantizes the kept weights to b_l bits (symmetric uniform, step max|w| / (2^(b-1) - 1)),
   straight-through to the latent float weights: sparsity and quantization in the same run.

Output: sparse CSC codebook weights (the b_l-bit levels, index 0 = zero), so hwq's rate counts
indices too. Reported beside it: SQS's ratio 32 / ((1 - sparsity) x average bits).
"""

from __future__ import annotations

import math

import numpy as np

from hwq.compress.encode import encode_weight
from hwq.compress.methods.options import value_bits
from hwq.compress.plan import DEFAULT_INDEX_BITS, for_layer
from hwq.compress.methods.accounting import sqs_ratio
from hwq.compress.methods.result import MethodResult
from hwq.compress.methods.scores import LossProbe
from hwq.errors import HwqError
from hwq.ir.layers import Conv2d
from hwq.ir.rewrite import with_float_weights, with_weights
from hwq.ir.storage import compression_rate, layer_storage

SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98)
BITS = (2, 3, 4, 5, 6, 8)
LADDER = 1.25
HELD_OUT = 0.2  # fraction of the training set kept out for --max-accuracy-drop


def magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep the n - floor(s n) largest |w| (stable order, like hwq.compress.prune.prune_rate)."""
    flat = np.abs(w).ravel()
    keep = np.ones(flat.size, bool)
    keep[np.argsort(flat, kind="stable")[:int(math.floor(sparsity * flat.size))]] = False
    return keep.reshape(w.shape)


def uniform(w: np.ndarray, keep: np.ndarray, bits: int) -> np.ndarray:
    """Kept weights on the symmetric b-bit grid (2^b - 1 levels incl. 0), pruned ones 0."""
    lim = (1 << (bits - 1)) - 1
    top = float(np.abs(w[keep]).max(initial=0.0))
    if top == 0:
        return np.zeros_like(w)
    step = top / lim
    return np.where(keep, np.clip(np.round(w / step), -lim, lim) * step, 0.0)


class JointWeight:
    """Latent float weights; forward = prune to s(t) on the cubic schedule, then b-bit quantize."""

    def __init__(self, w: np.ndarray, sparsity: float, bits: int, total_steps: int):
        from hwq.train.params import FreeWeight

        self.latent = FreeWeight(w)
        self.sparsity, self.bits, self.total, self.t = sparsity, bits, max(1, total_steps), 0

    def current_sparsity(self) -> float:
        frac = min(1.0, self.t / self.total)
        return self.sparsity * (1.0 - (1.0 - frac) ** 3)

    def value(self) -> np.ndarray:
        w = self.latent.w
        return uniform(w, magnitude_mask(w, self.current_sparsity()), self.bits)

    def step(self, grad, lr, momentum=0.0, weight_decay=0.0) -> None:
        self.latent.step(grad, lr, momentum, weight_decay)  # straight through
        self.t += 1


def _allocate(cost: dict, sizes: dict, budget: float):
    """Per layer the (s, b) minimising sum cost under sum n (1 - s) b <= budget (Lagrangian)."""
    names = list(cost)

    def pick(lam):
        out = {}
        for n in names:
            out[n] = min(cost[n], key=lambda sb: cost[n][sb] + lam * sizes[n] * (1 - sb[0]) * sb[1])
        return out

    def bits_of(sel):
        return sum(sizes[n] * (1 - s) * b for n, (s, b) in sel.items())

    lo, hi = 0.0, 1.0
    while bits_of(pick(hi)) > budget and hi < 1e12:
        hi *= 4
    best = pick(hi)
    if bits_of(best) > budget:
        return None
    for _ in range(60):
        mid = (lo + hi) / 2
        sel = pick(mid)
        if bits_of(sel) <= budget:
            hi, best = mid, sel
        else:
            lo = mid
    return best


def _accuracy(model, weights, biases, x, y):
    from hwq.golden.run import run_float

    m = with_float_weights(model, weights, biases)
    out = run_float(m, x.reshape((len(x),) + tuple(m.inputs[0].shape)))[m.outputs[0]]
    return float((out.argmax(1) == y).mean())


def compress(model, data, p, log=None) -> MethodResult:
    if (p.target_ratio is None) == (p.max_accuracy_drop is None):
        raise HwqError("--method sqs needs exactly one budget: --target-ratio R or --max-accuracy-drop D")
    if data is None:
        raise HwqError("--method sqs needs a data set for its sensitivities and training (--data digits)")
    names = [l.name for l in model.weighted()]
    weights = {l.name: l.weight.dense_float() for l in model.weighted()}
    biases = {l.name: None if l.bias is None else l.bias.astype(np.float64) for l in model.weighted()}
    sizes = {n: w.size for n, w in weights.items()}
    total = sum(sizes.values())
    rng = np.random.default_rng(p.seed)
    perm = rng.permutation(len(data.x_train))
    n_hold = int(len(perm) * HELD_OUT) if p.max_accuracy_drop is not None else 0
    hold, train_idx = perm[:n_hold], perm[n_hold:]
    score = train_idx[:p.score_samples]
    max_ratio = 32.0 * total / sum(sizes[n] * (1 - max(SPARSITIES)) * min(BITS) for n in names)
    if p.target_ratio is not None and p.target_ratio > max_ratio:
        raise HwqError(f"--target-ratio {p.target_ratio:g}: unreachable; the most this search can reach "
                       f"is {max_ratio:.1f}x (sparsity {max(SPARSITIES)}, {min(BITS)} bits everywhere)")
    probe = LossProbe(model, data.x_train[score], data.y_train[score], biases)
    base = probe.loss(weights)
    cost = {n: {} for n in names}
    for n in names:
        for s in SPARSITIES:
            keep = magnitude_mask(weights[n], s)
            for b in BITS:
                cost[n][(s, b)] = probe.increase(weights, n, uniform(weights[n], keep, b), base)

    def select(target):
        return _allocate(cost, sizes, 32.0 * total / target)

    if p.target_ratio is not None:
        target, sel = p.target_ratio, select(p.target_ratio)
    else:
        x_h, y_h = data.x_train[hold], data.y_train[hold]
        ref = _accuracy(model, weights, biases, x_h, y_h)
        target, sel, t = None, None, 4.0
        while t <= max_ratio:
            cand = select(t)
            q = {n: uniform(weights[n], magnitude_mask(weights[n], cand[n][0]), cand[n][1]) for n in names}
            if 100 * (ref - _accuracy(model, q, biases, x_h, y_h)) > p.max_accuracy_drop:
                break
            target, sel, t = t, cand, t * LADDER
        if sel is None:
            raise HwqError(f"--max-accuracy-drop {p.max_accuracy_drop}: unreachable even at 4x "
                           "(one-shot on the held-out split)")
    x_tr, y_tr = data.x_train[train_idx], data.y_train[train_idx]
    if p.retrain_epochs:
        from hwq.train.sgd import train

        steps = p.retrain_epochs * math.ceil(len(x_tr) / 64)
        params = {n: JointWeight(weights[n], *sel[n], steps) for n in names}
        res = train(with_float_weights(model, weights, biases), x_tr, y_tr, epochs=p.retrain_epochs,
                    lr=p.lr, seed=p.seed, params=params, log=log)
        for n in names:
            params[n].t = params[n].total  # the final, full-sparsity weights
            weights[n] = params[n].value()
        biases.update({n: b.copy() for n, b in res.biases.items()})
    else:
        weights = {n: uniform(weights[n], magnitude_mask(weights[n], sel[n][0]), sel[n][1]) for n in names}
    encoded = {}
    kinds = {l.name: "conv" if isinstance(l, Conv2d) else "dense" for l in model.weighted()}
    for n in names:
        keep = weights[n] != 0  # kept weights that quantized to 0 are zeros like the pruned ones
        levels = np.unique(weights[n][keep])
        encoded[n] = encode_weight(weights[n], values="codebook", mask=keep, sparse="csc",
                                   index_bits=for_layer(p.index_bits, n, DEFAULT_INDEX_BITS[kinds[n]]),
                                   value_bits=value_bits(p, n), centroids=levels, bits=sel[n][1])
    out = with_weights(model, encoded, biases)
    kept = sum(sizes[n] * (1 - sel[n][0]) for n in names)
    avg_bits = sum(sizes[n] * (1 - sel[n][0]) * sel[n][1] for n in names) / kept
    sparsity = 1 - kept / total
    ratio = sqs_ratio(sparsity, avg_bits)
    report = [f"{'layer':8}{'weights':>9}{'sparsity':>10}{'bits':>6}{'SQS ratio':>11}{'hwq rate':>10}"]
    for l in out.weighted():
        s, b = sel[l.name]
        report.append(f"{l.name:8}{sizes[l.name]:>9}{s:>10.0%}{b:>6}{sqs_ratio(s, b):>10.1f}x"
                      f"{1 / compression_rate(layer_storage(l)):>9.1f}x")
    report.append(f"SQS ratio 32 / ((1 - {sparsity:.3f}) x {avg_bits:.2f} bits) = {ratio:.1f}x "
                  f"(target {target:g}x); indices, codebooks and biases are in hwq's rate, not in SQS's")
    prov = {"target_ratio": target, "max_accuracy_drop": p.max_accuracy_drop,
            "layers": {n: {"sparsity": sel[n][0], "bits": sel[n][1]} for n in names},
            "sqs_ratio": round(ratio, 4), "sparsity": round(sparsity, 6), "avg_bits": round(avg_bits, 4),
            "retrain_epochs": p.retrain_epochs}
    return MethodResult(out, report, prov)
