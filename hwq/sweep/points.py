"""Axes -> points: every combination (grid) or seeded random draws, and the points' ids.

A point's id is a hash of everything its result depends on (model file, data, seed, stages,
the canonical compression options and the hardware parameters), so the same point gets the
same id in every run: that is what ``--resume`` matches finished rows on, and two axis
combinations that mean the same thing (``bits`` with ternary weights) are one point.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math

import numpy as np

from hwq.sweep.spec import Range


def grid(axes: dict) -> list[dict]:
    """Every combination, the last axis varying fastest (spec order)."""
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]


def draw(axes: dict, n: int, seed: int) -> list[dict]:
    """``n`` points drawn with one seeded generator, axis by axis in spec order: a list is a
    uniform choice, a Range uniform in [min, max] (log-uniform with ``log``; integers when min,
    max and step are integers; a multiple of ``step`` above min with ``step``)."""
    rng = np.random.default_rng(seed)
    return [{name: _sample(values, rng) for name, values in axes.items()} for _ in range(n)]


def _sample(values, rng):
    if not isinstance(values, Range):
        return values[int(rng.integers(len(values)))]
    r = values
    if r.step is not None:
        k = int(rng.integers(int(math.floor((r.high - r.low) / r.step + 1e-9)) + 1))
        v = r.low + k * r.step
        return int(v) if r.integer else round(float(v), 12)
    if r.integer:
        return int(rng.integers(r.low, r.high + 1))
    if r.log:
        return float(math.exp(rng.uniform(math.log(r.low), math.log(r.high))))
    return float(rng.uniform(r.low, r.high))


def digest(obj, n: int = 12) -> str:
    """A short stable hash of a JSON-able value (dict keys sorted)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def file_digest(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
