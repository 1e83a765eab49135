"""``hwq run``'s inputs and outputs: several named inputs, every output.

Inputs: ``--input x.npy`` for a model with one input; ``--input name=x.npy`` once per graph
input; or ``--input x.npz`` whose members are named after the inputs. Flat rows ``[N, size]``
are reshaped to an input's shape. ``--input-kind`` says whether integers are codes
(``quantized``) or values to quantize (``real``; ``auto``: integer arrays are codes).

Outputs: ``-o y.npz`` writes every model output under its layer name; ``-o y.npy`` writes one,
the first output, and the command's message names it (and the others it did not write).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwq.errors import HwqError
from hwq.ir.model import Model


def input_files(specs: tuple[str, ...]) -> list[str]:
    """The file paths named by ``--input`` values (for the overwrite checks)."""
    return [s.rpartition("=")[2] if _named(s) else s for s in specs]


def _named(spec: str) -> bool:
    name, eq, path = spec.partition("=")
    return bool(eq) and name.isidentifier()


def read_inputs(model: Model, specs: tuple[str, ...], kind: str) -> dict[str, np.ndarray]:
    """Each graph input's batch from the ``--input`` values (module docstring)."""
    from hwq.npyio import load_npy, load_npz

    names = [i.name for i in model.inputs]
    arrays: dict[str, tuple[np.ndarray, str]] = {}
    for spec in specs:
        if _named(spec):
            name, _, path = spec.partition("=")
            if name not in names:
                raise HwqError(f"--input {spec}: the model has no input {name!r} (inputs: {', '.join(names)})")
            if name in arrays:
                raise HwqError(f"--input: {name} given twice")
            arrays[name] = (load_npy(path), path)
        elif Path(spec).suffix == ".npz":
            for name, arr in load_npz(spec, "--input").items():
                if name not in names:
                    raise HwqError(f"--input {spec}: member {name!r} is not an input of the model "
                                   f"(inputs: {', '.join(names)})")
                if name in arrays:
                    raise HwqError(f"--input: {name} given twice")
                arrays[name] = (arr, spec)
        else:
            if len(names) != 1:
                raise HwqError(f"--input {spec}: the model has {len(names)} inputs; give each as NAME=x.npy "
                               f"({', '.join(names)}) or one .npz")
            if names[0] in arrays:
                raise HwqError(f"--input: {names[0]} given twice")
            arrays[names[0]] = (load_npy(spec), spec)
    missing = [n for n in names if n not in arrays]
    if missing:
        raise HwqError(f"--input: no array for the model's input {missing[0]!r}")
    return {n: _prepare(model.layers[n], *arrays[n], kind) for n in names}


def _prepare(inp, x: np.ndarray, path: str, kind: str) -> np.ndarray:
    shape = tuple(inp.shape)
    if x.ndim == 2 and len(shape) > 1 and x.shape[1] == int(np.prod(shape)):
        x = x.reshape((len(x),) + shape)  # flat rows (e.g. digits_test_x.npy) for an image input
    if kind == "real":
        return x.astype(np.float64)
    if kind == "quantized" and x.dtype.kind not in "iu":
        raise HwqError(f"--input-kind quantized: {path} holds {x.dtype} values, not integer codes")
    return x


def output_values(model: Model, outs: dict[str, np.ndarray], mode: str, dequantize: bool) -> dict[str, np.ndarray]:
    """The model's outputs by name, as real values with ``dequantize`` in int mode."""
    res = {}
    for name in model.outputs:
        y = outs[name]
        q = model.layers[name].quant
        if dequantize and mode == "int" and q is not None:
            y = (y.astype(np.float64) - q.zero_point) * q.scale
        res[name] = y
    return res


def write_outputs(path: str, values: dict[str, np.ndarray]) -> str:
    """Write to ``path`` (.npz: every output; otherwise the first as .npy); returns what was written."""
    from hwq.ir.atomic import atomic_write
    from hwq.npyio import save_npy

    names = list(values)
    if Path(path).suffix == ".npz":
        atomic_write(path, lambda f: np.savez(f, **values))
        return ", ".join(f"{n} {list(values[n].shape)}" for n in names)
    save_npy(path, values[names[0]])
    rest = f" (not written: {', '.join(names[1:])}; use -o NAME.npz for every output)" if len(names) > 1 else ""
    return f"{names[0]} {list(values[names[0]].shape)}{rest}"
