"""A whole model (or one dense layer) as the accelerator's memory contents (docs/eie.md).

``plan_model`` checks that the model is a chain of dense layers (relu fused, flatten
skipped), maps every layer onto the PEs and lays the layers out one after the other in each
memory. The result lists every host write; the RTL testbench, ``hwq gen-rtl``'s memory
images and the cycle model all read this one plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwq.errors import HwqError
from hwq.eie.config import DESCRIPTOR_FIELDS, EieConfig, host_address
from hwq.eie.cycle_model import LayerTiming, layer_timing
from hwq.eie.mapping import (PeImage, codebook_codes, codebook_table, pe_images, pe_order, pow2_codes,
                             ternary_codes, ternary_table)
from hwq.ir.layers import Dense, Flatten, Input, ReLU
from hwq.ir.model import Model
from hwq.ir.quant import QuantParams


@dataclass
class LayerPlan:
    layer: Dense
    golden_name: str          # the golden tensor the layer's output equals (the relu when fused)
    in_quant: QuantParams
    out_quant: QuantParams
    relu: bool
    counts: np.ndarray        # (n_pe, in_features) entries per PE and column
    images: list[PeImage]
    codes: list[np.ndarray]   # per PE, one code per entry
    table: np.ndarray | None  # codebook mode: the values; ternary mode: [0, pos, neg]
    ptr_base: int = 0
    row_base: int = 0
    entry_base: list[int] = field(default_factory=list)
    row_perm: np.ndarray | None = None  # logical output row -> physical index (None: identity)
    col_perm: np.ndarray | None = None  # logical input -> physical index (the previous layer's row_perm)

    @property
    def name(self) -> str:
        return self.layer.name

    def descriptor(self) -> dict:
        rq = self.layer.requant
        q = self.out_quant
        return {"in_features": self.layer.in_features, "out_features": self.layer.out_features,
                "ptr_base": self.ptr_base, "row_base": self.row_base,
                "in_zp": self.in_quant.zero_point, "out_zp": q.zero_point,
                "lo": max(q.qmin, q.zero_point) if self.relu else q.qmin, "hi": q.qmax,
                "in_signed": int(self.in_quant.signed), "mode": int(rq.mode == "multiplier")}

    def timing(self, x_in: np.ndarray, cfg: EieConfig) -> LayerTiming:
        """The cycle model on the logical input ``x_in`` (placed at its physical indices)."""
        active = np.asarray(x_in).reshape(-1) != self.in_quant.zero_point
        if self.col_perm is not None:
            phys = np.zeros_like(active)
            phys[self.col_perm] = active
            active = phys
        return layer_timing(self.counts, active, self.layer.out_features, cfg)

    def logical(self, v: np.ndarray) -> np.ndarray:
        """Output values by physical index -> by logical row."""
        return v if self.row_perm is None else np.asarray(v)[self.row_perm]

    def physical_to_logical(self) -> np.ndarray | None:
        """Inverse of row_perm: the logical row at each physical index (None: identity)."""
        return None if self.row_perm is None else np.argsort(self.row_perm)


def pack_descriptor(d: dict) -> int:
    word, at = 0, 0
    for name, bits, _signed in DESCRIPTOR_FIELDS:
        v = int(d[name])
        if not -(1 << bits) < v < (1 << bits):
            raise HwqError(f"descriptor field {name} = {v} does not fit {bits} bits")
        word |= (v & ((1 << bits) - 1)) << at
        at += bits
    return word


def _chain(model: Model) -> list[tuple[Dense, ReLU | None]]:
    order = [l for l in model.topo_order() if not isinstance(l, Input)]
    if len(model.inputs) != 1:
        raise HwqError(f"{model.name}: the eie accelerator runs models with one input")
    bad = [l for l in order if not isinstance(l, (Dense, ReLU, Flatten))]
    if bad:
        names = ", ".join(f"{l.name} ({l.KIND})" for l in bad)
        raise HwqError(f"{model.name}: the eie accelerator runs dense layers only (relu fused, flatten "
                       f"skipped); cannot run {names}; try --layer NAME for one dense layer")
    prev = model.inputs[0].name
    out: list[tuple[Dense, ReLU | None]] = []
    for l in order:
        if l.inputs != [prev]:
            raise HwqError(f"{l.name}: the eie accelerator runs a chain of layers; {l.name} does not "
                           f"follow {prev}")
        if isinstance(l, ReLU):
            if not out or out[-1][1] is not None or prev != out[-1][0].name:
                raise HwqError(f"{l.name}: a relu must directly follow a dense layer to be fused")
            out[-1] = (out[-1][0], l)
        elif isinstance(l, Dense):
            out.append((l, None))
        prev = l.name
    if not out:
        raise HwqError(f"{model.name}: has no dense layer")
    if model.outputs != [prev]:
        raise HwqError(f"{model.name}: the eie accelerator needs the chain's last layer as the only output")
    return out


def _map_layer(layer: Dense, relu: ReLU | None, in_q: QuantParams, cfg: EieConfig,
               col_perm: np.ndarray | None = None) -> LayerPlan:
    where = layer.name
    if layer.weight is None or not layer.weight.is_integer or layer.requant is None:
        raise HwqError(f"{where}: needs integer weights and requantization (quantize the model first)")
    if layer.acc_bits > cfg.acc_bits:
        raise HwqError(f"{where}: acc_bits {layer.acc_bits} exceeds the accelerator's acc_bits {cfg.acc_bits}")
    for q, what in ((in_q, "input"), (layer.quant, "output")):
        if q.bits > cfg.act_bits:
            raise HwqError(f"{where}: {what} activations of {q.bits} bits exceed act_bits {cfg.act_bits}")
    for n, what in ((layer.in_features, "in_features"), (layer.out_features, "out_features")):
        if n > cfg.max_features:
            raise HwqError(f"{where}: {what} {n} needs act buffers of {-(-n // cfg.n_pe)} entries per PE; "
                           f"act_depth is {cfg.act_depth}")
    order = pe_order(layer.weight, cfg, col_perm=col_perm)
    images = pe_images(order)
    table = None
    if cfg.weight_mode == "pow2":
        codes = [pow2_codes(im.w, cfg, where) for im in images]
    elif cfg.weight_mode == "ternary":
        table = ternary_table(np.concatenate([im.w for im in images]), cfg, where)
        codes = [ternary_codes(im.w) for im in images]
    else:
        table = codebook_table(np.concatenate([im.w for im in images]), cfg, where)
        codes = [codebook_codes(im.w, table) for im in images]
    return LayerPlan(layer, relu.name if relu is not None else layer.name, in_q, layer.quant,
                     relu is not None, order.counts(), images, codes, table,
                     row_perm=order.row_perm, col_perm=col_perm)


@dataclass
class Program:
    cfg: EieConfig
    layers: list[LayerPlan]
    input_quant: QuantParams
    input_name: str           # golden tensor feeding the first layer

    @property
    def output_region(self) -> str:
        return "act_a" if len(self.layers) % 2 == 0 else "act_b"

    def memories(self) -> dict[tuple[str, int], list[int]]:
        """(region, pe) -> words from offset 0 (pe 0 for shared memories)."""
        cfg = self.cfg
        mem: dict[tuple[str, int], list[int]] = {}
        eb, e_per = cfg.entry_bits, cfg.entries_per_word
        for p in range(cfg.n_pe):
            entries: list[int] = []
            ptrs: list[int] = []
            bias: list[int] = []
            rq: list[int] = []
            for lp in self.layers:
                im = lp.images[p]
                base = len(entries)
                entries.extend((int(z) | (int(c) << cfg.index_bits)) for z, c in zip(im.z, lp.codes[p]))
                assert len(ptrs) == lp.ptr_base
                ptrs.extend(int(v) + base for v in im.ptr)
                if len(ptrs) % 2:
                    ptrs.append(ptrs[-1])
                o = lp.layer.out_features
                rows = -(-o // cfg.n_pe)
                bq = lp.layer.bias_q
                r = lp.layer.requant
                inv = lp.physical_to_logical()
                for l in range(rows):
                    i = p + l * cfg.n_pe
                    if i < o and inv is not None:
                        i = int(inv[i])  # the logical row at this physical index
                    ch = min(i, r.channels - 1) if i < o else 0
                    b = int(bq[i]) if (bq is not None and i < o) else 0
                    bias.append(b & ((1 << cfg.acc_bits) - 1))
                    mult = int(r.multiplier[ch]) if r.mode == "multiplier" else 0
                    rq.append(mult | ((int(r.exponent[ch]) & 63) << 32))
            words = []
            for w0 in range(0, len(entries), e_per):
                word = 0
                for s, ent in enumerate(entries[w0:w0 + e_per]):
                    word |= ent << (s * eb)
                words.append(word)
            mem[("sparse", p)] = words
            mem[("pointer", p)] = ptrs
            mem[("bias", p)] = bias
            mem[("requant", p)] = rq
        mem[("descriptor", 0)] = [pack_descriptor(lp.descriptor()) for lp in self.layers]
        if cfg.weight_mode in ("codebook", "ternary"):
            cb = []
            for lp in self.layers:
                t = list(lp.table) + [0] * (cfg.codebook_size - len(lp.table))
                cb.extend(int(v) & ((1 << cfg.value_bits) - 1) for v in t)
            mem[("codebook", 0)] = cb
        return mem

    def load_writes(self) -> list[tuple[int, int]]:
        """Every host write of the model (once per model), then the layer count."""
        writes = [(host_address(region, pe, off), v)
                  for (region, pe), words in self.memories().items() for off, v in enumerate(words)]
        writes.append((host_address("control", 0, 0), len(self.layers)))
        return writes

    def input_writes(self, x: np.ndarray) -> list[tuple[int, int]]:
        n, mask = self.cfg.n_pe, (1 << self.cfg.act_bits) - 1
        return [(host_address("act_a", j % n, j // n), int(v) & mask) for j, v in enumerate(np.asarray(x).reshape(-1))]

    def output_addresses(self) -> list[int]:
        """Host addresses of the final output, in logical order (row map undone here)."""
        n, last = self.cfg.n_pe, self.layers[-1]
        phys = range(last.layer.out_features) if last.row_perm is None else (int(v) for v in last.row_perm)
        return [host_address(self.output_region, k % n, k // n) for k in phys]

    def decode_output(self, raw: list[int]) -> np.ndarray:
        q = self.layers[-1].out_quant
        bits = self.cfg.act_bits
        vals = np.array([int(v) & ((1 << bits) - 1) for v in raw], dtype=np.int64)
        if q.signed:
            vals = np.where(vals >= 1 << (bits - 1), vals - (1 << bits), vals)
        return vals


def _check_fits(prog: Program) -> None:
    cfg = prog.cfg
    mem = prog.memories()
    limits = {"sparse": cfg.sparse_words, "pointer": cfg.pointer_depth, "bias": cfg.row_depth,
              "requant": cfg.row_depth}
    for (region, pe), words in mem.items():
        if region in limits and len(words) > limits[region]:
            knob = {"sparse": "sparse_words", "pointer": "pointer_depth"}.get(region, "row_depth")
            raise HwqError(f"{prog.layers[0].layer.name if len(prog.layers) == 1 else 'model'}: the {region} "
                           f"memory of PE {pe} needs {len(words)} words, {knob} is {limits[region]}")
    if len(prog.layers) > cfg.max_layers:
        raise HwqError(f"model: {len(prog.layers)} dense layers exceed max_layers {cfg.max_layers}")
    top = max((max(mem[("pointer", p)], default=0) for p in range(cfg.n_pe)), default=0)
    if top >= 1 << cfg.pointer_bits:
        raise HwqError(f"model: pointer value {top} does not fit pointer_bits {cfg.pointer_bits}")


def plan_model(model: Model, cfg: EieConfig, layer: str | None = None) -> Program:
    """The accelerator program of a whole chain model, or of one dense layer (``layer``)."""
    if not model.is_quantized:
        raise HwqError(f"{model.name}: has no activation quantization; the accelerator runs quantized models")
    if layer is not None:
        if layer not in model.layers:
            raise HwqError(f"--layer {layer}: no such layer in {model.name}")
        l = model.layers[layer]
        if not isinstance(l, Dense):
            raise HwqError(f"--layer {layer}: is a {l.KIND} layer; the eie accelerator runs dense layers")
        src = l.inputs[0]
        chain = [(l, None)]
        in_q = model.layers[src].quant
        input_name = src
    else:
        chain = _chain(model)
        in_q = model.inputs[0].quant
        input_name = model.inputs[0].name
    plans = []
    ptr_base = row_base = 0
    col_perm = None  # the host writes the model input in logical order
    for dense, relu in chain:
        lp = _map_layer(dense, relu, in_q, cfg, col_perm)
        col_perm = lp.row_perm
        lp.ptr_base, lp.row_base = ptr_base, row_base
        ptr_base += dense.in_features + 1 + ((dense.in_features + 1) % 2)
        row_base += -(-dense.out_features // cfg.n_pe)
        plans.append(lp)
        in_q = dense.quant
    for lp in plans:
        if lp.ptr_base >= 1 << 16 or lp.row_base >= 1 << 16:
            raise HwqError(f"{lp.name}: pointer or row base beyond the descriptor's 16 bits")
    prog = Program(cfg, plans, plans[0].in_quant, input_name)
    _check_fits(prog)
    return prog
