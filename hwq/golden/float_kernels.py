"""Float64 reference kernels: the same layers on real numbers, for accuracy comparisons."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from hwq.golden import int_matmul
from hwq.golden.windows import im2col_blocks, pad_nchw, windows
from hwq.ir.layers import Conv2d, Dense, Pool
from hwq.ir.values import Float32Values
from hwq.ir.weight import Weight


def _sparse_real(weight: Weight):
    """The real weight as a scipy CSR/CSC matrix over the stored entries (never dense)."""
    sp, o = weight.sparse, weight.channels
    idx = sp.minor_indices()
    if isinstance(weight.values, Float32Values):
        vals = weight.values.float_values()
    else:
        rows = idx if sp.format == "csc" else np.repeat(np.arange(o), np.diff(sp.ptr))
        vals = weight.values.int_values().astype(np.float64) * weight.scale_vector()[rows]
    cls = scipy.sparse.csc_matrix if sp.format == "csc" else scipy.sparse.csr_matrix
    return cls((vals, idx, sp.ptr), shape=weight.matrix_shape)


def dense(layer: Dense, x: np.ndarray) -> np.ndarray:
    w = layer.weight
    if w.sparse is not None and w.size > int_matmul.DENSE_LIMIT:  # large sparse: stay sparse
        y = np.asarray(_sparse_real(w) @ x.T).T
    else:
        y = x @ w.dense_float().T
    return y + layer.bias if layer.bias is not None else y


def conv2d(layer: Conv2d, x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    _, oh, ow = layer.out_shape([x.shape[1:]])
    w = layer.weight.dense_float().reshape(layer.out_channels, -1)
    y = np.empty((n, layer.out_channels, oh, ow))
    for p0, p1, cols in im2col_blocks(pad_nchw(x, layer.padding, 0.0), layer.kernel, layer.stride):
        y[:, :, p0:p1] = (cols @ w.T).reshape(n, p1 - p0, ow, -1).transpose(0, 3, 1, 2)
    return y + layer.bias.reshape(1, -1, 1, 1) if layer.bias is not None else y


def maxpool(layer: Pool, x: np.ndarray) -> np.ndarray:
    return windows(x, layer.kernel, layer.stride).max(axis=(4, 5)).transpose(0, 3, 1, 2)


def avgpool(layer: Pool, x: np.ndarray) -> np.ndarray:
    return windows(x, layer.kernel, layer.stride).mean(axis=(4, 5)).transpose(0, 3, 1, 2)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
