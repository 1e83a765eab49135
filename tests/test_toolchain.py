"""The tool chain `make install` sets up works: the back ends are filed against it."""

import shutil
import subprocess

import pytest


def need(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (make install puts it there)")


def test_amaranth_exports_verilog_that_icarus_compiles(tmp_path):
    need("iverilog")
    from amaranth import Elaboratable, Module, Signal
    from amaranth.back import verilog

    class Acc(Elaboratable):
        def __init__(self):
            self.x = Signal(8)
            self.acc = Signal(16)

        def elaborate(self, platform):
            m = Module()
            m.d.sync += self.acc.eq(self.acc + self.x)
            return m

    top = Acc()
    (tmp_path / "acc.v").write_text(verilog.convert(top, name="acc", ports=[top.x, top.acc]))
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "acc.vvp"), str(tmp_path / "acc.v")], check=True)


def test_cortex_m_cross_compiler_builds_for_m4_and_m55(tmp_path):
    need("arm-none-eabi-gcc")
    (tmp_path / "k.c").write_text("int dot(const signed char *a, const signed char *b, int n)"
                                  "{int s = 0; for (int i = 0; i < n; i++) s += a[i] * b[i]; return s;}\n")
    for cpu in ("cortex-m4", "cortex-m55"):
        subprocess.run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-O2", "-c", str(tmp_path / "k.c"),
                        "-o", str(tmp_path / f"k_{cpu}.o")], check=True)


def test_qemu_system_arm_knows_the_mps_boards():
    need("qemu-system-arm")
    boards = subprocess.run(["qemu-system-arm", "-M", "help"], capture_output=True, text=True, check=True).stdout
    assert "mps2-an386" in boards and "mps3-an547" in boards
