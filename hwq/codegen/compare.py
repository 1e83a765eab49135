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


def integer_inputs(model: Model, x, n_default: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """Each graph input's samples on its integer grid, by input name: ``x`` (one array for a
    model with one input, else a dict by input name; floats quantized, integers range-checked)
    or ``n_default`` seeded random samples over each input's whole range."""
    names = [i.name for i in model.inputs]
    if x is None:
        rng = np.random.default_rng(seed)
        return {i.name: rng.integers(i.quant.qmin, i.quant.qmax + 1, (n_default,) + tuple(i.shape))
                for i in model.inputs}
    if not isinstance(x, dict):
        if len(names) != 1:
            raise HwqError(f"input: {model.name} has {len(names)} inputs ({', '.join(names)}): "
                           "give one array per input (NAME=x.npy or one .npz)")
        x = {names[0]: x}
    unknown = [n for n in x if n not in names]
    if unknown:
        raise HwqError(f"input: the model has no input {unknown[0]!r} (inputs: {', '.join(names)})")
    missing = [n for n in names if n not in x]
    if missing:
        raise HwqError(f"input: no array for the model's input {missing[0]!r}")
    out = {n: _integer_input(model.layers[n], np.asarray(x[n])) for n in names}
    counts = {n: int(a.shape[0]) for n, a in out.items()}
    if len(set(counts.values())) > 1:
        raise HwqError("input: the inputs hold different numbers of samples ("
                       + ", ".join(f"{n}: {c}" for n, c in counts.items()) + ")")
    return out


def _integer_input(inp, x: np.ndarray) -> np.ndarray:
    q = inp.quant
    shape = tuple(inp.shape)
    if x.shape == shape:
        x = x[None]
    if x.shape[1:] != shape or x.shape[0] == 0:
        raise HwqError(f"input: {inp.name} expects shape [N, {', '.join(map(str, shape))}], got {list(x.shape)}")
    if np.issubdtype(x.dtype, np.floating):
        return quantize(x, q)
    if x.size and (x.min() < q.qmin or x.max() > q.qmax):
        raise HwqError(f"input: {inp.name} holds values outside [{q.qmin}, {q.qmax}]")
    return x.astype(np.int64)


def golden(model: Model, x: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[int]]:
    """(kept inputs by name, golden values of every layer on them, excluded sample indices)."""
    excluded = overflowing_samples(model, x)
    n = next(iter(x.values())).shape[0]
    keep = [i for i in range(n) if i not in set(excluded)]
    if not keep:
        raise HwqError("input: every sample overflows an accumulator in the golden model (outside the contract)")
    xk = {name: a[keep] for name, a in x.items()}
    return xk, run_int(model, xk, keep_all=True), [int(i) for i in excluded]


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
