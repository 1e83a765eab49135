"""Command-line glue of ``hwq compress --method NAME``: load, compress, calibrate, report, save."""

from __future__ import annotations

import time

from hwq.compress.methods import method_module
from hwq.compress.methods.options import MethodParams
from hwq.compress.methods.result import MethodResult

CALIBRATION_SAMPLES = 512


def compress_model_method(model, data, p: MethodParams, log=None) -> MethodResult:
    """The method's result, its activations calibrated when ``p.act_bits`` is set."""
    from hwq.compress.calibrate import calibrate

    res = method_module(p.method).compress(model, data, p, log)
    out = res.model
    if p.act_bits is not None:
        x = data.x_train[:CALIBRATION_SAMPLES].reshape((-1,) + tuple(out.inputs[0].shape))
        out = calibrate(out, x, act_bits=p.act_bits, pow2_scales=p.pow2_act)
    out.provenance = {**model.provenance, "compress": {**res.provenance, "method": p.method,
                                                       "seed": p.seed, "act_bits": p.act_bits}}
    res.model = out
    return res


def compress_file_method(src: str, dst: str, p: MethodParams, echo=print) -> str:
    from hwq import ir
    from hwq.compress.pipeline import load_any, load_data, summary

    model = load_any(src)
    data = load_data(p.data, model)
    before = summary(model, data)
    t0 = time.perf_counter()
    res = compress_model_method(model, data, p, log=lambda s: echo(f"  {s}"))
    after = summary(res.model, data)
    ir.save(res.model, dst)
    lines = [f"wrote {dst} in {time.perf_counter() - t0:.1f} s (--method {p.method})", *res.report]
    for label, r in (("before", before), ("after", after)):
        acc = "".join(f"  acc {k[4:]} {r[k]:.4f}" for k in ("acc_float", "acc_int") if r.get(k) is not None)
        lines.append(f"{label}: {(r['bits'] + 7) // 8} B, {1 / r['rate']:.1f}x vs float32 "
                     f"({1 / r['rate_huffman']:.1f}x with Huffman){acc}")
    return "\n".join(lines)
