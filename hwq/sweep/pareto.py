"""The Pareto front of a results table: the feasible points no other feasible point beats.

Point a dominates b when a is at least as good on every objective and better on one
(``min`` objectives smaller, ``max`` larger). Feasible: no error and every constraint holds.
Rows are the table's text values; numbers are parsed here.
"""

from __future__ import annotations

import math

import numpy as np

from hwq.sweep.spec import number


def feasible(row: dict, constraints) -> bool:
    return not row.get("error") and all(c.holds(row) for c in constraints)


def front(rows: list[dict], objectives) -> list[dict]:
    """The non-dominated rows among ``rows`` (all taken as feasible), in their given order.
    Rows with a missing or non-finite objective value are left out."""
    cost = np.array([[number(r.get(o.column)) * (1 if o.sense == "min" else -1) for o in objectives]
                     for r in rows], dtype=float).reshape(len(rows), len(objectives))
    ok = np.isfinite(cost).all(axis=1)
    idx = np.flatnonzero(ok)
    c = cost[idx]
    keep = []
    for i in range(len(idx)):
        no_worse = (c <= c[i]).all(axis=1)
        better = (c < c[i]).any(axis=1)
        if not (no_worse & better).any():
            keep.append(idx[i])
    return [rows[i] for i in keep]


def render(rows: list[dict], columns: list[str]) -> str:
    """A plain text table of ``columns`` for the front's rows."""
    def show(v: str) -> str:
        x = number(v)
        if v in ("", None) or math.isnan(x) or not any(ch in str(v) for ch in ".eE"):
            return str(v)
        return f"{x:.4g}"

    cells = [columns] + [[show(r.get(c, "")) for c in columns] for r in rows]
    width = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(row, width)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in width))
    return "\n".join(lines)
