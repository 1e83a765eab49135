"""Refit gen-c's ARM instruction model for hwq estimate from bench_genc.py's measurements.

Reads the exact qemu counts in bench/genc_arm_model.json ("measurements", written by
bench/bench_genc.py) and writes hwq/cost/arm_models/genc_qemu_fit.json, the package data of
hwq/cost/arm.py. Per (target, kernel, code bits), over both input regimes, with
hwq/cost/arm.py's terms (one definition: ``features``; loop trip counts of gen-c's kernels:
per MAC / stored entry / non-zero, per row, per column, per call, the SIMD loops' scalar
tails, the PQ table, the conv im2col), an L1 fit of the relative error (``relative_l1``:
the counts are exact, most shapes follow one loop structure and are reproduced exactly, the
few where gcc compiled a loop differently stay outliers). Samples with per-channel or shift
requantization (bench_genc.RQ_VARIANTS) are not in the kernel fits: their per-row difference
to the same layer with per-tensor multiplier requantization is one number per target and
variant (``requant_per_row``). The error band per target is the largest relative error on the
held-out shapes (bench_genc.HELD_SHAPES) when fitted without them. Run:
python3 bench/fit_arm_model.py (then python3 bench/bench_genc.py examples TARGETS for the
example models' end-to-end check, stored in the same file's provenance)
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwq.cost.arm import BASE_REQUANT, SAVING_TERMS, conv_requant_delta_key, features, fit_key, fit_pool, predict, requant_delta_key, requant_extra  # noqa: E402


def sample_features(s: dict) -> dict[str, float]:
    pq = None
    if "/pq/" in s["kernel"]:  # bench's random PQ layers: M the largest of 4, 3, 2, 1 dividing cols, K = 2^bits
        pq = (s.get("pq_m") or next(m for m in (4, 3, 2, 1) if s["cols"] % m == 0), s.get("pq_k") or 1 << s["bits"])
    return features(s["kernel"], s["stored"], s["nnz"], s["rows"], s["cols"], s["groups"], s["input_density"],
                    s.get("visited"), s.get("active_cols"), pq, s.get("conv"), s.get("vectors"),
                    s.get("nonempty_cols", s.get("nonempty_rows")))


def requant_of(s: dict) -> str:
    return s.get("requant", BASE_REQUANT)


def requant_fit(samples: list[dict]) -> tuple[dict, dict]:
    """Per target and requantization variant: the mean extra instructions per output row
    against the same layer with per-tensor multiplier requantization (bench_genc.RQ_VARIANTS:
    the variant and its base measured on the same weights and inputs), and the largest
    deviation from that mean (per row)."""
    base = {(s["target"], s["label"], s["shape"], s["density"], s["regime"]): s for s in samples
            if requant_of(s) == BASE_REQUANT}
    deltas: dict = {}
    for s in samples:
        if requant_of(s) != BASE_REQUANT:
            b = base.get((s["target"], s["label"].split("_rq_")[0], s["shape"], s["density"], s["regime"]))
            if b is not None and b["kernel"] == s["kernel"]:
                conv = "conv" in s  # a conv layer requantizes rows x pixels outputs
                key = (conv_requant_delta_key(requant_of(s), s["rows"]) if conv
                       else requant_delta_key(requant_of(s), s["rows"], s["kernel"]))
                deltas.setdefault(s["target"], {}).setdefault(key, []).append(
                    (s["instructions"] - b["instructions"]) / (s["rows"] * (s["conv"][0] if conv else 1)))
    mean = {t: {k: float(np.mean(v)) for k, v in d.items()} for t, d in deltas.items()}
    spread = {t: {k: round(float(np.max(np.abs(np.array(v) - mean[t][k]))), 2) for k, v in d.items()}
              for t, d in deltas.items()}
    return mean, spread


def estimate(model: dict, rq: dict, s: dict) -> float | None:
    c = model.get(s["target"], {}).get(fit_key(s["kernel"], s["bits"]))
    if c is None:
        return None
    return predict(c, sample_features(s)) + requant_extra(rq.get(s["target"], {}), requant_of(s), s["rows"],
                                                          "conv" in s, s["kernel"]) * (s["conv"][0] if "conv" in s else 1)


def fit(samples: list[dict]) -> dict:
    groups: dict = {}
    for s in samples:
        if requant_of(s) == BASE_REQUANT:
            groups.setdefault((s["target"], fit_key(fit_pool(s["kernel"]), s["bits"])), []).append(s)
    out: dict = {}
    for (target, pool), ss in sorted(groups.items()):
        terms = list(sample_features(ss[0]))
        y = np.array([s["instructions"] for s in ss], dtype=np.float64)
        a = np.array([[sample_features(s)[t] for t in terms] for s in ss], dtype=np.float64) / y[:, None]
        coef = dict(zip(terms, (float(c) for c in relative_l1(a, [t in SAVING_TERMS for t in terms]))))
        for key in sorted({fit_key(s["kernel"], s["bits"]) for s in ss}):  # every kernel of the pool
            out.setdefault(target, {})[key] = coef
    return out


def relative_l1(a: np.ndarray, signed: list[bool]) -> np.ndarray:
    """Coefficients c minimizing sum |a @ c - 1| (a: the terms divided by the measured count,
    so the residuals are relative errors), over the terms that are linearly independent on
    these samples (taken in order; the others get 0). The counts are exact and most shapes
    follow one loop structure: an L1 fit reproduces those exactly and leaves the few shapes
    where gcc compiled a loop differently as outliers, where least squares would bend every
    coefficient towards them. Coefficients are >= 0 (each term counts executions of some
    instructions) except the ``signed`` ones (hwq/cost/arm.py SAVING_TERMS)."""
    keep: list[int] = []
    for j in range(a.shape[1]):
        if np.linalg.matrix_rank(a[:, keep + [j]], tol=1e-9 * max(1.0, np.abs(a).max())) > len(keep):
            keep.append(j)
    sub = a[:, keep]
    n, k = sub.shape
    # variables: c (free), then e+ and e- >= 0 with sub @ c - e+ + e- = 1
    res = linprog(np.r_[np.zeros(k), np.ones(2 * n)], A_eq=np.hstack([sub, -np.eye(n), np.eye(n)]),
                  b_eq=np.ones(n), bounds=[(None if signed[j] else 0, None) for j in keep] + [(0, None)] * (2 * n),
                  method="highs")
    if not res.success:
        raise RuntimeError(f"L1 fit failed: {res.message}")
    coef = np.zeros(a.shape[1])
    coef[keep] = res.x[:k]
    return coef


def held_out_errors(model: dict, samples: list[dict], rq: dict | None = None) -> dict[str, list[tuple[dict, float, float]]]:
    """Per target: (sample, estimate, relative error) for every sample whose kernel was fitted."""
    out: dict = {}
    for s in samples:
        est = estimate(model, rq or {}, s)
        if est is not None:
            out.setdefault(s["target"], []).append((s, est, (est - s["instructions"]) / s["instructions"]))
    return out


def conv_leave_one_shape_out(samples: list[dict]) -> dict:
    """Per target: the relative errors of each conv shape's samples when the model is fitted
    without that shape (the conv kernels have no held-out shapes; the examples' conv layers
    are their end-to-end check), as median / 90th percentile / max, and the worst sample."""
    errs: dict = {}
    for shape in sorted({s["shape"] for s in samples if s["shape"].startswith("conv")}):
        train = [s for s in samples if s["shape"] != shape]
        model, rq = fit(train), requant_fit(train)[0]
        for t, es in held_out_errors(model, [s for s in samples if s["shape"] == shape], rq).items():
            errs.setdefault(t, []).extend((abs(e), smp["label"], shape) for smp, _, e in es)
    out = {}
    for t, es in sorted(errs.items()):
        a = np.array([e[0] for e in es])
        worst = max(es)
        out[t] = {"median": round(float(np.median(a)), 4), "p90": round(float(np.percentile(a, 90)), 4),
                  "max": round(worst[0], 4), "worst": f"{worst[1]} {worst[2]}", "samples": len(es)}
    return out


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "genc_arm_model.json"
    data = json.loads(src.read_text())
    samples, held = data["measurements"], set(data["held_shapes"])
    train = [s for s in samples if s["shape"] not in held]
    errs = held_out_errors(fit(train), [s for s in samples if s["shape"] in held], requant_fit(train)[0])
    band = {t: math.ceil(1e4 * max(abs(e[2]) for e in es)) / 1e4 for t, es in errs.items()}  # rounded up
    per_kernel: dict = {}
    for t, es in errs.items():
        for smp, _, err in es:
            key = fit_key(smp["kernel"], smp["bits"])
            per_kernel.setdefault(t, {})[key] = max(per_kernel.get(t, {}).get(key, 0.0), round(abs(err), 4))
    per_shape: dict = {}
    for t, es in errs.items():
        for smp, _, err in es:
            per_shape.setdefault(t, {})[smp["shape"]] = max(per_shape.get(t, {}).get(smp["shape"], 0.0),
                                                            round(abs(err), 4))
    targets = sorted({s["target"] for s in samples})
    conv = sorted({s["shape"] for s in samples if s["shape"].startswith("conv")})
    rq, rq_spread = requant_fit(samples)
    doc = {
        "about": "per target and gen-c kernel (and code width): instructions = sum of coefficient x term, the "
                 "terms of hwq/cost/arm.py features (loop trip counts: per MAC / stored entry / non-zero, row, "
                 "column, call, SIMD tails, PQ table, conv pixels); plus requant_per_row[target][variant] x rows "
                 "for per-channel or shift requantization",
        "provenance": {
            "bench": "measurements: bench/bench_genc.py (issue #14), exact retired-instruction counts of each gen-c "
                     "layer kernel under qemu (hwq/codegen/icount.py), one sample; fit: bench/fit_arm_model.py "
                     "(L1 on relative error, non-negative execution terms); the model below is fitted on every "
                     "measurement, the errors on the held-out shapes when fitted without them",
            "measurements": "random EIE-style dense layers (random_mlp, 4- and 5-bit codes, 4-bit relative indices), "
                            f"{len(samples)} kernel runs on {', '.join(targets)}: shapes (inputs x outputs) "
                            f"{', '.join(data['fit_shapes'] + data['held_shapes'])}; weight density 5, 10, 30 % "
                            "(sparse) and 100 % (dense layouts); inputs all non-zero or 19 % non-zero; "
                            "requantization variants (bench_genc.RQ_VARIANTS); conv2d layers (C x O x K x H, "
                            f"padding K//2; all fitted, checked on the example models): {', '.join(conv)}",
            "error": {t: f"max |est-meas|/meas = {100 * b:.1f} % over {len(errs[t])} kernel runs on "
                         f"{', '.join(sorted(held))} when fitted on {', '.join(data['fit_shapes'])}"
                      for t, b in band.items()},
            "max_relative_error": band,
            "max_relative_error_per_kernel": per_kernel,
            "max_relative_error_per_held_shape": per_shape,
            "conv_leave_one_shape_out": conv_leave_one_shape_out(samples),
            "requant_per_row": "extra instructions per output row of a requantization variant against per-tensor "
                               "multiplier requantization (what every kernel fit measured): the mean over the "
                               "variants measured beside their base kernel (bench_genc.RQ_VARIANTS: dense int8, "
                               "pow2 CSC, code-grouped codebook CSR), applied to every kernel (the dense code-grouped kernels, which "
                               "requantize in the row pass, by their own difference: .../rowpass); largest deviation "
                               "from the mean per row: " + json.dumps(rq_spread),
        },
        "model": fit(samples),
        "requant_per_row": rq,
        "measurements": samples,
    }
    out = ROOT / "hwq" / "cost" / "arm_models" / "genc_qemu_fit.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(out, band)
    # the end-to-end check of the example models belongs to this fit: it is measured anew
    print("next: python bench/bench_genc.py examples cortex-m4,cortex-m55,cortex-a53,cortex-a72 "
          "(records the example models' errors of this fit in its provenance; tests/test_cost_arm.py reads them)")


if __name__ == "__main__":
    main()
