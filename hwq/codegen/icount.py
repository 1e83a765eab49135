"""Exact dynamic instruction counts under qemu.

qemu runs the one-sample build with ``-singlestep -d exec,nochain`` (one translation block
per instruction, every execution logged), writing its log into a FIFO that is parsed while
it runs. A kernel's count is the number of logged instructions from its entry (the PC equal
to its symbol's address) up to, not including, the first instruction back in its caller
(the model's run function). Debian's qemu ships no TCG plugins; this needs none. The method
is validated on a hand-written loop of known length (tests/test_genc_icount.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path

from hwq.codegen.build import RUN_TIMEOUT, run_command
from hwq.codegen.targets import Target
from hwq.errors import HwqError

_PC = re.compile(rb"\[[0-9a-f]+/([0-9a-f]+)/")
TRACE_FLAGS = ("-singlestep", "-d", "exec,nochain")


def symbols(prog: Path, target: Target) -> dict[str, tuple[int, int]]:
    """Function symbol -> (start, end) address."""
    nm = target.size_tool[: -len("size")] + "nm" if target.size_tool.endswith("size") else "nm"
    r = subprocess.run([nm, "-S", "--defined-only", str(prog)], capture_output=True, text=True, check=True)
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "Tt":
            start = int(parts[0], 16) & ~1  # Thumb bit
            out[parts[3]] = (start, start + int(parts[1], 16))
    return out


def trace_counts(prog: Path, target: Target, kernels: list[str], caller: str) -> tuple[dict[str, int], int]:
    """Counts of each kernel called from ``caller``, and of ``caller`` itself from its entry
    to its return. Kernels called several times accumulate."""
    syms = symbols(prog, target)
    missing = [k for k in kernels + [caller, "main"] if k not in syms]
    if missing:
        raise HwqError(f"{prog}: symbol {missing[0]} not found for instruction counting")
    entry = {syms[k][0]: k for k in kernels}
    c_lo, c_hi = syms[caller]
    m_lo, m_hi = syms["main"]
    counts = {k: 0 for k in kernels}
    total, state = 0, 0  # caller: 0 not entered yet, 1 running, 2 returned to main
    with tempfile.TemporaryDirectory() as tmp:
        fifo = Path(tmp) / "trace"
        os.mkfifo(fifo)
        cmd = run_command(prog, target, TRACE_FLAGS + ("-D", str(fifo)))
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        timer = threading.Timer(RUN_TIMEOUT, proc.kill)
        timer.start()
        try:
            current, n = None, 0
            with open(fifo, "rb", buffering=1 << 20) as f:
                for line in f:
                    m = _PC.search(line)
                    if m is None:
                        continue
                    pc = int(m.group(1), 16)
                    if state == 0 and pc == c_lo:
                        state = 1
                    if state == 1:
                        if m_lo <= pc < m_hi:
                            state = 2
                        else:
                            total += 1
                    if current is not None:
                        if c_lo <= pc < c_hi:  # back in the caller: the kernel returned
                            counts[current] += n
                            current = None
                        else:
                            n += 1
                            continue
                    if pc in entry:
                        current, n = entry[pc], 1
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode not in (0, 1):
        raise HwqError(f"{target.name}: traced run failed (exit {proc.returncode}): "
                       f"{proc.stderr.read().decode(errors='replace').strip()[:200]}")
    return counts, total


def count_layers(prog: Path, target: Target, project) -> tuple[dict[str, int], int]:
    """Per-layer kernel counts and the whole run function's count, one sample."""
    from hwq.codegen.identifiers import model_prefix

    kernels = [s.sym for s in project.steps]
    counts, total = trace_counts(prog, target, kernels, f"{model_prefix(project.model.name)}_run")
    by_layer = {s.layer: counts[s.sym] for s in project.steps}
    return by_layer, total
