"""Shared helpers for the hwq benchmarks: side-by-side timing and result rows.

Rule of the project: a benchmark reports *ratios of alternatives measured in the same
run* (and throughputs for orientation), never asserts absolute times. Alternatives are
timed interleaved (A, B, A, B, ...) after a warm-up call each, so a noisy neighbour or a
frequency change hits both sides alike; each side's figure is the median of its repeats.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


class BenchCheckError(AssertionError):
    """A benchmark's own correctness check failed (the alternatives disagree)."""


def check(cond: bool, what: str) -> str:
    """Raise BenchCheckError unless ``cond``; returns "ok" for the table."""
    if not cond:
        raise BenchCheckError(what)
    return "ok"


def median_time(fn, repeat: int, warmup: int = 1) -> float:
    """Median wall time (perf_counter seconds) of ``fn()`` over ``repeat`` calls."""
    return side_by_side({"fn": fn}, repeat, warmup)["fn"]


def side_by_side(fns: dict, repeat: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds per named callable, the callables timed round-robin."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, repeat)):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) for name, s in samples.items()}


@dataclass
class Row:
    case: str     # what was measured (model, layer shape, ...)
    metric: str   # e.g. "run_int", "int/float time", "peak/declared"
    value: float | str
    unit: str = ""

    def cells(self) -> tuple[str, str, str, str]:
        return self.case, self.metric, fmt(self.value), self.unit


def fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return f"{v:,}"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def ms(seconds: float) -> float:
    return seconds * 1e3
