"""The accelerator's RTL under cocotb: Verilog host harness, runner, checks against the golden
and cycle models. ``hwq.sim.simulate`` is the Python API of ``hwq simulate`` (imported on
first use, so the cocotb testbench process does not load it)."""


def __getattr__(name):
    if name in ("simulate", "default_inputs"):
        from hwq.sim import api as _module

        return getattr(_module, name)
    raise AttributeError(f"module 'hwq.sim' has no attribute {name!r}")
