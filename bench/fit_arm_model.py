"""Refit gen-c's ARM instruction model for hwq estimate from bench_genc.py's measurements.

Reads the exact qemu counts in bench/genc_arm_model.json ("measurements", written by
bench/bench_genc.py) and writes hwq/cost/arm_models/genc_qemu_fit.json, the package data of
hwq/cost/arm.py. Per (target, kernel, code bits), least squares on the relative error (each row divided
by the measured count) over both input regimes, with hwq/cost/arm.py's terms (one
definition: ``features``):

    code-grouped kernels:  per_nonzero * nnz + per_row_group * rows * groups + per_row * rows + per_call
    the others:            per_stored_entry * stored * d + per_row * rows + per_nonzero_column * cols * d
                           + per_column * cols + per_call

with d the input's non-zero fraction for column-wise (CSC) kernels, which skip zero
activations, and 1 for every other kernel. The error band per target is the largest relative
error on the held-out shapes (bench_genc.HELD_SHAPES) when fitted without them. Run:
python3 bench/fit_arm_model.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwq.cost.arm import features, fit_key, predict  # noqa: E402


def sample_features(s: dict) -> dict[str, float]:
    return features(s["kernel"], s["stored"], s["nnz"], s["rows"], s["cols"], s["groups"], s["input_density"],
                    s.get("visited"), s.get("active_cols"))


def fit(samples: list[dict]) -> dict:
    groups: dict = {}
    for s in samples:
        groups.setdefault((s["target"], fit_key(s["kernel"], s["bits"])), []).append(s)
    out: dict = {}
    for (target, kernel), ss in sorted(groups.items()):
        terms = list(sample_features(ss[0]))
        y = np.array([s["instructions"] for s in ss], dtype=np.float64)
        a = np.array([[sample_features(s)[t] for t in terms] for s in ss], dtype=np.float64) / y[:, None]
        coef = np.linalg.lstsq(a, np.ones(len(ss)), rcond=None)[0]
        out.setdefault(target, {})[kernel] = dict(zip(terms, (float(c) for c in coef)))
    return out


def held_out_errors(model: dict, samples: list[dict]) -> dict[str, list[tuple[dict, float, float]]]:
    """Per target: (sample, estimate, relative error) for every sample whose kernel was fitted."""
    out: dict = {}
    for s in samples:
        c = model.get(s["target"], {}).get(fit_key(s["kernel"], s["bits"]))
        if c is not None:
            est = predict(c, sample_features(s))
            out.setdefault(s["target"], []).append((s, est, (est - s["instructions"]) / s["instructions"]))
    return out


def main() -> None:
    data = json.loads((ROOT / "bench" / "genc_arm_model.json").read_text())
    samples, held = data["measurements"], set(data["held_shapes"])
    errs = held_out_errors(fit([s for s in samples if s["shape"] not in held]), [s for s in samples if s["shape"] in held])
    band = {t: round(max(abs(e[2]) for e in es), 4) for t, es in errs.items()}
    per_kernel: dict = {}
    for t, es in errs.items():
        for smp, _, err in es:
            key = f"{smp['kernel']}#{smp['bits']}"
            per_kernel.setdefault(t, {})[key] = max(per_kernel.get(t, {}).get(key, 0.0), round(abs(err), 4))
    targets = sorted({s["target"] for s in samples})
    doc = {
        "about": "per target and gen-c kernel: code-grouped kernels per_nonzero*nnz + per_row_group*rows*groups + "
                 "per_row*rows + per_call; the others per_stored_entry*stored*d + per_row*rows + "
                 "per_nonzero_column*cols*d + per_column*cols + per_call; d = input non-zero fraction for CSC "
                 "kernels, 1 otherwise; groups = distinct non-zero weight values (hwq/cost/arm.py features)",
        "provenance": {
            "bench": "measurements: bench/bench_genc.py (issue #14), exact retired-instruction counts of each gen-c "
                     "layer kernel under qemu (hwq/codegen/icount.py), one sample; fit: bench/fit_arm_model.py "
                     "(least squares on relative error)",
            "measurements": "random EIE-style dense layers (random_mlp, 4- and 5-bit codes, 4-bit relative indices), "
                            f"{len(samples)} kernel runs on {', '.join(targets)}: shapes (inputs x outputs) "
                            f"{', '.join(data['fit_shapes'] + data['held_shapes'])}; weight density 5, 10, 30 % "
                            "(sparse) and 100 % (dense layouts); inputs all non-zero or 19 % non-zero",
            "error": {t: f"max |est-meas|/meas = {100 * b:.1f} % over {len(errs[t])} kernel runs on "
                         f"{', '.join(sorted(held))} when fitted on {', '.join(data['fit_shapes'])}"
                      for t, b in band.items()},
            "max_relative_error": band,
            "max_relative_error_per_kernel": per_kernel,
        },
        "model": fit(samples),
        "measurements": samples,
    }
    out = ROOT / "hwq" / "cost" / "arm_models" / "genc_qemu_fit.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(out, band)


if __name__ == "__main__":
    main()
