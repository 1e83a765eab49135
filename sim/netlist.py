"""The Verilog a simulation runs: the accelerator as Amaranth writes it (``hwq gen-rtl``'s
``eie_top.v``), or the same design through Yosys' equivalence-preserving clean-up, which
Icarus runs about 1.6x faster (docs/eie.md, "Simulators").

``amaranth``: ``amaranth.back.verilog`` (processes kept as ``always`` blocks, the module
hierarchy kept; used for waveform dumps). ``opt`` (the default): the design's RTLIL through
Amaranth's built-in Yosys with ``proc`` (processes to multiplexers), ``flatten``,
``opt -fast``, ``wreduce`` and ``opt_clean``: fewer ``always`` threads and narrower words for
the event-driven simulator; the ports, registers, memories and behaviour are those of the
design. Its clocked blocks (one ``always @(posedge clk)`` per register or memory port, every
assignment non-blocking) are then merged into one block per module, so the simulator wakes
one process per edge instead of hundreds (same semantics: non-blocking assignments of one
edge all read the values before it). Both netlists are checked bit- and cycle-exact against
the golden and cycle models by the tests.
"""

from __future__ import annotations

import re

from hwq.eie.config import EieConfig

NETLISTS = ("opt", "amaranth")
OPT_PASSES = ("proc", "memory_collect", "flatten", "opt -fast", "wreduce", "opt_clean")


def netlist_text(cfg: EieConfig, name: str, kind: str = "opt") -> str:
    from hwq.rtl.accelerator import EieAccelerator

    if kind == "amaranth":
        from amaranth.back import verilog

        return verilog.convert(EieAccelerator(cfg), name=name, emit_src=False)
    if kind != "opt":
        raise ValueError(f"netlist {kind!r} is not one of {NETLISTS}")
    from amaranth._toolchain.yosys import find_yosys
    from amaranth.back import rtlil

    text = rtlil.convert(EieAccelerator(cfg), name=name, emit_src=False)
    script = "\n".join([f"read_rtlil <<rtlil\n{text}\nrtlil", f"hierarchy -top {name}", *OPT_PASSES,
                        "write_verilog -noattr"])
    return merge_clocked_blocks(find_yosys(lambda ver: ver >= (0, 40)).run(["-q", "-"], script, ignore_warnings=True))


_BLOCKING = re.compile(r"(?<![<>=!])=(?!=)")
CLOCKED = "always @(posedge clk)"


def merge_clocked_blocks(text: str) -> str:
    """Yosys ``write_verilog`` output with every module's ``always @(posedge clk)`` blocks
    joined into one, at the module's end. Returned unchanged unless every such block holds
    only non-blocking assignments (then the merge cannot change what any statement reads)."""
    lines = text.split("\n")
    out: list[str] = []
    body: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        head = line.strip()
        if head in (CLOCKED, CLOCKED + " begin") and line.startswith("  ") and not line.startswith("   "):
            j = i + 1
            block = []
            while j < len(lines) and lines[j].startswith("    "):
                block.append(lines[j])
                j += 1
            if head.endswith("begin"):
                if j >= len(lines) or lines[j] != "  end":
                    return text
                j += 1
            for b in block:
                if _BLOCKING.search(b.split("//")[0]) and "<=" not in b:
                    return text
            body.append("    begin")
            body.extend("  " + b for b in block)
            body.append("    end")
            i = j
            continue
        if line.startswith("endmodule") and body:
            out.append(f"  {CLOCKED} begin")
            out.extend(body)
            out.append("  end")
            body = []
        out.append(line)
        i += 1
    return "\n".join(out)
