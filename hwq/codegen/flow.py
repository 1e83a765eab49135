"""The ``hwq gen-c`` flow: generate, build, run, compare with the golden model, count."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwq.codegen import build, compare
from hwq.codegen.project import build_project, check_supported
from hwq.codegen.targets import get_target
from hwq.errors import HwqError
from hwq.ir.atomic import atomic_write
from hwq.ir.model import Model


def gen_c(model: Model, target_name: str, outdir: str | Path, x: np.ndarray | dict | None = None,
          run: bool = False, count: bool | None = None, simd: bool = True, grouped: bool | None = None) -> dict:
    """Write the project; with ``run`` build, run and compare it. Returns the report dict.
    ``x``: the samples to bundle, one array (a model with one input) or a dict by input name.
    ``grouped``: code-grouped rows for sparse codebook/pow2/ternary weights (None: where
    faster, on the Thumb-2 targets; True: wherever they can be built; False: never)."""
    target = get_target(target_name)
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise HwqError(f"{outdir}: exists and is not a directory")
    check_supported(model)
    if run:
        target.check_tools()
    xq = compare.integer_inputs(model, x)
    xk, gold, excluded = compare.golden(model, xq)
    n = int(next(iter(xk.values())).shape[0])
    proj = build_project(model, target, outdir, xk, [gold[o] for o in model.outputs], simd=simd, grouped=grouped)
    report = {"target": target.name, "model": model.name, "directory": str(outdir),
              "arena_bytes": proj.plan.arena_bytes, "weight_bytes": proj.weight_bytes,
              "samples": n, "excluded_samples": excluded}
    if not run:
        report["layers"] = [{"name": s.layer, "kernel": s.kind} for s in proj.steps]
        return report
    target.check_tools()
    prog = build.make(outdir, target, "prog")
    sz = build.sizes(prog, target)
    from hwq.codegen.icount import symbols

    syms = symbols(prog, target)
    status, stdout = build.run(prog, target)
    dumps = compare.parse_dump(stdout, len(proj.steps), n)
    instr: dict[str, int] = {}
    total = None
    if count if count is not None else target.run:
        from hwq.codegen.icount import count_layers

        cprog = build.make(outdir, target, "prog_count")
        instr, total = count_layers(cprog, target, proj)
    layers = []
    all_match = status == 0 and "PASS" in stdout
    for k, s in enumerate(proj.steps):
        got = dumps.get(k)
        out_name = proj.plan.steps[k].output
        ok = compare.matches(model, out_name, got, gold[out_name])
        all_match &= ok
        for c in s.covers:
            kernel = s.kind if c == s.layer else ("view" if model.layers[c].KIND == "flatten" else f"fused into {s.layer}")
            main = c == s.layer
            layers.append({"name": c, "kernel": kernel, "match": ok,
                           "instructions": instr.get(s.layer) if main else (0 if instr else None),
                           "code_bytes": (syms[s.sym][1] - syms[s.sym][0]) if main and s.sym in syms else 0})
    out_path = outdir / "output.npy"
    final = dumps.get(next((k for k, s in enumerate(proj.steps) if model.outputs[0] in s.covers), -1))
    if final is not None:
        shape = (final.shape[0],) + tuple(model.shapes()[model.outputs[0]])
        arr = final.reshape(shape)
        atomic_write(out_path, lambda f: np.save(f, arr, allow_pickle=False))
    report.update({"match": bool(all_match), "exit_status": status, "layers": layers,
                   "text_bytes": sz.text, "data_bytes": sz.data, "ram_bytes": sz.ram + proj.plan.arena_bytes,
                   "instructions": total, "output": str(out_path) if final is not None else None})
    if target.bare_metal:
        report["flash_bytes"] = sz.flash
    return report
