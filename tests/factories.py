"""Small random models for tests: every layer kind, every encoding and layout."""

from __future__ import annotations

import numpy as np

from hwq import ir
from hwq.compress.calibrate import calibrate
from hwq.compress.random_model import random_weight

LAYOUTS = ("none", "csr", "csc")
ENCODINGS = ("int8", "codebook", "pow2", "ternary", "pq")


def dense_only(encoding, sparse):
    """Product quantization has no sparse layout: its models are dense whatever was asked."""
    return "none" if encoding == "pq" else sparse


def cnn(rng, encoding="int8", sparse="none", index_bits=3, density=0.5, act_bits=8, pow2_act=False):
    """input(2,7,7) -> conv(pad, stride 2) -> relu -> maxpool; conv -> avgpool -> add -> flatten -> dense."""
    sparse = dense_only(encoding, sparse)
    m = ir.Model("cnn", {}, ["fc"])
    L = m.layers
    L["x"] = ir.Input("x", [], shape=(2, 7, 7))
    L["c1"] = ir.Conv2d("c1", ["x"], in_channels=2, out_channels=4, kernel=(3, 3), stride=(1, 1),
                        padding=(1, 1, 1, 1), weight=random_weight(rng, (4, 2, 3, 3), encoding, density, 4, sparse, index_bits),
                        bias=rng.normal(size=4).astype(np.float32))
    L["r1"] = ir.ReLU("r1", ["c1"])
    L["p1"] = ir.MaxPool("p1", ["r1"], kernel=(2, 2), stride=(2, 2))
    L["c2"] = ir.Conv2d("c2", ["x"], in_channels=2, out_channels=4, kernel=(2, 3), stride=(2, 2),
                        padding=(0, 1, 1, 1), weight=random_weight(rng, (4, 2, 2, 3), encoding, density, 4, sparse, index_bits),
                        bias=None)
    L["p2"] = ir.AvgPool("p2", ["c2"], kernel=(2, 2), stride=(1, 1))
    L["sum"] = ir.Add("sum", ["p1", "p2"])
    L["flat"] = ir.Flatten("flat", ["sum"])
    L["fc"] = ir.Dense("fc", ["flat"], in_features=36, out_features=5,
                       weight=random_weight(rng, (5, 36), encoding, density, 4, sparse, index_bits),
                       bias=rng.normal(size=5).astype(np.float32))
    return calibrate(m, rng.random((64, 2, 7, 7)) * 2 - 0.5, act_bits=act_bits, pow2_scales=pow2_act,
                     weights_to_int8=False)


def mlp(rng, encoding="int8", sparse="none", index_bits=3, density=0.5, act_bits=8, pow2_act=False, softmax=False):
    sparse = dense_only(encoding, sparse)
    m = ir.Model("mlp", {}, ["sm" if softmax else "fc2"])
    L = m.layers
    L["x"] = ir.Input("x", [], shape=(12,))
    L["fc1"] = ir.Dense("fc1", ["x"], in_features=12, out_features=9,
                        weight=random_weight(rng, (9, 12), encoding, density, 4, sparse, index_bits),
                        bias=rng.normal(size=9).astype(np.float32))
    L["r1"] = ir.ReLU("r1", ["fc1"])
    L["fc2"] = ir.Dense("fc2", ["r1"], in_features=9, out_features=4,
                        weight=random_weight(rng, (4, 9), encoding, density, 4, sparse, index_bits), bias=None)
    if softmax:
        L["sm"] = ir.Softmax("sm", ["fc2"])
    return calibrate(m, rng.normal(size=(64, 12)), act_bits=act_bits, pow2_scales=pow2_act,
                     weights_to_int8=False)
