"""Model -> a self-contained C project (templates/, jinja2 with StrictUndefined).

Writes model.h (entry point, arena size, input/output shapes and quantization), model.c (the
compressed weights as const arrays and the layer schedule), weights.h, kernels/<layer>.c
(one specialised kernel per layer), hwq_kernel.h (fixed-point primitives), main.c + inputs.h
(a harness with bundled inputs and the golden outputs), a Makefile and, for Cortex-M, a
linker script and startup code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from hwq.codegen.identifiers import layer_symbol, macro_prefix, model_prefix, sanitize
from hwq.codegen.packing import CArray, pack
from hwq.codegen.planning import ALIGN, Plan, act_ctype, ctype_bytes, plan
from hwq.codegen.targets import Target
from hwq.errors import HwqError
from hwq.ir.layers import Add, AvgPool, Conv2d, Dense, Input, MaxPool, ReLU, Softmax, WeightedLayer
from hwq.ir.model import Model
from hwq.ir.values import PQValues
from hwq.kernels.cpus import CPUS
from hwq.kernels.method import pairs_ok, shifts_ok

SOFTMAX_TOL = 1e-5  # absolute, on probabilities (float32 against the float64 golden softmax)


def _env() -> jinja2.Environment:
    from importlib.resources import files

    root = Path(str(files("hwq.templates")))  # templates/ installs as hwq.templates
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(root)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False)


def _a(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _conv_geometry(layer: Conv2d, in_shape, out_shape) -> dict:
    c, h, w = in_shape
    _, oh, ow = out_shape
    t, l, _, _ = layer.padding
    return dict(C=c, H=h, W=w, KH=layer.kernel[0], KW=layer.kernel[1], SH=layer.stride[0], SW=layer.stride[1],
                PT=t, PL=l, OH=oh, OW=ow)


def scratch_bytes(model: Model, mve: bool = False):
    """Each weighted kernel's scratch: accumulators, the im2col column (one element more: the
    zero the MVE code-grouped kernel's padding points at), the int16 activations of the pair
    table, the PQ table; on MVE (``mve``) the dense kernels' copy of the activations with that zero."""
    shapes = model.shapes()

    def need(layer) -> int:
        if not isinstance(layer, WeightedLayer):
            return 0
        rows, cols = layer.weight.matrix_shape
        n = _a(rows * 4)
        elem = ctype_bytes(act_ctype(model.layers[layer.inputs[0]].quant))
        if isinstance(layer, Conv2d):
            n += _a((cols + 1) * elem)
        if mve and layer.weight.values.TYPE in ("codebook", "pow2", "ternary"):
            n += _a((cols + 1) * elem)  # (the ternary lane masks read their input in place)
        if pairs_ok(layer) or shifts_ok(layer):  # the int16 copy of the activations (pair table, pow2 shifts)
            n += _a(cols * 2)
        if isinstance(layer.weight.values, PQValues):
            m, k, _ = layer.weight.values.codebook.shape
            taps = layer.kernel[0] * layer.kernel[1] if isinstance(layer, Conv2d) else 1
            n += _a(taps * m * k * 4)
        return n

    del shapes
    return need


def _rq_ctx(rq) -> dict:
    return {"mode": rq.mode, "exp": int(rq.exponent[0]),
            "mul": int(rq.multiplier[0]) if rq.mode == "multiplier" else 0}


@dataclass
class StepInfo:
    layer: str
    kind: str  # a readable kernel name
    sym: str
    covers: list[str]
    file: str | None
    out_ctype: str
    out_size: int
    elem: int  # element code for the dump: -1 int8, 1 uint8, -2 int16, 2 uint16, 0 float
    proto: str = ""
    call: str = ""
    out_ptr: str = ""


@dataclass
class Project:
    model: Model
    target: Target
    outdir: Path
    plan: Plan
    steps: list[StepInfo]
    arrays: list[CArray] = field(default_factory=list)
    weight_bytes: int = 0


