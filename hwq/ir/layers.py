"""Layer kinds of the IR, as typed dataclasses.

Activations are per-sample tensors: (features,) after dense/flatten, (C, H, W) for
convolutions and pools. Every layer may carry ``quant``: the quantization of its output
(None in a float-only model). Layers with weights carry ``requant`` (accumulator ->
output grid) and ``bias_q`` (int32 bias on the accumulator grid) once quantized.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from hwq.ir.quant import QuantParams, Requant
from hwq.ir.weight import Weight


@dataclass
class Layer:
    name: str
    inputs: list[str]
    quant: QuantParams | None = field(default=None, kw_only=True)

    KIND: ClassVar[str] = ""
    N_INPUTS: ClassVar[int] = 1
    ATTRS: ClassVar[tuple[str, ...]] = ()

    def out_shape(self, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return in_shapes[0]


@dataclass
class Input(Layer):
    """A graph input; ``shape`` excludes the batch axis."""

    shape: tuple[int, ...] = ()
    KIND: ClassVar[str] = "input"
    N_INPUTS: ClassVar[int] = 0
    ATTRS: ClassVar[tuple] = ("shape",)

    def out_shape(self, in_shapes):
        return tuple(self.shape)


@dataclass
class WeightedLayer(Layer):
    weight: Weight | None = None
    bias: np.ndarray | None = None  # float32 (O,): the float model's bias
    bias_q: np.ndarray | None = None  # int32 (O,): bias on the accumulator grid
    requant: Requant | None = None
    acc_bits: int = 32


@dataclass
class Dense(WeightedLayer):
    """Fully connected: y[o] = sum_i W[o, i] x[i] + b[o]."""

    in_features: int = 0
    out_features: int = 0
    KIND: ClassVar[str] = "dense"
    ATTRS: ClassVar[tuple] = ("in_features", "out_features", "acc_bits")

    def out_shape(self, in_shapes):
        return (self.out_features,)


@dataclass
class Conv2d(WeightedLayer):
    """2-D convolution (cross-correlation), groups = 1, dilation = 1, NCHW / OIHW."""

    in_channels: int = 0
    out_channels: int = 0
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    KIND: ClassVar[str] = "conv2d"
    ATTRS: ClassVar[tuple] = ("in_channels", "out_channels", "kernel", "stride", "padding", "acc_bits")

    def out_shape(self, in_shapes):
        _, h, w = in_shapes[0]
        t, l, b, r = self.padding
        oh = (h + t + b - self.kernel[0]) // self.stride[0] + 1
        ow = (w + l + r - self.kernel[1]) // self.stride[1] + 1
        return (self.out_channels, oh, ow)


@dataclass
class ReLU(Layer):
    KIND: ClassVar[str] = "relu"


@dataclass
class Pool(Layer):
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    ATTRS: ClassVar[tuple] = ("kernel", "stride")

    def out_shape(self, in_shapes):
        c, h, w = in_shapes[0]
        return (c, (h - self.kernel[0]) // self.stride[0] + 1, (w - self.kernel[1]) // self.stride[1] + 1)


@dataclass
class MaxPool(Pool):
    KIND: ClassVar[str] = "maxpool"


@dataclass
class AvgPool(Pool):
    KIND: ClassVar[str] = "avgpool"


@dataclass
class Flatten(Layer):
    KIND: ClassVar[str] = "flatten"

    def out_shape(self, in_shapes):
        return (int(np.prod(in_shapes[0], dtype=np.int64)),)


@dataclass
class Add(Layer):
    """Elementwise sum of two tensors; ``requant`` rescales each input to the output grid."""

    requant: list[Requant] | None = None
    KIND: ClassVar[str] = "add"
    N_INPUTS: ClassVar[int] = 2


@dataclass
class Softmax(Layer):
    """Softmax over features; float only (the integer run dequantizes its input)."""

    KIND: ClassVar[str] = "softmax"


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.KIND: cls for cls in (Input, Dense, Conv2d, ReLU, MaxPool, AvgPool, Flatten, Add, Softmax)
}
