"""One estimate: the counts of every layer, the target's time and traffic, the table's energy.

:func:`estimate_model` returns the report ``hwq estimate --json`` prints (docs/estimate.md):
``{"model", "target", "params", "energy_table", "act_density_source", "layers": [...],
"total": {...}, "summary": {...}}``. All figures are per inference of one sample.
"""

from __future__ import annotations

import numpy as np

from hwq.cost import activity
from hwq.cost.energy import EnergyTable, energy_pj
from hwq.cost.targets import LayerCounts, make_target
from hwq.cost.traffic import activation_bytes, weight_bytes
from hwq.cost.work import Work, elementwise_work, weighted_work
from hwq.ir.layers import WeightedLayer
from hwq.ir.model import Model

SUMMED = ("macs_dense", "macs_effective", "macs_executed", "flops_dense", "flops_effective", "cycles", "seconds")


def _input_nonzero(model, layer, measured, given) -> tuple[np.ndarray | float, float]:
    """The layer input's non-zero fraction per element (measured) or as one number; and its mean."""
    src = layer.inputs[0]
    if layer.name in given:
        return given[layer.name], given[layer.name]
    if measured is not None:
        nz = activity.nonzero_fraction(model, src, measured[src])
        return nz, float(nz.mean()) if nz.size else 1.0
    return 1.0, 1.0


def _zero_point(model: Model, layer) -> int:
    if not layer.inputs:
        return 0
    q = model.layers[layer.inputs[0]].quant
    return int(q.zero_point) if q is not None else 0


def estimate_model(model: Model, target: str = "generic", params=(), config: dict | None = None,
                   energy_table: str | None = None, x: np.ndarray | None = None,
                   act_density: str | None = None, activations: dict | None = None) -> dict:
    """``activations``: ``activity.measure(model, x)`` when the caller has it already (a sweep
    measures once per compressed model and estimates many hardware points on it)."""
    tgt = make_target(target, params, config)
    table = EnergyTable.load(energy_table)
    shapes = model.shapes()
    order = model.topo_order()
    given = activity.parse_density(act_density, [l.name for l in order])
    measured = activations if activations is not None else activity.measure(model, x) if x is not None else None

    counts: list[LayerCounts] = []
    for layer in order:
        in_shapes = [shapes[i] for i in layer.inputs]
        density = None
        if isinstance(layer, WeightedLayer):
            nz, density = _input_nonzero(model, layer, measured, given)
            work = weighted_work(model, layer, in_shapes[0], nz)
        else:
            work = elementwise_work(model, layer, in_shapes, shapes[layer.name])
        counts.append(LayerCounts(
            layer=layer, in_shapes=in_shapes, out_shape=shapes[layer.name], work=work,
            weight_bytes=weight_bytes(layer), activation_bytes=activation_bytes(model, layer, shapes),
            act_density=density, x_in=[measured[i] for i in layer.inputs] if measured is not None else None,
            in_zero_point=_zero_point(model, layer)))

    tgt.begin(counts)
    levels = tgt.levels()
    rows, costs = [], []
    for c in counts:
        cost = tgt.layer_cost(c)
        costs.append(cost)
        ops = cost.ops if cost.ops is not None else c.work.ops
        rows.append(_row(c, cost, ops, energy_pj(table, ops, cost.traffic, levels), tgt.clock_hz))
    _align_components(rows)
    return {
        "model": model.name, "target": target, "params": dict(tgt.params), "energy_table": table.name,
        "act_density_source": _density_source(x, given),
        "layers": rows, "total": _total(rows, [lv.name for lv in levels]),
        "summary": tgt.summary(costs),
    }


def _row(c: LayerCounts, cost, ops, energy: dict, clock_hz: float) -> dict:
    w: Work = c.work
    layer = c.layer
    enc = layer.weight.encoding_name() if isinstance(layer, WeightedLayer) else None
    return {
        "name": layer.name, "kind": layer.KIND, "encoding": enc,
        "macs_dense": int(w.macs_dense), "macs_effective": float(w.macs_effective),
        "macs_executed": float(w.macs_executed),
        "flops_dense": int(w.flops_dense), "flops_effective": float(w.flops_effective),
        "speedup": w.macs_dense / w.macs_executed if w.macs_executed else None,
        "ops": {k: float(v) for k, v in sorted(ops.items())},
        "weight_bytes": c.weight_bytes, "activation_bytes": c.activation_bytes,
        "act_density": c.act_density,
        "traffic_bytes": {k: float(v) for k, v in cost.traffic.items()},
        "energy_pj": energy,
        "cycles": float(cost.cycles), "seconds": float(cost.cycles) / clock_hz,
        "bound": cost.bound, "fits": dict(cost.fits), "extra": cost.extra,
    }


def _align_components(rows: list[dict]) -> None:
    """Every layer lists the same energy components (zeros included), ``total`` last."""
    comps: list[str] = []
    for r in rows:
        comps += [k for k in r["energy_pj"] if k != "total" and k not in comps]
    for r in rows:
        e = r["energy_pj"]
        r["energy_pj"] = {k: float(e.get(k, 0.0)) for k in comps} | {"total": float(e["total"])}


def _sum_dicts(ds: list[dict]) -> dict:
    out: dict = {}
    for d in ds:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + v
    return out


def _total(rows: list[dict], level_names: list[str]) -> dict:
    t: dict = {k: sum(r[k] for r in rows) for k in SUMMED}
    t["macs_dense"] = int(t["macs_dense"])
    t["flops_dense"] = int(t["flops_dense"])
    t["speedup"] = t["macs_dense"] / t["macs_executed"] if t["macs_executed"] else None
    t["ops"] = _sum_dicts([r["ops"] for r in rows])
    t["weight_bytes"] = _sum_dicts([r["weight_bytes"] for r in rows])
    t["activation_bytes"] = _sum_dicts([r["activation_bytes"] for r in rows])
    t["traffic_bytes"] = {k: sum(r["traffic_bytes"].get(k, 0.0) for r in rows) for k in level_names}
    t["energy_pj"] = _sum_dicts([r["energy_pj"] for r in rows]) if rows else {"total": 0.0}
    t["fits"] = {k: all(r["fits"].get(k, True) for r in rows)
                 for k in sorted({k for r in rows for k in r["fits"]})}
    return t


def _density_source(x, given) -> str:
    parts = []
    if x is not None:
        parts.append(f"measured by the golden model on {len(np.asarray(x))} sample(s)")
    if given:
        parts.append(f"given for {len(given)} layer(s)")
    return "; ".join(parts) if parts else "assumed 1.0 (dense): pass --input or --act-density"