_ELEM = {"int8_t": -1, "uint8_t": 1, "int16_t": -2, "uint16_t": 2, "float": 0}


def check_supported(model: Model) -> None:
    if not model.is_quantized:
        raise HwqError(f"{model.name}: gen-c needs a quantized model (hwq compress --act-bits 8 --data digits)")
    for layer in model.topo_order():
        if not isinstance(layer, (Input, Dense, Conv2d, ReLU, MaxPool, AvgPool, Add, Softmax)) and layer.KIND != "flatten":
            raise HwqError(f"{layer.name}: layer kind {layer.KIND!r} is not supported by gen-c")
        if isinstance(layer, WeightedLayer) and not layer.weight.is_integer:
            raise HwqError(f"{layer.name}: float32 weights are not supported by gen-c (quantize the model)")


def build_project(model: Model, target: Target, outdir: Path, samples: dict[str, np.ndarray],
                  expected: list[np.ndarray], simd: bool = True, grouped: bool | None = None) -> Project:
    """Render every file of the project into ``outdir`` (created)."""
    check_supported(model)
    env = _env()
    prefix, P = model_prefix(model.name), macro_prefix(model.name)
    shapes = model.shapes()
    pl = plan(model, scratch_bytes(model, simd and target.simd == "mve"))
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "kernels").mkdir(exist_ok=True)
    inputs = model.inputs
    in_index = {i.name: k for k, i in enumerate(inputs)}

    def ptr(tensor: str) -> str:
        if tensor in in_index:
            return f"in{in_index[tensor]}"
        return f"(A + {pl.buffers[tensor].offset}u)"

    arrays: list[CArray] = []
    steps: list[StepInfo] = []
    for k, s in enumerate(pl.steps):
        layer = model.layers[s.layer]
        out_layer = model.layers[s.output]
        tout = act_ctype(None if isinstance(out_layer, Softmax) else out_layer.quant)
        src = [model.layers[i] for i in layer.inputs]
        tin = act_ctype(src[0].quant)
        sym = layer_symbol(prefix, layer.name)
        out_size = int(np.prod(shapes[s.output]))
        L = {"name": layer.name, "kind": layer.KIND, "sym": sym, "tin": tin, "tout": tout}
        scratch = f"(A + {pl.buffers[f'{s.layer}__scratch'].offset}u)" if s.scratch else None
        if isinstance(layer, WeightedLayer):
            zx = src[0].quant.zero_point
            thumb2 = simd and target.simd in ("dsp", "mve") and tin in ("uint8_t", "int8_t")
            gasm = simd and target.simd == "dsp"
            gmve = simd and target.simd == "mve"
            ga64 = simd and target.arch == "aarch64"
            pk = pack(layer, zx, f"{prefix}_{sanitize(layer.name)}",
                      CPUS[target.name].kernel_options(tin in ("uint8_t", "int8_t"), simd), grouped)
            arrays.extend(pk.arrays.values())
            q = layer.quant
            lo = max(q.qmin, q.zero_point) if s.output != layer.name else q.qmin
            rows, cols = layer.weight.matrix_shape
            L.update(enc=pk.encoding, layout=pk.layout, method=pk.method, O=rows, I=cols, zx=zx,
                     zo=q.zero_point, lo=lo, hi=q.qmax, relu=s.output != layer.name,
                     rq_mode=layer.requant.mode, per_channel=layer.requant.channels > 1,
                     a={r: a.name for r, a in pk.arrays.items()} | {"ptr": pk.arrays["ptr"].name if "ptr" in pk.arrays else "",
                                                                   "pairs": pk.arrays["pairs"].name if "pairs" in pk.arrays else "",
                                                                   "shifts": pk.arrays["shifts"].name if "shifts" in pk.arrays else "",
                                                                   "codebook": pk.arrays["codebook"].name if "codebook" in pk.arrays else ""},
                     codes_ctype=pk.arrays["codes"].ctype, ptr_ctype=pk.arrays["ptr"].ctype if "ptr" in pk.arrays else "",
                     field_bits=pk.field_bits, index_bits=pk.index_bits, n_codes=pk.n_codes,
                     pow2_bits=pk.pow2_bits, pq_m=pk.pq[0], pq_k=pk.pq[1], pq_d=pk.pq[2],
                     tpos=pk.ternary[0], tneg=pk.ternary[1], simd=target.simd if simd else "none",
                     taps=1, col_off=_a(rows * 4), aux_off=_a(rows * 4),
                     rel_mask=(1 << pk.index_bits) - 1, code_bits=pk.code_bits, code_mask=(1 << pk.code_bits) - 1,
                     native=pk.field_bits in (8, 16, 32),
                     asm=thumb2 and pk.field_bits == 8 and pk.code_bits == 4 and (
                         pk.layout == "csr" and (pk.method == "bucket" or (pk.encoding == "codebook" and pk.method == "plain"))
                         or pk.layout == "csc" and (pk.method == "table" or pk.encoding == "ternary")), rq_e0=int(layer.requant.exponent[0]),
                     rq_m0=int(layer.requant.multiplier[0]) if layer.requant.mode == "multiplier" else 0, kmask=(1 << max(pk.pow2_bits - 1, 0)) - 1)
            bits = q.bits
            L["sat"] = (("S", bits) if (lo, q.qmax) == (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) else
                        ("U", bits) if (lo, q.qmax) == (0, (1 << bits) - 1) else None)
            gr = pk.grouped
            L.update(groups=gr.groups if gr else [], gmode=gr.mode if gr else "", gmax=gr.max_count if gr else 0,
                     gfinal=gr.final_shift if gr else 0, gasm=bool(gr) and (gasm or gmve) and gr.lanes == 1,
                     ga64=bool(gr) and ga64, gmve=bool(gr) and gmve and gr.lanes > 1,
                     coef=pk.arrays["coef"].name if "coef" in pk.arrays else "")
            if gr:
                L["asm"] = L["gasm"]
            if isinstance(layer, Conv2d):
                L.update(_conv_geometry(layer, shapes[layer.inputs[0]], shapes[layer.name]))
                L["taps"] = L["KH"] * L["KW"]
                L["aux_off"] = L["col_off"] + _a((cols + 1) * ctype_bytes(tin))
            text = env.get_template("kernels/weighted.c.j2").render(L=L)
            enc = f"{pk.layout}+{pk.encoding}" if pk.layout != "dense" else pk.encoding
            path = (("mve" if L["simd"] == "mve" else "dsp") if pk.method == "pairs" else L["simd"] if pk.method in ("shifts", "planes")
                    else "a64" if L["ga64"] else
                    "mve" if L["gmve"] else L["simd"] if pk.encoding == "int8" and pk.layout == "dense" and tin in ("uint8_t", "int8_t")
                    and L["simd"] != "none" else "thumb2" if L["asm"] else "c")
            kind = f"{layer.KIND}/{enc}/{pk.method}/{path}" + ("+relu" if L["relu"] else "")
            proto = f"void {sym}(const {tin} *x, {tout} *y, uint8_t *scratch)"
            call = f"{sym}((const {tin} *){ptr(s.inputs[0])}, ({tout} *){ptr(s.output)}, {scratch})"
        else:
            q = layer.quant
            if isinstance(layer, Add):
                qa, qb = src[0].quant, src[1].quant
                L.update(tin2=act_ctype(qb), n=out_size, za=qa.zero_point, zb=qb.zero_point, zo=q.zero_point,
                         lo=q.qmin, hi=q.qmax, ra=_rq_ctx(layer.requant[0]), rb=_rq_ctx(layer.requant[1]))
                proto = f"void {sym}(const {tin} *a, const {L['tin2']} *b, {tout} *y)"
                call = (f"{sym}((const {tin} *){ptr(s.inputs[0])}, (const {L['tin2']} *){ptr(s.inputs[1])}, "
                        f"({tout} *){ptr(s.output)})")
            else:
                L.update(n=out_size, zx=src[0].quant.zero_point)
                if isinstance(layer, (MaxPool, AvgPool)):
                    c, h, w = shapes[layer.inputs[0]]
                    _, oh, ow = shapes[layer.name]
                    L.update(C=c, H=h, W=w, OH=oh, OW=ow, KH=layer.kernel[0], KW=layer.kernel[1],
                             SH=layer.stride[0], SW=layer.stride[1], n_win=layer.kernel[0] * layer.kernel[1],
                             lo=q.qmin, hi=q.qmax)
                if isinstance(layer, Softmax):
                    L["scale"] = repr(float(np.float32(src[0].quant.scale)))
                proto = f"void {sym}(const {tin} *x, {tout} *y)"
                call = f"{sym}((const {tin} *){ptr(s.inputs[0])}, ({tout} *){ptr(s.output)})"
            text = env.get_template("kernels/elementwise.c.j2").render(L=L)
            kind = layer.KIND
        fname = f"kernels/{sanitize(layer.name)}.c"
        (outdir / fname).write_text(text)
        steps.append(StepInfo(layer.name, kind, sym, s.covers, fname, tout, out_size, _ELEM[tout],
                              proto=proto, call=call, out_ptr=ptr(s.output)))

    def tinfo(layer, name):
        q = None if isinstance(layer, Softmax) else layer.quant
        ct = act_ctype(q)
        shape = shapes[name]
        size = int(np.prod(shape))
        return {"name": name, "shape": list(shape), "size": size, "ctype": ct, "nbytes": size * ctype_bytes(ct),
                "scale": repr(q.scale) if q else "1.0", "zp": q.zero_point if q else 0, "bits": q.bits if q else 32,
                "ptr": ptr(pl.tensor_of[name])}

    M = {"name": model.name, "prefix": prefix, "P": P, "arena_bytes": pl.arena_bytes, "arrays": arrays,
         "steps": steps, "inputs": [tinfo(i, i.name) for i in inputs],
         "outputs": [tinfo(model.layers[o], o) for o in model.outputs]}
    n = next(iter(samples.values())).shape[0]
    H = {"samples": n, "softmax_tol": SOFTMAX_TOL,
         "inputs": [{"ctype": t["ctype"], "data": [str(int(v)) for v in samples[t["name"]].reshape(-1)]} for t in M["inputs"]],
         "expected": [{"ctype": t["ctype"], "data": _c_values(e, t["ctype"])} for t, e in zip(M["outputs"], expected)]}
    files = {"model.h": "model.h.j2", "model.c": "model.c.j2", "weights.h": "weights.h.j2",
             "hwq_kernel.h": "hwq_kernel.h.j2", "main.c": "main.c.j2", "inputs.h": "inputs.h.j2"}
    for out, tpl in files.items():
        (outdir / out).write_text(env.get_template(tpl).render(M=M, H=H))
    run_cmd = " ".join(target.run) + " ./prog" if target.run else "./prog"
    # one translation unit for every kernel: one compiler start instead of one per layer
    (outdir / "kernels.c").write_text("/* Generated by hwq gen-c: every layer kernel, one translation unit. */\n"
                                      + "".join(f'#include "{s.file}"\n' for s in steps))
    (outdir / "Makefile").write_text(env.get_template("Makefile.j2").render(
        T=target, kernel_deps=[s.file for s in steps], extra_cflags="", run_cmd=run_cmd))
    if target.bare_metal:
        (outdir / "link.ld").write_text(env.get_template("cortex_m/link.ld.j2").render(T=target))
        (outdir / "startup.c").write_text(env.get_template("cortex_m/startup.c.j2").render(T=target))
    return Project(model, target, outdir, pl, steps, arrays, sum(a.nbytes for a in arrays))


def _c_values(arr: np.ndarray, ctype: str) -> list[str]:
    flat = np.asarray(arr).reshape(-1)
    if ctype == "float":
        return [repr(float(np.float32(v))) + "f" for v in flat]
    return [str(int(v)) for v in flat]
