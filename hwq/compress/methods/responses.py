"""Layer inputs and responses from a float run, and the im2col blocks of a layer's input.

Q-CNN's error correction (and the loss-based scores of SLQ/MLQ) need, for a weighted
layer, the batch of inputs it sees and the response it produces. A response here is the
pre-bias output ``y - b``, so a quantized weight is judged by ``X W_q^T`` against ``X W^T``.

Blocks put every input in the shape (rows, P, C): rows are samples (FC) or samples x output
positions (conv, im2col over the padded input), P the kernel taps (1 for FC), C the input
channels -- the axis product quantization splits into subspaces.
"""

from __future__ import annotations

import numpy as np

from hwq.golden.run import run_float
from hwq.golden.windows import pad_nchw, windows
from hwq.ir.layers import Conv2d, Dense, WeightedLayer
from hwq.ir.model import Model


def layer_values(model: Model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's float output on ``x`` (a batch shaped like the model input or flat rows)."""
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape((x.shape[0],) + tuple(model.inputs[0].shape))
    return run_float(model, x, keep_all=True)


def layer_input(model: Model, vals: dict[str, np.ndarray], name: str) -> np.ndarray:
    return vals[model.layers[name].inputs[0]]


def response(layer: WeightedLayer, vals: dict[str, np.ndarray]) -> np.ndarray:
    """The layer's output without its bias: (N, O) for FC, (N, O, OH, OW) for conv."""
    y = vals[layer.name]
    if layer.bias is None:
        return y
    b = layer.bias.astype(np.float64)
    return y - (b if y.ndim == 2 else b.reshape(1, -1, 1, 1))


def blocks(layer: WeightedLayer, x: np.ndarray) -> np.ndarray:
    """The layer input as (rows, P, C); ``weight_taps`` arranges the weight to match."""
    if isinstance(layer, Dense):
        return np.asarray(x, np.float64).reshape(x.shape[0], 1, -1)
    if isinstance(layer, Conv2d):
        win = windows(pad_nchw(np.asarray(x, np.float64), layer.padding, 0.0), layer.kernel, layer.stride)
        n, oh, ow, c, kh, kw = win.shape
        return win.reshape(n * oh * ow, c, kh * kw).transpose(0, 2, 1).copy()
    raise TypeError(f"{layer.name}: no blocks for kind {layer.KIND!r}")


def targets(layer: WeightedLayer, y: np.ndarray) -> np.ndarray:
    """A response (N, O) or (N, O, OH, OW) as rows matching ``blocks``: (rows, O)."""
    if y.ndim == 2:
        return y
    return y.transpose(0, 2, 3, 1).reshape(-1, y.shape[1])


def weight_taps(w: np.ndarray) -> np.ndarray:
    """(O, I) -> (O, 1, I); (O, C, KH, KW) -> (O, KH*KW, C): the weight facing ``blocks``."""
    if w.ndim == 2:
        return w[:, None, :]
    o, c, kh, kw = w.shape
    return w.transpose(0, 2, 3, 1).reshape(o, kh * kw, c)
