"""``hwq compress``: options -> per-layer plan -> prune -> quantize (with retraining) -> encode -> calibrate.

Deep Compression's pipeline (prune, share, fine-tune centroids) with the value schemes of
the other seeds swapped in per layer at the quantize step. :class:`CompressOptions` holds
what the user typed; :func:`hwq.compress.plan.build_plan` resolves it once into a checked
per-layer :class:`~hwq.compress.plan.Plan`, and each stage in ``hwq/compress/stages/``
reads only the plan.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwq.compress.plan import Plan, Scheme, build_plan, for_layer, parse_per_layer  # noqa: F401 (API)
from hwq.compress.prune import prune_quality
from hwq.compress.run_options import check_run_options
from hwq.compress.stages import State, float_model
from hwq.compress.stages.calibrate import CALIBRATION_SAMPLES, calibrate
from hwq.compress.stages.encode import encode
from hwq.compress.stages.prune import prune
from hwq.compress.stages.quantize import quantize
from hwq.compress.stages.report import render, summary  # noqa: F401 (API: summary)
from hwq.errors import HwqError
from hwq.ir.model import Model


def parse_rates(text: str):
    return parse_per_layer("--prune", text, float)


_SHORTHANDS = ("--share-bits", "--pow2", "--ternary", "--int8", "--pq")


@dataclass
class CompressOptions:
    """The ``hwq compress`` options as given (per-layer ones as scalar or {pattern: value})."""

    prune: float | dict[str, float] | None = None  # one rate for every layer, or per layer
    prune_quality: float | None = None
    prune_steps: int = 1  # iterative pruning: rounds of prune + retrain toward the rates
    scheme: str | Scheme | dict | None = None  # --scheme: per layer, e.g. {"fc1": "pq:4:32", "*": "codebook:5"}
    share_bits: int | dict[str, int] | None = None  # shorthand for codebook:B (per layer too)
    init: str = "linear"
    pow2_bits: int | None = None  # shorthand for *=pow2:B
    ternary: bool = False  # shorthand for *=ternary
    int8: bool = False  # shorthand for *=int8
    pq: tuple[int, int] | None = None  # shorthand for *=pq:DIM:K, (DIM, K)
    sparse: str = "auto"
    index_bits: int | dict[str, int] | None = None  # default 4 fc, 5 conv
    value_bits: int | dict[str, int] | None = None  # codebook / pq codeword width, default 16
    retrain_epochs: int = 0
    lr: float = 0.01
    act_bits: int | None = None
    pow2_act: bool = False
    data: str | None = None
    calib: str | None = None  # .npy of unlabeled calibration samples (instead of --data's x_train)
    calib_samples: int = CALIBRATION_SAMPLES
    seed: int = 0

    @classmethod
    def from_cli(cls, **kw) -> "CompressOptions":
        for key in ("prune_steps", "retrain_epochs", "lr"):  # not given: the dataclass default
            if kw.get(key, 0) is None:
                del kw[key]
        pq = kw.pop("pq", None)
        if pq is not None:
            try:
                dim, k = (int(v) for v in pq.split(":"))
            except ValueError:
                raise HwqError(f"--pq {pq!r}: expected DIM:K, e.g. 4:32") from None
            kw["pq"] = (dim, k)
        for option, key, cast in (("--prune", "prune", float), ("--share-bits", "share_bits", int),
                                  ("--scheme", "scheme", Scheme.parse), ("--index-bits", "index_bits", int),
                                  ("--value-bits", "value_bits", int)):
            if kw.get(key) is not None:
                kw[key] = parse_per_layer(option, kw[key], cast)
        kw["init"] = kw.get("init") or "linear"  # --init's default; exp is SLQ's (--method slq)
        opts = cls(**kw)
        opts.check()
        return opts

    def shorthands(self) -> list[str]:
        on = (self.share_bits is not None, self.pow2_bits is not None, self.ternary, self.int8, self.pq is not None)
        return [name for name, given in zip(_SHORTHANDS, on) if given]

    def scheme_table(self) -> dict | Scheme | None:
        """``--scheme`` entries first, then the shorthand flag's (``--share-bits`` may be per layer)."""
        chosen = self.shorthands()
        if len(chosen) > 1:
            raise HwqError(f"choose one value scheme, not {' and '.join(chosen)}")
        table: dict = {}
        if self.scheme is not None:
            given = parse_per_layer("--scheme", self.scheme, Scheme.parse) if isinstance(self.scheme, str) \
                else self.scheme
            given = given if isinstance(given, dict) else {"*": given}
            table = {k: v if isinstance(v, Scheme) else Scheme.parse(v) for k, v in given.items()}
        short = None
        if self.share_bits is not None:
            short = ({k: Scheme("codebook", bits=v) for k, v in self.share_bits.items()}
                     if isinstance(self.share_bits, dict) else {"*": Scheme("codebook", bits=self.share_bits)})
        elif self.pow2_bits is not None:
            short = {"*": Scheme("pow2", bits=self.pow2_bits)}
        elif self.ternary:
            short = {"*": Scheme("ternary")}
        elif self.int8:
            short = {"*": Scheme("int8")}
        elif self.pq is not None:
            short = {"*": Scheme("pq", dim=self.pq[0], k=self.pq[1])}
        if short:
            if "*" in short and "*" in table:
                raise HwqError(f"--scheme *=... and {chosen[0]} both set every layer's scheme; give one")
            table.update({k: v for k, v in short.items() if k not in table})
        return table or None

    def check(self) -> None:
        """Run-wide checks; everything per layer is checked by build_plan."""
        self.scheme_table()
        if self.init not in ("linear", "density", "forgy"):
            raise HwqError(f"--init {self.init}: k-means weight sharing takes linear, density or forgy "
                           "(exp is SLQ's: --method slq)")
        rates = self.prune.values() if isinstance(self.prune, dict) else [self.prune]
        if self.prune is not None and not all(isinstance(r, (int, float)) and 0 <= r < 1 for r in rates):
            raise HwqError(f"--prune {self.prune}: rates must be in [0, 1)")
        if self.prune is not None and self.prune_quality is not None:
            raise HwqError("--prune and --prune-quality are alternatives; give one")
        if not isinstance(self.prune_steps, int) or self.prune_steps < 1:
            raise HwqError(f"--prune-steps {self.prune_steps}: must be >= 1")
        if self.prune_steps > 1 and self.prune is None:
            raise HwqError("--prune-steps works with --prune rates (not --prune-quality, not alone)")
        if self.prune_quality is not None and not (math.isfinite(self.prune_quality) and self.prune_quality >= 0):
            raise HwqError(f"--prune-quality {self.prune_quality}: must be a finite number >= 0")
        bits = self.share_bits.values() if isinstance(self.share_bits, dict) else [self.share_bits]
        if self.share_bits is not None and not all(isinstance(b, int) and 1 <= b <= 8 for b in bits):
            raise HwqError(f"--share-bits {self.share_bits}: bits must be in [1, 8]")
        if self.pow2_bits is not None and not 2 <= self.pow2_bits <= 7:
            raise HwqError(f"--pow2 {self.pow2_bits}: must be in [2, 7]")
        if self.pq is not None and (self.pq[0] < 1 or not 1 <= self.pq[1] <= 65536):
            raise HwqError(f"--pq {self.pq[0]}:{self.pq[1]}: DIM >= 1 and 1 <= K <= 65536")
        if self.pq is not None and (self.pruning or self.sparse in ("csr", "csc")):
            raise HwqError("--pq is dense only: it cannot be combined with pruning or a sparse layout")
        check_run_options(self)
        if self.pow2_act and self.act_bits is None:
            raise HwqError("--pow2-act needs --act-bits")
        if self.seed < 0:
            raise HwqError(f"--seed {self.seed}: must be >= 0")

    @property
    def pruning(self) -> bool:
        rates = self.prune.values() if isinstance(self.prune, dict) else [self.prune]
        return any(rates) or self.prune_quality is not None

    def plan(self, model: Model) -> Plan:
        """The checked per-layer plan of these options for ``model``."""
        self.check()
        if isinstance(self.share_bits, dict) and "*" not in self.share_bits:
            names = [l.name for l in model.weighted()]
            table = self.scheme_table()
            for n in names:
                if for_layer(table, n) is None:
                    raise HwqError(f"--share-bits: no bits for layer {n} (name it or add *=BITS)")
        return build_plan(model, self)


