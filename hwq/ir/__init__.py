"""The hwq intermediate representation: one API every back end reads models through.

    from hwq import ir
    model = ir.load("model.ir")      # validated; never executes code
    ir.save(model, "out.ir")         # validated; atomic, deterministic bytes
"""

from __future__ import annotations

import os

from hwq.errors import IRError
from hwq.ir.container import read_container, write_container
from hwq.ir.layers import (LAYER_TYPES, Add, AvgPool, Conv2d, Dense, Flatten, Input, Layer,
                           MaxPool, ReLU, Softmax, WeightedLayer)
from hwq.ir.manifest import SCHEMA_VERSION, check_header, declared_tensors, from_manifest, to_manifest
from hwq.ir.model import Model
from hwq.ir.quant import QuantParams, Requant, make_requant, quantize_multiplier
from hwq.ir.sparse import SparseIndex
from hwq.ir.validate import validate
from hwq.ir.values import (VALUE_TYPES, CodebookValues, Float32Values, Int8Values, PQValues,
                           Pow2Values, TernaryValues, Values)
from hwq.ir.weight import Weight

__all__ = [
    "load", "save", "validate", "IRError", "Model", "Layer", "WeightedLayer", "Input", "Dense", "Conv2d",
    "ReLU", "MaxPool", "AvgPool", "Flatten", "Add", "Softmax", "LAYER_TYPES", "Weight",
    "SparseIndex", "Values", "Float32Values", "Int8Values", "CodebookValues", "Pow2Values",
    "TernaryValues", "PQValues", "VALUE_TYPES", "QuantParams", "Requant", "make_requant",
    "quantize_multiplier", "SCHEMA_VERSION",
]


def load(path: str | os.PathLike) -> Model:
    """Read and validate an .ir file. Raises IRError naming the first problem."""
    manifest, tensors = read_container(path, lambda m: declared_tensors(check_header(m)))
    return validate(from_manifest(manifest, tensors))


def save(model: Model, path: str | os.PathLike) -> None:
    """Validate, then write atomically: on any error the target is left untouched."""
    validate(model)
    manifest, tensors = to_manifest(model)
    write_container(path, manifest, tensors)
