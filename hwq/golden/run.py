"""Run a model: the bit-exact integer golden model, or the float64 reference."""

from __future__ import annotations

import math

import numpy as np

from hwq.errors import HwqError, SemanticsError
from hwq.golden import float_kernels as fk
from hwq.golden import int_kernels as ik
from hwq.golden.fixedpoint import round_half_away
from hwq.ir.layers import Add, AvgPool, Conv2d, Dense, Flatten, Input, MaxPool, ReLU, Softmax
from hwq.ir.model import Model
from hwq.ir.quant import QuantParams

CHUNK_ELEMENTS = 1 << 22  # largest activation of one chunk, in elements (one batch chunk)


def quantize(x: np.ndarray, q: QuantParams) -> np.ndarray:
    """Real -> integer grid: clamp(round_half_away(x / scale) + zero_point) in float64."""
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise HwqError("input: contains NaN or Inf")
    with np.errstate(over="ignore", invalid="ignore"):  # x / scale may overflow to +-inf: the clip saturates it
        grid = np.clip(round_half_away(x / q.scale) + q.zero_point, q.qmin, q.qmax)
    return grid.astype(np.int64)


def dequantize(v: np.ndarray, q: QuantParams) -> np.ndarray:
    return q.scale * (np.asarray(v, dtype=np.float64) - q.zero_point)


def _inputs(model: Model, x) -> dict[str, np.ndarray]:
    ins = model.inputs
    if isinstance(x, dict):
        missing = [i.name for i in ins if i.name not in x]
        if missing:
            raise HwqError(f"input: no data for graph input {missing[0]}")
        return {i.name: np.asarray(x[i.name]) for i in ins}
    if len(ins) != 1:
        raise HwqError(f"input: the model has {len(ins)} inputs; pass a dict by name")
    return {ins[0].name: np.asarray(x)}


def _same_batch(vals: dict[str, np.ndarray]) -> int:
    sizes = {name: a.shape[0] for name, a in vals.items()}
    if len(set(sizes.values())) > 1:
        raise HwqError("input: graph inputs have different batch sizes ("
                       + ", ".join(f"{k}: {v}" for k, v in sizes.items()) + ")")
    return next(iter(sizes.values()))


def _check_shape(inp: Input, arr: np.ndarray) -> np.ndarray:
    shape = tuple(inp.shape)
    if arr.shape == shape:
        arr = arr[None]
    if arr.shape[1:] != shape:
        raise HwqError(f"input: {inp.name} expects shape [N, {', '.join(map(str, shape))}], "
                       f"got {list(arr.shape)}")
    if arr.shape[0] == 0:
        raise HwqError(f"input: {inp.name} is an empty batch")
    return arr


