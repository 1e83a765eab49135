"""Retraining between compression steps: SGD on the float model, each phase labelled in the log."""

from __future__ import annotations

import numpy as np

from hwq.compress.plan import Plan
from hwq.compress.stages.state import State, float_model


def retrain(plan: Plan, model, st: State, data, params: dict, epochs: int, log, phase: str) -> None:
    """``epochs`` of SGD over ``params`` (layer -> parameterization); the state takes the result."""
    from hwq.train.sgd import train

    if epochs <= 0 or data is None:
        return
    res = train(float_model(model, st), data.x_train, data.y_train, epochs=epochs, lr=plan.lr,
                seed=plan.seed, params=params, log=None if log is None else (lambda s: log(f"{phase}: {s}")))
    for name, p in res.params.items():
        st.weights[name] = np.asarray(p.value(), dtype=np.float64).copy()
    for name, b in res.biases.items():
        st.biases[name] = b.copy()


def free(st: State, trainable: dict[str, np.ndarray]) -> dict:
    """Element-wise parameters; ``trainable`` masks say which elements may move."""
    from hwq.train.params import FreeWeight

    return {n: FreeWeight(st.weights[n], trainable=trainable[n]) for n in st.weights}
