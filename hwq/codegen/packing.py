"""Weight packing: an IR weight -> the const C arrays a kernel reads in compressed form.

Nothing is decompressed: codes keep their bit width (b-bit fields packed LSB-first into a
byte stream, or native uint8/uint16/uint32 arrays when the field is exactly that wide),
sparse entries keep their relative index next to the code in one field (``rel`` in the low
``index_bits`` bits, the code above it), pointers stay pointers and codebooks stay tables.

The input zero point is folded into the bias once here (docs/semantics.md section 6):
``sum_i w[o,i] (x_i - zx) = sum_i w[o,i] x_i - zx * sum_i w[o,i]``, exact modulo 2^32, so
kernels read raw activations and padding holds ``zx``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwq.ir.layers import WeightedLayer
from hwq.ir.values import CodebookValues, Int8Values, PQValues, Pow2Values, TernaryValues
from hwq.kernels.cpus import KernelOptions
from hwq.kernels.grouped import Grouped, choose_grouped
from hwq.kernels.method import code_bits, kernel_method

PAD_BYTES = 8  # the generic field reader looks up to 5 bytes past a field's first byte


@dataclass
class CArray:
    name: str
    ctype: str  # element type
    values: np.ndarray  # 1-D integer array (already in the element type's range)

    @property
    def nbytes(self) -> int:
        return int(self.values.size) * {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2,
                                         "int32_t": 4, "uint32_t": 4}[self.ctype]


@dataclass
class Packed:
    """What a weighted layer's kernel needs: its arrays and the shape of its fields."""

    encoding: str  # int8, codebook, pow2, ternary, pq
    layout: str  # dense, csr, csc
    arrays: dict[str, CArray] = field(default_factory=dict)  # role -> array
    field_bits: int = 8  # width of one stored field (rel + code when sparse)
    index_bits: int = 0
    code_bits: int = 8
    method: str = "plain"  # plain | bucket (sum per code, then one product per code) | table
    n_codes: int = 0  # buckets / table entries
    pow2_bits: int = 0
    pq: tuple[int, int, int] = (0, 0, 0)  # M, K, d
    ternary: tuple[int, int] = (0, 0)  # pos, neg
    grouped: Grouped | None = None  # method "grouped": the code-grouped rows (hwq/kernels/grouped.py)

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


def pack_fields(values: np.ndarray, width: int) -> tuple[str, np.ndarray]:
    """Store unsigned ``width``-bit fields: native arrays for 8/16/32 bits, else a bit stream."""
    values = np.asarray(values, dtype=np.uint64)
    if width == 8:
        return "uint8_t", values.astype(np.uint8)
    if width == 16:
        return "uint16_t", values.astype(np.uint16)
    if width == 32:
        return "uint32_t", values.astype(np.uint32)
    n = values.size
    bits = ((values[:, None] >> np.arange(width, dtype=np.uint64)) & 1).astype(np.uint8).reshape(-1)
    stream = np.packbits(bits, bitorder="little") if n else np.zeros(0, np.uint8)
    return "uint8_t", np.concatenate([stream, np.zeros(PAD_BYTES, np.uint8)])


def _codes(values) -> tuple[np.ndarray, int]:
    """Unsigned per-entry codes and their width (``hwq.kernels.method.code_bits``, the width the
    kernel rule reads)."""
    if isinstance(values, Int8Values):
        codes = values.q.astype(np.int64) & 0xFF
    elif isinstance(values, CodebookValues):
        codes = values.indices.astype(np.int64)
    elif isinstance(values, Pow2Values):
        codes = values.codes.astype(np.int64)
    elif isinstance(values, TernaryValues):
        codes = values.codes.astype(np.int64) & 3  # +1 -> 1, -1 -> 3, 0 -> 0
    else:
        raise TypeError(type(values).__name__)  # pragma: no cover - pq handled by the caller
    return codes, code_bits(values)


