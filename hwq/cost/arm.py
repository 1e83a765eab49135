"""The ARM CPU targets (``host``, ``cortex-a53``, ``cortex-a72``, ``cortex-m4``, ``cortex-m55``):
an instruction model of ``hwq gen-c``'s kernels, fitted on exact qemu counts.

Per weighted layer: instructions = sum of coefficient x term over the kernel's loop trip
counts (``features``: per MAC / stored entry visited / non-zero, per row, per column, per call,
the SIMD loops' scalar tails, the PQ table, the conv im2col per output pixel), with the
coefficients per target, gen-c kernel and code width from
``hwq/cost/arm_models/genc_qemu_fit.json`` (bench/bench_genc.py's qemu counts, fitted by
bench/fit_arm_model.py; provenance and fit error are in the file), plus a measured per-row
cost for per-channel or shift requantization (``requant_per_row``; the kernel fits ran
per-tensor multiplier requantization). cycles = instructions x ``cpi`` (default 1: an
ASSUMPTION -- qemu counts instructions, not cycles; an in-order Cortex-M4 runs most of these
at 1-2 cycles).

* kernel: the one gen-c generates, by its rule (``hwq.kernels``, shared with gen-c): the
  method (``method.py``: pair table, per-lane shifts, lane masks, table / plain, bucket /
  plain; a method whose counts are not in the fit yet is not chosen), then code-grouped rows
  or not (``grouped.choose_grouped``: gen-c's rough cost and its 40 %-of-flash cap on Cortex-M);
  the byte-entry Thumb-2 loops only for 4-bit codes with 4-bit indices.
* d: measured by the golden model (``--input``), given (``--act-density``), or 1.0; the fit
  saw d = 1 and d = 0.19. With ``--input``, CSC kernels use the entries they really visit.
* no fitted model (an encoding or layout not measured; target ``host``, which is not measured
  under qemu and uses the Cortex-A53 fit): the layer's ``extra["model"]`` says what was used
  instead; nothing is made up silently.
  Layers without weights count 1 instruction per element-wise op (assumption).

Memory: Cortex-M keeps weights in flash and activations in RAM (the boards' sizes,
``hwq.kernels.cpus``); Cortex-A and host read both from DRAM (no cache model).
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from hwq.cost.roofline import Roofline
from hwq.cost.targets import LayerCost, LayerCounts, Param, Target
from hwq.cost.traffic import Level
from hwq.ir.layers import Conv2d, Dense, Flatten, Input, WeightedLayer
from hwq.kernels.cpus import CPUS
from hwq.kernels.grouped import choose_grouped, group_layout
from hwq.kernels.method import kernel_method

FIT_FILE = Path(__file__).parent / "arm_models" / "genc_qemu_fit.json"

# per target: typical clock (documented in docs/estimate.md) and whose fit it uses; its SIMD
# extension and memories are gen-c's (hwq.kernels.cpus: the qemu boards mps2-an386 for
# Cortex-M4, mps3-an547 for Cortex-M55)
ARM_TARGETS = {
    "host": dict(clock_hz=3.0e9, fit="cortex-a53",
                 note="no fitted model for host (x86-64 differs, not measured under qemu): Cortex-A53 instruction "
                      "counts used"),
    "cortex-a53": dict(clock_hz=1.2e9, fit="cortex-a53", note=""),  # e.g. Raspberry Pi 3
    # e.g. Raspberry Pi 4: its own fit (gen-c builds it with -mcpu=cortex-a72; gcc's code differs from the A53's)
    "cortex-a72": dict(clock_hz=1.5e9, fit="cortex-a72", note=""),
    "cortex-m4": dict(clock_hz=168e6, fit="cortex-m4", note=""),  # e.g. STM32F4
    "cortex-m55": dict(clock_hz=400e6, fit="cortex-m55", note=""),  # e.g. Alif E7
}


@lru_cache(maxsize=1)
def fit_data() -> dict:
    return json.loads(FIT_FILE.read_text())


# Loop geometry of gen-c's dense-layout SIMD kernels (templates/kernels/simd_int8.c.j2 and
# codebook_pairs.c.j2): rows per pass and columns per vector step. The main loop covers
# floor(rows/R)*R rows in steps of V columns; the (cols % V) columns left of every row and
# the (rows % R) rows left run scalar loops (the tail terms below).
DENSE_LOOPS = {"dense/int8/plain/dsp": (4, 4), "dense/int8/plain/mve": (1, 8), "dense/int8/plain/neon": (1, 8),
               "dense/codebook/pairs/dsp": (4, 4), "dense/codebook/pairs/mve": (4, 8),
               # kernels/pow2_shifts.c.j2: MVE 4 rows x 8 columns per step, NEON 2 rows x 16
               "dense/pow2/shifts/mve": (4, 8), "dense/pow2/shifts/neon": (2, 16),
               # kernels/ternary_planes.c.j2: 2 rows x 16 columns (a padded block) per step (dense
               # layers: features' own terms for its loops; conv layers: these tails)
               "dense/ternary/planes/mve": (2, 16)}


# terms that make a loop cheaper (gcc's vectorized per-row loops, its loops over uint32
# pointers, its unrolled single block of PQ taps): fitted with either sign; every other term
# counts executions and is fitted >= 0
SAVING_TERMS = ("per_row_multiple_of_16", "per_row_in_steps_of_8", "per_stored_entry_wide_pointers",
                "per_table_entry_one_block", "per_table_entry_short_tail", "per_table_tap_short_tail")


def features(kernel: str, stored: float, nnz: float, rows: float, cols: float, groups: float,
             density: float, visited: float | None = None, active: float | None = None,
             pq: tuple[int, int] | None = None, conv: tuple[float, ...] | None = None,
             vectors: float | None = None, nonempty: float | None = None) -> dict[str, float]:
    """The fit's terms (bench/fit_arm_model.py fits these, per target and kernel).

    Code-grouped kernels (``/grouped/``) read only the non-zeros, once per (row, group) a
    count and one multiply-accumulate or shift; ``groups`` is the number of groups the kernel
    loops over per row (``layer_groups``). Dense layouts: per MAC, row, column and call, plus the
    scalar tails of the SIMD loops (``DENSE_LOOPS``); the MVE lane masks (``/planes/``) by their
    own loops: per pair of rows and per 16-column block of a pair, the odd row and its blocks.
    Product quantization (``pq`` = (M, K)):
    the table of K sub-codeword products per input (K*cols MACs, M*K entries), then M
    lookups per row. The others: column-wise (CSC) kernels skip zero activations, so they
    visit the stored entries of the ``active`` non-zero input columns (``visited``; from the
    input when known, else ``stored * density`` and ``cols * density``). Conv kernels
    (``conv2d/``, ``conv`` = (output pixels, fraction of the im2col taps inside the input,
    C*KH, C, fraction of the taps whose kernel row is inside the input): ``conv_geometry``):
    per pixel an im2col of ``cols`` taps (C loops of KH loops of KW taps; gcc drops the
    channel loop at C = 1; a kernel row outside the input stores KW zero points, one inside
    tests each tap's column: a tap inside loads it, one in the padding stores the zero point), the row or
    column kernel (column-wise ones skip the zero taps: padding and zero activations, and the
    entry loop's set-up of taps whose column is empty) and the requantization of ``rows``
    outputs (a loop gcc vectorizes on AArch64 when ``rows`` is a multiple of 16)."""
    if kernel.startswith("conv2d/"):
        reps, inb, c_kh, chans, inb_rows = conv if conv is not None else (1.0, 1.0, 1.0, 1.0, 1.0)
        d = density * inb if "/csc" in kernel else 1.0
        csc = "/csc" in kernel
        se = visited if csc and visited is not None else reps * stored * d
        ac = active if csc and active is not None else reps * cols * d
        out = {"per_mac": se, "per_row": reps * rows, "per_column": reps * cols,
               "per_nonzero_column": ac,
               # im2col: taps that load the input (the others store the zero point), taps whose
               # kernel row is inside (Thumb-2 tests the column only there), the channel loop
               "per_tap_inside": reps * cols * inb, "per_tap_row_inside": reps * cols * inb_rows,
               # the row test hoisted out of the tap loop: a kernel row inside copies (column test per
               # tap), one outside stores KW zero points
               "per_kernel_row_inside": reps * c_kh * inb_rows,
               "per_channel": reps * chans if chans > 1 else 0.0,
               # the tap loop runs in the kernel rows inside (KW = 1: no loop over the taps)
               "per_tap_in_loop": reps * cols * inb_rows if cols > c_kh else 0.0,
               "per_pixel": reps, "per_kernel_row": reps * c_kh, "per_call": 1.0,
               "per_nonzero_weight": nnz * se / stored if stored else 0.0,
               "per_row_multiple_of_16": reps * rows if rows % 16 == 0 else 0.0}
        if csc:  # non-zero taps whose column has stored entries: the entry loop's set-up
            out["per_nonempty_column"] = nonempty if nonempty is not None else ac
        if "/grouped/" in kernel:  # code-grouped rows: per pixel a count and an MLA / shift per (row, group)
            out["per_row_group"] = reps * rows * groups
            if kernel.endswith("/mve"):
                out["per_vector"] = reps * (vectors if vectors is not None else nnz / 8)
        loops = DENSE_LOOPS.get("dense/" + kernel.partition("/")[2])
        if loops:  # the SIMD matvec's scalar tails, once per pixel
            r, v = loops
            out["per_column_tail"] = reps * rows * (cols % v)
            out["per_row_with_column_tail"] = reps * rows if cols % v else 0.0
            out["per_row_tail_mac"] = reps * (rows % r) * cols
            # a vector loop of one step is straight-line code: the loop's set-up only from two on;
            # gcc -O2 unrolls a loop of two constant iterations too where it is small (MVE, NEON), and
            # the scalar column tail when it has one or two: a loop (its set-up) from three on
            out["per_row_with_vector_loop"] = reps * (rows - rows % r) if cols // v >= 2 else 0.0
            out["per_row_with_long_vector_loop"] = reps * (rows - rows % r) if cols // v >= 3 else 0.0
            out["per_row_with_tail_loop"] = reps * rows if cols % v >= 3 else 0.0
        if "/shifts/" in kernel:  # the int16 copy of the column per pixel (the dense branch's terms)
            out["per_column_unvectorized"] = reps * cols if cols % 8 else 0.0
            out["per_column_in_steps_of_8"] = reps * cols if cols % 16 and not cols % 8 else 0.0
        return out
    if "/grouped/" in kernel:
        out = {"per_nonzero": nnz, "per_row_group": rows * groups, "per_row": rows, "per_call": 1.0}
        if kernel.endswith("/mve"):  # gathers of 8 entries: each (row, group) padded to whole vectors
            out["per_vector"] = vectors if vectors is not None else nnz / 8
            out["per_column"] = cols  # the activations copied first (memcpy), a zero after them for the padding
        return out
    # gcc -O2 vectorizes the per-row loops (bias, requantization) only when the trip count is
    # a multiple of the vector length (AArch64 NEON, Cortex-M55 MVE): 16 rows per step, else 8
    vec_rows = rows if rows % 16 == 0 else 0.0
    vec8_rows = rows if rows % 16 and rows % 8 == 0 else 0.0
    if "/pq/" in kernel:
        m, k = pq if pq is not None else (1, 1)
        # AArch64 builds the table entries in blocks of 16 taps, the sub-vector's d % 16 taps one by one
        # (a loop of blocks, unrolled by gcc when there is one; the lanes summed once per entry)
        # (a tail of one or two taps gcc unrolls completely: no loop, fewer instructions a tap)
        blocks, tail = (cols // m) // 16, (cols // m) % 16
        short = 0 < tail <= 2
        return {"per_table_mac": k * cols, "per_table_entry": m * k, "per_lookup": rows * m, "per_row": rows,
                "per_call": 1.0, "per_row_multiple_of_16": vec_rows, "per_row_in_steps_of_8": vec8_rows,
                "per_table_tail": m * k * tail, "per_table_entry_short_tail": m * k if short else 0.0,
                "per_table_tap_short_tail": m * k * tail if short else 0.0,
                "per_table_block": m * k * blocks, "per_table_entry_with_block": m * k if blocks else 0.0,
                "per_table_entry_one_block": m * k if blocks == 1 else 0.0}
    if "/planes/" in kernel:  # kernels/ternary_planes.c.j2: its exact loop structure
        # per pair of rows a tail-predicated loop of ceil(cols / 16) blocks, an odd last row the
        # same loop for one row (with one, gcc keeps fewer values in registers across the pairs'
        # loop), then the requantization of every row
        blocks, pairs, odd = float(-(-int(cols) // 16)), float(int(rows) // 2), float(int(rows) % 2)
        return {"per_call": 1.0, "per_row": rows, "per_row_pair": pairs, "per_pair_block": pairs * blocks,
                "per_odd_row": odd, "per_odd_row_block": odd * blocks, "per_row_pair_with_odd_row": pairs * odd,
                "per_row_multiple_of_16": vec_rows, "per_row_in_steps_of_8": vec8_rows}
    if "/csc" not in kernel and "/csr" not in kernel:  # dense layouts
        out = {"per_mac": rows * cols, "per_row": rows, "per_column": cols, "per_call": 1.0,
               "per_row_multiple_of_16": vec_rows, "per_row_in_steps_of_8": vec8_rows, "per_nonzero_weight": nnz}
        if kernel in DENSE_LOOPS:
            r, v = DENSE_LOOPS[kernel]
            out["per_column_tail"] = rows * (cols % v)
            out["per_row_with_column_tail"] = rows if cols % v else 0.0
            out["per_row_tail_mac"] = (rows % r) * cols
        if "/shifts/" in kernel:  # kernels/pow2_shifts.c.j2 widens the activations to int16 first: gcc -O2
            # vectorizes that loop only for a trip count that is a multiple of the vector length
            # (AArch64: 16, else 8 columns per step; MVE: 8), else it copies one column at a time
            out["per_column_unvectorized"] = cols if cols % 8 else 0.0
            out["per_column_in_steps_of_8"] = cols if cols % 16 and not cols % 8 else 0.0
        return out
    csc = "/csc" in kernel
    d = density if csc else 1.0
    se = visited if csc and visited is not None else stored * d
    ac = active if csc and active is not None else cols * d
    out = {"per_stored_entry": se, "per_row": rows, "per_nonzero_column": ac, "per_column": cols, "per_call": 1.0,
           "per_row_multiple_of_16": vec_rows, "per_row_in_steps_of_8": vec8_rows,
           # entries holding a non-zero weight (not fillers or zero codes), in the visited share
           "per_nonzero_entry": nnz * (se / stored if stored else 0.0)}
    if csc:  # non-zero input columns with stored entries: the entry loop's set-up
        out["per_nonempty_column"] = nonempty if nonempty is not None else ac
    else:  # rows with stored entries (CSR)
        out["per_nonempty_row"] = nonempty if nonempty is not None else rows
    # gen-c's pointers are uint32 from 2^16 entries on: gcc's loops differ
    out["per_stored_entry_wide_pointers"] = se if stored >= 1 << 16 else 0.0
    return out


def column_visits(layer: WeightedLayer, x: np.ndarray) -> tuple[float, float, float]:
    """Mean over the samples of ``x`` (raw integer inputs, (N, cols)) of the stored entries in
    non-zero input columns, of those columns and of those among them with any stored entry:
    what gen-c's CSC kernels walk (they skip raw zeros; the zero point is folded into the
    bias; an empty column skips the entry loop's set-up)."""
    sp = layer.weight.sparse
    lengths = np.diff(sp.ptr.astype(np.int64)).astype(np.float64)
    nz = np.asarray(x).reshape(x.shape[0], -1) != 0
    return float((nz @ lengths).mean()), float(nz.sum(axis=1).mean()), float((nz @ (lengths > 0).astype(np.float64)).mean())


BASE_REQUANT = "multiplier/tensor"  # what the per-kernel fits measured; other variants add requant_per_row


def tap_fractions(layer: Conv2d, h: int, w: int) -> tuple[float, float]:
    """Fractions of a conv layer's im2col taps inside the input, and of those whose kernel row
    is inside it (their column may still be in the padding)."""
    t, l, _, _ = layer.padding
    oh, ow = layer.out_shape([(layer.in_channels, h, w)])[1:]
    kh, kw = layer.kernel
    ys = np.arange(oh)[:, None] * layer.stride[0] + np.arange(kh)[None, :] - t
    xs = np.arange(ow)[:, None] * layer.stride[1] + np.arange(kw)[None, :] - l
    rows_in = float(((ys >= 0) & (ys < h)).sum()) / (oh * kh)
    return rows_in * float(((xs >= 0) & (xs < w)).sum()) / (ow * kw), rows_in


def conv_geometry(layer: Conv2d, h: int, w: int) -> tuple[float, float, float, float, float]:
    """The conv terms' geometry (``features``' ``conv``): output pixels, the fraction of the
    im2col taps inside the input, C*KH, C, the fraction of taps whose kernel row is inside."""
    oh, ow = layer.out_shape([(layer.in_channels, h, w)])[1:]
    inside, rows_in = tap_fractions(layer, h, w)
    return (float(oh * ow), inside, float(layer.in_channels * layer.kernel[0]), float(layer.in_channels), rows_in)


def requant_key(layer: WeightedLayer) -> str:
    """``mode/tensor`` or ``mode/channel``: the layer's requantization as gen-c specializes it
    (per-tensor factors are literals; per-channel ones are loaded per row)."""
    rq = layer.requant
    return f"{rq.mode}/{'channel' if rq.channels > 1 else 'tensor'}" if rq is not None else "none"


def requant_delta_key(rq: str, rows: int, kernel: str = "") -> str:
    """gcc vectorizes the per-tensor requantization loop when the row count is a multiple of
    16 (AArch64): the variants' difference is measured separately there (``.../rows16``). The
    dense code-grouped kernels requantize each row in the row pass, never in a loop gcc could
    vectorize: their difference is measured apart (``.../rowpass``)."""
    if kernel.startswith("dense/") and "/grouped/" in kernel:
        return rq + "/rowpass"
    return rq + ("/rows16" if rows % 16 == 0 else "")


def conv_requant_delta_key(rq: str, rows: int) -> str:
    """A conv layer's requantization loop (once per pixel over its ``rows`` outputs): gcc
    vectorizes it on AArch64 in steps of 16 rows, else 8 when ``rows`` is a multiple of 8 (a
    per-tensor shift costs about 2 instructions a row less than the multiplier, 8.7 in steps
    of 8, 1.5 in steps of 16 on Cortex-A53): measured apart (``conv/.../rows16``, ``/rows8``)."""
    return "conv/" + rq + ("/rows16" if rows % 16 == 0 else "/rows8" if rows % 8 == 0 else "")


def requant_extra(per_row: dict, rq: str, rows: int, conv: bool = False, kernel: str = "") -> float:
    """Extra instructions of requantization ``rq`` over the fits' per-tensor multiplier one, per
    output pixel (conv layers: measured on conv kernels, ``conv/...``, where there is one)."""
    if rq == BASE_REQUANT:
        return 0.0
    key = requant_delta_key(rq, rows, kernel)
    if conv and conv_requant_delta_key(rq, rows) in per_row:
        return per_row[conv_requant_delta_key(rq, rows)] * rows
    if conv and "conv/" + key in per_row:
        return per_row["conv/" + key] * rows
    return per_row.get(key, per_row.get(rq, 0.0)) * rows


def conv_column_visits(layer: Conv2d, x: np.ndarray, zero_point: int = 0) -> tuple[float, float, float]:
    """Mean over the samples of ``x`` (raw integer inputs, (N, C, H, W)) of the stored entries
    a column-wise conv kernel visits, of the non-zero taps and of those among them whose column
    has stored entries, summed over the output pixels: gen-c's im2col pads with the input zero
    point and its CSC kernels skip raw zero taps (and an empty column's entry loop)."""
    x = np.asarray(x).reshape((x.shape[0], layer.in_channels) + tuple(x.shape[-2:]))
    t, lft, b, r = layer.padding
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (lft, r)), constant_values=zero_point) != 0
    kh, kw = layer.kernel
    sh, sw = layer.stride
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    lengths = np.diff(layer.weight.sparse.ptr.astype(np.int64)).astype(np.float64).reshape(layer.in_channels, kh, kw)
    visited = active = nonempty = 0.0
    for i in range(kh):
        for j in range(kw):
            tap = xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]  # (N, C, OH, OW)
            visited += float((tap * lengths[None, :, i, j, None, None]).sum()) / x.shape[0]
            active += float(tap.sum()) / x.shape[0]
            nonempty += float((tap * (lengths[None, :, i, j, None, None] > 0)).sum()) / x.shape[0]
    return visited, active, nonempty


