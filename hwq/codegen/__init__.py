"""The C back end (``hwq gen-c``): compressed weights run in their compressed form, bit-exact
with the golden model, on the host, AArch64 (NEON) and Cortex-M4/M55. See docs/gen-c.md."""

from hwq.codegen.flow import gen_c
from hwq.codegen.targets import TARGETS

__all__ = ["gen_c", "TARGETS"]
