"""gen-c: exact instructions per dense MAC and code size of the C kernels, under qemu, and the
fitted ARM instruction model of hwq estimate checked on layers it was not fitted on.

For EIE-style layers, every weight encoding and layout -- dense int8 (the CMSIS-NN layout,
with the target's SIMD path), CSC/CSR codebook and pow2 with 4- and 5-bit codes, CSR as
code-grouped rows (gen-c's default where faster) and as the IR's byte entries
(``--no-grouped``), ternary (CSC, CSR, dense), CSC int8, dense codebook/pow2 (dense pow2 also
in its packed form, ``pow2-packed``) and PQ -- is generated as one
branch of one model per (shape, density), so one build and one traced run measure them all.
Every branch is checked bit for bit against the golden model (``ok``). Instructions are
exact retired-instruction counts of each layer's kernel (qemu ``-singlestep -d
exec,nochain``, hwq/codegen/icount.py) divided by the dense MAC count inputs x outputs.

Two input regimes: ``dense`` (every activation non-zero, the worst case for the column-wise
kernels, which skip zero activations) and ``relu19`` (19 % non-zero, the fraction of
non-zero pixels in an MNIST image, i.e. what LeNet-300-100's first layer sees; EIE's
activation sparsity), printed side by side for 784x300 at 10 %. Baseline: CMSIS-NN's
arm_fully_connected_s8 on Cortex-M4 (gcc 12, -O2, DSP), measured the same way: 2.655
instructions/MAC on 64x300, 1.939 on 784x300 (issue #14). Goal: pow2- and codebook-sparse
kernels at 10 % density below 0.4 on 784x300 on Cortex-M4.

The instruction model (hwq/cost/arm.py's terms, least squares on relative error per target
and kernel, bench/fit_arm_model.py) is fitted on the FIT shapes and checked on the HELD
shapes (never fitted), per target: estimated vs measured and the largest relative error.
The measurements go to bench/genc_arm_model.json; ``python bench/fit_arm_model.py`` turns
them into the package data hwq/cost/arm_models/genc_qemu_fit.json.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import ROOT, Row, check

TITLE = "genc: instructions per dense MAC and code size of the C kernels (qemu, exact counts)"

SPARSE = (0.05, 0.1, 0.3)
ENCODINGS = [  # label, encoding, layout, densities it runs at, code bits, gen-c's grouped option
    ("int8", "int8", "none", (1.0,), 4, None),
    ("int8-csc", "int8", "csc", SPARSE, 4, None),
    ("codebook-csc", "codebook", "csc", SPARSE, 4, None),
    ("codebook-csr", "codebook", "csr", SPARSE, 4, None),
    ("codebook-csr-entries", "codebook", "csr", SPARSE, 4, False),
    ("codebook5-csc", "codebook", "csc", SPARSE, 5, None),
    ("codebook5-csr", "codebook", "csr", SPARSE, 5, None),
    ("codebook", "codebook", "none", (1.0,), 4, None),
    ("pow2-csc", "pow2", "csc", SPARSE, 4, None),
    ("pow2-csr", "pow2", "csr", SPARSE, 4, None),
    ("pow2-csr-entries", "pow2", "csr", SPARSE, 4, False),
    ("pow2-5-csc", "pow2", "csc", SPARSE, 5, None),
    ("pow2-5-csr", "pow2", "csr", SPARSE, 5, None),
    ("pow2", "pow2", "none", (1.0,), 4, None),
    ("pow2-5", "pow2", "none", (1.0,), 5, None),
    ("pow2-3", "pow2", "none", (1.0,), 3, None),  # few weight values: code-grouped rows of 6 groups
    ("ternary-csc", "ternary", "csc", SPARSE, 4, None),
    ("ternary-csr", "ternary", "csr", SPARSE, 4, None),
    ("ternary", "ternary", "none", (1.0,), 4, None),
    ("pow2-packed", "pow2", "none", (1.0,), 4, False),
    ("ternary-packed", "ternary", "none", (1.0,), 4, False),  # dense ternary's own kernel (MVE lane masks) at every shape
    ("pow2-5-packed", "pow2", "none", (1.0,), 5, False),  # dense 5-bit pow2's C bucket kernel at every shape
    ("pq", "pq", "none", (1.0,), 4, None),
    ("pq5", "pq", "none", (1.0,), 5, None),
]
FIT_SHAPES = [(64, 100), (128, 120), (128, 256), (256, 300), (1024, 120),  # (inputs, outputs) fitted on
              (32, 10), (300, 10), (64, 32), (16, 24),  # small layers: per-call and per-row constants
              (52, 20), (90, 14),  # rows / columns off the SIMD widths: the kernels' scalar tails
              (96, 12),  # PQ sub-vectors of 24: one block of 16 taps and a tail (AArch64)
              (40, 21), (76, 18),  # gcc's copy loops in steps of 8 / one at a time, an odd row count
              (72, 15), (132, 26),  # PQ sub-vectors of 18 / 33: a tail of 2 / 1 taps (AArch64: gcc unrolls it)
              (68, 22)]  # PQ sub-vectors of 17: one block and a one-tap tail (Cortex-A72: -16 % at 68x14 unfitted)
HELD_SHAPES = [(784, 300), (512, 256), (100, 10)]  # never fitted: the model's check
# the requantization variants (the fit's other kernels run per-tensor "multiplier" requantization):
# label -> (base label, mode, per channel), measured beside their base kernel, fitted as one
# per-row difference per target (hwq/cost/arm.py requant_key)
RQ_VARIANTS = {"int8-rq-pc": ("int8", "multiplier", True), "int8-rq-shift": ("int8", "shift", False),
               "int8-rq-shift-pc": ("int8", "shift", True), "pow2-csc-rq-shift": ("pow2-csc", "shift", False),
               "codebook-csr-rq-pc": ("codebook-csr", "multiplier", True),
               "pow2-3-rq-shift": ("pow2-3", "shift", False)}  # shift requantization in the code-grouped row pass
WIDE_POINTERS = (1024, 300, 0.3)  # fitted too: >= 2^16 stored entries, gen-c's uint32 pointers
CMSIS_NN_M4 = {(64, 300): 2.655, (784, 300): 1.939}
HEADLINE = (784, 300, 0.1)


def layer_models(n_in: int, n_out: int, density: float, seed: int = 0, only=None):
    """label -> (model, grouped option)."""
    from hwq.compress.random_model import random_mlp

    out = {}
    for label, enc, lay, dens, bits, grouped in ENCODINGS:
        variants = [(v, rq) for v, rq in RQ_VARIANTS.items() if rq[0] == label]
        for lab, rq in [(label, None)] + variants:
            if density in dens and (only is None or lab in only):
                m = random_mlp(f"{n_in},{n_out}", density=density, encoding=enc, bits=bits, sparse=lay, index_bits=4,
                               seed=seed)
                out[lab.replace("-", "_")] = (requant_variant(m, *rq[1:], seed) if rq else m, grouped)
    return out


def requant_variant(model, mode: str, per_channel: bool, seed: int):
    """The model with its layer's requantization factor replaced: per channel (factor x 2^u,
    u uniform in [-1, 1) per output) and/or rounded to a power of two (shift mode)."""
    from dataclasses import replace

    from hwq.ir.quant import make_requant

    layer = model.weighted()[0]
    rq = layer.requant
    f0 = float(rq.multiplier[0]) * 2.0 ** (int(rq.exponent[0]) - 31) if rq.mode == "multiplier" else 2.0 ** int(rq.exponent[0])
    rows = layer.weight.matrix_shape[0]
    f = f0 * 2.0 ** np.random.default_rng(seed + 7).uniform(-1, 1, rows if per_channel else 1)
    if mode == "shift":
        f = 2.0 ** np.round(np.log2(f))
        if per_channel and np.unique(f).size == 1:
            f[0] *= 2.0
    model.layers[layer.name] = replace(layer, requant=make_requant(f))
    return model


# conv2d: gen-c's im2col per output pixel, then the row / column kernel over (O, C*K*K) and the
# requantization of the pixel's O outputs. (in channels, out channels, kernel, input side),
# padding K // 2, stride 1; fitted on these, checked on the LeNet example's (1, 8, 3, 8) and
# (8, 16, 3, 4) (examples/digits_lenet_*.ir, never fitted)
CONV_SHAPES = [(1, 6, 5, 12), (2, 12, 3, 10), (4, 8, 3, 6), (16, 8, 1, 6), (3, 16, 3, 8), (6, 6, 5, 8),
               (8, 8, 3, 8), (12, 20, 3, 5), (1, 16, 3, 6), (4, 24, 3, 4),
               # the examples' regimes on other shapes: one input channel (9 columns: one SIMD step and
               # a tail, no channel loop), 72 columns (9 steps, no tail), 16 rows, small inputs
               # where a third of the taps are padding
               (1, 8, 3, 6), (1, 12, 3, 8), (1, 8, 3, 10), (2, 8, 3, 8), (8, 16, 3, 5), (8, 12, 3, 4),
               (6, 16, 3, 4), (4, 16, 3, 4), (8, 8, 3, 6), (10, 16, 3, 3),
               # rows off the Cortex-M4 kernel's 4 rows per pass (its scalar row tail), 3x3 kernels
               (8, 6, 3, 4), (1, 14, 3, 6), (4, 10, 3, 5), (3, 5, 3, 6),
               # more than one shape per kernel width: 1x1 (no tap loop, no padding) and 5x5 convs
               (8, 12, 1, 4), (3, 10, 1, 7), (2, 8, 5, 6),
               # every SIMD regime of the 1x1 convs on two shapes: 16 columns (two MVE steps / one NEON
               # step, no tail), 8 (one step), 3 (the tail alone), 32 (two NEON steps)
               (16, 12, 1, 4), (8, 6, 1, 6), (3, 8, 1, 5), (32, 8, 1, 3),
               # more rows off the Cortex-M4 kernel's 4-row passes (gcc unrolls the tail rows and
               # allocates registers per copy: 5 or 6 instructions a tail MAC)
               (6, 10, 3, 4), (2, 6, 3, 5), (5, 7, 3, 4)]
CONV_ENCODINGS = [  # label, encoding, layout, density, code bits
    ("conv-int8", "int8", "none", 1.0, 8), ("conv-pow2-5", "pow2", "none", 1.0, 5),
    ("conv-codebook5-csc", "codebook", "csc", 0.3, 5), ("conv-pow2-5-csc", "pow2", "csc", 0.3, 5),
    ("conv-codebook-csc", "codebook", "csc", 0.3, 4),
    ("conv-pow2-5-half", "pow2", "none", 0.5, 5),  # half the codes zero: the plain kernel skips them
    ("conv-pow2", "pow2", "none", 1.0, 4), ("conv-pow2-3-half", "pow2", "none", 0.5, 3)]  # fewer code groups
CONV_RQ_VARIANTS = {"conv-int8-rq-pc": ("conv-int8", "multiplier", True),  # per-channel requantization per pixel
                    # per-tensor shift (the pow2 examples' mode): gcc's requantization loop without the multiply
                    "conv-int8-rq-shift": ("conv-int8", "shift", False),
                    "conv-pow2-5-half-rq-shift": ("conv-pow2-5-half", "shift", False)}


def conv_model(c: int, o: int, k: int, h: int, enc: str, lay: str, density: float, bits: int, seed: int = 0):
    from hwq.compress.calibrate import calibrate
    from hwq.compress.random_model import BIAS_STD, bias_scale, random_weight
    from hwq.ir.layers import Conv2d, Input, ReLU
    from hwq.ir.model import Model

    rng = np.random.default_rng(seed)
    m = Model("random_conv", {}, [], {"source": "bench_genc conv", "seed": seed})
    m.layers["input"] = Input("input", [], shape=(c, h, h))
    w = random_weight(rng, (o, c, k, k), enc, density, bits, lay, 4)
    bias = (rng.normal(size=o) * (BIAS_STD * bias_scale(enc, bits))).astype(np.float32)
    m.layers["conv1"] = Conv2d("conv1", ["input"], in_channels=c, out_channels=o, kernel=(k, k),
                               padding=(k // 2,) * 4, weight=w, bias=bias)
    m.layers["relu1"] = ReLU("relu1", ["conv1"])
    m.outputs = ["relu1"]
    return calibrate(m, rng.random((64, c, h, h)), weights_to_int8=False)


def measure_conv(target: str, shape: tuple, regime: str, workdir: Path, only=None) -> list[dict]:
    from hwq.codegen import gen_c
    from hwq.cost.arm import conv_column_visits, conv_geometry, layer_groups, group_vectors, requant_key
    from hwq.ir.rewrite import branches

    c, o, k, h = shape
    models, dens_of = {}, {}
    for lab, enc, lay, dens, bits in CONV_ENCODINGS:
        for v, rq in [(lab, None)] + [(v, rq) for v, rq in CONV_RQ_VARIANTS.items() if rq[0] == lab]:
            if only is None or v in only:
                m = conv_model(c, o, k, h, enc, lay, dens, bits)
                models[v.replace("-", "_")] = requant_variant(m, *rq[1:], 0) if rq else m
                dens_of[v.replace("-", "_")] = dens
    x = inputs(c * h * h, regime).reshape(-1, c, h, h)
    rep = gen_c(branches(models, "bench_conv"), target, workdir / f"{target}_conv_{c}x{o}x{k}x{h}_{regime}", x=x,
                run=True)
    check(rep["match"], f"{target} conv {shape} {regime}: mismatch")
    out = []
    for layer in rep["layers"]:
        if not layer["kernel"].startswith("conv2d/"):
            continue
        label = layer["name"].rsplit("_conv1", 1)[0]
        lw = models[label].weighted()[0]
        out.append({"target": target, "regime": regime, "label": label, "shape": "conv%dx%dx%dx%d" % shape,
                    "density": dens_of[label],
                    "kernel": layer["kernel"].split("+relu")[0], "stored": lw.weight.stored, "nnz": lw.weight.nnz(),
                    "groups": layer_groups(lw), "bits": lw.weight.values.payload_bits(), "rows": o,
                    "cols": c * k * k, "input_density": float(np.count_nonzero(x[0])) / x[0].size,
                    "instructions": layer["instructions"], "requant": requant_key(lw),
                    "conv": list(conv_geometry(lw, h, h)),
                    **({"vectors": group_vectors(lw)} if layer["kernel"].split("+relu")[0].endswith("/grouped/mve") else {}),
                    **(dict(zip(("visited", "active_cols", "nonempty_cols"),
                                conv_column_visits(lw, x[:1], models[label].layers["input"].quant.zero_point)))
                       if lw.weight.sparse is not None else {})})
    return out


def remeasure_conv(targets: list[str], only: list[str] | None = None, shapes: list[str] | None = None) -> None:
    """Measure the conv layers (CONV_SHAPES, or those named in ``shapes`` as CxOxKxH, x
    CONV_ENCODINGS or the labels ``only``, both input regimes) on ``targets`` and replace their
    rows in bench/genc_arm_model.json."""
    path = ROOT / "bench" / "genc_arm_model.json"
    keys = {lab.replace("-", "_") for lab in only} if only else None
    names = {"conv" + sh for sh in shapes} if shapes else None
    keep = [s for s in json.loads(path.read_text())["measurements"]
            if not (s["target"] in targets and s["shape"].startswith("conv") and (keys is None or s["label"] in keys)
                    and (names is None or s["shape"] in names))]
    with tempfile.TemporaryDirectory() as tmp:
        for t in targets:
            for shape in CONV_SHAPES:
                if names is not None and "conv%dx%dx%dx%d" % shape not in names:
                    continue
                for regime in ("dense", "relu19"):
                    rows = measure_conv(t, shape, regime, Path(tmp), only)
                    for r in rows:
                        print(t, r["shape"], regime, r["label"], r["instructions"], r["kernel"], file=sys.stderr, flush=True)
                    keep += rows
                    save(keep)


def examples_check(targets: list[str], workdir: Path) -> list[dict]:
    """Every weighted layer of every quantized example model (examples/digits_*_*.ir, none of
    them fitted), on the first digits test sample: hwq estimate's instructions against gen-c's
    exact count (gen-c counts its first sample; estimate takes its CSC visits from it)."""
    from hwq.codegen import gen_c
    from hwq.cost.estimate import estimate_model
    from hwq.ir import load

    x = np.load(ROOT / "examples" / "digits_test_x.npy")[:1]
    out = []
    for t in targets:
        for path in sorted((ROOT / "examples").glob("digits_*_*.ir")):
            m = load(path)
            xm = x.reshape((1,) + tuple(m.inputs[0].shape))
            rep = gen_c(m, t, workdir / f"{t}_{path.stem}", x=xm, run=True)
            check(rep["match"], f"{t} {path.stem}: mismatch")
            meas = {layer["name"]: layer for layer in rep["layers"]}
            for row in estimate_model(m, t, x=xm)["layers"]:
                if "kernel" in row["extra"] and row["name"] in meas:
                    got = meas[row["name"]]
                    out.append({"target": t, "model": path.stem, "layer": row["name"],
                                "kernel": got["kernel"].split("+relu")[0], "estimated_kernel": row["extra"]["kernel"],
                                "instructions": got["instructions"], "estimate": round(row["extra"]["instructions"]),
                                "error": (row["extra"]["instructions"] - got["instructions"]) / got["instructions"]})
    return out


def write_examples_check(targets: list[str]) -> None:
    fit_path = ROOT / "hwq" / "cost" / "arm_models" / "genc_qemu_fit.json"
    with tempfile.TemporaryDirectory() as tmp:
        rows = examples_check(targets, Path(tmp))
    for r in rows:
        print(f"{r['target']:10s} {r['model']:27s} {r['layer']:6s} {r['kernel']:34s} {r['instructions']:8d} "
              f"{r['estimate']:8d} {100 * r['error']:+6.1f} %" + ("" if r["kernel"] == r["estimated_kernel"]
                                                                else f"  (estimate: {r['estimated_kernel']})"))
    doc = json.loads(fit_path.read_text())
    prov = doc["provenance"]
    old = [r for r in prov.get("examples", []) if r["target"] not in targets]
    rows_all = old + rows
    prov["examples"] = old + [{**r, "error": round(r["error"], 4)} for r in rows]
    for suffix, kinds in (("", ("dense/", "conv2d/")), ("_dense", ("dense/",)), ("_conv", ("conv2d/",))):
        prov["examples_max_relative_error" + suffix] = {
            t: math.ceil(1e4 * max(abs(r["error"]) for r in rows_all if r["target"] == t and r["kernel"].startswith(kinds)))
            / 1e4 for t in sorted({r["target"] for r in rows_all})}  # rounded up: a band
    fit_path.write_text(json.dumps(doc, indent=1) + "\n")
    print(prov["examples_max_relative_error"])


def inputs(n_in: int, regime: str, n: int = 2, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 256, (n, n_in))
    if regime == "relu19":
        x = np.where(rng.random((n, n_in)) < 0.19, x, 0)
    return x


def _groups(models: dict, budget: int, n_out: int) -> list[dict]:
    """Split the branches (by gen-c option, then so each program's weights stay within
    ``budget`` bytes: the Cortex-M55's 512 kB ITCM holds code, weights and the bundled data)."""
    groups = []
    for opt in (None, False):
        cur, size = {}, 0
        for label, (m, g) in models.items():
            if g is not opt:
                continue
            w = m.weighted()[0].weight
            # code-grouped: 2-3 B per entry, on MVE up to 16 B of padding and count per (row, group)
            grows = g is None and w.values.TYPE in ("codebook", "pow2", "ternary")
            nbytes = 3 * w.stored + 16 * n_out * 2 ** w.values.payload_bits() if grows else \
                3 * w.stored if g is None and w.sparse is not None else \
                w.stored * max(1, w.values.payload_bits() + (w.sparse.index_bits if w.sparse else 0)) // 8
            if cur and size + nbytes > budget:
                groups.append((opt, cur))
                cur, size = {}, 0
            cur[label] = m
            size += nbytes
        if cur:
            groups.append((opt, cur))
    return groups


def measure(target: str, n_in: int, n_out: int, density: float, regime: str, workdir: Path, only=None):
    from hwq.codegen import gen_c
    from hwq.codegen.targets import TARGETS
    from hwq.cost.arm import column_visits, layer_groups, group_vectors, requant_key
    from hwq.ir.rewrite import branches

    models = layer_models(n_in, n_out, density, only=only)
    t = TARGETS[target]
    budget = t.flash * 4 // 10 if t.bare_metal else 1 << 40
    x = inputs(n_in, regime)
    d_in = float(np.count_nonzero(x[0])) / n_in  # the counted run is the first sample
    rows, match = {}, True
    for g, (opt, group) in enumerate(_groups(models, budget, n_out)):
        merged = branches(group, f"bench_{n_in}x{n_out}")
        rep = gen_c(merged, target, workdir / f"{target}_{n_in}x{n_out}_{density}_{regime}_{g}",
                    x=x, run=True, grouped=opt)
        match &= rep["match"]
        for layer in rep["layers"]:
            label = layer["name"].rsplit("_fc1", 1)[0]
            w = next(iter(models[label][0].weighted()))
            rows[label] = {"instructions": layer["instructions"], "code_bytes": layer.get("code_bytes"),
                           "match": layer["match"], "stored": w.weight.stored, "nnz": w.weight.nnz(),
                           "groups": layer_groups(w), "bits": w.weight.values.payload_bits(),
                           **({"nonempty_rows": int(np.count_nonzero(np.diff(w.weight.sparse.ptr.astype(np.int64))))}
                              if w.weight.sparse is not None and w.weight.sparse.format == "csr" else {}),
                           **(dict(zip(("visited", "active_cols", "nonempty_cols"), column_visits(w, x[:1])))
                              if w.weight.sparse is not None and w.weight.sparse.format == "csc" else {}),
                           "rows": n_out, "cols": n_in,
                           "input_density": d_in, "kernel": layer["kernel"].split("+relu")[0],
                           "requant": requant_key(w),
                           **({"vectors": group_vectors(w)} if layer["kernel"].split("+relu")[0].endswith("/grouped/mve")
                              else {}),
                           **({"pq_m": w.weight.values.codebook.shape[0], "pq_k": w.weight.values.codebook.shape[1]}
                              if w.weight.values.TYPE == "pq" else {})}
    return {"match": match}, rows


def _plan(have: list[str], quick: bool) -> list[tuple]:
    if quick:
        return [("cortex-m4" if "cortex-m4" in have else have[0], 64, 16, 0.1, "dense")]
    plan = []
    for t in have:
        for (i, o) in FIT_SHAPES + HELD_SHAPES:
            for d in SPARSE + (1.0,):
                for regime in (("dense", "relu19") if d < 1 else ("dense",)):
                    plan.append((t, i, o, d, regime))
        plan += [(t, *WIDE_POINTERS, regime) for regime in ("dense", "relu19")]
    return plan


def run(quick: bool = False) -> list[Row]:
    from hwq.codegen.targets import TARGETS

    sys.path.insert(0, str(Path(__file__).parent))
    from fit_arm_model import fit, held_out_errors, requant_fit

    have = [t for t in ("cortex-m4", "cortex-m55", "cortex-a53", "cortex-a72")
            if shutil.which(TARGETS[t].cc) and shutil.which(TARGETS[t].run[0])]
    rows: list[Row] = []
    if not have:
        return [Row("genc", "skipped", "no ARM cross compiler / qemu (apt-get install gcc-arm-none-eabi qemu-system-arm)")]
    samples = []
    side: dict = {}
    cases: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for t, i, o, d, regime in _plan(have, quick):
            rep, res = measure(t, i, o, d, regime, Path(tmp), only=("pow2-csr", "codebook-csr") if quick else None)
            case = f"{t} {i}x{o} {int(d * 100)}% {regime}"
            if not quick:  # progress on stderr: a full run takes minutes
                print(case, {k: round(v["instructions"] / (i * o), 3) for k, v in res.items()}, file=sys.stderr, flush=True)
            check(rep["match"], f"{case}: mismatch")
            cases[t] = cases.get(t, 0) + 1
            headline = (i, o, d) == HEADLINE or quick
            for label, r in res.items():
                per_mac = r["instructions"] / (i * o)
                if headline:
                    side.setdefault((t, label), {})[regime] = (per_mac, r["kernel"])
                if r["code_bytes"] is not None and regime == "dense" and headline:
                    rows.append(Row(case, f"{label} kernel code", r["code_bytes"], "B"))
                samples.append({"target": t, "regime": regime, "label": label, "shape": f"{i}x{o}", "density": d,
                                **{k: r[k] for k in ("kernel", "stored", "nnz", "groups", "bits", "rows", "cols",
                                                     "input_density", "instructions", "visited", "active_cols", "requant",
                                                     "pq_m", "pq_k", "vectors", "nonempty_cols",
                                                     "nonempty_rows")
                                   if k in r}})
            if not quick:
                save(samples)  # after every case: a long run keeps what it measured
        if not quick:
            for t in have:
                for shape in CONV_SHAPES:
                    for regime in ("dense", "relu19"):
                        samples += measure_conv(t, shape, regime, Path(tmp))
                        cases[t] += 1
                        save(samples)
    for t, n in cases.items():
        rows.append(Row(f"{t}: {n} cases", "bit-exact (every branch of every case)", "ok"))
    for (t, label), reg in side.items():  # both input regimes side by side
        dense, relu = reg.get("dense"), reg.get("relu19")
        i, o, d = HEADLINE if not quick else (64, 16, 0.1)
        txt = " / ".join(f"{v[0]:.3f}" if v else "-" for v in (dense, relu))
        rows.append(Row(f"{t} {i}x{o} {int(d * 100)}%", f"{label} instr/dense MAC, dense / relu19 inputs",
                        txt, (dense or relu)[1]))
        base = CMSIS_NN_M4.get((i, o)) if t == "cortex-m4" else None
        if base and dense and label in ("pow2_csr", "codebook_csr", "pow2_csc", "codebook_csc"):
            rows.append(Row(f"{t} {i}x{o} {int(d * 100)}% dense", f"CMSIS-NN s8 / {label}", base / dense[0], "x"))
    if not quick:
        held = {f"{i}x{o}" for i, o in HELD_SHAPES}
        train = [s for s in samples if s["shape"] not in held]
        model = fit(train)
        for t, errs in held_out_errors(model, [s for s in samples if s["shape"] in held], requant_fit(train)[0]).items():
            for s, est, err in sorted(errs, key=lambda e: -abs(e[2]))[:5]:  # the worst five per target
                rows.append(Row(f"{t} {s['shape']} {int(s['density'] * 100)}% {s['regime']}",
                                f"{s['kernel']} est / meas", f"{est:,.0f} / {s['instructions']:,}", f"{100 * err:+.1f} %"))
            worst = max(abs(e[2]) for e in errs)
            rows.append(Row(f"{t} fit on {', '.join(f'{i}x{o}' for i, o in FIT_SHAPES)}",
                            f"max |est-meas|/meas on {', '.join(sorted(held))} ({len(errs)} kernels x shapes)",
                            100 * worst, "%"))
    return rows


def save(samples: list[dict]) -> None:
    (ROOT / "bench" / "genc_arm_model.json").write_text(json.dumps(
        {"about": "exact qemu instruction counts of gen-c's layer kernels (bench/bench_genc.py); "
                  "bench/fit_arm_model.py fits hwq/cost/arm_models/genc_qemu_fit.json from them",
         "fit_shapes": [f"{i}x{o}" for i, o in FIT_SHAPES] + ["%dx%d" % WIDE_POINTERS[:2]], "held_shapes": sorted(f"{i}x{o}" for i, o in HELD_SHAPES),
         "measurements": samples}, indent=1) + "\n")


def remeasure(labels: list[str], targets: list[str], shape: str | None = None) -> None:
    """Measure only ``labels`` (``all``: every one) on ``targets`` at every shape of the plan
    (or only ``shape``, e.g. 1024x300) and replace their rows in bench/genc_arm_model.json
    (after a change to those kernels alone)."""
    path = ROOT / "bench" / "genc_arm_model.json"
    if labels == ["all"]:
        labels = [e[0] for e in ENCODINGS] + list(RQ_VARIANTS)
    keys = {lab.replace("-", "_") for lab in labels}
    keep = [s for s in json.loads(path.read_text())["measurements"]
            if not (s["target"] in targets and s["label"] in keys and shape in (None, s["shape"]))]
    with tempfile.TemporaryDirectory() as tmp:
        for t, i, o, d, regime in _plan(targets, False):
            if shape not in (None, f"{i}x{o}"):
                continue
            _, res = measure(t, i, o, d, regime, Path(tmp), only=labels)
            for label, r in res.items():
                print(t, i, o, d, regime, label, round(r["instructions"] / (i * o), 3), r["kernel"], file=sys.stderr, flush=True)
                keep.append({"target": t, "regime": regime, "label": label, "shape": f"{i}x{o}", "density": d,
                             **{k: r[k] for k in ("kernel", "stored", "nnz", "groups", "bits", "rows", "cols",
                                                  "input_density", "instructions", "visited", "active_cols", "requant",
                                                     "pq_m", "pq_k", "vectors", "nonempty_cols",
                                                     "nonempty_rows")
                                if k in r}})
                save(keep)


if __name__ == "__main__":  # python bench/bench_genc.py LABEL[,LABEL]|all|conv TARGET[,TARGET] [SHAPE]: re-measure
    if sys.argv[1].startswith("conv"):  # conv[:LABEL,LABEL] TARGETS [CxOxKxH,CxOxKxH]
        remeasure_conv(sys.argv[2].split(","), sys.argv[1].partition(":")[2].split(",") if ":" in sys.argv[1] else None,
                       sys.argv[3].split(",") if len(sys.argv) > 3 else None)
        sys.exit(0)
    if sys.argv[1] == "examples":  # after fit_arm_model.py: the example models' layers, into the fit's provenance
        write_examples_check(sys.argv[2].split(","))
        sys.exit(0)
    remeasure(sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3] if len(sys.argv) > 3 else None)
