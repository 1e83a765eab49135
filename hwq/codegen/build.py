"""Build a generated project with the target's compiler and run it (natively or under qemu)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hwq.codegen.targets import Target
from hwq.errors import HwqError

BUILD_TIMEOUT = 600
RUN_TIMEOUT = 900


@dataclass
class Sizes:
    text: int  # code + read-only data (flash on Cortex-M)
    data: int  # initialised data
    bss: int

    @property
    def flash(self) -> int:
        return self.text + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss


def make(outdir: Path, target: Target, goal: str = "prog") -> Path:
    target.check_tools()
    r = subprocess.run(["make", "-s", "-C", str(outdir), goal], capture_output=True, text=True,
                       timeout=BUILD_TIMEOUT)
    if r.returncode != 0:
        over = re.search(r"region [`']?(\w+)'? overflowed by (\d+) bytes", r.stderr)
        if over:
            raise HwqError(f"{target.name}: the model does not fit: {over.group(1)} overflowed by "
                           f"{over.group(2)} bytes (FLASH {target.flash} B, RAM {target.ram} B)")
        first = next((l for l in r.stderr.splitlines() if "error" in l), r.stderr.strip()[:200])
        raise HwqError(f"{target.name}: build failed: {first}")
    return outdir / goal


def sizes(prog: Path, target: Target) -> Sizes:
    r = subprocess.run([target.size_tool, "-A", str(prog)], capture_output=True, text=True, check=True)
    text = data = bss = 0
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 3 or not parts[1].isdigit():
            continue
        name, size = parts[0], int(parts[1])
        if name in (".text", ".rodata", ".ARM.exidx", ".ARM.extab", ".eh_frame", ".init", ".fini",
                    ".vectors", ".init_array", ".fini_array"):
            text += size
        elif name in (".data", ".tdata", ".got"):
            data += size
        elif name in (".bss", ".tbss", ".heap", ".stack") or name.startswith(".bss"):
            bss += size
    return Sizes(text, data, bss)


def run_command(prog: Path, target: Target, extra: tuple[str, ...] = ()) -> list[str]:
    if not target.run:
        return [str(prog)]
    if target.bare_metal:
        return [*target.run[:-1], *extra, target.run[-1], str(prog)]
    return [target.run[0], *extra, *target.run[1:], str(prog)]


def run(prog: Path, target: Target) -> tuple[int, str]:
    target.check_tools()
    try:
        r = subprocess.run(run_command(prog, target), capture_output=True, text=True, timeout=RUN_TIMEOUT,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise HwqError(f"{target.name}: the program did not finish within {RUN_TIMEOUT} s") from None
    return r.returncode, r.stdout
