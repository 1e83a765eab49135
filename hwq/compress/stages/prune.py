"""The prune stage: each layer's keep-mask from its rate or quality, then retraining of the survivors."""

from __future__ import annotations

import numpy as np

from hwq.compress.plan import Plan
from hwq.compress.prune import prune_quality, prune_rate
from hwq.compress.stages.retrain import free, retrain
from hwq.compress.stages.state import State


def prune(plan: Plan, model, st: State, data, log) -> None:
    if not plan.pruning:
        return
    for lp in plan:
        if not lp.pruning:
            continue
        w = st.weights[lp.name]
        keep = prune_quality(w, lp.prune_quality) if lp.prune_quality is not None else prune_rate(w, lp.prune_rate)
        st.masks[lp.name] = keep
        st.weights[lp.name] = np.where(keep, w, 0.0)
    retrain(plan, model, st, data, free(st, st.masks), plan.retrain_epochs, log, "retrain after pruning")
