"""Shared facts about gen-c's C kernels, read by the C code generator (``hwq.codegen``) and the
ARM instruction model (``hwq.cost.arm``), as ``hwq.eie`` is the shared description of the
accelerator: neither back end imports the other."""