def folded_bias(layer: WeightedLayer, zx: int) -> np.ndarray:
    """bias_q - zx * rowsum(w_int), modulo 2^32 (uint32): two's-complement int64 viewed as
    uint64 wraps modulo 2^64, a multiple of 2^32, so the low 32 bits are exact."""
    w = layer.weight.dense_int().reshape(layer.weight.channels, -1).view(np.uint64)
    rows = w.sum(axis=1, dtype=np.uint64)
    b = np.zeros(w.shape[0], np.int64) if layer.bias_q is None else layer.bias_q.astype(np.int64)
    with np.errstate(over="ignore"):
        out = b.view(np.uint64) - np.uint64(zx % (1 << 32)) * rows
    return (out & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def pair_table(codebook: np.ndarray) -> np.ndarray:
    """PT[b] = cb[b & 15] in the low and cb[b >> 4] in the high halfword (int16 each)."""
    cb = np.zeros(16, np.int64)
    cb[:codebook.size] = codebook
    b = np.arange(256)
    return ((cb[b & 15] & 0xFFFF) | ((cb[b >> 4] & 0xFFFF) << 16)).astype(np.uint32).view(np.int32)


def shift_control(bits: int = 4) -> np.ndarray:
    """Per code, the lane control halfword of the shift kernels: the low byte the shift k-1 (16
    for k = 0: shifted out), 0xFF00 for a negative weight."""
    c = np.arange(1 << bits)
    k, neg = c & ((1 << (bits - 1)) - 1), c >> (bits - 1)
    return np.where(k > 0, k - 1, 16) | np.where((k > 0) & (neg == 1), 0xFF00, 0)


def pack(layer: WeightedLayer, zx: int, prefix: str, opts: KernelOptions = KernelOptions(),
         grouped: bool | None = None) -> Packed:
    """The arrays of ``layer``'s kernel under the target's kernel ``opts`` (``hwq.kernels.cpus``):
    the method (``hwq.kernels.method``: ``opts.dsp`` dense 4-bit codebooks from a table of value
    pairs, ``opts.shifts`` dense 4-bit pow2 by per-lane shifts, ``opts.planes`` dense ternary as
    two 16-bit lane masks per 16 columns, 2 bits a weight, for MVE's predicated adds), then
    ``grouped``: repack codebook/pow2/ternary weights as code-grouped rows -- None: where
    ``hwq.kernels.grouped.choose_grouped`` says (dense and CSR weights, faster by the
    instruction model of ``opts.grouped_path``, within ``opts.max_grouped_bytes``); True: any
    layout (dense, CSR, CSC) where it can be built; False: never."""
    w = layer.weight
    v = w.values
    rows, cols = w.matrix_shape
    arrays = {"bias": CArray(f"{prefix}_bias", "uint32_t", folded_bias(layer, zx))}
    rq = layer.requant
    arrays["rq_exp"] = CArray(f"{prefix}_rq_exp", "int8_t", rq.exponent.astype(np.int8))
    if rq.mode == "multiplier":
        arrays["rq_mul"] = CArray(f"{prefix}_rq_mul", "int32_t", rq.multiplier.astype(np.int32))
    if isinstance(v, PQValues):
        m, k, d = v.codebook.shape
        ct, data = pack_fields(v.assignments.reshape(-1), max(1, v.bits))
        arrays["codes"] = CArray(f"{prefix}_assign", ct, data)
        arrays["codebook"] = CArray(f"{prefix}_codebook", "int32_t", v.codebook.reshape(-1).astype(np.int32))
        return Packed("pq", "dense", arrays, field_bits=max(1, v.bits), code_bits=max(1, v.bits), pq=(m, k, d))
    codes, cb = _codes(v)
    p = Packed(v.TYPE, "dense" if w.sparse is None else w.sparse.format, arrays, code_bits=cb)
    if w.sparse is None:
        if isinstance(v, Int8Values):  # plain int8 matrix, the CMSIS-NN layout
            arrays["codes"] = CArray(f"{prefix}_w", "int8_t", v.q.astype(np.int8))
            p.field_bits = 8
        else:
            ct, data = pack_fields(codes, cb)
            arrays["codes"] = CArray(f"{prefix}_codes", ct, data)
            p.field_bits = cb
    else:
        sp = w.sparse
        p.index_bits = sp.index_bits
        p.field_bits = sp.index_bits + cb
        # code in the low bits, rel above it: ARM adds "f, lsr #code_bits" to a pointer in one instruction
        ct, data = pack_fields(codes | (sp.rel.astype(np.int64) << cb), p.field_bits)
        arrays["codes"] = CArray(f"{prefix}_entries", ct, data)
        pt = "uint16_t" if int(sp.ptr[-1]) < (1 << 16) else "uint32_t"
        arrays["ptr"] = CArray(f"{prefix}_ptr", pt, sp.ptr.astype(np.uint32 if pt == "uint32_t" else np.uint16))
    p.method = kernel_method(layer, cheap_mla=opts.cheap_mla, dsp=opts.dsp, shifts=opts.shifts is not None,
                             planes=opts.planes)
    if p.method == "pairs":
        arrays["pairs"] = CArray(f"{prefix}_pairs", "int32_t", pair_table(v.codebook))
        p.n_codes = int(v.codebook.shape[0])
        return p
    if isinstance(v, CodebookValues):
        arrays["codebook"] = CArray(f"{prefix}_codebook", "int32_t", v.codebook.astype(np.int32))
        p.n_codes = int(v.codebook.shape[0])
    elif isinstance(v, Pow2Values):
        p.pow2_bits = v.bits
        p.n_codes = 1 << v.bits
        if p.method == "shifts":
            h = shift_control(v.bits)
            if opts.shifts == "mve":  # per code byte (two weights): both lane controls
                b = np.arange(256)
                arrays["shifts"] = CArray(f"{prefix}_shifts", "uint32_t", (h[b & 15] | h[b >> 4] << 16).astype(np.uint32))
            else:  # the two TBL tables: shift bytes, sign bytes
                arrays["shifts"] = CArray(f"{prefix}_shifts", "uint8_t", np.concatenate([h & 255, h >> 8]).astype(np.uint8))
            # every negative weight's lane is -(x << s) - 1: its row's bias holds the +1
            neg = ((codes.reshape(rows, cols) >> (v.bits - 1)) & 1).sum(axis=1).astype(np.uint64)
            arrays["bias"].values = ((arrays["bias"].values.astype(np.uint64) + neg) & 0xFFFFFFFF).astype(np.uint32)
    elif isinstance(v, TernaryValues):
        p.ternary = (int(v.magnitudes[0]), int(v.magnitudes[1]))
        p.n_codes = 4
        if p.method == "planes":  # MVE: per 16 columns, the +1 and the -1 lanes as two masks
            nb = -(-cols // 16)
            c = np.zeros((rows, nb * 16), np.int64)
            c[:, :cols] = v.codes.reshape(rows, cols)
            bit = np.left_shift(1, np.arange(16, dtype=np.int64))
            pos = ((c == 1).reshape(rows, nb, 16) * bit).sum(axis=2)
            neg = ((c == -1).reshape(rows, nb, 16) * bit).sum(axis=2)
            arrays["codes"] = CArray(f"{prefix}_planes", "uint32_t", (pos | neg << 16).reshape(-1).astype(np.uint32))
    gr = choose_grouped(layer, p.method, opts, grouped)[0]
    if gr is not None:
        if p.method == "shifts":  # back to the IR's bias
            arrays["bias"] = CArray(f"{prefix}_bias", "uint32_t", folded_bias(layer, zx))
            del arrays["shifts"]
        del arrays["codes"]
        arrays.pop("ptr", None)
        arrays.pop("codebook", None)  # the differences replace the codebook
        arrays["codes"] = CArray(f"{prefix}_groups", "uint16_t", gr.stream)
        if gr.mode == "abel":
            arrays["coef"] = CArray(f"{prefix}_coef", "uint32_t", gr.coef)
        p.method, p.grouped = "grouped", gr
    return p
