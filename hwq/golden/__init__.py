"""The golden model: docs/semantics.md in NumPy. C and RTL must match ``run_int`` bit for bit."""

from hwq.golden.run import dequantize, output_as_float, overflowing_samples, quantize, run_float, run_int

__all__ = ["run_int", "run_float", "quantize", "dequantize", "output_as_float", "overflowing_samples"]
