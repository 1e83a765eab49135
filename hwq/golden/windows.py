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
