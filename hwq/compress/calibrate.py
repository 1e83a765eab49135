"""Activation quantization: turn a model with integer-coded weights into a quantized one.

Ranges come from a float reference run on calibration data. Zero points are always 0 so
that a real zero is the integer 0 (EIE skips zero activations; C kernels skip nothing
extra). A tensor that is never negative gets an unsigned grid; a producer whose only
consumers are ReLUs takes the post-ReLU range, which makes its requant clamp act as the
ReLU (the ReLU layer then changes nothing, bit for bit).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from hwq.errors import HwqError
from hwq.golden.fixedpoint import round_half_away
from hwq.golden.run import run_float
from hwq.ir.layers import Add, AvgPool, Flatten, MaxPool, ReLU, Softmax, WeightedLayer
from hwq.ir.model import Model
from hwq.ir.quant import QuantParams, make_requant
from hwq.ir.rewrite import strip_quant
from hwq.ir.validate import validate
from hwq.ir.values import Float32Values, Int8Values
from hwq.ir.weight import Weight

PASS_THROUGH = (ReLU, MaxPool, AvgPool, Flatten)


class BiasRangeError(HwqError):
    """A float bias is too large for int32 on its layer's accumulator grid."""

INT32_MAX = (1 << 31) - 1


def integer_weights(model: Model) -> Model:
    """Replace float32 weights by symmetric per-channel int8 (layout kept)."""
    from hwq.compress.int8 import quantize_int8

    layers = {}
    for name, layer in model.layers.items():
        if isinstance(layer, WeightedLayer) and isinstance(layer.weight.values, Float32Values):
            w = layer.weight
            dense = w.dense_float()
            q, scale = quantize_int8(dense, per_channel=True)
            q = np.asarray(q).reshape(dense.shape)
            if w.sparse is None:
                codes = q.reshape(-1)
            else:  # keep the stored pattern; values in storage order
                r, c = w.sparse.coordinates()
                codes = q.reshape(w.matrix_shape)[r, c]
            layer = replace(layer, weight=Weight(w.shape, Int8Values(codes.astype(np.int8),
                                                                     np.asarray(scale, np.float32).reshape(-1)), w.sparse))
        layers[name] = layer
    return replace(model, layers=layers)


def _grid(lo: float, hi: float, bits: int, pow2: bool) -> QuantParams:
    signed = lo < 0
    qmax = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    span = max(abs(lo), abs(hi))
    scale = span / qmax if span > 0 else 1.0
    if pow2:
        scale = math.ldexp(1.0, math.ceil(math.log2(scale)))
    return QuantParams(bits=bits, signed=signed, scale=float(scale), zero_point=0)


def calibrate(model: Model, x_calib: np.ndarray, act_bits: int = 8, pow2_scales: bool = False,
              weights_to_int8: bool = True) -> Model:
    """Quantize activations from the ranges seen on ``x_calib`` (a batch of model inputs)."""
    if not 2 <= act_bits <= 16:
        raise HwqError(f"--act-bits {act_bits}: must be in [2, 16]")
    validate(model)
    if weights_to_int8:
        model = integer_weights(model)
    float_model = strip_quant(model)
    acts = run_float(float_model, x_calib, keep_all=True)
    g = float_model.graph
    quant: dict[str, QuantParams] = {}
    for layer in float_model.topo_order():
        if isinstance(layer, Softmax):
            continue
        if isinstance(layer, PASS_THROUGH):
            quant[layer.name] = quant[layer.inputs[0]]
            continue
        consumers = [float_model.layers[c] for c in g.successors(layer.name)]
        seen = acts[layer.name]
        if consumers and all(isinstance(c, ReLU) for c in consumers) and layer.name not in model.outputs:
            seen = np.maximum(seen, 0.0)
        quant[layer.name] = _grid(float(seen.min()), float(seen.max()), act_bits, pow2_scales)
    layers = {}
    for name, layer in model.layers.items():
        if isinstance(layer, Softmax):
            layers[name] = replace(layer, quant=None)
            continue
        q = quant[name]
        if isinstance(layer, WeightedLayer):
            s_in = quant[layer.inputs[0]].scale
            s_w = layer.weight.scale_vector()
            factors = s_in * s_w / q.scale
            if np.all(factors == factors[0]):
                factors = factors[:1]
            bias_q = None
            if layer.bias is not None:
                bq = round_half_away(layer.bias.astype(np.float64) / (s_in * s_w))
                if np.abs(bq).max(initial=0) > INT32_MAX:
                    raise BiasRangeError(f"{name}: bias does not fit int32 on the accumulator grid")
                bias_q = bq.astype(np.int32)
            layer = replace(layer, quant=q, bias_q=bias_q, requant=make_requant(factors))
        elif isinstance(layer, Add):
            rq = [make_requant(np.array([quant[i].scale / q.scale])) for i in layer.inputs]
            layer = replace(layer, quant=q, requant=rq)
        else:
            layer = replace(layer, quant=q)
        layers[name] = layer
    return validate(replace(model, layers=layers))
