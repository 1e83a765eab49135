"""The scikit-learn digits set (1797 8x8 images, 10 classes), split deterministically."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.datasets import load_digits


class Split(NamedTuple):
    x_train: np.ndarray  # (N, 64) float64 in [0, 1]
    y_train: np.ndarray  # (N,) int64 labels 0..9
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(seed: int = 0, test_fraction: float = 0.25, fold: int = 0) -> Split:
    """Stratified split: each class gives round(n_c * test_fraction) samples to the test set.

    ``fold`` k (0 <= k < 1 / test_fraction) takes the k-th such slice of each class's
    permutation instead of the first, so folds 0..3 at 0.25 are a stratified 4-fold
    cross-validation whose test sets are disjoint and together cover all 1797 images
    (fold 0 is the default split).

    Done with our own seeded NumPy permutation so the split never moves when scikit-learn's
    splitter internals change; the digits data itself ships with scikit-learn (no download).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction {test_fraction} not in (0, 1)")
    if not (isinstance(fold, int) and 0 <= fold and (fold + 1) * test_fraction <= 1 + 1e-9):
        raise ValueError(f"fold {fold} not in [0, {int(1 / test_fraction + 1e-9)}) at test_fraction {test_fraction}")
    d = load_digits()
    x = d.data.astype(np.float64) / 16.0  # pixels are 0..16
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):  # sorted, so the rng draws happen in a fixed order
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[int(round(len(idx) * test_fraction * fold)):int(round(len(idx) * test_fraction * (fold + 1)))])
    is_test = np.zeros(len(y), dtype=bool)
    is_test[np.concatenate(test)] = True
    # Keep the original sample order inside each part: training shuffles on its own.
    return Split(x[~is_test], y[~is_test], x[is_test], y[is_test])


def as_input(x_flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reshape (N, 64) rows for a model input of per-sample ``shape``, e.g. (64,) or (1, 8, 8)."""
    x_flat = np.asarray(x_flat)
    shape = tuple(int(s) for s in shape)
    if int(np.prod(shape)) != x_flat.shape[-1]:
        raise ValueError(f"cannot reshape {x_flat.shape[-1]} features to input shape {list(shape)}")
    return x_flat.reshape((x_flat.shape[0],) + shape)
