"""`hwq sweep`: hardware/model co-design over many points, on Dask (docs/sweep.md).

An orchestrator above the back ends: it may import hwq.compress, hwq.golden, hwq.ir and the
back ends (hwq.cost, hwq.eie, hwq.codegen); no back end imports it.
"""

from hwq.sweep.run import SweepResult, run_sweep, summary

__all__ = ["SweepResult", "run_sweep", "summary"]
