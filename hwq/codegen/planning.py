"""Memory planning: the kernel steps of a model and one activation arena for them.

A *step* is one kernel call. Flatten is a view of its input (no step); a ReLU whose producer
is a dense/conv layer read only by it is fused into that kernel (its lower clamp). Every
step's output and scratch is a buffer with a lifetime (first and last step that touches it);
buffers are placed greedily, largest first, at the lowest offset that overlaps no
simultaneously live buffer (TensorFlow Lite Micro's greedy planner). Graph inputs stay in the
caller's memory; outputs are copied out at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwq.ir.layers import Conv2d, Dense, Flatten, Input, ReLU, Softmax
from hwq.ir.model import Model
from hwq.ir.quant import QuantParams

ALIGN = 16


def act_ctype(q: QuantParams | None) -> str:
    """C element type of an activation tensor (float for softmax outputs)."""
    if q is None:
        return "float"
    width = 8 if q.bits <= 8 else 16
    return f"{'' if q.signed else 'u'}int{width}_t"


def ctype_bytes(ctype: str) -> int:
    return {"float": 4, "int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2}[ctype]


@dataclass
class Buffer:
    name: str
    nbytes: int
    first: int
    last: int
    offset: int = -1


@dataclass
class Step:
    layer: str  # the IR layer whose kernel runs
    inputs: list[str]  # tensor names (graph inputs or step outputs)
    output: str  # tensor name (the last layer of the fused group)
    covers: list[str]  # IR layers whose outputs this step produces (fused relu, flatten views)
    scratch: int = 0  # bytes of scratch the kernel needs


@dataclass
class Plan:
    steps: list[Step]
    tensor_of: dict[str, str]  # IR layer -> tensor holding its (comparable) output
    buffers: dict[str, Buffer] = field(default_factory=dict)
    arena_bytes: int = 0


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan(model: Model, scratch_bytes) -> Plan:
    """``scratch_bytes(layer)`` gives each kernel's scratch need."""
    shapes = model.shapes()
    consumers: dict[str, list[str]] = {n: [] for n in model.layers}
    for layer in model.layers.values():
        for src in layer.inputs:
            consumers[src].append(layer.name)
    tensor_of: dict[str, str] = {}
    steps: list[Step] = []
    fused: set[str] = set()
    for layer in model.topo_order():
        if isinstance(layer, Input):
            tensor_of[layer.name] = layer.name
            continue
        if layer.name in fused:
            continue
        if isinstance(layer, Flatten):
            tensor_of[layer.name] = tensor_of[layer.inputs[0]]
            for s in steps:
                if s.output == tensor_of[layer.name]:
                    s.covers.append(layer.name)
            continue
        out, covers = layer.name, [layer.name]
        users = consumers[layer.name]
        if (isinstance(layer, (Dense, Conv2d)) and len(users) == 1 and layer.name not in model.outputs
                and isinstance(model.layers[users[0]], ReLU)):
            out = users[0]
            covers.append(out)
            fused.add(out)
        for c in covers:
            tensor_of[c] = out
        steps.append(Step(layer.name, [tensor_of[i] for i in layer.inputs], out, covers,
                          scratch_bytes(layer)))
    # lifetimes
    nbytes = {}
    for s in steps:
        lay = model.layers[s.output]
        ct = act_ctype(None if isinstance(lay, Softmax) else lay.quant)
        nbytes[s.output] = int(np.prod(shapes[s.output])) * ctype_bytes(ct)
    bufs: dict[str, Buffer] = {}
    for k, s in enumerate(steps):
        bufs[s.output] = Buffer(s.output, nbytes[s.output], k, k)
        if s.scratch:
            bufs[f"{s.layer}__scratch"] = Buffer(f"{s.layer}__scratch", s.scratch, k, k)
        for t in s.inputs:
            if t in bufs:
                bufs[t].last = max(bufs[t].last, k)
    for o in model.outputs:
        t = tensor_of[o]
        if t in bufs:
            bufs[t].last = len(steps)
    placed: list[Buffer] = []
    for b in sorted(bufs.values(), key=lambda b: (-b.nbytes, b.first, b.name)):
        live = sorted((p for p in placed if p.first <= b.last and b.first <= p.last), key=lambda p: p.offset)
        off = 0
        for p in live:
            if off + b.nbytes <= p.offset:
                break
            off = max(off, _align(p.offset + p.nbytes))
        b.offset = off
        placed.append(b)
    arena = max((_align(b.offset + b.nbytes) for b in placed), default=0)
    return Plan(steps, tensor_of, bufs, max(arena, ALIGN))
