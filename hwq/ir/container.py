"""The .ir file: a zip with manifest.json and one .npy per tensor, read defensively.

Reading never unpickles (``allow_pickle=False`` semantics: only plain numeric dtypes are
accepted from the .npy header), never trusts declared sizes beyond fixed caps, and
rejects entry names that are not exactly ``manifest.json`` or ``tensors/<name>.npy``.
Writing goes to a temporary file that replaces the target only when complete.
"""

from __future__ import annotations

import io
import json
import math
import os
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from hwq.errors import IRError
from hwq.ir.atomic import atomic_write

MANIFEST = "manifest.json"
TENSOR_DIR = "tensors/"
MAX_MANIFEST_BYTES = 16 << 20
MAX_TENSOR_BYTES = 1 << 30
MAX_TOTAL_BYTES = 2 << 30
MAX_ENTRIES = 20000
MAX_NPY_HEADER = 4096

# dtypes an IR may hold, as .npy header descriptors (little-endian or byte-free)
ALLOWED_DESCR = {"<f4": "float32", "|i1": "int8", "|u1": "uint8", "<i2": "int16",
                 "<u2": "uint16", "<i4": "int32"}
_DTYPE_DESCR = {v: k for k, v in ALLOWED_DESCR.items()}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# what a damaged zip can raise from zipfile/zlib while opening or inflating an entry
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError,
               UnicodeDecodeError, ValueError)


def _strict_json_constant(name: str):
    raise IRError(f"manifest.json: {name} is not allowed in JSON")


def read_container(path: str | os.PathLike, declared) -> tuple[dict, dict[str, np.ndarray]]:
    """Read (manifest, tensors). ``declared(manifest)`` returns name -> (dtype, shape)."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise IRError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise IRError(f"{path}: is a directory") from None
    except _ZIP_ERRORS as e:
        raise IRError(f"{path}: not an hwq IR file (not a readable zip: {e})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise IRError(f"{path}: {len(infos)} zip entries exceed the cap of {MAX_ENTRIES}")
        names = set()
        for info in infos:
            _check_entry_name(info.filename)
            if info.filename in names:
                raise IRError(f"{info.filename}: duplicate zip entry")
            names.add(info.filename)
        if MANIFEST not in names:
            raise IRError(f"{path}: no manifest.json (not an hwq IR file)")
        try:
            raw = _read_bounded(zf, zf.getinfo(MANIFEST), MAX_MANIFEST_BYTES)
            manifest = json.loads(raw.decode("utf-8"), parse_constant=_strict_json_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: also > 4300-digit ints
            raise IRError(f"manifest.json: not valid JSON ({' '.join(str(e).split())[:120]})") from None
        decl = declared(manifest)
        check_tensor_caps(decl, str(path))
        expected = {TENSOR_DIR + n + ".npy" for n in decl} | {MANIFEST}
        stray = sorted(names - expected)
        if stray:
            raise IRError(f"{stray[0]}: zip entry not declared in manifest.json")
        tensors = {}
        for name, (dtype, shape) in decl.items():
            entry = TENSOR_DIR + name + ".npy"
            if entry not in names:
                raise IRError(f"{name}: declared in manifest.json but missing from the file")
            tensors[name] = _read_npy(zf, zf.getinfo(entry), name, dtype, shape)
    return manifest, tensors


def check_tensor_caps(decl: dict[str, tuple[str, tuple[int, ...]]], where: str) -> None:
    """The caps on tensors (name -> (dtype name, shape)): allowed dtypes, bytes per tensor
    and in total, and the zip entry count they make with the manifest. The reader checks
    the declarations before reading; ``validate`` checks a model's arrays before writing."""
    if len(decl) + 1 > MAX_ENTRIES:
        raise IRError(f"{where}: {len(decl)} tensors make {len(decl) + 1} zip entries, "
                      f"over the cap of {MAX_ENTRIES}")
    total = 0
    for name, (dtype, shape) in decl.items():
        if dtype not in _DTYPE_DESCR:
            raise IRError(f"{name}: dtype {dtype!r} is not allowed "
                          f"(allowed: {', '.join(sorted(_DTYPE_DESCR))})")
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize  # Python ints: no overflow
        if nbytes > MAX_TENSOR_BYTES:
            raise IRError(f"{name}: shape {list(shape)} is {nbytes} bytes, over the cap of {MAX_TENSOR_BYTES}")
        total += nbytes
    if total > MAX_TOTAL_BYTES:
        raise IRError(f"{where}: tensors total {total} bytes, over the cap of {MAX_TOTAL_BYTES}")


