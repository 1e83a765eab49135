"""The ``generic`` target: a configurable roofline machine (DRAM -> one SRAM -> register file).

Per layer and per inference (one sample):

* weights stay resident in SRAM when the whole model's weights plus the largest layer's
  activations fit ``sram_bytes`` (then no DRAM weight traffic per inference); otherwise every
  layer streams its weights from DRAM once. A layer's activations (input + output) spill to
  DRAM (read + written once) when they do not fit next to its weights.
* SRAM moves every weight byte once, the DRAM fills once more (written), the input once (a
  line buffer / register file holds the window) and the output once.
* graph inputs and flatten (a view) move nothing and take no time;
* the register file feeds each executed slot its operands: the weight code (payload bits, plus
  the relative index when sparse) and the activation; element-wise ops read two activations.
* cycles = max(lane ops / macs_per_cycle, DRAM bytes / (dram_bandwidth / clock),
  SRAM bytes / sram_bytes_per_cycle); ``bound`` names the largest term.

Every byte is counted once per level (no re-fetch from tiling): traffic is a lower bound.
"""

from __future__ import annotations

from hwq.cost.targets import LayerCost, LayerCounts, Param, Target
from hwq.cost.traffic import Level
from hwq.ir.layers import Flatten, Input, WeightedLayer


class Roofline(Target):
    NAME = "generic"
    DESCRIPTION = "configurable roofline: peak MAC/s, DRAM bandwidth, one SRAM, register file"
    PARAMS = {
        "clock_hz": Param(1e9, "Hz", "clock frequency", 1.0),
        "macs_per_cycle": Param(256, "lane ops/cycle", "peak MACs (or element-wise ops) per cycle", 1),
        "dram_bandwidth": Param(16e9, "B/s", "DRAM bandwidth", 1.0),
        "sram_bytes": Param(2 * 1024 * 1024, "B", "on-chip SRAM capacity (weights + activations)"),
        "sram_bytes_per_cycle": Param(128, "B/cycle", "SRAM bandwidth", 1e-9),
    }

    def levels(self) -> list[Level]:
        return [Level("dram", "dram"), Level("sram", "sram", float(self.params["sram_bytes"])), Level("rf", "rf")]

    def begin(self, counts: list[LayerCounts]) -> None:
        weights = sum(c.weight_bytes["total"] for c in counts)
        acts = max((c.activation_bytes["in"] + c.activation_bytes["out"] for c in counts), default=0.0)
        self.resident = weights + acts <= self.params["sram_bytes"]
        self.model_weights = weights

    def layer_cost(self, c: LayerCounts) -> LayerCost:
        p = self.params
        if isinstance(c.layer, (Input, Flatten)):  # a graph input or a reshape moves nothing
            return LayerCost(cycles=0.0, traffic={"dram": 0.0, "sram": 0.0, "rf": 0.0}, bound="",
                             fits={"weights": True, "activations": True})
        sram = float(p["sram_bytes"])
        wb = c.weight_bytes["total"]
        act = c.activation_bytes["in"] + c.activation_bytes["out"]
        on_chip_weights = self.model_weights if self.resident else wb
        fits = {"weights": wb <= sram, "activations": act + min(on_chip_weights, sram) <= sram}
        dram = (0.0 if self.resident else wb) + (0.0 if fits["activations"] else act)
        sram_traffic = wb + dram + act
        rf = self._rf_bytes(c)
        compute = c.work.slots / p["macs_per_cycle"]
        terms = {"compute": compute, "dram": dram / (p["dram_bandwidth"] / self.clock_hz),
                 "sram": sram_traffic / p["sram_bytes_per_cycle"]}
        bound = max(terms, key=terms.get) if any(terms.values()) else ""
        return LayerCost(cycles=max(terms.values()), traffic={"dram": dram, "sram": sram_traffic, "rf": rf},
                         bound=bound, fits=fits)

    @staticmethod
    def _rf_bytes(c: LayerCounts) -> float:
        layer = c.layer
        bits_in = c.activation_bytes["in"] * 8 / max(1, _elements(c.in_shapes))
        if isinstance(layer, WeightedLayer):
            w = layer.weight
            wbits = w.values.payload_bits() + (w.sparse.index_bits if w.sparse is not None else 0)
            return c.work.macs_executed * (wbits + bits_in) / 8
        return c.work.slots * 2 * bits_in / 8


def _elements(shapes) -> int:
    n = 0
    for s in shapes:
        k = 1
        for d in s:
            k *= int(d)
        n += k
    return n
