"""The prune stage: each layer's keep-mask from its rate or quality, then retraining of the survivors.

With ``plan.prune_steps`` S > 1 (Han et al.'s iterative pruning) the rates are reached in S
rounds, round s pruning toward 1 - (1 - r)^(s/S) (geometric: every round removes the same
fraction of what is left) and retraining the survivors; a weight pruned once stays pruned.
"""

from __future__ import annotations

import numpy as np

from hwq.compress.plan import Plan
from hwq.compress.prune import prune_quality, prune_rate
from hwq.compress.stages.retrain import free, retrain
from hwq.compress.stages.state import State


def round_rate(rate: float, step: int, steps: int) -> float:
    """The pruning rate of round ``step`` (1-based) of ``steps`` toward ``rate``."""
    return rate if step == steps else 1 - (1 - rate) ** (step / steps)


def prune(plan: Plan, model, st: State, data, log) -> None:
    if not plan.pruning:
        return
    steps = plan.prune_steps
    for step in range(1, steps + 1):
        rounds = f" (round {step}/{steps})" if steps > 1 else ""
        for lp in plan:
            if not lp.pruning:
                continue
            w = st.weights[lp.name]
            if lp.prune_quality is not None:
                keep = prune_quality(w, lp.prune_quality)
            else:
                keep = prune_rate(w, round_rate(lp.prune_rate, step, steps))
            if lp.name in st.masks:
                keep &= st.masks[lp.name]
            st.masks[lp.name] = keep
            st.weights[lp.name] = np.where(keep, w, 0.0)
        if log is not None and steps > 1:
            log(f"prune{rounds}: " + ", ".join(f"{lp.name} {1 - st.masks[lp.name].mean():.3f}"
                                              for lp in plan if lp.pruning))
        retrain(plan, model, st, data, free(st, st.masks), plan.retrain_epochs, log, f"retrain after pruning{rounds}")
