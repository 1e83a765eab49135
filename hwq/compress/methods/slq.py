"""SLQ and ESLQ (seed 003, Xu et al. AAAI 2018): single-level network quantization.

b bits = one bit for zero + (b - 1) bits for the non-zero centroids: K = 2^(b-1) + 1 centroids
per layer, one of them exactly 0 (our reading of "one bit to store zero"). Algorithm 1, per
iteration t with partition sizes p_1, p_2, ... (sum K; the paper's {5,4,4,2,2} for 17,
{3,2,2,2} for 9, {2,2,1} for 5):

1. k-means per layer on the weights not yet quantized, into the K_t centroids not yet fixed
   (linear init, Lloyd to convergence; while zero is not fixed one centroid is pinned to 0);
2. loss-based partition (eq. 1): every cluster's quantization loss EQ = the network's loss
   increase (cross-entropy on ``--score-samples`` training images) when only that cluster is
   snapped to its centroid; the p_t clusters with the largest EQ are quantized, so
   min EQ(quantized) >= max EQ(retrained);
3. weight sharing (eq. 2): those weights take their centroid and are frozen;
4. masked retraining (eqs. 3-5) of the rest: SGD, momentum 0.9, weight decay 5e-4, the
   learning rate reset every iteration (a fresh ``train`` call).

``--order magnitude`` replaces step 2 by INQ's rule (largest |centroid| first) for comparison;
a single-step partition (e.g. ``--partition 5``) is one-shot k-means.

ESLQ (eq. 6) re-clusters after step 2 with the chosen clusters' centroids pulled toward their
t-centroids (nearest power of two, or two significant figures) by an L1 term. Eq. 6 also says
c_j is its cluster's mean, which would leave the penalty nothing to act on; we read the
centroid step as the proximal minimiser of (|Psi_j| / |w|) (c - mean_j)^2 + beta |c - t_j|,
i.e. the mean soft-thresholded toward t_j by beta |w| / (2 |Psi_j|): beta = 0 is SLQ, a large
beta puts every quantized centroid exactly on its t-centroid.
"""

from __future__ import annotations

import math

import numpy as np

from hwq.compress.encode import encode_weight
from hwq.compress.methods.options import value_bits
from hwq.compress.methods.result import MethodResult
from hwq.compress.methods.scores import LossProbe
from hwq.compress.pow2 import pow2_span
from hwq.errors import HwqError
from hwq.ir.rewrite import with_float_weights, with_weights

PARTITIONS = {17: (5, 4, 4, 2, 2), 9: (3, 2, 2, 2), 5: (2, 2, 1), 3: (1, 1, 1)}
WEIGHT_DECAY = 5e-4
ORDERS = ("loss", "magnitude")
INITS = ("exp", "density", "linear")


def n_centroids(bits: int) -> int:
    """SLQ/INQ's b-bit level count 2^(b-1) + 1 (zero included)."""
    return (1 << (bits - 1)) + 1


def default_partition(k: int) -> tuple[int, ...]:
    return PARTITIONS.get(k, tuple([1] * k))


def t_centroid(c: float, kind: str) -> float:
    """The nearest power of two (linear distance; 0 stays 0), or ``c`` to two significant figures."""
    if c == 0:
        return 0.0
    if kind == "sci":
        return float(f"{c:.1e}")
    a = abs(c)
    lo = 2.0 ** math.floor(math.log2(a))
    return math.copysign(lo if a - lo <= 2 * lo - a else 2 * lo, c)