def fit_key(kernel: str, bits: int) -> str:
    """A fitted model is per gen-c kernel and code width (a 5-bit table kernel builds twice the
    table of a 4-bit one under the same name); code-grouped kernels are one model for every
    width (``#0``: their code depends on the groups, a term, not on the code width)."""
    return f"{kernel}#{0 if '/grouped/' in kernel else bits}"


def fit_pool(kernel: str) -> str:
    """Kernels fitted together: a code-grouped dense layer runs the same code as a CSR one."""
    if kernel.startswith("dense/") and "/grouped/" in kernel:
        return "dense/" + kernel.split("/")[1].split("+")[-1] + "/" + "/".join(kernel.split("/")[2:])
    return kernel


def predict(coef: dict, feats: dict[str, float]) -> float:
    return sum(coef.get(t, 0.0) * v for t, v in feats.items())


def group_vectors(layer: WeightedLayer, lanes: int = 8) -> int:
    """Vectors of ``lanes`` entries gen-c's MVE code-grouped kernel runs per call (each (row,
    group) padded to whole vectors: ``hwq.kernels.grouped.group_layout``); 0 where it cannot
    be built."""
    gr = group_layout(layer, lanes)
    return gr.units if gr is not None else 0


def layer_groups(layer: WeightedLayer) -> int:
    """The groups gen-c's code-grouped kernel loops over per row (``hwq.kernels.grouped.Grouped``
    ``groups``: the codes with a non-zero value that any row uses; a codebook with duplicate
    centroids has a group per code), 0 where the layout cannot be built."""
    gr = group_layout(layer)
    return len(gr.groups) if gr is not None else 0


