"""Work per layer: the multiply-accumulates a layer needs and the operations each encoding runs.

Three counts, after Sparseloop's taxonomy (algorithmic / effective / actual work), all for
one inference of one sample:

* ``macs_dense``: the algorithmic work, every weight times every input it meets
  (dense: O*I; conv: O*C*KH*KW*OH*OW, padding taps included).
* ``macs_effective``: non-zero weight x non-zero activation pairs. Padding taps are zero
  activations; other activations count with their non-zero fraction (measured by the
  golden model, given, or 1.0 when unknown).
* ``macs_executed``: the slots the encoding's kernel really runs. A dense layout runs every
  MAC; CSR runs every stored entry (fillers included) at every output position; CSC skips
  the columns whose activation is zero (EIE) and runs the stored entries of the others;
  product quantization runs Q-CNN's Table 1 count (seed 001): FC ``C_s*K + C_t*M``,
  conv ``d_s^2*C_s*K + d_t^2*C_t*d_k^2*M`` (look-up table build + look-up-adds; Q-CNN's
  "FLOP" is this multiply-add count).

1 MAC = 2 FLOPs (a multiply and an add). ``ops`` is the operation mix, keyed
``kind:width``: ``mult:AxW`` (activation bits x weight bits), ``add:B`` (adds and subtracts),
``shift:B``, ``lookup:B`` (a codebook / table read of B bits), ``compare:B``,
``requant:multiplier|shift|divide``, ``fp_mult:32``, ``fp_add:32``, ``fp_exp:32``, ``fp_div:32``.
Counts come from the sparse pointers and relative indices; a weight is never densified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwq.errors import HwqError
from hwq.ir.layers import Add, AvgPool, Conv2d, Dense, Flatten, Input, Layer, MaxPool, ReLU, Softmax, WeightedLayer
from hwq.ir.values import (CodebookValues, Float32Values, Int8Values, PQValues, Pow2Values, TernaryValues,
                           Values)
from hwq.ir.weight import Weight

FLOPS_PER_MAC = 2


@dataclass
class Work:
    macs_dense: int = 0
    macs_effective: float = 0.0
    macs_executed: float = 0.0
    ops: dict[str, float] = field(default_factory=dict)
    slots: float = 0.0  # lane operations for a roofline: executed MACs + element-wise operations

    @property
    def flops_dense(self) -> int:
        return FLOPS_PER_MAC * self.macs_dense

    @property
    def flops_effective(self) -> float:
        return FLOPS_PER_MAC * self.macs_effective

    def count(self, key: str, n: float) -> None:
        if n:
            self.ops[key] = self.ops.get(key, 0.0) + float(n)


# --------------------------------------------------------------------------- weights
def entry_nonzero(v: Values) -> np.ndarray:
    """Per stored code: does it decode to a non-zero weight (bool, one byte per entry)."""
    if isinstance(v, Float32Values):
        return v.data != 0
    if isinstance(v, Int8Values):
        return v.q != 0
    if isinstance(v, CodebookValues):
        return (v.codebook != 0)[v.indices]
    if isinstance(v, Pow2Values):
        return v.codes != 0
    if isinstance(v, TernaryValues):
        pos, neg = (int(m) for m in v.magnitudes)
        return np.array([neg != 0, False, pos != 0])[v.codes.astype(np.intp) + 1]
    return v.int_values() != 0


def _pq_column_nnz(w: Weight) -> np.ndarray:
    """Non-zero weights per matrix-view column of a PQ weight, from assignment counts."""
    v: PQValues = w.values  # type: ignore[assignment]
    m, k, d = v.codebook.shape
    nz = v.codebook != 0  # (M, K, d)
    a = v.assignments.reshape(w.channels, -1, m)  # (O, taps, M)
    taps = a.shape[1]
    counts = np.zeros((taps, m, k), np.int64)
    for t in range(taps):
        for j in range(m):
            counts[t, j] = np.bincount(a[:, t, j].astype(np.intp), minlength=k)[:k]
    per = np.einsum("tmk,mkd->mdt", counts, nz.astype(np.int64))  # (M, d, taps)
    return per.reshape(m * d * taps)  # column (m*d + j)*taps + tap: C order of (C, KH, KW)


def column_counts(w: Weight) -> tuple[np.ndarray, np.ndarray]:
    """(non-zero weights, stored entries) per column of the matrix view (int64 arrays)."""
    rows, cols = w.matrix_shape
    if isinstance(w.values, PQValues):
        return _pq_column_nnz(w), np.full(cols, rows, np.int64)
    nz = entry_nonzero(w.values)
    sp = w.sparse
    if sp is None:
        per = np.zeros(cols, np.int64)
        step = max(1, (1 << 24) // max(cols, 1))  # row chunks: never a second full-size copy
        for r0 in range(0, rows, step):
            per += np.count_nonzero(nz[r0 * cols:(r0 + step) * cols].reshape(-1, cols), axis=0)
        return per, np.full(cols, rows, np.int64)
    if sp.format == "csc":
        stored = np.diff(sp.ptr).astype(np.int64)
        per = np.zeros(cols, np.int64)
        live = np.flatnonzero(stored)  # reduceat over the non-empty columns' runs only
        if live.size:
            per[live] = np.add.reduceat(nz.view(np.uint8), sp.ptr[:-1][live], dtype=np.int64)
        return per, stored
    _, c = sp.coordinates()
    return np.bincount(c, weights=nz, minlength=cols).astype(np.int64), np.bincount(c, minlength=cols)


def weight_nnz(w: Weight) -> int:
    if isinstance(w.values, PQValues):
        return int(_pq_column_nnz(w).sum())
    return int(np.count_nonzero(entry_nonzero(w.values)))


# --------------------------------------------------------------------------- activations
def tap_activity(layer: WeightedLayer, nonzero: np.ndarray | float, in_shape) -> np.ndarray:
    """Per matrix-view column: non-zero input values that column meets over all output positions.

    ``nonzero`` is the expected non-zero fraction of every input element (per-sample shape),
    or one number for all of them. Conv padding taps meet zeros. Dense: the column's own
    input (one output position).
    """
    if isinstance(layer, Dense):
        return np.broadcast_to(np.asarray(nonzero, np.float64), (int(np.prod(in_shape)),)).reshape(-1)
    assert isinstance(layer, Conv2d)
    c, h, wd = in_shape
    kh, kw = layer.kernel
    sh, sw = layer.stride
    t, l, b, r = layer.padding
    _, oh, ow = layer.out_shape([(c, h, wd)])
    if np.ndim(nonzero) == 0:  # separable: valid output rows x valid output columns per tap
        rows = [sum(0 <= p * sh + i - t < h for p in range(oh)) for i in range(kh)]
        cols = [sum(0 <= q * sw + j - l < wd for q in range(ow)) for j in range(kw)]
        tap = float(nonzero) * np.outer(rows, cols)
        return np.broadcast_to(tap, (c, kh, kw)).reshape(-1)
    padded = np.pad(np.asarray(nonzero, np.float64), ((0, 0), (t, b), (l, r)))
    out = np.empty((c, kh, kw))
    for i in range(kh):
        for j in range(kw):
            out[:, i, j] = padded[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw].sum(axis=(1, 2))
    return out.reshape(-1)


def output_positions(layer: WeightedLayer, in_shape) -> int:
    if isinstance(layer, Conv2d):
        _, oh, ow = layer.out_shape([in_shape])
        return int(oh * ow)
    return 1


# --------------------------------------------------------------------------- per layer
def _act_bits(model, layer: Layer) -> int:
    q = model.layers[layer.inputs[0]].quant if layer.inputs else None
    return q.bits if q is not None else 32


def _slot_ops(work: Work, w: Weight, a: int, acc: int, slots: float) -> None:
    """The operations of ``slots`` executed weight x activation steps of an element-wise codec."""
    v = w.values
    if isinstance(v, Float32Values):
        work.count("fp_mult:32", slots)
        work.count("fp_add:32", slots)
    elif isinstance(v, Int8Values):
        work.count(f"mult:{a}x8", slots)
        work.count(f"add:{acc}", slots)
    elif isinstance(v, CodebookValues):
        work.count(f"lookup:{v.value_bits}", slots)
        work.count(f"mult:{a}x{v.value_bits}", slots)
        work.count(f"add:{acc}", slots)
    elif isinstance(v, Pow2Values):  # multiply = left shift + conditional negate (an add/sub)
        work.count(f"shift:{acc}", slots)
        work.count(f"add:{acc}", slots)
    elif isinstance(v, TernaryValues):  # add or subtract into one of two sums; scaled per output
        work.count(f"add:{acc}", slots)
    else:  # pragma: no cover - every codec is listed
        raise HwqError(f"no operation model for {v.TYPE} weights")
    if w.sparse is not None:  # position += rel + 1 for every stored entry walked
        work.count(f"add:{max(1, w.matrix_shape[0 if w.sparse.format == 'csc' else 1].bit_length())}", slots)


def weighted_work(model, layer: WeightedLayer, in_shape, nonzero: np.ndarray | float) -> Work:
    """Work of a dense or conv layer whose input has non-zero fractions ``nonzero`` (per
    element, or one number)."""
    w = layer.weight
    rows, cols = w.matrix_shape
    positions = output_positions(layer, in_shape)
    outputs = rows * positions
    work = Work(macs_dense=int(rows) * int(cols) * positions)
    seen = tap_activity(layer, nonzero, in_shape)  # (cols,)
    nnz, stored = column_counts(w)
    work.macs_effective = float(nnz @ seen)
    a, acc = _act_bits(model, layer), layer.acc_bits
    if isinstance(w.values, PQValues):
        v = w.values
        m, k, d = v.codebook.shape
        taps = cols // (m * d)
        pix = int(np.prod(in_shape[1:])) if isinstance(layer, Conv2d) else 1  # d_s^2 (unpadded)
        build = pix * (m * d) * k  # d_s^2 * C_s * K: every input sub-vector against every codeword
        gather = outputs * taps * m  # d_t^2 * C_t * d_k^2 * M
        work.macs_executed = float(build + gather)
        work.count(f"mult:{a}x{v.value_bits}", build)
        work.count(f"add:{acc}", build + gather)
        work.count(f"lookup:{acc}", gather)
    else:
        if w.sparse is None:
            executed = float(work.macs_dense)
        elif w.sparse.format == "csr":
            executed = float(stored.sum()) * positions
        else:
            executed = float(stored @ seen)
        work.macs_executed = executed
        _slot_ops(work, w, a, acc, executed)
        if isinstance(w.values, TernaryValues):  # pos * sum(+) - neg * sum(-)
            work.count(f"mult:{acc}x16", 2 * outputs)
            work.count(f"add:{acc}", outputs)
    if layer.bias_q is not None or layer.bias is not None:
        work.count("fp_add:32" if layer.quant is None else f"add:{acc}", outputs)
    if layer.requant is not None:
        work.count(f"requant:{layer.requant.mode}", outputs)
    work.slots = work.macs_executed + outputs
    return work


def elementwise_work(model, layer: Layer, in_shapes, out_shape) -> Work:
    """Work of a layer without weights (relu, pools, add, flatten, softmax, input)."""
    work = Work()
    n_out = int(np.prod(out_shape, dtype=np.int64))
    a = _act_bits(model, layer) if layer.inputs else 32
    if isinstance(layer, (Input, Flatten)):
        return work
    if isinstance(layer, ReLU):
        work.count(f"compare:{a}", n_out)
    elif isinstance(layer, MaxPool):
        work.count(f"compare:{a}", n_out * (layer.kernel[0] * layer.kernel[1] - 1))
    elif isinstance(layer, AvgPool):
        work.count("add:32", n_out * (layer.kernel[0] * layer.kernel[1] - 1))
        work.count("requant:divide", n_out)
    elif isinstance(layer, Add):
        work.count("add:32", n_out)
        if layer.requant is not None:
            for rq in layer.requant:
                work.count(f"requant:{rq.mode}", n_out)
    elif isinstance(layer, Softmax):
        work.count("fp_exp:32", n_out)
        work.count("fp_add:32", n_out)
        work.count("fp_div:32", n_out)
    else:  # pragma: no cover - every kind is listed
        raise HwqError(f"layer {layer.name}: no work model for kind {layer.KIND}")
    work.slots = float(sum(work.ops.values()))
    return work
