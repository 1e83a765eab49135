"""The qemu instruction counter, validated on hand-written loops of known length, and the
per-layer counts of a generated model."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hwq import ir
from hwq.codegen import gen_c
from hwq.codegen.icount import trace_counts
from tests.genc_helpers import need_target

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
N = 1000

LOOP = {  # exactly 2 * n + 1 instructions: (subs, bne) n times, then the return
    "arm": """
    .syntax unified
    .thumb
    .global hwq_loop
    .type hwq_loop, %function
    .thumb_func
hwq_loop:
1:  subs r0, r0, #1
    bne 1b
    bx lr
    .size hwq_loop, . - hwq_loop
""",
    "aarch64": """
    .global hwq_loop
    .type hwq_loop, %function
hwq_loop:
1:  subs x0, x0, #1
    b.ne 1b
    ret
    .size hwq_loop, . - hwq_loop
""",
}

MAIN = """
#include <stdio.h>
extern void hwq_loop(unsigned n);
__attribute__((noinline)) int hwq_t_run(unsigned n) { hwq_loop(n); hwq_loop(n + 1); return 0; }
int main(void) { int r = hwq_t_run(%d); printf("PASS\\n"); return r; }
"""


@pytest.mark.parametrize("target_name", ["cortex-m4", "cortex-m55", "cortex-a53"])
def test_counter_on_a_loop_of_known_length(tmp_path, target_name):
    t = need_target(target_name)
    asm = tmp_path / "loop.S"
    asm.write_text(LOOP["aarch64" if t.arch == "aarch64" else "arm"])
    (tmp_path / "main.c").write_text(MAIN % N)
    srcs = [str(tmp_path / "main.c"), str(asm)]
    if t.bare_metal:
        from hwq.codegen.project import _env

        env = _env()
        (tmp_path / "link.ld").write_text(env.get_template("cortex_m/link.ld.j2").render(T=t))
        (tmp_path / "startup.c").write_text(env.get_template("cortex_m/startup.c.j2").render(T=t))
        srcs += [str(tmp_path / "startup.c"), "-T", str(tmp_path / "link.ld")]
    prog = tmp_path / "prog"
    subprocess.run([t.cc, *t.cflags, "-O1", *srcs, *t.ldflags, "-o", str(prog)], check=True)
    counts, total = trace_counts(prog, t, ["hwq_loop"], "hwq_t_run")
    # two calls, n and n + 1 iterations
    assert counts["hwq_loop"] == (2 * N + 1) + (2 * (N + 1) + 1)
    assert total > counts["hwq_loop"]  # the caller's own instructions on top


@pytest.mark.parametrize("target_name", ["cortex-m4", "cortex-a53"])
def test_per_layer_counts(tmp_path, target_name):
    need_target(target_name)
    rep = gen_c(ir.load(EXAMPLES / "digits_mlp_pruned_shared.ir"), target_name, tmp_path / "p", run=True)
    assert rep["match"]
    per = [l["instructions"] for l in rep["layers"] if not l["kernel"].startswith(("fused", "view"))]
    assert all(isinstance(n, int) and n > 0 for n in per)
    assert sum(per) < rep["instructions"]  # the run function adds the calls and the output copy
