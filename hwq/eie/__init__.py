"""The EIE-style accelerator's shared description (docs/eie.md): its parameters, the mapping of
a dense layer onto the PEs' memories and the cycle-exact model. Imports ``hwq.ir`` only."""

from hwq.eie.config import EieConfig, parse_params
from hwq.eie.cycle_model import LayerTiming, layer_timing, model_cycles
from hwq.eie.estimate import estimate_layer

__all__ = ["EieConfig", "parse_params", "LayerTiming", "layer_timing", "model_cycles", "estimate_layer"]
