"""The report stage: storage and accuracy (or output error) of a model, and the table ``hwq compress`` prints.

Two compression rates, named: Deep Compression's rate (payload + index + codebook against
the dense float32 weights; pointers and biases left out, as in the paper) and the whole
file's rate (every stored part, biases and pointers included, against the float32 model).
With labelled data the table shows top-1 accuracy; without labels, the output error of the
compressed model against the float model on the same samples (relative L2 and max abs).
"""

from __future__ import annotations

import numpy as np

from hwq.ir.model import Model
from hwq.ir.storage import StorageBits, compression_rate, layer_storage


def dequantized_output(model: Model, x: np.ndarray, mode: str, batch_size: int = 256) -> np.ndarray:
    """The model's single output on ``x`` as real values (int outputs dequantized)."""
    from hwq.golden import run_float, run_int

    name = model.outputs[0]
    run = run_int if mode == "int" else run_float
    x = np.asarray(x).reshape((len(x),) + tuple(model.inputs[0].shape))
    parts = []
    for s in range(0, len(x), batch_size):
        y = np.asarray(run(model, x[s:s + batch_size])[name], dtype=np.float64)
        q = model.layers[name].quant
        if mode == "int" and q is not None:
            y = (y - q.zero_point) * q.scale
        parts.append(y.reshape(len(y), -1))
    return np.concatenate(parts)


def output_error(y: np.ndarray, ref: np.ndarray) -> dict:
    """Relative L2 (||y - ref|| / ||ref||) and max |y - ref| over every output value."""
    diff = y - ref
    norm = float(np.linalg.norm(ref))
    return {"rel_l2": float(np.linalg.norm(diff)) / norm if norm > 0 else float(np.linalg.norm(diff)),
            "max_abs": float(np.abs(diff).max(initial=0.0))}


def summary(model: Model, data, reference: Model | None = None, x_eval: np.ndarray | None = None) -> dict:
    """Storage bits, both rates and, with data, accuracy (labels) or output error against ``reference``."""
    from hwq.train.evaluate import accuracy

    total = sum((layer_storage(l) for l in model.weighted()), StorageBits())
    row = {"bits": total.total, "dense_float_bits": total.dense_float_bits, "rate": compression_rate(total),
           "rate_huffman": compression_rate(total, True), "rate_codebook_32": compression_rate(total, codebook_32=True),
           "rate_huffman_codebook_32": compression_rate(total, True, codebook_32=True)}
    labelled = data is not None and getattr(data, "y_test", None) is not None
    if labelled:
        row["acc_float"] = accuracy(model, data.x_test, data.y_test, "float")
        row["acc_int"] = accuracy(model, data.x_test, data.y_test, "int") if model.is_quantized else None
    else:
        x = x_eval if x_eval is not None else (data.x_test if data is not None else None)
        if x is not None:
            ref = dequantized_output(reference or model, x, "float")
            row["err_float"] = output_error(dequantized_output(model, x, "float"), ref)
            row["err_int"] = output_error(dequantized_output(model, x, "int"), ref) if model.is_quantized else None
    return row


def _times(rate: float) -> str:
    return f"{1 / rate:.1f}x" if rate > 0 else "-"


def _err(e) -> str:
    return f"{e['rel_l2']:.2%}/{e['max_abs']:.3g}" if e else "-"


def render(dst: str, seconds: float, before: dict, after: dict) -> str:
    """The before/after table; the whole-file rate is the float32 model's bytes over each file's."""
    errors = "err_float" in after or "err_float" in before
    cols = ("err float", "err int") if errors else ("acc float", "acc int")
    width = 18 if errors else 10
    lines = [f"wrote {dst} in {seconds:.1f} s",
             f"{'':8}{'storage':>12}{'DC rate':>10}{'+Huffman':>10}{'cb 32-bit (+H)':>16}{'vs input':>11}"
             f"{cols[0]:>{width + 1}}{cols[1]:>{width + 1}}"]
    base = before["bits"]
    for label, r in (("before", before), ("after", after)):
        if errors:
            a, b = _err(r.get("err_float")), _err(r.get("err_int"))
        else:
            a = f"{r['acc_float']:.4f}" if r.get("acc_float") is not None else "-"
            b = f"{r['acc_int']:.4f}" if r.get("acc_int") is not None else "-"
        file_rate = f"{base / r['bits']:.1f}x" if r["bits"] else "-"
        cb32 = f"{_times(r['rate_codebook_32'])} ({_times(r['rate_huffman_codebook_32'])})"
        lines.append(f"{label:8}{(r['bits'] + 7) // 8:>10} B{_times(r['rate']):>10}{_times(r['rate_huffman']):>10}"
                     f"{cb32:>16}{file_rate:>11}{a:>{width + 1}}{b:>{width + 1}}")
    lines.append("DC rate: Deep Compression's (payload + index + codebook vs dense float32 weights); "
                 "cb 32-bit: the same with codebook entries counted at 32 bits as the papers do; "
                 "vs input: every stored part, against the input file" + (
                     "; err: relative L2 / max abs of the output against the float model" if errors else ""))
    return "\n".join(lines)
