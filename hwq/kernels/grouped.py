"""Code-grouped rows: a sparse weight repacked so that each row's non-zeros are grouped by code.

Within each output row, the non-zero entries are stored group by group in one fixed order of
codes (the same for every row): a 16-bit count, then that many absolute 16-bit column indices.
The codes themselves are implicit (a group's position is its code), so the inner loop only
gathers and adds activations -- ``ldrh i, [g], #2; ldrb x, [in, i]; add s, x``, 3 Thumb-2
instructions per non-zero -- and each group ends with one multiply-accumulate (codebook,
ternary) or, for power-of-two weights, one shift per exponent level (cf. UCNN's weight
repetition). Both are exact modulo 2^32 (docs/semantics.md section 6: any summation order):

* ``abel`` (codebook, ternary), groups g = 0..G-1 with values v_g: a running sum R_g of the
  activations of groups 0..g gives ``sum_g v_g S_g = sum_g R_g (v_g - v_(g+1))`` (v_G = 0),
  one MLA by the stored difference per group and no reset of the running sum;
* ``horner`` (pow2), levels of exponent k from the largest down, each a positive and a
  negative group: ``s = (s << (k - k_next)) +- x ...``, ``s << (k_last - 1)`` at the end;
  shifts of 32 or more give 0, as in the semantics.

Zero weights (fillers, the zero code, a zero centroid) are not stored; groups that are empty
in every row are left out. Storage is 2 bytes per non-zero plus 2 bytes per (row, group)
plus 4 bytes per group difference: larger than the IR's 1-byte (code, rel) entries, so gen-c
uses this layout only where it is faster (``choose_grouped``, the rule the ARM estimate names
the kernel by as well) and reports the bytes.

With ``lanes`` > 1 (the MVE kernel of Cortex-M55: 8 uint16 lanes) each (row, group) is padded
to whole vectors: the count is the number of vectors and the padding entries hold the index
``cols``, which the kernel points at a zero it appends to its copy of the activations; every
vector is then three instructions (``VLDRH.U16`` of 8 indices, a gather load of the
activations, ``VADDVA``) with no predication and no pointer fix-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.ir.layers import WeightedLayer
from hwq.ir.values import CodebookValues, Pow2Values, TernaryValues
from hwq.kernels.cpus import KernelOptions
from hwq.kernels.method import code_bits

MAX_COLUMNS = 1 << 16  # absolute uint16 column indices
MAX_GROUPS = 128  # the kernel is unrolled over groups (7-bit pow2: 126); more only pay on very long rows
MAX_CODE_BYTES = 24 << 10  # unrolled gather code per kernel (Cortex-M55 ITCM holds code and weights)
ENTRY_BYTES = 12  # ldrh.w + ldr(s)b.w/ldr(s)h.w + add.w/sub.w: fixed 32-bit encodings
# instruction cost model (bench/bench_genc.py under qemu): per non-zero, per (row, group) for
# abel and horner, per row; the Thumb-2 loops (Cortex-M4/M55), the AArch64 loops (Cortex-A53)
# and gcc's code for the portable C loop
# (MVE: per vector of 8 padded entries)
COSTS = {"thumb2": (3.0, {"abel": 3.5, "horner": 2.5}, 20.0), "a64": (3.0, {"abel": 6.5, "horner": 5.5}, 20.0),
         "c": (5.5, {"abel": 6.0, "horner": 5.0}, 20.0), "mve": (3.0, {"abel": 3.5, "horner": 3.0}, 20.0)}
LANES = {"mve": 8}  # entries per vector of the path's gathers (1: one entry at a time)


@dataclass
class GroupSpec:
    op: str  # "add" | "sub": how the group's activations enter the running sum
    coef: int = -1  # abel: index into the difference table
    shift: int = 0  # horner: shift of the running sum after this group (0 = none)


@dataclass
class Grouped:
    mode: str  # abel | horner
    groups: list[GroupSpec]
    stream: np.ndarray  # uint16: per row, per group, count then column indices
    coef: np.ndarray  # uint32 differences v_g - v_(g+1) (abel), else empty
    max_count: int  # the largest count (entries, or vectors when lanes > 1)
    nnz: int
    final_shift: int = 0  # horner: shift after the last group
    lanes: int = 1  # entries per count unit: each (row, group) padded to a multiple (index = cols)
    units: int = 0  # sum of the counts: entries (lanes 1) or vectors the kernel runs per call

    def code_bytes(self) -> int:
        return len(self.groups) * (ENTRY_BYTES * self.max_count + 2 * (self.max_count + 1) + 12)


def _entries(layer: WeightedLayer):
    """(row, col, code) of every stored entry, codes unsigned as gen-c packs them."""
    w = layer.weight
    v = w.values
    rows, cols = w.matrix_shape
    if w.sparse is not None:
        r, c = w.sparse.coordinates()
    else:
        r, c = np.divmod(np.arange(rows * cols, dtype=np.int64), cols)
    if isinstance(v, CodebookValues):
        code = v.indices.astype(np.int64)
    elif isinstance(v, Pow2Values):
        code = v.codes.astype(np.int64)
    else:
        code = v.codes.astype(np.int64) & 3  # ternary: +1 -> 1, -1 -> 3
    return r.astype(np.int64), c.astype(np.int64), code


def group_layout(layer: WeightedLayer, lanes: int = 1) -> Grouped | None:
    """The code-grouped form of a codebook, pow2 or ternary weight, or None when it cannot be
    built (too many columns or groups); ``lanes`` > 1 pads every (row, group) to whole vectors."""
    v = layer.weight.values
    rows, cols = layer.weight.matrix_shape
    if not isinstance(v, (CodebookValues, Pow2Values, TernaryValues)) or cols + (lanes > 1) > MAX_COLUMNS:
        return None
    r, c, code = _entries(layer)
    final_shift = 0
    if isinstance(v, Pow2Values):
        b = v.bits
        kmask = (1 << (b - 1)) - 1
        k, neg = code & kmask, code >> (b - 1)
        keep = k > 0
        levels = sorted(set(k[keep].tolist()), reverse=True)
        order = [(lv, sgn) for lv in levels for sgn in (0, 1) if np.any(keep & (k == lv) & (neg == sgn))]
        gid = {key: i for i, key in enumerate(order)}
        g = _lookup(k * 2 + neg, {lv * 2 + sgn: i for (lv, sgn), i in gid.items()}, keep)
        specs = []
        for i, (lv, sgn) in enumerate(order):
            last_of_level = i + 1 == len(order) or order[i + 1][0] != lv
            nxt = order[i + 1][0] if i + 1 < len(order) else None
            specs.append(GroupSpec("sub" if sgn else "add", shift=(lv - nxt) if last_of_level and nxt else 0))
        final_shift = (order[-1][0] - 1) if order else 0
        coef = np.zeros(0, np.uint32)
        mode = "horner"
    else:
        if isinstance(v, CodebookValues):
            values = v.codebook.astype(np.int64)
        else:
            values = np.array([0, int(v.magnitudes[0]), 0, -int(v.magnitudes[1])], np.int64)
        keep = values[code] != 0
        used = sorted(set(code[keep].tolist()))
        g = _lookup(code, {cc: i for i, cc in enumerate(used)}, keep)
        vals = np.array([values[cc] for cc in used] + [0], np.int64)
        coef = ((vals[:-1] - vals[1:]) & 0xFFFFFFFF).astype(np.uint32)
        specs = [GroupSpec("add", coef=i) for i in range(len(used))]
        mode = "abel"
    n_groups = len(specs)
    if not 0 < n_groups <= MAX_GROUPS:
        return None
    sel = g >= 0
    r, c, g = r[sel], c[sel], g[sel]
    order_idx = np.lexsort((c, g, r))
    r, c, g = r[order_idx], c[order_idx], g[order_idx]
    flat = r * n_groups + g
    counts = np.bincount(flat, minlength=rows * n_groups)
    nnz = int(c.size)
    units = -(-counts // lanes)  # vectors per (row, group); entries when lanes == 1
    slot = 1 + units * lanes  # the count, then the entries (padded)
    start = np.concatenate([[0], np.cumsum(slot)[:-1]])
    stream = np.full(int(slot.sum()), cols, np.uint16)  # padding: index cols, a zero activation
    stream[start] = units
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])  # entries are sorted by (row, group)
    stream[start[flat] + 1 + np.arange(nnz) - first[flat]] = c
    max_count = int(units.max()) if units.size else 0
    return Grouped(mode, specs, stream, coef, max_count, nnz, final_shift, lanes, int(units.sum()))


def _lookup(key: np.ndarray, table: dict[int, int], keep: np.ndarray) -> np.ndarray:
    lut = np.full(int(key.max()) + 1 if key.size else 1, -1, np.int64)
    for kk, i in table.items():
        lut[kk] = i
    return np.where(keep, lut[key] if key.size else key, -1)


def use_grouped(gr: Grouped | None, rows: int, stored: int, path: str, current: tuple[float, float]) -> bool:
    """Grouped rows where the instruction model says they are faster than the IR's layout
    (``path``: thumb2, a64 or c; ``current``: instructions per stored entry and per row of the
    kernel they would replace)."""
    if gr is None or (path != "c" and gr.code_bytes() > MAX_CODE_BYTES):
        return False
    entry, group, row = COSTS[path]
    return entry * gr.units + rows * (group[gr.mode] * len(gr.groups) + row) < current[0] * stored + current[1] * rows


# gen-c's rough costs of the kernels code-grouped rows would replace (instructions; bench_genc.py:
# Cortex-M4, Cortex-A53): per stored entry the Thumb-2 byte-entry loops and gcc's code for the
# others, per dense MAC the shift kernels (Cortex-M55 MVE, Cortex-A53 NEON) and the MVE ternary
# lane masks; per row the requantization and set-up, per code the fold of bucket sums
THUMB2_PER_ENTRY, C_PER_ENTRY = 6.5, 10.0
SHIFTS_PER_MAC = {"mve": 0.85, "a64": 1.15}
PLANES_PER_MAC = 0.6
ROW_COST, BUCKET_PER_CODE = 30.0, 4.0


def choose_grouped(layer: WeightedLayer, method: str, opts: KernelOptions,
                   grouped: bool | None = None) -> tuple[Grouped | None, str | None]:
    """gen-c's choice of code-grouped rows for a layer whose kernel method (``hwq.kernels.method``)
    is ``method``: (the layout, the path whose kernel runs it: thumb2 | mve | a64 | None for the
    portable C loop), or (None, None) for the IR's layout. ``grouped`` True forces it wherever
    it can be built, False never; None (automatic): dense and CSR codebook / pow2 / ternary
    weights where ``use_grouped`` says faster on ``opts.grouped_path`` (MVE's vector gathers
    first, then the same core's one-entry loops) and the arrays fit ``opts.max_grouped_bytes``.
    The one rule gen-c packs by and the ARM estimate names the kernel of."""
    w = layer.weight
    v = w.values
    if grouped is False or method == "pairs" or not isinstance(v, (CodebookValues, Pow2Values, TernaryValues)):
        return None, None
    layout = "dense" if w.sparse is None else w.sparse.format
    path = opts.grouped_path
    if not (grouped or path and layout != "csc"):
        return None, None
    cb = code_bits(v)
    field_bits = cb if w.sparse is None else w.sparse.index_bits + cb
    n_codes = int(v.codebook.shape[0]) if isinstance(v, CodebookValues) else 1 << v.bits if isinstance(v, Pow2Values) else 4
    per_entry = (THUMB2_PER_ENTRY if opts.cheap_mla and field_bits == 8 and cb == 4 and layout == "csr"
                 else SHIFTS_PER_MAC[opts.shifts] if method == "shifts" else PLANES_PER_MAC if method == "planes"
                 else C_PER_ENTRY)
    per_row = ROW_COST + (BUCKET_PER_CODE * n_codes if method == "bucket" else 0.0)
    rows = w.matrix_shape[0]
    for p in [path] + (["thumb2"] if path in LANES else []):
        gr = group_layout(layer, LANES.get(p, 1))
        small = gr is not None and (opts.max_grouped_bytes is None
                                    or 2 * gr.stream.size + 4 * gr.coef.size <= opts.max_grouped_bytes)
        if gr is not None and (grouped or small and use_grouped(gr, rows, w.stored, p, (per_entry, per_row))):
            return gr, p
    return None, None
