"""Classification accuracy through the golden model (float reference or bit-exact integer)."""

from __future__ import annotations

import numpy as np

from hwq import ir
from hwq.golden import run_float, run_int


def accuracy(model: ir.Model, x: np.ndarray, y: np.ndarray, mode: str = "float",
             batch_size: int = 256) -> float:
    """Top-1 accuracy of the model's single output; batched so activations stay small.

    ``x`` rows may be flat (N, 64) for any input shape of the same size. In "int" mode the
    float inputs are quantized with the input layer's QuantParams; argmax of the integer
    output equals argmax of its dequantized value (positive scale), so no dequantization.
    """
    run = {"float": run_float, "int": run_int}.get(mode)
    if run is None:
        raise ValueError(f"mode {mode!r} is neither 'float' nor 'int'")
    if len(model.outputs) != 1 or len(model.inputs) != 1:
        raise ValueError(f"{model.name}: accuracy needs one input and one output")
    x = np.asarray(x)
    x = x.reshape((x.shape[0],) + tuple(model.inputs[0].shape))
    y = np.asarray(y)
    if len(x) == 0:
        raise ValueError("accuracy of an empty set")
    correct = 0
    for s in range(0, len(x), batch_size):
        out = run(model, x[s:s + batch_size])[model.outputs[0]]
        correct += int((out.argmax(axis=1) == y[s:s + batch_size]).sum())
    return correct / len(x)
