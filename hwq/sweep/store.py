"""The results table: ``results.csv``, one row per point, appended as each point finishes.

Each row is written as one line and flushed to disk (fsync) before the next point is
counted, so a crash or Ctrl-C loses at most the points still running. Opening an existing
table for ``--resume`` drops a torn last line (a crash in the middle of a write), checks
the header is this plan's, and reports the finished point ids. When the sweep ends the
table is rewritten (atomically) in the plan's point order, whatever order points finished in.

Values are written as text: floats with ``repr`` (they read back exactly), booleans as
true/false, per-layer tables in `hwq compress`'s syntax (``fc1=0.9,*=0.8``), missing as "".
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from hwq.ir.atomic import atomic_write
from hwq.sweep.spec import SpecError

FILE = "results.csv"


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return ",".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ":".join(cell(v) for v in value)
    return str(value)


def _line(values) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    """Header and rows of a results table (text values), ignoring a torn last line."""
    text = path.read_text()
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    rows = [dict(zip(header, r)) for r in reader if len(r) == len(header)]
    return header, rows


def finished(out_dir: str | Path, columns: tuple[str, ...], resume: bool) -> set[str]:
    """The point ids already in ``out_dir``'s table, after checking it may be continued.
    Reads only: nothing is created or changed."""
    out = Path(out_dir)
    path = out / FILE
    if out.exists() and not out.is_dir():
        raise SpecError(f"{out}: exists and is not a directory")
    if not path.exists():
        return set()
    if not resume:
        raise SpecError(f"{path} exists: continue it with --resume, or choose another -o")
    header, rows = read_rows(path)
    if tuple(header) != tuple(columns):
        raise SpecError(f"{path} has other columns than this spec makes (a different spec?): use another -o")
    return {r["point"] for r in rows}


class ResultStore:
    """The table, open for appending (created with its header when new)."""

    def __init__(self, out_dir: str | Path, columns: tuple[str, ...], resume: bool):
        self.dir = Path(out_dir)
        self.path = self.dir / FILE
        self.columns = tuple(columns)
        self.done = finished(self.dir, self.columns, resume)
        self.dir.mkdir(parents=True, exist_ok=True)
        # rewriting drops a torn last line, so appends start on a fresh line
        self._rewrite(read_rows(self.path)[1] if self.path.exists() else [])
        self._file = open(self.path, "a", newline="")

    def append(self, row: dict) -> None:
        """Write one finished point, durably. A point already in the table is not written again."""
        if row["point"] in self.done:
            return
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"row has columns not in the table: {sorted(unknown)}")
        self._file.write(_line(cell(row.get(c)) for c in self.columns))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.done.add(row["point"])

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def finish(self, order: list[str]) -> list[dict]:
        """Rewrite the table in ``order`` (rows of points not in it last); return the rows."""
        self.close()
        _, rows = read_rows(self.path)
        rank = {pid: i for i, pid in enumerate(order)}
        seen: set[str] = set()
        unique = [r for r in rows if not (r["point"] in seen or seen.add(r["point"]))]  # first wins
        unique.sort(key=lambda r: rank.get(r["point"], len(rank)))
        self._rewrite(unique)
        return unique

    def _rewrite(self, rows: list[dict]) -> None:
        text = _line(self.columns) + "".join(_line(r.get(c, "") for c in self.columns) for r in rows)
        atomic_write(self.path, lambda f: f.write(text.encode()))
