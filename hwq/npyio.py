"""Safe .npy reading/writing for user data (no pickles, atomic writes)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hwq.errors import HwqError
from hwq.ir.atomic import atomic_write

MAX_NPY_BYTES = 1 << 30


def load_npy(path: str | os.PathLike) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise HwqError(f"{p}: no such file")
    if p.stat().st_size > MAX_NPY_BYTES:
        raise HwqError(f"{p}: larger than {MAX_NPY_BYTES} bytes")
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as e:
        raise HwqError(f"{p}: not a plain .npy array ({str(e).splitlines()[0]})") from None
    except (OSError, EOFError) as e:
        raise HwqError(f"{p}: cannot be read as .npy ({e})") from None
    if not isinstance(arr, np.ndarray):
        raise HwqError(f"{p}: expected a .npy array, not an archive")
    if arr.dtype.kind not in "iuf":
        raise HwqError(f"{p}: dtype {arr.dtype} is not an integer or float array")
    return arr


def save_npy(path: str | os.PathLike, arr: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, arr, allow_pickle=False))
