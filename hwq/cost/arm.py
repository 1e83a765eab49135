"""The ARM CPU targets (``host``, ``cortex-a53``, ``cortex-a72``, ``cortex-m4``, ``cortex-m55``):
an instruction model of ``hwq gen-c``'s kernels, fitted on exact qemu counts.

Per dense layer: instructions = a * stored entries * d + b * rows (outputs) + c * columns * d
+ e * columns + f, with (a, b, c, e, f) per target and gen-c kernel and d the input's non-zero
fraction for column-wise (CSC) kernels (which skip zero activations; 1 otherwise); for
code-grouped kernels a * non-zeros + g * rows * groups + b * rows + f (``features``); from
``hwq/cost/arm_models/genc_qemu_fit.json`` (bench/bench_genc.py's qemu counts, fitted by
bench/fit_arm_model.py; provenance and fit error are in the file). cycles = instructions x ``cpi`` (default 1: an ASSUMPTION -- qemu
counts instructions, not cycles; an in-order Cortex-M4 runs most of these at 1-2 cycles).

* kernel: the fitted kernels whose name starts ``dense/<layout>+<encoding>/`` (gen-c's
  naming), under gen-c's rules (copied here as data): the byte-entry Thumb-2 loops only for
  4-bit codes with 4-bit indices, code-grouped rows (``/grouped/``) for CSR codebook, pow2 and
  ternary weights of any width (not on the host), the pair table (``/pairs/``) for dense 4-bit
  codebooks with an even row length and int16 centroids; among the fitted variants left, the
  cheapest prediction is taken (gen-c picks its method -- plain, bucket, table, grouped -- to
  be cheap).
* d: measured by the golden model (``--input``), given (``--act-density``), or 1.0; the fit
  saw d = 1 and d = 0.19.
* no fitted model (a conv layer, an encoding or layout not measured, targets ``host`` and
  ``cortex-a72``): the layer's ``extra["model"]`` says what was used instead; nothing is made
  up silently. Layers without weights count 1 instruction per element-wise op (assumption).

Memory: Cortex-M keeps weights in flash and activations in RAM (sizes from gen-c's target
definitions, as data below); Cortex-A and host read both from DRAM (no cache model).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from hwq.cost.roofline import Roofline
from hwq.cost.targets import LayerCost, LayerCounts, Param, Target
from hwq.cost.traffic import Level
from hwq.ir.layers import Conv2d, Dense, Flatten, Input, WeightedLayer

FIT_FILE = Path(__file__).parent / "arm_models" / "genc_qemu_fit.json"

# per target: typical clock (documented in docs/estimate.md), whose fit it uses, and its
# memories. Flash/RAM copied from hwq/codegen/targets.py (the qemu boards gen-c runs on:
# mps2-an386 for Cortex-M4, mps3-an547 for Cortex-M55); hwq.cost must not import hwq.codegen.
ARM_TARGETS = {
    "host": dict(clock_hz=3.0e9, fit="cortex-a53", flash=0, ram=0, grouped=False,
                 note="no fitted model for host (x86-64 differs): Cortex-A53 instruction counts used"),
    "cortex-a53": dict(clock_hz=1.2e9, fit="cortex-a53", flash=0, ram=0, grouped=True, note=""),  # e.g. Raspberry Pi 3
    "cortex-a72": dict(clock_hz=1.5e9, fit="cortex-a53", flash=0, ram=0, grouped=True,  # e.g. Raspberry Pi 4
                       note="no fitted model for cortex-a72: Cortex-A53 instruction counts used (same Armv8.0 ISA)"),
    "cortex-m4": dict(clock_hz=168e6, fit="cortex-m4", flash=4 << 20, ram=4 << 20, grouped=True, note=""),  # e.g. STM32F4
    "cortex-m55": dict(clock_hz=400e6, fit="cortex-m55", flash=512 << 10, ram=512 << 10, grouped=True, note=""),  # e.g. Alif E7
}


@lru_cache(maxsize=1)
def fit_data() -> dict:
    return json.loads(FIT_FILE.read_text())


def features(kernel: str, stored: float, nnz: float, rows: float, cols: float, groups: float,
             density: float, visited: float | None = None, active: float | None = None) -> dict[str, float]:
    """The fit's terms (bench/fit_arm_model.py fits these, per target and kernel).

    Code-grouped kernels (``/grouped/``) read only the non-zeros, once per (row, group) a
    count and one multiply-accumulate or shift; ``groups`` is the number of distinct non-zero
    weight values (gen-c's groups). The others: column-wise (CSC) kernels skip zero
    activations, so they visit the stored entries of the ``active`` non-zero input columns
    (``visited``; from the input when known, else ``stored * density`` and ``cols * density``)."""
    if "/grouped/" in kernel:
        return {"per_nonzero": nnz, "per_row_group": rows * groups, "per_row": rows, "per_call": 1.0}
    csc = "/csc" in kernel
    d = density if csc else 1.0
    se = visited if csc and visited is not None else stored * d
    ac = active if csc and active is not None else cols * d
    out = {"per_stored_entry": se, "per_row": rows, "per_nonzero_column": ac, "per_column": cols, "per_call": 1.0,
           # gcc -O2 vectorizes the per-row loops (bias, requantization) only when the trip count is
           # a multiple of the vector length (AArch64 NEON, Cortex-M55 MVE)
           "per_row_multiple_of_16": rows if rows % 16 == 0 else 0.0}
    if "/csc+" in kernel or "/csr+" in kernel:  # gen-c's pointers are uint32 from 2^16 entries on:
        out["per_stored_entry_wide_pointers"] = se if stored >= 1 << 16 else 0.0  # gcc's loops differ
    return out


def column_visits(layer: WeightedLayer, x: np.ndarray) -> tuple[float, float]:
    """Mean over the samples of ``x`` (raw integer inputs, (N, cols)) of the stored entries in
    non-zero input columns and of those columns: what gen-c's CSC kernels walk (they skip raw
    zeros; the zero point is folded into the bias)."""
    sp = layer.weight.sparse
    lengths = np.diff(sp.ptr.astype(np.int64)).astype(np.float64)
    nz = np.asarray(x).reshape(x.shape[0], -1) != 0
    return float((nz @ lengths).mean()), float(nz.sum(axis=1).mean())


def fit_key(kernel: str, bits: int) -> str:
    """A fitted model is per gen-c kernel and code width (a 5-bit table kernel builds twice the
    table of a 4-bit one under the same name)."""
    return f"{kernel}#{bits}"


def predict(coef: dict, feats: dict[str, float]) -> float:
    return sum(coef.get(t, 0.0) * v for t, v in feats.items())


def distinct_nonzero_values(layer: WeightedLayer) -> int:
    v = np.unique(layer.weight.dense_int())
    return int(np.count_nonzero(v))


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
        if t["flash"]:
            cls.PARAMS["flash_bytes"] = Param(t["flash"], "B", "flash (weights, code)", 1)
            cls.PARAMS["ram_bytes"] = Param(t["ram"], "B", "RAM (activations)", 1)
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
        if isinstance(layer, Conv2d):  # once per output position
            reps = int(c.out_shape[-1] * c.out_shape[-2]) if len(c.out_shape) >= 3 else 1
            note.append(f"no fitted model for conv2d: counted as the dense kernel once per output position ({reps})")
        elif not isinstance(layer, Dense):
            note.append(f"no fitted model for {type(layer).__name__}: counted as dense")
        fits = fit_data()["model"][t["fit"]]
        enc = w.values.TYPE
        prefix = f"dense/{w.sparse.format}+{enc}/" if w.sparse is not None else f"dense/{enc}/"
        asm = _asm_ok(layer)
        d = 1.0 if c.act_density is None else float(c.act_density)

        grouped_ok = t["grouped"] and w.sparse is not None and w.sparse.format == "csr" and enc != "int8"
        # the dense 4-bit codebook pair-table kernel (SMLAD / MVE): even rows, int16 centroids
        pairs_ok = (w.sparse is None and enc == "codebook" and w.values.payload_bits() == 4 and cols % 2 == 0
                    and int(np.abs(w.values.codebook.astype(np.int64)).max(initial=0)) < (1 << 15))
        nnz = float(w.nnz()) if grouped_ok else 0.0
        groups = float(distinct_nonzero_values(layer)) if grouped_ok else 0.0

        # gen-c's column-wise method for codebook and pow2: a table of the column's products when
        # it has at least half as many entries as codes, else one product per entry
        table_ok = None
        if w.sparse is not None and w.sparse.format == "csc" and enc in ("codebook", "pow2"):
            n_codes = w.values.codebook.shape[0] if enc == "codebook" else 1 << w.values.bits
            table_ok = stored / max(1, cols) >= n_codes / 2
        visited = active = None
        if (w.sparse is not None and w.sparse.format == "csc" and isinstance(layer, Dense) and c.x_in
                and c.x_in[0] is not None and np.asarray(c.x_in[0]).reshape(len(c.x_in[0]), -1).shape[1] == cols):
            visited, active = column_visits(layer, np.asarray(c.x_in[0]))

        def feats(k: str, s: float) -> dict[str, float]:
            return features(k, s, nnz, rows, cols, groups, d, visited if s == stored else None, active)

        bits = int(w.values.payload_bits())
        by_kernel: dict[str, dict[int, dict]] = {}
        for key, coef in fits.items():
            name, _, b = key.partition("#")
            by_kernel.setdefault(name, {})[int(b)] = coef

        def at_bits(k: str, b: int | None = None) -> tuple[int, dict]:
            fb = by_kernel[k]
            b = min(fb, key=lambda x: (abs(x - bits), x)) if b is None else b  # the nearest fitted width
            return b, fb[b]

        def pick(pre: str, s: float) -> tuple[str, dict] | None:
            cands = {k: at_bits(k)[1] for k in by_kernel if k.startswith(pre)}
            # gen-c's rules: code-grouped rows for CSR codebook/pow2/ternary (not on the host);
            # the byte-entry Thumb-2 loops for 4-bit codes with 4-bit indices
            cands = {k: v for k, v in cands.items() if ("/grouped/" not in k or grouped_ok)
                     and ("/pairs/" not in k or pairs_ok) and ("/table/" not in k or table_ok is not False)
                     and ("/plain/" not in k or table_ok is not True)}
            if not asm:
                cands = {k: v for k, v in cands.items() if not k.endswith("/thumb2") or "/grouped/" in k} or cands
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
        fitted_bits = at_bits(kernel)[0]
        if fitted_bits != bits and not kernel.startswith("dense/int8/"):
            note.append(f"fitted at {fitted_bits}-bit codes, this layer has {bits}")
        if not asm and kernel.endswith("/thumb2") and "/grouped/" not in kernel:
            note.append("fitted on the 4-bit Thumb-2 kernel; this layer's codes run gen-c's C kernel (estimate low)")
        n = predict(coef, feats(kernel, s))
        extra = {"kernel": kernel, "fit": t["fit"], "input_density": d}
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
