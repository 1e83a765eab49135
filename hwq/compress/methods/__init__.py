"""The five seed methods, each complete: ``hwq compress --method NAME`` (docs/methods/).

Each module has ``compress(model, data, params, log) -> MethodResult`` working on the float
model and hwq's primitives; ``hwq.compress.methods.run`` is the command-line glue.
"""

from __future__ import annotations

import importlib

MODULES = {
    "deep-compression": "deep_compression",
    "qcnn": "qcnn",
    "slq": "slq",
    "eslq": "slq",
    "mlq": "mlq",
    "ttq": "mlq",
    "sqs": "sqs",
    "qp-codec": "qp_codec",
}


def method_module(name: str):
    from hwq.errors import HwqError

    if name not in MODULES:
        raise HwqError(f"--method {name!r}: one of {', '.join(MODULES)}")
    try:
        return importlib.import_module(f"hwq.compress.methods.{MODULES[name]}")
    except ModuleNotFoundError as e:
        if e.name == f"hwq.compress.methods.{MODULES[name]}":
            raise HwqError(f"--method {name}: not implemented yet") from None
        raise