def _check_entry_name(name: str) -> None:
    parts = name.split("/")
    if (name.startswith(("/", "\\")) or "\\" in name or ".." in parts or ":" in name
            or any(p in ("", ".") for p in parts)):
        raise IRError(f"zip entry {name!r}: unsafe path (absolute, '..' or empty part)")


def _read_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    if info.file_size > cap:
        raise IRError(f"{info.filename}: {info.file_size} bytes, over the cap of {cap}")
    try:
        with zf.open(info) as f:
            data = f.read(cap + 1)
    except _ZIP_ERRORS as e:
        raise IRError(f"{info.filename}: cannot be read ({e})") from None
    if len(data) > cap:
        raise IRError(f"{info.filename}: larger than the cap of {cap} bytes")
    return data


def _read_npy(zf, info, name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    want = math.prod(shape) * np.dtype(dtype).itemsize
    if not want <= info.file_size <= want + MAX_NPY_HEADER:  # checked before inflating anything
        raise IRError(f"{name}: holds {info.file_size} bytes in its zip entry (checked before "
                      f"inflating), the declared {dtype}{list(shape)} needs {want} plus a header")
    try:
        with zf.open(info) as f:
            head = io.BytesIO(f.read(MAX_NPY_HEADER))
            try:
                version = np.lib.format.read_magic(head)
                if version == (1, 0):
                    hshape, fortran, hdtype = np.lib.format.read_array_header_1_0(head)
                elif version == (2, 0):
                    hshape, fortran, hdtype = np.lib.format.read_array_header_2_0(head)
                else:
                    raise ValueError(f"npy version {version} not supported")
            except (ValueError, SyntaxError, TypeError, tokenize.TokenError) as e:
                raise IRError(f"{name}: not a plain .npy array ({' '.join(str(e).split())[:120]})") from None
            descr = np.lib.format.dtype_to_descr(hdtype) if not hdtype.hasobject else "O"
            if not isinstance(descr, str) or descr not in ALLOWED_DESCR:
                raise IRError(f"{name}: array dtype {str(descr)[:60]!r} is not allowed (pickled or "
                              "structured arrays are never loaded)")
            if ALLOWED_DESCR[descr] != dtype or tuple(hshape) != tuple(shape):
                raise IRError(f"{name}: file holds {ALLOWED_DESCR[descr]}{list(hshape)}, "
                              f"manifest declares {dtype}{list(shape)}")
            if fortran:
                raise IRError(f"{name}: Fortran-ordered arrays are not accepted")
            rest = head.read()  # data bytes that came with the header chunk
            data = rest + f.read(max(0, want + 1 - len(rest)))
    except _ZIP_ERRORS as e:
        raise IRError(f"{name}: cannot be read ({e})") from None
    if len(data) != want:
        raise IRError(f"{name}: holds {len(data)} data bytes, expected {want}")
    return np.frombuffer(data, dtype=_DTYPE_DESCR[dtype]).reshape(shape).copy()


def write_container(path: str | os.PathLike, manifest: dict, tensors: dict[str, np.ndarray]) -> None:
    """Write atomically and deterministically (fixed timestamps, sorted entries).

    Refuses, before writing anything, what :func:`read_container` would reject: a manifest
    over its cap, too many entries, a tensor or a total over the size caps.
    """
    body = json.dumps(manifest, indent=1, sort_keys=False, allow_nan=False).encode()
    if len(body) > MAX_MANIFEST_BYTES:
        raise IRError(f"manifest.json: would be {len(body)} bytes, over the reader's cap of "
                      f"{MAX_MANIFEST_BYTES} (too many layers, or a huge provenance)")
    check_tensor_caps({name: (a.dtype.name, a.shape) for name, a in tensors.items()}, "model")

    def write(raw) -> None:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            _write_entry(zf, MANIFEST, body)
            for name in sorted(tensors):
                arr = np.ascontiguousarray(tensors[name])
                arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
                buf = io.BytesIO()
                np.lib.format.write_array(buf, arr, version=(1, 0), allow_pickle=False)
                _write_entry(zf, TENSOR_DIR + name + ".npy", buf.getvalue())

    atomic_write(path, write)


def _write_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compresslevel=6)