def compress_model(model: Model, opts: CompressOptions, data=None, log=None, plan: Plan | None = None,
                   calib=None) -> Model:
    """The compressed model (quantized when ``opts.act_bits``); ``model`` is not modified.

    ``calib``: unlabeled calibration samples (rows flat or in the input shape); else ``data``'s x_train.
    """
    plan = plan or opts.plan(model)
    st = State.of(model)
    base = float_model(model, st)
    prune(plan, base, st, data, log)
    specs = quantize(plan, base, st, data, log)
    out = encode(plan, base, st, specs)
    out = calibrate(plan, out, calib if calib is not None else (data.x_train if data is not None else None),
                    opts.calib_samples)
    out.provenance = {**model.provenance, "compress": plan.provenance()}
    return out


# ---------------------------------------------------------------------------- CLI glue


def load_any(path: str) -> Model:
    from hwq import ir

    p = Path(path)
    if not p.is_file():
        raise HwqError(f"{path}: no such file")
    if p.suffix.lower() == ".onnx":
        from hwq.frontends.onnx_import import import_onnx

        return import_onnx(path)
    return ir.load(path)


def load_data(name: str | None, model: Model):
    """``digits`` (scikit-learn's, shipped with it) or the path of an .npz (hwq.data.npz)."""
    if name is None:
        return None
    if name == "digits":
        from hwq.data.digits import load_digits_split

        d = load_digits_split()
    else:
        from hwq.data.npz import load_npz_split

        d = load_npz_split(name)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise HwqError(f"--data {name}: needs a model with one input and one output "
                       f"(this one has {len(model.inputs)} inputs and {len(model.outputs)} outputs)")
    shape = tuple(model.inputs[0].shape)
    n_out = int(np.prod(model.shapes()[model.outputs[0]]))
    for part, y in (("y_train", d.y_train), ("y_test", d.y_test)):
        if y is not None and y.size and int(y.max()) >= n_out:
            raise HwqError(f"--data {name}: {part} holds label {int(y.max())}, but the model has "
                           f"{n_out} outputs (labels must be 0..{n_out - 1})")
    if int(np.prod(shape)) != d.x_train.shape[1]:
        raise HwqError(f"--data {name}: the model input {list(shape)} does not take "
                       f"{d.x_train.shape[1]} values per sample")
    return d


