"""``hwq run --dump DIR``: every layer's output as DIR/<layer>.npy, never over a file it did not write.

DIR may be new, empty, or a directory an earlier dump wrote: each dump records the files
it wrote in ``DIR/hwq-dump.json`` (a name no layer can have: layer names are identifiers),
and only those may be replaced. Any other existing ``<layer>.npy`` (say, the input batch
saved under a layer's name) makes the command fail before it runs the model. The command's
own inputs and outputs are never dump targets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from hwq.errors import HwqError
from hwq.ir.atomic import OutputError, atomic_write, same_file
from hwq.npyio import save_npy

RECORD = "hwq-dump.json"


def _written_before(d: Path) -> set[str]:
    record = d / RECORD
    if not record.is_file():
        return set()
    try:
        files = json.loads(record.read_text())["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ValueError
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise HwqError(f"--dump {d}: {RECORD} is not a record hwq wrote; choose another directory") from None
    return set(files)


def check_dump_dir(dump_dir: str | os.PathLike, layers: list[str], inputs: list) -> None:
    """Refuse, before any work, a DIR that is a file or holds files this dump would overwrite."""
    d = Path(dump_dir)
    if d.exists() and not d.is_dir():
        raise OutputError(f"--dump {d}: is not a directory")
    if not d.exists():
        parent = next((p for p in d.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise OutputError(f"--dump {d}: {parent} is not a directory")
        return
    owned = _written_before(d)
    for name in layers:
        target = d / f"{name}.npy"
        own = next((p for p in inputs if p is not None and same_file(target, p)), None)
        if own is not None:
            raise OutputError(f"--dump {d}: would overwrite {own}, one of the command's own files")
        if (target.exists() or target.is_symlink()) and target.name not in owned:
            raise OutputError(f"--dump {d}: {target} exists and was not written by an earlier "
                              "--dump; choose a new or empty directory")


def write_dump(dump_dir: str | os.PathLike, outputs: dict[str, np.ndarray]) -> None:
    d = Path(dump_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"--dump {d}: cannot create ({e.strerror or type(e).__name__})") from None
    owned = _written_before(d) | {f"{name}.npy" for name in outputs}
    body = json.dumps({"written_by": "hwq run --dump", "files": sorted(owned)}, indent=1).encode()
    atomic_write(d / RECORD, lambda f: f.write(body))  # first: an interrupted dump can be redone
    for name, values in outputs.items():  # names are identifiers: safe file names
        save_npy(d / f"{name}.npy", values)
