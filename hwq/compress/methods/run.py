"""Command-line glue of ``hwq compress --method NAME``: load, compress, calibrate, report, save."""

from __future__ import annotations

import time

from hwq.compress.methods import method_module
from hwq.compress.methods.options import MethodParams
from hwq.compress.methods.result import MethodResult



def compress_model_method(model, data, p: MethodParams, log=None, calib=None) -> MethodResult:
    """The method's result, its activations calibrated when ``p.act_bits`` is set: on ``calib``
    (``--calib`` samples) or else ``data``'s training rows, at most ``p.calib_samples`` spread
    evenly (as the plain pipeline's calibrate stage)."""
    from hwq.compress.calibrate import calibrate
    from hwq.compress.stages.calibrate import calibration_batch

    res = method_module(p.method).compress(model, data, p, log)
    out = res.model
    if p.act_bits is not None:
        x = calib if calib is not None else data.x_train
        out = calibrate(out, calibration_batch(out, x, p.calib_samples), act_bits=p.act_bits,
                        pow2_scales=p.pow2_act)
    out.provenance = {**model.provenance, "compress": {**res.provenance, "method": p.method,
                                                       "seed": p.seed, "act_bits": p.act_bits,
                                                       "calibration": "calib" if calib is not None else p.data,
                                                       "calib_samples": p.calib_samples}}
    res.model = out
    return res


def compress_file_method(src: str, dst: str, p: MethodParams, echo=print) -> str:
    from hwq import ir
    from hwq.compress.pipeline import load_any, load_calib, load_data, summary

    model = load_any(src)
    data = load_data(p.data, model)
    calib = load_calib(p.calib, model)
    before = summary(model, data)
    t0 = time.perf_counter()
    res = compress_model_method(model, data, p, log=lambda s: echo(f"  {s}"), calib=calib)
    after = summary(res.model, data)
    ir.save(res.model, dst)
    lines = [f"wrote {dst} in {time.perf_counter() - t0:.1f} s (--method {p.method})", *res.report]
    for label, r in (("before", before), ("after", after)):
        acc = "".join(f"  acc {k[4:]} {r[k]:.4f}" for k in ("acc_float", "acc_int") if r.get(k) is not None)
        lines.append(f"{label}: {(r['bits'] + 7) // 8} B, {1 / r['rate']:.1f}x vs float32 "
                     f"({1 / r['rate_huffman']:.1f}x with Huffman; {1 / r['rate_codebook_32']:.1f}x with "
                     f"32-bit codebook entries){acc}")
    return "\n".join(lines)