def load_calib(path: str | None, model: Model):
    """``--calib x.npy``: unlabeled samples, flat rows or in the model's input shape."""
    if path is None:
        return None
    from hwq.npyio import load_npy

    if len(model.inputs) != 1:
        raise HwqError(f"--calib {path}: needs a model with one input (this one has {len(model.inputs)})")
    x = load_npy(path)
    per = int(np.prod(model.inputs[0].shape))
    if x.ndim < 1 or len(x) == 0 or x[0].size != per:
        raise HwqError(f"--calib {path}: expected [N, {per}] samples or [N, *{list(model.inputs[0].shape)}], "
                       f"got {list(x.shape)}")
    x = x.reshape(len(x), per).astype(np.float64)
    if not np.isfinite(x).all():
        raise HwqError(f"--calib {path}: contains NaN or Inf")
    return x


def _refuse_empty_layers(model: Model, plan: Plan) -> None:
    """A quality threshold above every |w| of a layer leaves nothing to store or run: refuse it
    up front (the library still encodes such layers; the command will not write them)."""
    for lp in plan:
        layer = model.layers[lp.name]
        if lp.prune_quality is not None and layer.weight.size and \
                not prune_quality(layer.weight.dense_float(), lp.prune_quality).any():
            raise HwqError(f"--prune-quality {lp.prune_quality}: prunes every weight of layer "
                           f"{lp.name}; give a lower quality")


def compress_file(src: str, dst: str, opts: CompressOptions, echo=print, as_json: bool = False) -> str:
    from hwq import ir
    from hwq.ir.atomic import check_output, refuse_inputs

    t0 = time.perf_counter()
    check_output(dst)  # fail before any work, not after it
    refuse_inputs(dst, [src, opts.data if opts.data != "digits" else None, opts.calib])
    model = load_any(src)
    plan = opts.plan(model)  # every option checked for every layer before any work
    _refuse_empty_layers(model, plan)
    data = load_data(opts.data, model)
    if plan.retrains and data.y_train is None:
        raise HwqError(f"--retrain-epochs needs labels: --data {opts.data} has no y_train, y_test")
    calib = load_calib(opts.calib, model)
    echo("plan: " + "; ".join(plan.phases))
    # without labels the report compares outputs with the float model on the test rows (or --calib)
    x_eval = data.x_test if data is not None else calib
    before = summary(model, data, x_eval=x_eval)
    out = compress_model(model, opts, data, log=lambda s: echo(f"  {s}"), plan=plan, calib=calib)
    after = summary(out, data, reference=model, x_eval=x_eval)
    ir.save(out, dst)
    seconds = time.perf_counter() - t0
    if as_json:
        import json

        return json.dumps({"output": str(dst), "seconds": round(seconds, 3), "plan": plan.provenance(),
                           "before": before, "after": after})
    return render(dst, seconds, before, after)
