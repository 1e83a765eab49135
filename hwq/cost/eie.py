"""The ``eie`` target: the EIE-style accelerator's cycle-exact model (docs/eie.md, ``hwq.eie``).

Per dense layer and per inference (one input vector) it reports the exact counts of
``hwq.eie.estimate_layer``, the same numbers the RTL's counters read back under
``hwq simulate`` for that vector:

* with ``--input`` (measured activations): the first sample of the batch (``sample`` picks
  another), so ``hwq simulate --samples 1`` on the same input reproduces the cycles;
* without it: a seeded draw (``seed``) whose non-zero fraction is the layer's activation
  density (``--act-density``), or every activation non-zero when no density is known.

The accelerator runs dense layers; a ReLU after a dense layer is fused into its output stage,
flatten is a view and a softmax runs on the host, so those cost 0 cycles. Convolutions,
pools and adds are refused, naming the layer.

Traffic (bytes per inference): the PEs' sparse-matrix SRAM reads every visited entry's
(weight code, relative index) word share once, the pointer SRAM two pointers per PE and
broadcast column; the activation register files read each input once and write each output
once. Everything stays on chip (no DRAM level) as long as it fits the configured memories:
``fits`` says whether it does. An SRAM access is priced as one of a single PE's bank (its
capacity, ``sparse_words`` words), since each PE reads only its own.
"""

from __future__ import annotations

import numpy as np

from hwq.cost.targets import LayerCost, LayerCounts, Param, Target
from hwq.cost.traffic import Level
from hwq.eie import EieConfig, estimate_layer
from hwq.eie.config import ROW_MAPS
from hwq.errors import HwqError
from hwq.ir.layers import Dense, Flatten, Input, ReLU, Softmax

_DEFAULT = EieConfig()


class Eie(Target):
    NAME = "eie"
    DESCRIPTION = "EIE-style sparse accelerator: cycle-exact model of hwq's RTL (docs/eie.md)"
    PARAMS = {
        "clock_hz": Param(_DEFAULT.clock_mhz * 1e6, "Hz", "clock frequency", 1.0),
        "n_pe": Param(_DEFAULT.n_pe, "PEs", "processing elements (row i -> PE i mod n_pe under row_map mod)", 1),
        "fifo_depth": Param(_DEFAULT.fifo_depth, "entries", "activation FIFO depth per PE", 1),
        "index_bits": Param(_DEFAULT.index_bits, "bits", "relative row index bits (fillers recomputed)", 1),
        "entries_per_word": Param(_DEFAULT.entries_per_word, "entries", "(v, z) entries per sparse SRAM word", 1),
        "sparse_words": Param(_DEFAULT.sparse_words, "words", "sparse-matrix SRAM depth per PE", 1),
        "pointer_bits": Param(_DEFAULT.pointer_bits, "bits", "column pointer width", 4),
        "row_map": Param(_DEFAULT.row_map, "", f"row-to-PE map: {' or '.join(ROW_MAPS)} (docs/eie.md, Row maps)", None),
        "seed": Param(0, "", "seed of the drawn activation vector (no --input)", None),
        "sample": Param(0, "", "which sample of --input is counted", 0),
    }

    def _config(self) -> EieConfig:
        p = self.params
        return EieConfig().replace(
            n_pe=int(p["n_pe"]), fifo_depth=int(p["fifo_depth"]), index_bits=int(p["index_bits"]),
            entries_per_word=int(p["entries_per_word"]), sparse_words=int(p["sparse_words"]),
            pointer_bits=int(p["pointer_bits"]), row_map=str(p["row_map"]), clock_mhz=float(p["clock_hz"]) / 1e6,
            act_depth=max(1, min(_DEFAULT.act_depth, (1 << 16) // int(p["n_pe"]) - 1)))

    def begin(self, counts: list[LayerCounts]) -> None:
        self._config()  # a bad parameter (e.g. row_map) fails before any layer
        self._row_perm: dict[str, np.ndarray | None] = {}  # per layer: its output's physical order

    def levels(self) -> list[Level]:
        # every access hits one PE's own bank: its energy is that of a bank of one PE's size
        cfg = self._config()
        return [Level("sram", "sram", float(cfg.sparse_words * cfg.word_bits / 8)), Level("rf", "rf")]

    def _vector(self, c: LayerCounts) -> np.ndarray:
        layer = c.layer
        zp = c.in_zero_point
        if c.x_in is not None:
            x = np.asarray(c.x_in[0])
            s = int(self.params["sample"])
            if s >= x.shape[0]:
                raise HwqError(f"--param sample={s}: the input has only {x.shape[0]} samples")
            return x[s].reshape(-1)
        density = 1.0 if c.act_density is None else float(c.act_density)
        n = layer.in_features
        k = int(round(density * n))
        rng = np.random.default_rng([int(self.params["seed"]) & 0xFFFFFFFF, n, layer.out_features])
        x = np.full(n, zp, dtype=np.int64)
        x[rng.choice(n, size=k, replace=False)] = zp + 1 if zp < 32767 else zp - 1
        return x

    def layer_cost(self, c: LayerCounts) -> LayerCost:
        layer = c.layer
        none = {"sram": 0.0, "rf": 0.0}
        if isinstance(layer, (Input, Flatten, ReLU, Softmax)):
            # a view or a fused stage keeps its input's physical order (row_map balanced)
            self._row_perm[layer.name] = self._row_perm.get(layer.inputs[0]) if layer.inputs else None
            return LayerCost(cycles=0.0, traffic=dict(none), fits={"weights": True, "activations": True},
                             extra={"runs_on": "host" if isinstance(layer, Softmax) else "fused"})
        if not isinstance(layer, Dense):
            raise HwqError(f"--target eie: layer {layer.name!r} is {layer.KIND}; the accelerator runs "
                           "dense layers only (use --target generic)")
        cfg = self._config()
        r = estimate_layer(layer, self._vector(c), cfg, zero_point=c.in_zero_point,
                           col_perm=self._row_perm.get(layer.inputs[0]))
        self._row_perm[layer.name] = r["row_perm"]
        entries = r["entries_processed"]
        active = r["nonzero_activations"]
        sparse = entries * cfg.entry_bits / 8
        pointers = 2 * cfg.n_pe * active * cfg.pointer_bits / 8
        bits_in = c.activation_bytes["in"] * 8 / max(1, layer.in_features)
        rf = c.activation_bytes["in"] + c.activation_bytes["out"]
        per_pe = -(-layer.out_features // cfg.n_pe)
        fits = {"weights": max(r["pe_entries"], default=0) <= cfg.sparse_words * cfg.entries_per_word,
                "activations": max(-(-layer.in_features // cfg.n_pe), per_pe) <= cfg.act_depth}
        extra = {k: r[k] for k in ("pe_busy", "pe_idle", "fifo_full_stalls", "broadcast_stalls",
                                   "entries_processed", "ideal_cycles", "load_efficiency",
                                   "macs_effective", "nonzero_activations")}
        extra["activation_bits"] = bits_in
        return LayerCost(cycles=float(r["cycles"]), traffic={"sram": sparse + pointers, "rf": rf},
                         bound="compute", fits=fits, extra=extra)

    def summary(self, costs: list[LayerCost]) -> dict:
        dense = [c for c in costs if "load_efficiency" in c.extra]
        ideal = sum(c.extra["ideal_cycles"] for c in dense)
        cycles = sum(c.cycles for c in dense)
        # one start runs the whole chain: docs/eie.md adds one cycle for start sampling
        return {"model_cycles": int(cycles) + 1 if dense else 0,
                "load_efficiency": ideal / cycles if cycles else None}