def run_int(model: Model, x, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Evaluate the integer semantics. ``x``: integer arrays (taken as already quantized)
    or float arrays (quantized with each input's QuantParams). Returns int64 arrays by
    layer name (float64 for softmax); only the outputs unless ``keep_all``.
    """
    if not model.is_quantized:
        raise HwqError(f"{model.name}: has no activation quantization; run it in float mode "
                       "or quantize it (hwq compress --act-bits 8 --data digits)")
    vals: dict[str, np.ndarray] = {}
    for name, arr in _inputs(model, x).items():
        inp = model.layers[name]
        arr = _check_shape(inp, arr)
        if np.issubdtype(arr.dtype, np.integer):
            if arr.size and (arr.min() < inp.quant.qmin or arr.max() > inp.quant.qmax):
                raise HwqError(f"input: {name} holds values outside [{inp.quant.qmin}, {inp.quant.qmax}]")
            vals[name] = arr.astype(np.int64)
        elif np.issubdtype(arr.dtype, np.floating):
            vals[name] = quantize(arr, inp.quant)
        else:
            raise HwqError(f"input: dtype {arr.dtype} is neither integer nor float")
    prepared: dict = {}
    return _in_chunks(model, vals, keep_all, lambda chunk, first: _int_chunk(model, chunk, prepared, first))


def _int_chunk(model: Model, vals: dict[str, np.ndarray], prepared: dict, first: int) -> dict[str, np.ndarray]:
    for layer in model.topo_order():
        if isinstance(layer, Input):
            continue
        src = [vals[i] for i in layer.inputs]
        qin = [model.layers[i].quant for i in layer.inputs]
        if isinstance(layer, (Dense, Conv2d)):
            if layer.name not in prepared:  # once per run, shared by every chunk
                prepared[layer.name] = ik.prepare(layer, qin[0])
            kernel = ik.dense if isinstance(layer, Dense) else ik.conv2d
            y = kernel(layer, src[0], qin[0], prepared[layer.name], first)
        elif isinstance(layer, ReLU):
            y = ik.relu(src[0], layer.quant)
        elif isinstance(layer, MaxPool):  # a max needs no rounding: one kernel for both runs
            y = fk.maxpool(layer, src[0])
        elif isinstance(layer, AvgPool):
            y = ik.avgpool(layer, src[0], layer.quant)
        elif isinstance(layer, Flatten):
            y = src[0].reshape(src[0].shape[0], -1)
        elif isinstance(layer, Add):
            y = ik.add(layer, src[0], qin[0], src[1], qin[1])
        elif isinstance(layer, Softmax):
            y = fk.softmax(dequantize(src[0], qin[0]))
        else:  # pragma: no cover - validate() rejects unknown kinds
            raise HwqError(f"{layer.name}: kind {layer.KIND} has no integer kernel")
        vals[layer.name] = y
    return vals


def _in_chunks(model: Model, inputs: dict[str, np.ndarray], keep_all: bool, run_chunk) -> dict[str, np.ndarray]:
    """Run ``run_chunk(chunk_inputs, first_index)`` over batch chunks and concatenate.

    Samples are independent (docs/semantics.md section 1), so chunking never changes a
    value; it bounds the working memory (activations of every layer of one chunk) by
    CHUNK_ELEMENTS instead of letting it grow with the batch.
    """
    n = _same_batch(inputs)
    per_sample = max((math.prod(s) for s in model.shapes().values()), default=1)
    step = max(1, CHUNK_ELEMENTS // max(1, per_sample))
    keep = None if keep_all else set(model.outputs)
    parts: dict[str, list[np.ndarray]] = {}
    for first in range(0, n, step):
        out = run_chunk({k: v[first:first + step] for k, v in inputs.items()}, first)
        for k, v in out.items():
            if keep is None or k in keep:
                parts.setdefault(k, []).append(v)
    names = list(parts) if keep_all else list(model.outputs)
    return {k: parts[k][0] if len(parts[k]) == 1 else np.concatenate(parts[k]) for k in names}


def overflowing_samples(model: Model, x) -> np.ndarray:
    """Batch indices (ascending, int64) for which ``run_int`` raises an accumulator overflow
    in any layer: the samples a back-end comparison excludes (docs/semantics.md section 8).

    Samples are independent, so the remaining ones are re-run until none overflows.
    """
    inputs = {name: _check_shape(model.layers[name], arr) for name, arr in _inputs(model, x).items()}
    keep = np.arange(_same_batch(inputs))
    bad: list[int] = []
    while keep.size:
        try:
            run_int(model, {name: arr[keep] for name, arr in inputs.items()})
            break
        except SemanticsError as e:
            if e.sample is None:
                raise
            bad += [int(keep[i]) for i in e.samples]
            keep = np.delete(keep, list(e.samples))
    return np.array(sorted(bad), dtype=np.int64)


def run_float(model: Model, x, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Float64 reference: the weights as encoded (``dense_float``), no activation rounding."""
    vals: dict[str, np.ndarray] = {}
    for name, arr in _inputs(model, x).items():
        q = model.layers[name].quant
        if np.issubdtype(arr.dtype, np.integer) and q is not None:
            arr = dequantize(arr, q)  # integers are quantized values, as in run_int
        arr = _check_shape(model.layers[name], np.asarray(arr, dtype=np.float64))
        if not np.isfinite(arr).all():
            raise HwqError("input: contains NaN or Inf")
        vals[name] = arr
    return _in_chunks(model, vals, keep_all, lambda chunk, first: _float_chunk(model, chunk))


def _float_chunk(model: Model, vals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    for layer in model.topo_order():
        if isinstance(layer, Input):
            continue
        src = [vals[i] for i in layer.inputs]
        if isinstance(layer, Dense):
            y = fk.dense(layer, src[0])
        elif isinstance(layer, Conv2d):
            y = fk.conv2d(layer, src[0])
        elif isinstance(layer, ReLU):
            y = np.maximum(src[0], 0.0)
        elif isinstance(layer, MaxPool):
            y = fk.maxpool(layer, src[0])
        elif isinstance(layer, AvgPool):
            y = fk.avgpool(layer, src[0])
        elif isinstance(layer, Flatten):
            y = src[0].reshape(src[0].shape[0], -1)
        elif isinstance(layer, Add):
            y = src[0] + src[1]
        elif isinstance(layer, Softmax):
            y = fk.softmax(src[0])
        else:  # pragma: no cover
            raise HwqError(f"{layer.name}: kind {layer.KIND} has no float kernel")
        vals[layer.name] = y
    return vals


def output_as_float(model: Model, name: str, y: np.ndarray) -> np.ndarray:
    """Dequantize an integer output (softmax outputs are already float)."""
    layer = model.layers[name]
    return y if layer.quant is None else dequantize(y, layer.quant)
