"""Stages that only tests/test_sweep.py registers; a module of its own so that Dask worker
processes can import them by name."""

import os
from pathlib import Path

from hwq.sweep.stages import Column, Stage


def _kill_once(params, art):
    """The first point to get here kills its worker process (no cleanup, like a crash)."""
    try:
        fd = os.open(Path(os.environ["HWQ_TEST_KILL_MARKER"]), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return {"alive": 1}
    os.close(fd)
    os._exit(1)


def _count(params, art):
    """Appends one line per compressed model it sees (works across processes)."""
    with open(os.environ["HWQ_TEST_COUNT_FILE"], "a") as f:
        f.write(f"{art['compressed'].weighted()[0].weight.stored}\n")
    return {}


def _knob(params, art):
    """A point-scope stage taking one hardware axis, 'knob'."""
    return {"knob_bytes": params["knob"] * art["compressed"].weighted()[0].weight.stored}


KILL = Stage("kill-once", "point", _kill_once, columns=(Column("alive", "1 when the stage ran to its end", 0, 1),),
             needs=("compress",))
COUNT = Stage("count", "compression", _count, needs=("compress",))
KNOB = Stage("knob", "point", _knob, columns=(Column("knob_bytes", "knob x stored entries of layer 1", 0),),
             needs=("compress",), hardware=lambda hw: {"knob"})
