"""Shared helpers of the gen-c tests: models with the awkward cases, tool checks."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from hwq import ir
from hwq.codegen.targets import TARGETS


def need_target(name: str):
    t = TARGETS[name]
    for tool, pkg in ((t.cc, t.cc_package), (t.run[0] if t.run else None, t.run_package)):
        if tool and shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed: apt-get install {pkg}")
    return t


def with_zero_points(model: ir.Model, zps: dict[str, int]) -> ir.Model:
    """Give layers non-zero zero points (relu/pool/flatten followers keep their input's quant)."""
    for layer in model.topo_order():
        if layer.name in zps:
            layer.quant = dataclasses.replace(layer.quant, zero_point=zps[layer.name])
        elif layer.KIND in ("relu", "maxpool", "avgpool", "flatten") and layer.inputs[0] in zps:
            zps[layer.name] = zps[layer.inputs[0]]
            layer.quant = model.layers[layer.inputs[0]].quant
    return ir.validate(model)


def pow2_shift_limits() -> tuple[ir.Model, np.ndarray]:
    """7-bit pow2 weights with shifts 62, 31, 32 and 0 whose huge terms cancel exactly on the
    bundled inputs (x0 == x1, x2 == x3, x4 == x5): the exact sum fits, every shift >= 32
    contributes 0 modulo 2^32 (docs/semantics.md section 3)."""
    rng = np.random.default_rng(5)
    o, i = 6, 11
    codes = rng.integers(1, 5, (o, i)) | (rng.integers(0, 2, (o, i)) << 6)
    big = lambda k, neg: k + 1 + (64 if neg else 0)  # noqa: E731  code of -+2^k
    codes[:, 0], codes[:, 1] = big(62, False), big(62, True)
    codes[:, 2], codes[:, 3] = big(31, True), big(31, False)
    codes[:, 4], codes[:, 5] = big(32, False), big(32, True)
    w = ir.Weight((o, i), ir.Pow2Values(codes.reshape(-1).astype(np.uint8), 7, -8))
    m = ir.Model("shifts", {}, ["fc"])
    m.layers["x"] = ir.Input("x", [], shape=(i,), quant=ir.QuantParams(8, False, 1 / 256, 3))
    m.layers["fc"] = ir.Dense("fc", ["x"], in_features=i, out_features=o, weight=w,
                              bias=np.zeros(o, np.float32), bias_q=rng.integers(-1000, 1000, o).astype(np.int32),
                              requant=ir.Requant("shift", np.array([-4], np.int32)),
                              quant=ir.QuantParams(8, True, 1 / 16, -5))
    ir.validate(m)
    x = rng.integers(0, 256, (4, i))
    x[:, 1], x[:, 3], x[:, 5] = x[:, 0], x[:, 2], x[:, 4]
    return m, x


def merge(models: dict[str, ir.Model], name: str = "merged") -> ir.Model:
    from hwq.ir.rewrite import branches

    return ir.validate(branches(models, name))


def every_kernel_model(seed: int = 0) -> ir.Model:
    """Every encoding x layout as a CNN branch (conv with padding and stride, relu, pools, add,
    flatten, dense), non-zero zero points, many fillers; plus an MLP branch ending in softmax."""
    from tests.factories import ENCODINGS, LAYOUTS, cnn

    rng = np.random.default_rng(seed)
    subs = {}
    for enc in ENCODINGS:
        for lay in LAYOUTS:
            if enc == "pq" and lay != "none":
                continue
            subs[f"{enc}_{lay}"] = cnn(rng, enc, lay, index_bits=2, density=0.3)
    m = merge(subs, "every_kernel")
    return with_zero_points(m, {"x": -7, "int8_none_c2": 3, "codebook_csc_c1": 5})


def byte_entry_model(seed: int = 0) -> ir.Model:
    """Sparse codebook and pow2 layers whose entries are one byte (4-bit code, 4-bit rel):
    the Thumb-2 loops of the Cortex-M targets, at 30 % and 4 % density (empty rows/columns,
    fillers), relu-sparse and dense inputs alike."""
    from hwq.compress.random_model import random_mlp

    subs = {}
    for enc in ("codebook", "pow2"):
        for lay in ("csr", "csc"):
            for d in (0.3, 0.04):
                subs[f"{enc}_{lay}_{int(d * 100)}"] = random_mlp("128,40,10", density=d, encoding=enc, bits=4,
                                                                  sparse=lay, index_bits=4, seed=seed)
    return with_zero_points(merge(subs, "byte_entries"), {"input": 0})


def two_input_model(seed: int = 0) -> ir.Model:
    """Two graph inputs (a: 16 signed, b: 10 unsigned) through two dense branches (sparse
    codebook, dense int8) joined by add, then relu and a pow2 dense layer."""
    from hwq.compress.calibrate import calibrate
    from hwq.compress.random_model import random_weight

    rng = np.random.default_rng(seed)
    m = ir.Model("two_in", {}, ["fc"])
    L = m.layers
    L["a"] = ir.Input("a", [], shape=(16,))
    L["b"] = ir.Input("b", [], shape=(10,))
    L["fa"] = ir.Dense("fa", ["a"], in_features=16, out_features=6, bias=rng.normal(size=6).astype(np.float32),
                       weight=random_weight(rng, (6, 16), "codebook", 0.5, 4, "csr", 3))
    L["fb"] = ir.Dense("fb", ["b"], in_features=10, out_features=6, bias=None,
                       weight=random_weight(rng, (6, 10), "int8", 1.0, 8, "none", 3))
    L["sum"] = ir.Add("sum", ["fa", "fb"])
    L["r"] = ir.ReLU("r", ["sum"])
    L["fc"] = ir.Dense("fc", ["r"], in_features=6, out_features=3, bias=rng.normal(size=3).astype(np.float32),
                       weight=random_weight(rng, (3, 6), "pow2", 1.0, 4, "none", 3))
    x = {"a": rng.normal(size=(64, 16)), "b": rng.random((64, 10))}
    return calibrate(m, x, act_bits=8, weights_to_int8=False)
