"""The sweep's picture: accuracy vs energy (vs storage when nothing estimated energy), and
cycles vs area when an area column exists; every point, the feasible ones, and the Pareto
front of each pair (matplotlib, Agg, PNG)."""

from __future__ import annotations

import math
from pathlib import Path

from hwq.sweep.pareto import feasible, front
from hwq.sweep.spec import Objective, number

LABELS = {"acc": "accuracy (%)", "energy_pj": "energy per inference (pJ)", "storage_bytes": "weight storage (bytes)",
          "cycles": "cycles per inference", "area": "area (cells)"}


def panels(columns) -> list[tuple[Objective, Objective]]:
    """(x, y) pairs to draw, given the table's columns."""
    cols = set(columns)
    out = []
    if "acc" in cols:
        x = "energy_pj" if "energy_pj" in cols else "storage_bytes" if "storage_bytes" in cols else None
        if x:
            out.append((Objective(x, "min"), Objective("acc", "max")))
    if {"cycles", "area"} <= cols:
        out.append((Objective("area", "min"), Objective("cycles", "min")))
    return out


def plot(rows: list[dict], columns, constraints, path: str | Path, title: str) -> bool:
    """Write the PNG; False (nothing written) when the table has no pair to draw."""
    pairs = panels(columns)
    if not pairs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(pairs), figsize=(6.4 * len(pairs), 4.8), squeeze=False)
    for ax, (xo, yo) in zip(axes[0], pairs):
        pts = [r for r in rows if math.isfinite(number(r.get(xo.column))) and math.isfinite(number(r.get(yo.column)))]
        ok = [r for r in pts if feasible(r, constraints)]
        no = [r for r in pts if not feasible(r, constraints)]
        best = sorted(front(ok, (xo, yo)), key=lambda r: number(r[xo.column]))
        unconstrained = sorted(front([r for r in pts if not r.get("error")], (xo, yo)),
                               key=lambda r: number(r[xo.column]))

        def xy(rs):
            return [number(r[xo.column]) for r in rs], [number(r[yo.column]) for r in rs]

        if no:
            ax.scatter(*xy(no), marker="x", color="0.65", label=f"infeasible ({len(no)})")
        if ok:
            ax.scatter(*xy(ok), color="tab:blue", alpha=0.6, label=f"feasible ({len(ok)})")
        if no and unconstrained != best:
            ax.plot(*xy(unconstrained), "--", color="0.5", drawstyle="steps-post", label="front without constraints")
        if best:
            ax.plot(*xy(best), "o-", color="tab:red", drawstyle="steps-post", label=f"Pareto front ({len(best)})")
        xs = xy(pts)[0]
        if xs and min(xs) > 0 and max(xs) / min(xs) > 100:
            ax.set_xscale("log")
        ax.set_xlabel(LABELS.get(xo.column, xo.column))
        ax.set_ylabel(LABELS.get(yo.column, yo.column))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    from hwq.ir.atomic import atomic_write

    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return True
