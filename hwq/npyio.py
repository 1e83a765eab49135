"""Safe .npy / .npz reading and writing for user data (no pickles, bounded sizes, atomic writes).

Every array is read in two steps: the .npy header is parsed and checked first (plain integer
or float dtype, declared size within the cap and within what the file really holds), and only
then is the data read into an array of exactly that size. A malformed header, a pickle, a
truncated file or an .npz member that inflates beyond its cap is one :class:`HwqError` line.
"""

from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from hwq.errors import HwqError
from hwq.ir.atomic import atomic_write

MAX_NPY_BYTES = 1 << 30  # one array, as stored
MAX_NPZ_BYTES = 1 << 30  # all members of one .npz together, as stored
_HEADER_ERRORS = (ValueError, SyntaxError, TypeError, tokenize.TokenError, EOFError, OSError)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError,
               UnicodeDecodeError, ValueError)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:120] or type(e).__name__


def _read_header(f: BinaryIO, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy version {version} not supported")
    except _HEADER_ERRORS as e:
        raise HwqError(f"{where}: not a plain .npy array ({_one_line(e)})") from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise HwqError(f"{where}: not a plain .npy array (pickled or structured arrays are never loaded)")
    if dtype.kind not in "iuf":
        raise HwqError(f"{where}: dtype {dtype} is not an integer or float array")
    return tuple(int(d) for d in shape), bool(fortran), dtype


def _read_array(f: BinaryIO, where: str, available: int, cap: int) -> np.ndarray:
    """Header, checks, then exactly the declared data bytes (never more than ``available``)."""
    shape, fortran, dtype = _read_header(f, where)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > cap:
        raise HwqError(f"{where}: declares {nbytes} bytes of data, over the cap of {cap}")
    if nbytes > available:
        raise HwqError(f"{where}: declares {nbytes} bytes of data but holds at most {available}")
    arr = np.empty(math.prod(shape), dtype)
    view, got = memoryview(arr).cast("B"), 0
    while got < nbytes:
        n = f.readinto(view[got:])
        if not n:
            raise HwqError(f"{where}: truncated ({got} of {nbytes} data bytes)")
        got += n
    return arr.reshape(shape, order="F" if fortran else "C")


def load_npy(path: str | os.PathLike) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise HwqError(f"{p}: no such file")
    size = p.stat().st_size
    if size > MAX_NPY_BYTES:
        raise HwqError(f"{p}: larger than {MAX_NPY_BYTES} bytes")
    if zipfile.is_zipfile(p):
        raise HwqError(f"{p}: expected a .npy array, not an archive (.npz)")
    try:
        with open(p, "rb") as f:
            return _read_array(f, str(p), size, MAX_NPY_BYTES)
    except OSError as e:
        raise HwqError(f"{p}: cannot be read as .npy ({_one_line(e)})") from None


def load_npz(path: str | os.PathLike, what: str = "") -> dict[str, np.ndarray]:
    """Every member of an .npz (``name.npy`` entries) as an array; ``what`` prefixes messages."""
    p = Path(path)
    label = f"{what} {p}".strip()
    if not p.is_file():
        raise HwqError(f"{label}: no such file")
    if not zipfile.is_zipfile(p):
        raise HwqError(f"{label}: not an .npz archive (a zip of .npy arrays, as numpy.savez writes)")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
            if len(infos) > 1024:
                raise HwqError(f"{label}: {len(infos)} members, more than 1024")
            total = sum(i.file_size for i in infos)
            if total > MAX_NPZ_BYTES:
                raise HwqError(f"{label}: its members hold {total} bytes, over the cap of {MAX_NPZ_BYTES}")
            for info in infos:
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with zf.open(info) as f:  # zipfile never inflates beyond info.file_size
                    out[name] = _read_array(f, f"{label}: member {name!r}", info.file_size, MAX_NPY_BYTES)
    except HwqError:
        raise
    except _ZIP_ERRORS as e:
        raise HwqError(f"{label}: not a readable .npz ({_one_line(e)})") from None
    return out


def save_npy(path: str | os.PathLike, arr: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, arr, allow_pickle=False))
