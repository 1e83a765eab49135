"""Sliding-window views shared by the integer and float kernels."""

from __future__ import annotations

import numpy as np


def pad_nchw(x: np.ndarray, padding: tuple[int, int, int, int], value) -> np.ndarray:
    t, l, b, r = padding
    if not any(padding):
        return x
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """(N, C, H, W) -> (N, OH, OW, C, KH, KW) view of every window (no padding)."""
    v = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(2, 3))  # N C H' W' KH KW
    v = v[:, :, :: stride[0], :: stride[1]]
    return v.transpose(0, 2, 3, 1, 4, 5)


BLOCK_ELEMENTS = 1 << 22  # im2col elements built at once (32 MB of int64/float64)


def im2col_blocks(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                  budget: int = BLOCK_ELEMENTS):
    """Yield ``(p0, p1, cols)``: output rows ``p0:p1`` of a convolution of the (already
    padded) ``x`` as an im2col matrix ``(N * (p1 - p0) * OW, C * KH * KW)``, a bounded
    block at a time (at least one output row), so memory follows the budget, not the
    input's size times the kernel's."""
    v = windows(x, kernel, stride)  # (N, OH, OW, C, KH, KW), a view
    n, oh, ow = v.shape[:3]
    per_row = max(1, n * ow * int(np.prod(v.shape[3:])))
    step = max(1, budget // per_row)
    for p0 in range(0, oh, step):
        p1 = min(oh, p0 + step)
        yield p0, p1, v[:, p0:p1].reshape(n * (p1 - p0) * ow, -1)
