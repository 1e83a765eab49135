"""A user's own data set: an .npz with x_train, x_test and, for classifiers, y_train, y_test (no pickles).

Without labels (a regression or embedding model) the data still calibrates activations and
measures the output error against the float model; retraining and accuracy need labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwq.data.digits import Split
from hwq.errors import HwqError

KEYS = ("x_train", "y_train", "x_test", "y_test")
REQUIRED = ("x_train", "x_test")


def load_npz_split(path: str | Path) -> Split:
    """Read and check the arrays; x rows are flattened (the model input shape is applied later).

    ``y_train`` and ``y_test`` are both given or both left out (then they are None).
    """
    from hwq.npyio import load_npz

    p = Path(path)
    if not p.is_file():
        raise HwqError(f"--data {p}: no such file (use 'digits' or an .npz with {', '.join(KEYS)})")
    arrays = load_npz(p, "--data")
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise HwqError(f"--data {p}: missing array {missing[0]!r} (needs {', '.join(REQUIRED)}, "
                       "and y_train, y_test for labels)")
    labelled = [k for k in ("y_train", "y_test") if k in arrays]
    if len(labelled) == 1:
        other = "y_test" if labelled == ["y_train"] else "y_train"
        raise HwqError(f"--data {p}: has {labelled[0]} but no {other} (give both labels or neither)")
    out = []
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays.get(f"y_{part}")
        if x.dtype.kind not in "iuf" or x.ndim < 2 or len(x) == 0:
            raise HwqError(f"--data {p}: x_{part} must be a non-empty numeric array [N, ...]")
        x = x.reshape(len(x), -1).astype(np.float64)
        if not np.isfinite(x).all():
            raise HwqError(f"--data {p}: x_{part} contains NaN or Inf")
        if y is not None:
            if y.dtype.kind not in "iu" or y.shape != (len(x),) or (y < 0).any():
                raise HwqError(f"--data {p}: y_{part} must hold {len(x)} non-negative integer labels")
            if y.size and int(y.max()) >= 1 << 31:  # before the int64 cast: uint64 labels would wrap
                raise HwqError(f"--data {p}: y_{part} holds label {int(y.max())}, beyond any class index")
            y = y.astype(np.int64)
        out += [x, y]
    if out[0].shape[1] != out[2].shape[1]:
        raise HwqError(f"--data {p}: x_train and x_test rows differ in size")
    return Split(*out)
