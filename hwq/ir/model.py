"""The in-memory model: named layers wired into a networkx DiGraph."""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from hwq.errors import IRError
from hwq.ir.layers import Input, Layer, WeightedLayer


@dataclass
class Model:
    name: str
    layers: dict[str, Layer]  # insertion order is the file order
    outputs: list[str]
    provenance: dict = field(default_factory=dict)

    @property
    def graph(self) -> nx.DiGraph:
        """Nodes are layer names (attribute ``layer``); an edge u -> v when v reads u."""
        g = nx.DiGraph()
        for name, layer in self.layers.items():
            g.add_node(name, layer=layer)
        for name, layer in self.layers.items():
            for src in layer.inputs:
                g.add_edge(src, name)
        return g

    def topo_order(self) -> list[Layer]:
        """Layers in a deterministic topological order (ties broken by file order)."""
        pos = {n: i for i, n in enumerate(self.layers)}
        try:
            order = nx.lexicographical_topological_sort(self.graph, key=pos.__getitem__)
            return [self.layers[n] for n in order]
        except nx.NetworkXUnfeasible:
            raise IRError("graph: has a cycle") from None

    @property
    def inputs(self) -> list[Input]:
        return [l for l in self.layers.values() if isinstance(l, Input)]

    def weighted(self) -> list[WeightedLayer]:
        return [l for l in self.topo_order() if isinstance(l, WeightedLayer)]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample output shape of every layer."""
        out: dict[str, tuple[int, ...]] = {}
        for layer in self.topo_order():
            out[layer.name] = tuple(int(d) for d in layer.out_shape([out[i] for i in layer.inputs]))
        return out

    @property
    def is_quantized(self) -> bool:
        return all(l.quant is not None for l in self.layers.values() if l.KIND != "softmax")
