"""Targets: compiler, flags, emulator and memories of every machine gen-c builds for (the SIMD
extension and the boards' memories are the shared facts of ``hwq.kernels.cpus``)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from hwq.errors import HwqError
from hwq.kernels.cpus import CPUS


@dataclass(frozen=True)
class Target:
    name: str
    cc: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    run: tuple[str, ...]  # emulator command before the program ({prog} is the ELF), () = native
    cc_package: str
    run_package: str
    arch: str  # host | aarch64 | armv7em | armv81m
    simd: str  # none | neon | dsp | mve
    flash: int = 0  # bytes (bare metal only; hwq.kernels.cpus)
    ram: int = 0
    flash_origin: int = 0
    ram_origin: int = 0x20000000
    size_tool: str = "size"

    @property
    def bare_metal(self) -> bool:
        return self.flash > 0

    def check_tools(self) -> None:
        """One line naming the Debian package when the compiler or emulator is missing."""
        if shutil.which(self.cc) is None:
            raise HwqError(f"{self.name}: compiler {self.cc} not found (apt-get install {self.cc_package})")
        if self.run and shutil.which(self.run[0]) is None:
            raise HwqError(f"{self.name}: emulator {self.run[0]} not found (apt-get install {self.run_package})")


_M_COMMON = ("-mthumb", "-mfloat-abi=hard", "--specs=rdimon.specs", "-ffunction-sections", "-fdata-sections")
TARGETS = {
    "host": Target("host", "gcc", ("-O2",), ("-lm",), (), "gcc", "", "host", "none"),
    # qemu models the named core (no dot-product extension, as the real A53/A72): the int8
    # kernels take their SMLAL path; the SDOT path is tested under -cpu max
    "cortex-a53": Target("cortex-a53", "aarch64-linux-gnu-gcc", ("-O2", "-mcpu=cortex-a53"), ("-static", "-lm"),
                         ("qemu-aarch64", "-cpu", "cortex-a53"), "gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
                         "qemu-user", "aarch64", "neon", size_tool="aarch64-linux-gnu-size"),
    # cortex-a72 is Armv8.0 as well; the dot-product path is built for -march=armv8.2-a+dotprod
    "cortex-a72": Target("cortex-a72", "aarch64-linux-gnu-gcc", ("-O2", "-mcpu=cortex-a72"), ("-static", "-lm"),
                         ("qemu-aarch64", "-cpu", "cortex-a72"), "gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
                         "qemu-user", "aarch64", "neon", size_tool="aarch64-linux-gnu-size"),
    "cortex-m4": Target("cortex-m4", "arm-none-eabi-gcc",
                        ("-O2", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16") + _M_COMMON,
                        ("-nostartfiles", "-Wl,--gc-sections", "-lm"),
                        ("qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting", "-kernel"),
                        "gcc-arm-none-eabi libnewlib-arm-none-eabi", "qemu-system-arm", "armv7em", "dsp",
                        flash=CPUS["cortex-m4"].flash, ram=CPUS["cortex-m4"].ram, size_tool="arm-none-eabi-size"),
    "cortex-m55": Target("cortex-m55", "arm-none-eabi-gcc",
                         ("-O2", "-mcpu=cortex-m55") + _M_COMMON,
                         ("-nostartfiles", "-Wl,--gc-sections", "-lm"),
                         ("qemu-system-arm", "-M", "mps3-an547", "-nographic", "-semihosting", "-kernel"),
                         "gcc-arm-none-eabi libnewlib-arm-none-eabi", "qemu-system-arm", "armv81m", "mve",
                         flash=CPUS["cortex-m55"].flash, ram=CPUS["cortex-m55"].ram, size_tool="arm-none-eabi-size"),
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise HwqError(f"unknown target {name!r} (one of {', '.join(TARGETS)})")
    return TARGETS[name]