def _asm_ok(layer: WeightedLayer) -> bool:
    w = layer.weight
    return w.values.payload_bits() == 4 and (w.sparse is None or w.sparse.index_bits == 4)


class ArmCpu(Target):
    """One class for every ARM target; subclasses only set NAME (and thereby the defaults)."""

    NAME = ""

    def __init_subclass__(cls):
        t = ARM_TARGETS[cls.NAME]
        cls.DESCRIPTION = (f"{cls.NAME}: instructions from gen-c's kernels measured under qemu "
                           f"(fit of {t['fit']}), x CPI")
        cls.PARAMS = {"clock_hz": Param(t["clock_hz"], "Hz", "core clock (a typical part's value)", 1.0),
                      "cpi": Param(1.0, "cycles/instruction", "cycles per instruction (ASSUMPTION: 1)", 1e-9)}
        cpu = CPUS[cls.NAME]
        if cpu.bare_metal:
            cls.PARAMS["flash_bytes"] = Param(cpu.flash, "B", "flash (weights, code)", 1)
            cls.PARAMS["ram_bytes"] = Param(cpu.ram, "B", "RAM (activations)", 1)
        super().__init_subclass__()

    @property
    def bare_metal(self) -> bool:
        return "flash_bytes" in self.params

    def levels(self) -> list[Level]:
        if self.bare_metal:  # flash is priced with the energy table's dram entry (off-core read)
            return [Level("flash", "dram", float(self.params["flash_bytes"])),
                    Level("ram", "sram", float(self.params["ram_bytes"])), Level("rf", "rf")]
        return [Level("dram", "dram"), Level("rf", "rf")]

    def begin(self, counts: list[LayerCounts]) -> None:
        self.model_weights = sum(c.weight_bytes["total"] for c in counts)

    def layer_cost(self, c: LayerCounts) -> LayerCost:
        instr, extra = self.instructions(c)
        wb = c.weight_bytes["total"]
        act = c.activation_bytes["in"] + c.activation_bytes["out"]
        rf = 0.0 if isinstance(c.layer, (Input, Flatten)) else Roofline._rf_bytes(c)
        if self.bare_metal:
            traffic = {"flash": wb, "ram": act, "rf": rf}
            fits = {"weights": self.model_weights <= self.params["flash_bytes"],
                    "activations": act <= self.params["ram_bytes"]}
        else:
            traffic = {"dram": wb + act, "rf": rf}
            fits = {"weights": True, "activations": True}
        extra["instructions"] = instr
        return LayerCost(cycles=instr * float(self.params["cpi"]), traffic=traffic,
                         bound="compute" if instr else "", fits=fits, extra=extra)

    def instructions(self, c: LayerCounts) -> tuple[float, dict]:
        t = ARM_TARGETS[self.NAME]
        note = [t["note"]] if t["note"] else []
        layer = c.layer
        if isinstance(layer, (Input, Flatten)):
            return 0.0, {}
        if not isinstance(layer, WeightedLayer):
            return float(c.work.slots), {"model": "no fitted model: 1 instruction per element-wise op"}
        w = layer.weight
        rows, cols = w.matrix_shape
        stored = float(w.stored)
        reps = 1
        fit_name = t["fit"]
        fits = fit_data()["model"][fit_name]
        enc = w.values.TYPE
        layout = f"{w.sparse.format}+{enc}/" if w.sparse is not None else f"{enc}/"
        prefix = "dense/" + layout
        conv = None
        if isinstance(layer, Conv2d):
            pixels = int(c.out_shape[-1] * c.out_shape[-2]) if len(c.out_shape) >= 3 else 1
            if any(k.startswith("conv2d/" + layout) for k in fits):
                prefix = "conv2d/" + layout
                h, wd = c.in_shapes[0][-2:]
                conv = conv_geometry(layer, h, wd)
            else:  # once per output position
                reps = pixels
                note.append(f"no fitted model for conv2d/{layout[:-1]}: counted as the dense kernel once per "
                            f"output position ({reps})")
        elif not isinstance(layer, Dense):
            note.append(f"no fitted model for {type(layer).__name__}: counted as dense")
        asm = _asm_ok(layer)
        d = 1.0 if c.act_density is None else float(c.act_density)

        elems = float(np.prod(c.in_shapes[0])) if c.in_shapes else 0.0
        act8 = not elems or 8 * c.activation_bytes.get("in", 0.0) / elems <= 8  # 8-bit input activations
        # gen-c's kernel for this layer (hwq.kernels): its method, then code-grouped rows or not
        # (the shift and lane-mask kernels only once their counts are in the fit)
        o = CPUS[self.NAME].kernel_options(act8)
        opts = replace(o, shifts=o.shifts if any("/shifts/" in k for k in fits) else None,
                       planes=o.planes and any("/planes/" in k for k in fits))
        method = kernel_method(layer, cheap_mla=opts.cheap_mla, dsp=opts.dsp, shifts=opts.shifts is not None,
                               planes=opts.planes)
        gr, gpath = choose_grouped(layer, method, opts)
        nnz = float(w.nnz())
        groups = float(len(gr.groups)) if gr is not None else 0.0
        visited = active = nonempty = None
        if (w.sparse is not None and w.sparse.format == "csc" and isinstance(layer, Dense) and c.x_in
                and c.x_in[0] is not None and np.asarray(c.x_in[0]).reshape(len(c.x_in[0]), -1).shape[1] == cols):
            visited, active, nonempty = column_visits(layer, np.asarray(c.x_in[0]))
        elif (w.sparse is not None and w.sparse.format == "csc" and conv is not None and c.x_in
              and c.x_in[0] is not None and np.asarray(c.x_in[0]).ndim == 4):
            visited, active, nonempty = conv_column_visits(layer, np.asarray(c.x_in[0]), c.in_zero_point)

        # CSC: columns, CSR: rows with stored entries
        nonempty_majors = float(np.count_nonzero(np.diff(w.sparse.ptr.astype(np.int64)))) if w.sparse is not None else 0.0
        pq = None
        if enc == "pq":
            cb = w.values.codebook  # (M, K, d)
            pq = (int(cb.shape[0]), int(cb.shape[1]))

        def feats(k: str, s: float) -> dict[str, float]:
            return features(k, s, nnz, rows, cols, groups, d, visited if s == stored else None, active, pq, conv,
                            float(gr.units) if gr is not None and gr.lanes > 1 else None,
                            nonempty if nonempty is not None
                            else conv[0] * nonempty_majors * d * conv[1] if conv is not None and "/csc" in k
                            else nonempty_majors * d if "/csc" in k else nonempty_majors)

        bits = int(w.values.payload_bits())
        by_kernel: dict[str, dict[int, dict]] = {}
        for key, coef in fits.items():
            name, _, b = key.partition("#")
            by_kernel.setdefault(name, {})[int(b)] = coef
        if gr is not None:  # gen-c's code-grouped kernel: a dense layer's runs the same code as a CSR one's
            grouped_kernel = f"{prefix}grouped/{gpath}"
            same = [k for k in by_kernel if fit_pool(k) == fit_pool(grouped_kernel)]
            if grouped_kernel not in by_kernel and same:
                by_kernel[grouped_kernel] = by_kernel[same[0]]

        def at_bits(k: str, b: int | None = None) -> tuple[int, dict]:
            fb = by_kernel[k]
            b = min(fb, key=lambda x: (abs(x - bits), x)) if b is None else b  # the nearest fitted width
            return b, fb[b]

        def pick(pre: str, s: float) -> tuple[str, dict] | None:
            cands = {k: at_bits(k)[1] for k in by_kernel if k.startswith(pre)}
            # gen-c's choice: code-grouped rows on its path, else its packing method; the byte-entry
            # Thumb-2 loops for 4-bit codes with 4-bit indices
            if pre != "dense/int8/":
                want = f"/grouped/{gpath}" if gr is not None else f"/{method}/"
                cands = {k: v for k, v in cands.items() if want in k} or {
                    k: v for k, v in cands.items() if ("/grouped/" in k) == (gr is not None)} or cands
            if not asm:
                cands = {k: v for k, v in cands.items() if not k.endswith("/thumb2") or "/grouped/" in k} or cands
            elif any(k.endswith("/thumb2") and "/grouped/" not in k for k in cands):
                cands = {k: v for k, v in cands.items() if not k.endswith("/c")}
            if not cands:
                return None
            k = min(cands, key=lambda k: predict(cands[k], feats(k, s)))
            return k, cands[k]

        s = stored
        chosen = pick(prefix, s)
        if chosen is None:
            s = float(rows * cols)
            chosen = pick("dense/int8/", s)
            note.append(f"no fitted model for {enc}{'/' + w.sparse.format if w.sparse else ''}: "
                        f"counted as dense int8 ({chosen[0]})")
        kernel, coef = chosen
        if f"/{method}/" not in kernel and "/grouped/" not in kernel and not kernel.startswith("dense/int8/"):
            note.append(f"gen-c's method {method!r} is not fitted on {fit_name}: {kernel} used")
        fitted_bits = at_bits(kernel)[0]
        if fitted_bits != bits and fitted_bits and not kernel.startswith("dense/int8/"):
            note.append(f"fitted at {fitted_bits}-bit codes, this layer has {bits}")
        if not asm and kernel.endswith("/thumb2") and "/grouped/" not in kernel:
            note.append("fitted on the 4-bit Thumb-2 kernel; this layer's codes run gen-c's C kernel (estimate low)")
        n = predict(coef, feats(kernel, s))
        rq = requant_key(layer)
        if rq != BASE_REQUANT:  # the fits ran per-tensor multiplier requantization
            per_row = fit_data().get("requant_per_row", {}).get(fit_name, {})
            if rq in per_row or conv is not None and conv_requant_delta_key(rq, rows) in per_row:
                n += requant_extra(per_row, rq, rows, conv is not None, kernel) * (conv[0] if conv else 1.0)
            else:
                note.append(f"no measured cost for {rq} requantization: counted as {BASE_REQUANT}")
        extra = {"kernel": kernel, "fit": fit_name, "input_density": d, "requant": rq}
        if note:
            extra["model"] = "; ".join(note)
        return max(0.0, n) * reps, extra

    def summary(self, costs: list[LayerCost]) -> dict:
        instr = sum(c.extra.get("instructions", 0.0) for c in costs)
        out = {"instructions": instr, "cpi": float(self.params["cpi"]),
               "fit_error": fit_data()["provenance"]["error"].get(ARM_TARGETS[self.NAME]["fit"], "")}
        if self.bare_metal:
            out["weights_fit_flash"] = self.model_weights <= self.params["flash_bytes"]
        return out


class Host(ArmCpu):
    NAME = "host"


class CortexA53(ArmCpu):
    NAME = "cortex-a53"


class CortexA72(ArmCpu):
    NAME = "cortex-a72"


class CortexM4(ArmCpu):
    NAME = "cortex-m4"


class CortexM55(ArmCpu):
    NAME = "cortex-m55"
