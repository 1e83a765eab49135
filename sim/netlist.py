"""The Verilog a simulation runs: the accelerator as Amaranth writes it (``hwq gen-rtl``'s
``eie_top.v``), or the same design through Yosys' equivalence-preserving clean-up, which
Icarus runs about 1.6x faster (docs/eie.md, "Simulators").

``amaranth``: ``amaranth.back.verilog`` (processes kept as ``always`` blocks, the module
hierarchy kept; used for waveform dumps). ``opt`` (the default): the design's RTLIL through
Amaranth's built-in Yosys with ``proc`` (processes to multiplexers), ``flatten``,
``opt -fast``, ``wreduce`` and ``opt_clean``: fewer ``always`` threads and narrower words for
the event-driven simulator; the ports, registers, memories and behaviour are those of the
design. Both are checked bit- and cycle-exact against the golden and cycle models by the tests.
"""

from __future__ import annotations

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
    return find_yosys(lambda ver: ver >= (0, 40)).run(["-q", "-"], script, ignore_warnings=True)
