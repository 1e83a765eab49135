"""The stages of ``hwq compress``, one module each, run in this order by hwq/compress/pipeline.py.

Each stage takes the :class:`hwq.compress.plan.Plan` (every option resolved per layer and
checked before any work) and the :class:`State` (the float view of the model under
compression) and never reads the command-line options:

    prune -> retrain -> quantize (with its own retraining) -> encode -> calibrate -> report
"""

from hwq.compress.stages.state import State, float_model

__all__ = ["State", "float_model"]
