"""The stages a sweep point runs, as a small registry.

A stage is a function ``run(params, artifacts) -> {column: value}``: ``params`` are the
point's parameters (its axes plus ``model``, ``data``, ``seed``), ``artifacts`` what earlier
stages left (``model``: the input model, ``data``: the data split; ``compress`` adds
``compressed``). A stage may add artifacts for later stages; it returns result columns only.

``scope`` says what a stage's result depends on: ``compression`` stages (compress,
accuracy) run once per distinct compressed model, in one Dask task keyed by the compression
parameters, and every hardware point that needs that model shares the result; ``point``
stages (estimate, simulate, gen-c run) run once per point.

A stage raising `HwqError` (e.g. a layer the target cannot run) ends its point with the
message in the ``error`` column; later stages of that point do not run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from hwq.errors import HwqError
from hwq.sweep import compression

INF = math.inf


@dataclass(frozen=True)
class Column:
    """A result column, with the range its values can take (to reject unreachable constraints)."""

    name: str
    doc: str
    low: float = -INF
    high: float = INF


@dataclass(frozen=True)
class Stage:
    name: str
    scope: str  # "compression" or "point"
    run: Callable[[dict, dict], dict] | None
    columns: tuple[Column, ...] = ()
    needs: tuple[str, ...] = ()
    missing: str | None = None  # why the stage cannot run here (refused before any work)
    # hardware axes this stage takes: check(hardware_axes) -> the names it accepts (raises on bad values)
    hardware: Callable[[dict], set] | None = None
    doc: str = ""


REGISTRY: dict[str, Stage] = {}


def register(stage: Stage) -> Stage:
    REGISTRY[stage.name] = stage
    return stage


def get(name: str) -> Stage:
    stage = REGISTRY.get(name)
    if stage is None:
        raise HwqError(f"unknown stage {name!r} (stages: {', '.join(REGISTRY)})")
    if stage.missing:
        raise HwqError(f"stage {name} not available yet: {stage.missing}")
    return stage


# ---------------------------------------------------------------------------- compress
def _compress(params: dict, art: dict) -> dict:
    axes = {k: v for k, v in params.items() if compression.is_axis(k)}
    model = compression.compress(art["model"], axes, art["data"], params["data"], params["seed"])
    art["compressed"] = model
    return compression.storage(model)


register(Stage(
    "compress", "compression", _compress,
    columns=(Column("storage_bytes", "stored weights, every part (payload, index, pointer, codebook, bias)", 0),
             Column("compression", "Deep Compression's rate: dense float32 / (payload + index + codebook)", 0),
             Column("compression_huffman", "the same with Huffman-coded payload and index", 0),
             Column("density", "non-zero weights / weights", 0, 1)),
    doc="hwq compress with the point's compression axes"))


# ---------------------------------------------------------------------------- accuracy
def _accuracy(params: dict, art: dict) -> dict:
    data = art["data"]
    base = compression.evaluate(art["model"], data)
    got = compression.evaluate(art.get("compressed", art["model"]), data)
    return {"acc": 100 * got["acc"], "acc_float": 100 * got["acc_float"], "acc_base": 100 * base["acc"],
            "acc_drop": 100 * (base["acc"] - got["acc"])}


register(Stage(
    "accuracy", "compression", _accuracy, needs=("compress",),
    columns=(Column("acc", "test accuracy, %: the bit-exact integer golden model (float if not quantized)", 0, 100),
             Column("acc_float", "test accuracy of the float reference run, %", 0, 100),
             Column("acc_base", "test accuracy of the uncompressed input model, %", 0, 100),
             Column("acc_drop", "acc_base - acc, in percentage points", -100, 100)),
    doc="top-1 accuracy on the data set's test split through the golden model"))


# ---------------------------------------------------------------------------- later back ends
register(Stage("estimate", "point", None, needs=("compress",),
               missing="hwq.cost (hwq estimate) is not on main yet",
               doc="hwq estimate on the point's target and hardware parameters"))
register(Stage("simulate", "point", None, needs=("compress",),
               missing="hwq simulate has no Python API on main yet",
               doc="cocotb simulation of the EIE RTL against the golden model"))
register(Stage("gen-c", "point", None, needs=("compress",),
               missing="hwq gen-c --run has no Python API on main yet",
               doc="generated C run on the host or under qemu"))
