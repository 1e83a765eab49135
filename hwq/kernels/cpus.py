"""The CPUs gen-c builds for, as far as its kernel choice depends on them: the SIMD extension
(which kernel paths exist) and, for Cortex-M, the memories of the qemu board it runs on
(mps2-an386 for Cortex-M4, mps3-an547 for Cortex-M55). Read by the C code generator (its
toolchain table ``hwq.codegen.targets``, its packing) and by the ARM estimate
(``hwq.cost.arm``), so both choose the same kernel for a layer."""

from __future__ import annotations

from dataclasses import dataclass

GROUPED_FLASH_SHARE = 0.4  # automatic code-grouped rows only for layers whose arrays take at most this share of flash


@dataclass(frozen=True)
class KernelOptions:
    """What gen-c's packing may use for one layer (``hwq.codegen.packing.pack``'s arguments)."""

    cheap_mla: bool = False  # Thumb-2 loops: a multiply-accumulate is one instruction with byte entries
    dsp: bool = False  # SMLAD: the pair-table kernel for dense 4-bit codebooks
    shifts: str | None = None  # per-lane shift kernel for dense 4-bit pow2: "mve" | "a64"
    planes: bool = False  # MVE lane masks for dense ternary
    grouped_path: str | None = None  # code-grouped rows' instruction model: "thumb2" | "mve" | "a64"
    max_grouped_bytes: int | None = None  # Cortex-M: the grouped arrays' share of flash


@dataclass(frozen=True)
class Cpu:
    name: str
    simd: str  # none | neon | dsp | mve
    flash: int = 0  # bytes of the board's code memory (bare metal only)
    ram: int = 0

    @property
    def bare_metal(self) -> bool:
        return self.flash > 0

    def kernel_options(self, act8: bool, simd: bool = True) -> KernelOptions:
        """The options of a layer with 8-bit (``act8``) or wider input activations; ``simd``
        False: gen-c's portable C kernels only (``--no-simd``)."""
        s = self.simd if simd else "none"
        m = s in ("dsp", "mve") and act8
        return KernelOptions(
            cheap_mla=m, dsp=m,
            shifts={"mve": "mve", "neon": "a64"}.get(s) if act8 else None,
            planes=s == "mve" and act8,
            grouped_path={"dsp": "thumb2", "mve": "mve", "neon": "a64"}.get(s),
            max_grouped_bytes=int(self.flash * GROUPED_FLASH_SHARE) if self.bare_metal else None)


CPUS = {
    "host": Cpu("host", "none"),
    "cortex-a53": Cpu("cortex-a53", "neon"),
    "cortex-a72": Cpu("cortex-a72", "neon"),
    "cortex-m4": Cpu("cortex-m4", "dsp", flash=4 << 20, ram=4 << 20),
    "cortex-m55": Cpu("cortex-m55", "mve", flash=512 << 10, ram=512 << 10),
}
