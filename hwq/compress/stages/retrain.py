"""Retraining between compression steps: SGD on the float model, each phase labelled in the log.

A phase that finishes weights (codebook and PQ fine-tuning, ``select_best``) holds out every
tenth training row (rows 9, 19, 29, ...): SGD trains on the others, and the held-out accuracy
of the float model picks the epoch that is kept, the starting point included, so that phase
never returns a model worse on held-out data than the one it was given; when the held-out
accuracy falls below the starting point the log says so, with the epoch kept. Intermediate
phases (after pruning, INQ's rounds) train on every row and keep their last epoch: the next
step builds on them, and judging them alone measurably hurt the final model.
"""

from __future__ import annotations

import numpy as np

from hwq.compress.plan import Plan
from hwq.compress.stages.state import State, float_model

HOLD_OUT_EVERY = 10  # one row in ten
MIN_HELD_OUT = 10  # fewer training rows than 10 * 10: train on all, keep the last epoch


def held_out(n: int) -> np.ndarray:
    """The held-out rows of ``n`` training rows (a boolean mask)."""
    mask = np.arange(n) % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1
    return mask if mask.sum() >= MIN_HELD_OUT else np.zeros(n, bool)


def retrain(plan: Plan, model, st: State, data, params: dict, epochs: int, log, phase: str,
            select_best: bool = False) -> dict:
    """``epochs`` of SGD over ``params`` (layer -> parameterization); the state takes the best epoch.

    Returns the parameterizations of the kept epoch (copies when an earlier epoch won: the
    objects passed in hold the last epoch), or ``params`` itself when nothing ran.
    """
    from hwq.ir.rewrite import with_float_weights
    from hwq.train.evaluate import accuracy
    from hwq.train.sgd import train

    if epochs <= 0 or data is None:
        return params
    start = float_model(model, st)
    hold = held_out(len(data.x_train)) if select_best else np.zeros(len(data.x_train), bool)
    xh, yh = data.x_train[hold], data.y_train[hold]
    select = (lambda weights, biases: accuracy(with_float_weights(start, weights, biases), xh, yh, "float")) \
        if hold.any() else None
    res = train(start, data.x_train[~hold], data.y_train[~hold], epochs=epochs, lr=plan.lr, seed=plan.seed,
                params=params, select=select, log=None if log is None else (lambda s: log(f"{phase}: {s}")))
    if log is not None and res.scores and min(res.scores[1:], default=res.scores[0]) < res.scores[0]:
        log(f"{phase}: warning: held-out accuracy fell below its starting {res.scores[0]:.4f} "
            f"(lowest {min(res.scores[1:]):.4f}); kept epoch {res.best_epoch} ({max(res.scores):.4f})")
    for name, p in res.params.items():
        st.weights[name] = np.asarray(p.value(), dtype=np.float64).copy()
    for name, b in res.biases.items():
        st.biases[name] = b.copy()
    return res.params


def free(st: State, trainable: dict[str, np.ndarray]) -> dict:
    """Element-wise parameters; ``trainable`` masks say which elements may move."""
    from hwq.train.params import FreeWeight

    return {n: FreeWeight(st.weights[n], trainable=trainable[n]) for n in st.weights}