def lloyd(x: np.ndarray, init: np.ndarray, pin_zero: bool, targets: dict[int, float] | None = None,
          beta: float = 0.0, total: int | None = None, hold=(),
          iters: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1-D k-means from sorted ``init`` centroids; returns (centroids, labels, where).

    ``where[j]`` is the final position of initial centroid j (centroids stay sorted).
    ``pin_zero`` keeps the initial centroid nearest 0 at exactly 0. ``targets`` {initial
    index: t-centroid} applies ESLQ's proximal step with weight ``beta`` (normalised by
    ``total`` weights). ``hold`` lists initial indices kept at their value (already
    quantized centroids). Nearest-centroid assignment, ties to the lower centroid; an empty
    cluster keeps its centroid.
    """
    c = np.array(init, np.float64)
    start = c.copy()
    hold = set(int(h) for h in hold)
    ident = np.arange(c.size)  # ident[i] = the initial index of the centroid now at i
    zero = int(np.abs(c).argmin()) if pin_zero else -1
    if zero >= 0:
        c[zero] = 0.0
    labels = None
    for _ in range(iters):
        new = np.searchsorted((c[:-1] + c[1:]) / 2, x, side="left")
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=c.size)
        sums = np.bincount(labels, weights=x, minlength=c.size)
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), c)
        for i in range(c.size):
            j = int(ident[i])
            if targets and j in targets and counts[i]:
                shrink = beta * (total or x.size) / (2.0 * counts[i])
                d = mean[i] - targets[j]
                mean[i] = targets[j] + math.copysign(max(abs(d) - shrink, 0.0), d)
            if j == zero:
                mean[i] = 0.0
            if j in hold:
                mean[i] = start[j]
        order = np.argsort(mean, kind="stable")
        c, ident = mean[order], ident[order]
    labels = np.searchsorted((c[:-1] + c[1:]) / 2, x, side="left")
    where = np.empty_like(ident)
    where[ident] = np.arange(ident.size)
    return c, labels, where


def masked_retrain(model, weights, biases, data, free, p, log) -> None:
    """Eqs. 3-5: retrain only the weights where ``free`` (SGD, momentum 0.9, weight decay 5e-4;
    a fresh ``train`` call, so the learning rate is reset); ``weights``/``biases`` updated in place."""
    from hwq.train.params import FreeWeight
    from hwq.train.sgd import train

    if not p.retrain_epochs or data is None:
        return
    params = {n: FreeWeight(w, trainable=free[n]) for n, w in weights.items()}
    res = train(with_float_weights(model, weights, biases), data.x_train, data.y_train,
                epochs=p.retrain_epochs, lr=p.lr, weight_decay=WEIGHT_DECAY, seed=p.seed,
                params=params, log=log)
    for n, prm in res.params.items():
        weights[n] = np.asarray(prm.value(), np.float64).copy()
    biases.update({n: b.copy() for n, b in res.biases.items()})


def init_centroids(xs: np.ndarray, n: int, init: str) -> np.ndarray:
    """k-means start: ``linear`` spaces ``n`` centroids evenly over [min, max] (one centroid: the
    midpoint; numpy's one-point linspace would put it at the minimum, on the far side of the
    remaining weights once one sign's cluster is quantized); ``density`` puts them at the
    quantiles (i + 0.5) / n (a non-linear initialisation, denser where the weights are; the
    seed's Table 5 prefers a non-linear one and uses it in all its experiments)."""
    if not xs.size:
        return np.zeros(n)
    if init == "exp":
        top = float(np.abs(xs).max())
        top = 2.0 ** math.floor(math.log2(top)) if top > 0 else 1.0
        mags = top / 2.0 ** (np.arange(n) // 2)  # +top, -top, +top/2, -top/2, ...
        return np.sort(np.where(np.arange(n) % 2 == 0, mags, -mags))
    if init == "density":
        return np.quantile(xs, (np.arange(n) + 0.5) / n)
    lo, hi = float(xs.min()), float(xs.max())
    return np.array([(lo + hi) / 2]) if n == 1 else np.linspace(lo, hi, n)


def _partition_sizes(p, k: int) -> tuple[int, ...]:
    if p.partition is None:
        return default_partition(k)
    try:
        sizes = tuple(int(v) for v in p.partition.split(","))
    except ValueError:
        raise HwqError(f"--partition {p.partition!r}: expected sizes like 2,2,1") from None
    if any(s < 1 for s in sizes) or sum(sizes) != k:
        raise HwqError(f"--partition {p.partition}: sizes must be >= 1 and add up to the {k} centroids")
    return sizes


def compress(model, data, p, log=None) -> MethodResult:
    from hwq.compress.pipeline import for_layer

    eslq = p.method == "eslq"
    order = p.order
    if order not in ORDERS:
        raise HwqError(f"--order {order!r}: one of {', '.join(ORDERS)}")
    init_kind = p.init or "exp"
    if init_kind not in INITS:
        raise HwqError(f"--init {init_kind}: --method {p.method} takes {', '.join(INITS)}")
    names = [l.name for l in model.weighted()]
    bits = {n: for_layer(p.wbits, n, 5) for n in names}
    ks = {n: n_centroids(bits[n]) for n in names}
    if len(set(ks.values())) != 1:
        raise HwqError("--bits: SLQ's partition schedule needs the same bits in every layer")
    k = next(iter(ks.values()))
    sizes = _partition_sizes(p, k)
    beta = (p.beta if p.beta is not None else 1.0) if eslq else 0.0
    if data is None and (len(sizes) > 1 or order == "loss"):
        raise HwqError(f"--method {p.method} needs a data set for its loss-based partition (--data digits)")
    weights = {l.name: l.weight.dense_float() for l in model.weighted()}
    biases = {l.name: None if l.bias is None else l.bias.astype(np.float64) for l in model.weighted()}
    probe = None
    if data is not None:
        idx = np.random.default_rng(p.seed).permutation(len(data.x_train))[:p.score_samples]
        probe = LossProbe(model, data.x_train[idx], data.y_train[idx], biases)
    fixed = {n: [] for n in names}  # quantized centroids per layer
    frozen = {n: np.zeros(weights[n].shape, bool) for n in names}
    history, prev = [], {}
    for step, size in enumerate(sizes):
        base = probe.loss(weights) if probe is not None and order == "loss" else 0.0
        step_rec, decided = {}, {}
        for n in names:  # every layer's partition against the same, current network (eq. 1)
            w, free = weights[n], ~frozen[n]
            xs = w[free]
            done = sorted(set(fixed[n]))  # the fixed part of the codebook, held in the clustering
            kt = k - len(done)
            pin = 0.0 not in done
            if step > 0:  # re-cluster from the last iteration's codebook, its quantized part held
                init, held = prev[n]
            else:
                new_c = init_centroids(xs, kt - 1 if pin else kt, init_kind)
                if pin:
                    new_c = np.concatenate([new_c, [0.0]])
                init = np.concatenate([done, new_c])
                order_init = np.argsort(init, kind="stable")
                init = init[order_init]
                held = [int(i) for i in np.flatnonzero(order_init < len(done))]
            c, lab, where = lloyd(xs, init, pin, hold=held)
            held_pos = {int(where[h]) for h in held}
            open_pos = [j for j in range(c.size) if j not in held_pos]
            eq = []
            if order == "loss":
                for j in open_pos:
                    snapped = w.copy()
                    snapped[free] = np.where(lab == j, c[j], xs)
                    eq.append(probe.increase(weights, n, snapped, base))
                chosen = [open_pos[i] for i in np.argsort(-np.asarray(eq), kind="stable")[:size]]
            else:
                chosen = [open_pos[i] for i in np.argsort(-np.abs(c[open_pos]), kind="stable")[:size]]
            step_rec[n] = {"centroids": [float(c[j]) for j in open_pos], "eq": [float(v) for v in eq]}
            if eslq and beta > 0:
                targets = {int(j): t_centroid(float(c[j]), p.t_centroids) for j in chosen}
                c, lab, where = lloyd(xs, c, pin, targets, beta, total=w.size, hold=sorted(held_pos))
                chosen = [int(where[j]) for j in chosen]
                held_pos = {int(where[j]) for j in held_pos}
            # weights that fall in an already quantized cluster join it now; the last step takes all
            decided[n] = (c, lab, chosen, sorted(held_pos))
        for n, (c, lab, chosen, held_pos) in decided.items():  # weight sharing (eq. 2), freezing
            w, free = weights[n], ~frozen[n]
            take = np.isin(lab, chosen + held_pos)
            vals = w.copy()
            vals[free] = np.where(take, c[lab], w[free])
            newly = np.zeros(w.shape, bool)
            newly[free] = take
            weights[n] = vals
            frozen[n] |= newly
            fixed[n] += [float(c[j]) for j in chosen]
            step_rec[n]["chosen"] = sorted(float(c[j]) for j in chosen)
            prev[n] = (c, sorted(set(chosen) | set(held_pos)))
        history.append(step_rec)
        if step < len(sizes) - 1:
            masked_retrain(model, weights, biases, data, {n: ~frozen[n] for n in names}, p, log)
    encoded, report = {}, [f"{'layer':8}{'bits':>5}{'levels':>7}  centroids"]
    for n in names:
        cent = np.array(sorted(set(fixed[n])))
        encoded[n] = _encode(weights[n], cent, bits[n], p.t_centroids if eslq else None, value_bits(p, n))
        report.append(f"{n:8}{bits[n]:>5}{cent.size:>7}  {' '.join(f'{v:.4g}' for v in cent)}")
    report.append(f"partition {list(sizes)} ({order} order), {len(sizes)} iterations, "
                  f"{p.retrain_epochs} epochs each; SLQ accounting {32 / bits[names[0]]:.1f}x (32 / b)")
    prov = {"bits": bits, "levels": k, "partition": list(sizes), "order": order, "init": init_kind,
            "beta": beta if eslq else None, "t_centroids": p.t_centroids if eslq else None,
            "retrain_epochs": p.retrain_epochs, "centroids": {n: sorted(set(fixed[n])) for n in names},
            "steps": history}
    return MethodResult(with_weights(model, encoded, biases), report, prov)


def _encode(w: np.ndarray, cent: np.ndarray, bits: int, t_kind: str | None, value_bits: int = 16):
    """Dense codebook of the layer's centroids (b-bit indices); power-of-two codes when every
    centroid is 0 or +-2^e within a pow2 code's reach (ESLQ with power-of-two t-centroids)."""
    labels = np.abs(w.reshape(-1, 1) - cent[None, :]).argmin(1).reshape(w.shape)
    if t_kind == "pow2":
        nz = np.abs(cent[cent != 0])
        exps = np.log2(nz) if nz.size else np.zeros(0)
        if nz.size and np.all(exps == np.round(exps)):
            e_min, e_max = int(exps.min()), int(exps.max())
            for pb in range(2, 8):
                if pow2_span(pb) >= e_max - e_min:
                    return encode_weight(cent[labels], values="pow2", bits=pb, e_min=e_min)
    return encode_weight(w, values="codebook", centroids=cent, labels=labels,
                         bits=max(1, math.ceil(math.log2(cent.size))), value_bits=value_bits)
