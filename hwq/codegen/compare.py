"""The generated program's outputs against the golden model, layer by layer, bit for bit.

Golden outputs come from ``hwq.golden.run_int(model, x, keep_all=True)``; samples on which
the golden model raises SemanticsError (accumulator overflow: outside the model's
contract, docs/semantics.md section 8) are excluded before the C program ever sees them.
"""

from __future__ import annotations

import numpy as np

from hwq.errors import HwqError
from hwq.golden import overflowing_samples, run_int
from hwq.golden.run import quantize
from hwq.ir.layers import Softmax
from hwq.ir.model import Model

SOFTMAX_ATOL = 1e-5


def integer_inputs(model: Model, x: np.ndarray | None, n_default: int = 3, seed: int = 0) -> np.ndarray:
    """The inputs on the input's integer grid: ``x`` (floats quantized, integers range-checked)
    or ``n_default`` seeded random samples over the whole range."""
    if len(model.inputs) != 1:
        raise HwqError(f"{model.name}: gen-c supports models with one graph input, not {len(model.inputs)}")
    inp = model.inputs[0]
    q = inp.quant
    shape = tuple(inp.shape)
    if x is None:
        return np.random.default_rng(seed).integers(q.qmin, q.qmax + 1, (n_default,) + shape)
    x = np.asarray(x)
    if x.shape == shape:
        x = x[None]
    if x.shape[1:] != shape or x.shape[0] == 0:
        raise HwqError(f"input: {inp.name} expects shape [N, {', '.join(map(str, shape))}], got {list(x.shape)}")
    if np.issubdtype(x.dtype, np.floating):
        return quantize(x, q)
    if x.size and (x.min() < q.qmin or x.max() > q.qmax):
        raise HwqError(f"input: {inp.name} holds values outside [{q.qmin}, {q.qmax}]")
    return x.astype(np.int64)


def golden(model: Model, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], list[int]]:
    """(kept inputs, golden values of every layer on them, excluded sample indices)."""
    name = model.inputs[0].name
    excluded = overflowing_samples(model, {name: x})
    keep = [i for i in range(x.shape[0]) if i not in set(excluded)]
    if not keep:
        raise HwqError("input: every sample overflows an accumulator in the golden model (outside the contract)")
    xk = x[keep]
    return xk, run_int(model, {name: xk}, keep_all=True), [int(i) for i in excluded]


def parse_dump(stdout: str, n_steps: int, n_samples: int) -> dict[int, np.ndarray]:
    """'L <step> <sample> v...' lines -> step -> (samples, values) array."""
    rows: dict[int, dict[int, list[str]]] = {}
    for line in stdout.splitlines():
        if line.startswith("L "):
            parts = line.split()
            rows.setdefault(int(parts[1]), {})[int(parts[2])] = parts[3:]
    out = {}
    for k in range(n_steps):
        per = rows.get(k, {})
        if len(per) != n_samples:
            continue
        vals = [per[s] for s in range(n_samples)]
        is_float = any("." in v or "e" in v or "n" in v for r in vals[:1] for v in r)
        out[k] = np.array(vals, dtype=np.float64 if is_float else np.int64)
    return out


def matches(model: Model, layer_name: str, got: np.ndarray | None, want: np.ndarray) -> bool:
    if got is None:
        return False
    want = want.reshape(want.shape[0], -1)
    if got.shape != want.shape:
        return False
    if isinstance(model.layers[layer_name], Softmax):
        return bool(np.all(np.abs(got - want) <= SOFTMAX_ATOL))
    return bool(np.array_equal(got, want))
