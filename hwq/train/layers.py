"""Forward and backward passes of every IR layer kind, float64, batch axis first, NCHW.

``forward(layer, xs, w, b) -> (y, cache)`` and ``backward(layer, cache, dy) -> (dxs, dw, db)``
with ``xs``/``dxs`` lists (one entry per layer input). ``w`` and ``b`` are passed in rather
than read from the layer so the trainer can substitute its parameterized weights.
Windowing reuses hwq.golden.windows so training sees exactly the golden model's geometry.
"""

from __future__ import annotations

import numpy as np

from hwq.golden.float_kernels import softmax
from hwq.golden.windows import pad_nchw, windows
from hwq.ir.layers import (Add, AvgPool, Conv2d, Dense, Flatten, Input, Layer, MaxPool, ReLU,
                           Softmax)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) and dL/dlogits = (p - onehot) / N.

    Combined because the fused gradient is exact and stable where softmax-then-log is not.
    """
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -float(logp[np.arange(n), labels].mean())
    d = np.exp(logp)
    d[np.arange(n), labels] -= 1.0
    return loss, d / n


def _scatter_windows(dwin: np.ndarray, in_shape, kernel, stride) -> np.ndarray:
    """Adjoint of ``windows``: add (N, OH, OW, C, KH, KW) window gradients back into (N, C, H, W).

    One strided slice per kernel offset (KH*KW adds), so overlapping windows accumulate.
    """
    dx = np.zeros(in_shape)
    _, oh, ow = dwin.shape[:3]
    (kh, kw), (sh, sw) = kernel, stride
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += \
                dwin[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dx


def forward(layer: Layer, xs: list[np.ndarray], w: np.ndarray | None = None,
            b: np.ndarray | None = None):
    x = xs[0] if xs else None
    if isinstance(layer, Dense):
        y = x @ w.T
        return (y + b if b is not None else y), (x, w)
    if isinstance(layer, Conv2d):
        xp = pad_nchw(x, layer.padding, 0.0)
        win = windows(xp, layer.kernel, layer.stride)
        n, oh, ow = win.shape[:3]
        cols = win.reshape(n * oh * ow, -1)  # copies: the im2col matrix
        w2 = w.reshape(w.shape[0], -1)
        y = (cols @ w2.T).reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)
        if b is not None:
            y = y + b.reshape(1, -1, 1, 1)
        return y, (x.shape, xp.shape, win.shape, cols, w)
    if isinstance(layer, ReLU):
        return np.maximum(x, 0.0), x > 0
    if isinstance(layer, MaxPool):
        win = windows(x, layer.kernel, layer.stride)
        flat = win.reshape(win.shape[:4] + (-1,))
        arg = flat.argmax(axis=4)  # argmax takes the first max: ties send the gradient there
        y = np.take_along_axis(flat, arg[..., None], axis=4)[..., 0]
        return y.transpose(0, 3, 1, 2), (x.shape, win.shape, arg)
    if isinstance(layer, AvgPool):
        win = windows(x, layer.kernel, layer.stride)
        return win.mean(axis=(4, 5)).transpose(0, 3, 1, 2), (x.shape, win.shape)
    if isinstance(layer, Flatten):
        return x.reshape(x.shape[0], -1), x.shape
    if isinstance(layer, Add):
        return xs[0] + xs[1], None
    if isinstance(layer, Softmax):
        y = softmax(x)
        return y, y
    if isinstance(layer, Input):
        return x, None
    raise TypeError(f"{layer.name}: no training kernel for kind {layer.KIND!r}")


def backward(layer: Layer, cache, dy: np.ndarray):
    """Return (dxs, dw, db); dw and db are None for layers without weights."""
    if isinstance(layer, Dense):
        x, w = cache
        return [dy @ w], dy.T @ x, dy.sum(axis=0)
    if isinstance(layer, Conv2d):
        x_shape, xp_shape, win_shape, cols, w = cache
        dy2 = dy.transpose(0, 2, 3, 1).reshape(-1, w.shape[0])  # rows match the im2col rows
        dw = (dy2.T @ cols).reshape(w.shape)
        dwin = (dy2 @ w.reshape(w.shape[0], -1)).reshape(win_shape)
        dxp = _scatter_windows(dwin, xp_shape, layer.kernel, layer.stride)
        t, l, _, _ = layer.padding
        dx = dxp[:, :, t:t + x_shape[2], l:l + x_shape[3]]
        return [dx], dw, dy.sum(axis=(0, 2, 3))
    if isinstance(layer, ReLU):
        return [dy * cache], None, None
    if isinstance(layer, MaxPool):
        x_shape, win_shape, arg = cache
        onehot = np.arange(win_shape[4] * win_shape[5]) == arg[..., None]
        dwin = (onehot * dy.transpose(0, 2, 3, 1)[..., None]).reshape(win_shape)
        return [_scatter_windows(dwin, x_shape, layer.kernel, layer.stride)], None, None
    if isinstance(layer, AvgPool):
        x_shape, win_shape = cache
        k = win_shape[4] * win_shape[5]
        dwin = np.broadcast_to((dy.transpose(0, 2, 3, 1) / k)[..., None, None], win_shape)
        return [_scatter_windows(dwin, x_shape, layer.kernel, layer.stride)], None, None
    if isinstance(layer, Flatten):
        return [dy.reshape(cache)], None, None
    if isinstance(layer, Add):
        return [dy, dy], None, None
    if isinstance(layer, Softmax):
        y = cache  # Jacobian-vector product of softmax: y * (dy - <dy, y>)
        return [y * (dy - (dy * y).sum(axis=1, keepdims=True))], None, None
    if isinstance(layer, Input):
        return [], None, None
    raise TypeError(f"{layer.name}: no training kernel for kind {layer.KIND!r}")
