"""``hwq compress``: prune -> retrain -> quantize values (with retraining) -> pack -> calibrate.

Deep Compression's pipeline (prune, share, fine-tune centroids) with the value schemes of
the other seeds swapped in at the quantize step: power-of-two and ternary weights are
quantized incrementally (INQ/SLQ: the largest-magnitude half first, then half of the rest,
retraining the unquantized weights in between), int8 and product quantization one-shot.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from hwq.compress.calibrate import calibrate
from hwq.compress.encode import encode_weight
from hwq.compress.kmeans import kmeans_1d
from hwq.compress.pow2 import default_e_max, pow2_decode, pow2_span, quantize_pow2
from hwq.compress.prune import prune_quality, prune_rate
from hwq.compress.ternary import quantize_ternary
from hwq.errors import HwqError
from hwq.ir.model import Model
from hwq.ir.rewrite import with_float_weights, with_weights
from hwq.ir.storage import StorageBits, compression_rate, layer_storage

INCREMENTS = (0.5, 0.75, 0.875, 1.0)  # INQ's accumulated quantized fractions
CALIBRATION_SAMPLES = 512


def parse_per_layer(option: str, text: str, cast):
    """``0.9`` -> 0.9; ``fc1=0.9,fc3=0.7,*=0.8`` -> {"fc1": 0.9, "fc3": 0.7, "*": 0.8}.

    Deep Compression sets pruning rates and codebook sizes per layer (e.g. 8-bit codebooks
    for convs, 5-bit for FC layers); "*" stands for every layer not named.
    """
    table: dict = {}
    for part in str(text).split(","):
        name, _, value = part.rpartition("=")
        try:
            table[name.strip() or "*"] = cast(value)
        except ValueError:
            raise HwqError(f"{option} {text!r}: expected a value like 5 or fc1=8,*=5") from None
    return table["*"] if set(table) == {"*"} else table


def parse_rates(text: str):
    return parse_per_layer("--prune", text, float)


def for_layer(value, layer: str, default=None):
    """A per-layer option's value for ``layer``: the scalar, its own entry, or "*"."""
    if isinstance(value, dict):
        return value.get(layer, value.get("*", default))
    return default if value is None else value


@dataclass
class CompressOptions:
    prune: float | dict[str, float] | None = None  # one rate for every layer, or per layer
    prune_quality: float | None = None
    share_bits: int | dict[str, int] | None = None  # codebook bits, or per layer
    init: str = "linear"
    pow2_bits: int | None = None
    ternary: bool = False
    int8: bool = False
    pq: tuple[int, int] | None = None  # (M, K)
    sparse: str = "auto"
    index_bits: int | None = None
    retrain_epochs: int = 0
    lr: float = 0.01
    act_bits: int | None = None
    pow2_act: bool = False
    data: str | None = None
    seed: int = 0

    @classmethod
    def from_cli(cls, **kw) -> "CompressOptions":
        pq = kw.pop("pq", None)
        if pq is not None:
            try:
                m, k = (int(v) for v in pq.split(":"))
            except ValueError:
                raise HwqError(f"--pq {pq!r}: expected M:K, e.g. 4:32") from None
            kw["pq"] = (m, k)
        if kw.get("prune") is not None:
            kw["prune"] = parse_rates(kw["prune"])
        if kw.get("share_bits") is not None:
            kw["share_bits"] = parse_per_layer("--share-bits", kw["share_bits"], int)
        opts = cls(**kw)
        opts.check()
        return opts

    @property
    def scheme(self) -> str:
        chosen = [n for n, on in (("codebook", self.share_bits is not None), ("pow2", self.pow2_bits is not None),
                                  ("ternary", self.ternary), ("int8", self.int8), ("pq", self.pq is not None)) if on]
        if len(chosen) > 1:
            raise HwqError(f"choose one value scheme, not {' and '.join(chosen)}")
        return chosen[0] if chosen else "float32"

    def check(self) -> None:
        scheme = self.scheme
        rates = self.prune.values() if isinstance(self.prune, dict) else [self.prune]
        if self.prune is not None and not all(isinstance(r, (int, float)) and 0 <= r < 1 for r in rates):
            raise HwqError(f"--prune {self.prune}: rates must be in [0, 1)")
        if self.prune is not None and self.prune_quality is not None:
            raise HwqError("--prune and --prune-quality are alternatives; give one")
        bits = self.share_bits.values() if isinstance(self.share_bits, dict) else [self.share_bits]
        if self.share_bits is not None and not all(isinstance(b, int) and 1 <= b <= 8 for b in bits):
            raise HwqError(f"--share-bits {self.share_bits}: bits must be in [1, 8]")
        if self.pow2_bits is not None and not 2 <= self.pow2_bits <= 7:
            raise HwqError(f"--pow2 {self.pow2_bits}: must be in [2, 7]")
        if self.index_bits is not None and not 1 <= self.index_bits <= 16:
            raise HwqError(f"--index-bits {self.index_bits}: must be in [1, 16]")
        if self.pq is not None and (self.pq[0] < 1 or not 1 <= self.pq[1] <= 65536):
            raise HwqError(f"--pq {self.pq[0]}:{self.pq[1]}: M >= 1 and 1 <= K <= 65536")
        if scheme == "pq" and (self.pruning or self.sparse in ("csr", "csc")):
            raise HwqError("--pq is dense only: it cannot be combined with pruning or a sparse layout")
        if self.act_bits is not None and not 2 <= self.act_bits <= 16:
            raise HwqError(f"--act-bits {self.act_bits}: must be in [2, 16]")
        if self.retrain_epochs < 0:
            raise HwqError("--retrain-epochs must be >= 0")
        if (self.retrain_epochs or self.act_bits is not None) and self.data is None:
            raise HwqError("--retrain-epochs and --act-bits need a data set (--data digits)")
        if self.prune_quality is not None and not (math.isfinite(self.prune_quality) and self.prune_quality >= 0):
            raise HwqError(f"--prune-quality {self.prune_quality}: must be a finite number >= 0")
        if self.seed < 0:
            raise HwqError(f"--seed {self.seed}: must be >= 0")
        if scheme == "pow2" and self.act_bits is not None:
            # one product of a full-scale activation code and the largest weight code 2^span
            # must fit the signed 32-bit accumulator, or calibration can only fail at the end
            need = self.act_bits + pow2_span(self.pow2_bits)
            if need > 31:
                raise HwqError(f"--pow2 {self.pow2_bits} with --act-bits {self.act_bits}: one product of a "
                               f"full-scale activation and the largest weight 2^{pow2_span(self.pow2_bits)} "
                               f"needs {need + 1} bits, over the 32-bit accumulator (use --pow2 5 or less, "
                               "or leave activations float)")
        if self.pow2_act and self.act_bits is None:
            raise HwqError("--pow2-act needs --act-bits")
        if not self.lr > 0:
            raise HwqError("--lr must be positive")

    @property
    def pruning(self) -> bool:
        rates = self.prune.values() if isinstance(self.prune, dict) else [self.prune]
        return any(rates) or self.prune_quality is not None


@dataclass
class State:
    """The float view of a model under compression: weights, keep-masks, biases."""

    weights: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    biases: dict[str, np.ndarray | None]


def float_model(model: Model, st: State) -> Model:
    return with_float_weights(model, st.weights, st.biases)


def _retrain(model: Model, st: State, data, opts: CompressOptions, params: dict, epochs: int, log) -> None:
    from hwq.train.sgd import train

    if epochs <= 0 or data is None:
        return
    res = train(float_model(model, st), data.x_train, data.y_train, epochs=epochs, lr=opts.lr,
                seed=opts.seed, params=params, log=log)
    for name, p in res.params.items():
        st.weights[name] = np.asarray(p.value(), dtype=np.float64).copy()
    for name, b in res.biases.items():
        st.biases[name] = b.copy()


def _free(st: State, trainable: dict[str, np.ndarray]) -> dict:
    from hwq.train.params import FreeWeight

    return {n: FreeWeight(st.weights[n], trainable=trainable[n]) for n in st.weights}


def _prune(model, st, data, opts, log) -> None:
    for name, w in st.weights.items():
        if opts.prune_quality is not None:
            keep = prune_quality(w, opts.prune_quality)
        else:
            keep = prune_rate(w, for_layer(opts.prune, name, 0.0))
        st.masks[name] = keep
        st.weights[name] = np.where(keep, w, 0.0)
    _retrain(model, st, data, opts, _free(st, st.masks), opts.retrain_epochs, log)


def _layout(opts: CompressOptions, st: State, name: str) -> str | None:
    if opts.sparse == "none":
        return None
    if opts.sparse == "auto":
        return "csc" if not st.masks[name].all() else None
    return opts.sparse


def _share(model, st, data, opts, log) -> dict[str, dict]:
    """k-means per layer on the kept weights, then centroid fine-tuning (Deep Compression)."""
    from hwq.train.params import SharedWeight

    params, bits = {}, {}
    for name, w in st.weights.items():
        keep = st.masks[name]
        bits[name] = for_layer(opts.share_bits, name)
        if bits[name] is None:
            raise HwqError(f"--share-bits: no bits for layer {name} (name it or add *=BITS)")
        reserve_zero = _layout(opts, st, name) is not None or not keep.all()
        k = (1 << bits[name]) - (1 if reserve_zero else 0)  # index 0 = zero when sparse
        if k < 1:
            raise HwqError(f"--share-bits {bits[name]} ({name}): a sparse codebook needs 2^bits - 1 >= 1 values")
        if keep.any():
            centroids, labels = kmeans_1d(w[keep], k, init=opts.init, seed=opts.seed)
        else:  # everything pruned: a one-entry codebook that nothing uses
            centroids, labels = np.zeros(1), np.zeros(0, np.int64)
        idx = np.full(w.shape, -1, np.int64)
        idx[keep] = labels
        params[name] = SharedWeight(idx, centroids)
        st.weights[name] = params[name].value().copy()
    _retrain(model, st, data, opts, params, opts.retrain_epochs, log)
    return {n: {"values": "codebook", "centroids": p.centroids, "labels": p.indices,
                "bits": bits[n]} for n, p in params.items()}


def _pow2_values(w, bits, e_max):
    codes, e_min = quantize_pow2(w, bits, e_max)
    return pow2_decode(codes, bits, e_min)


def _incremental(model, st, data, opts, log, snap: dict[str, Callable[[np.ndarray], np.ndarray]]) -> None:
    """INQ/SLQ: freeze growing fractions of the weights on grid, retrain the rest."""
    frozen = {n: np.zeros(w.shape, bool) for n, w in st.weights.items()}
    steps = INCREMENTS if opts.retrain_epochs and data is not None else (1.0,)
    for frac in steps:
        for name, w in st.weights.items():
            keep = st.masks[name]
            free = keep & ~frozen[name]
            n_total, n_frozen = int(keep.sum()), int(frozen[name].sum())
            n_new = int(round(frac * n_total)) - n_frozen
            if n_new > 0:
                order = np.argsort(-np.abs(np.where(free, w, 0.0)).ravel(), kind="stable")[:n_new]
                frozen[name].ravel()[order] = True
            q = snap[name](w)
            st.weights[name] = np.where(frozen[name], q, np.where(keep, w, 0.0))
        if frac < 1.0:
            trainable = {n: st.masks[n] & ~frozen[n] for n in st.weights}
            _retrain(model, st, data, opts, _free(st, trainable), max(1, opts.retrain_epochs // 2), log)


def _pow2(model, st, data, opts, log) -> dict[str, dict]:
    bits = opts.pow2_bits
    e_max = {n: default_e_max(float(np.abs(w).max(initial=0.0))) for n, w in st.weights.items()}
    snap = {n: (lambda w, e=e_max[n]: _pow2_values(w, bits, e)) for n in st.weights}
    _incremental(model, st, data, opts, log, snap)
    return {n: {"values": "pow2", "bits": bits, "e_min": e_max[n] - pow2_span(bits)} for n in st.weights}


def _ternary(model, st, data, opts, log) -> dict[str, dict]:
    snap = {}
    for name, w in st.weights.items():
        _, s_pos, s_neg = quantize_ternary(w, mask=st.masks[name])
        snap[name] = lambda v, lv=(s_pos, s_neg), keep=st.masks[name]: _ternary_values(v, lv, keep)
    _incremental(model, st, data, opts, log, snap)
    # final weights sit exactly on {-s_n, 0, s_p}: encode with a zero threshold to keep them
    return {n: {"values": "ternary", "delta_ratio": 0.0, "mask_nonzero": True} for n in st.weights}


def _ternary_values(w, levels, keep):
    """Nearest of {-s_n, 0, +s_p} per weight (fixed levels, so frozen weights never move)."""
    s_pos, s_neg = levels
    cand = np.stack([np.zeros_like(w), np.full_like(w, s_pos), np.full_like(w, -s_neg)])
    pick = np.abs(cand - w[None]).argmin(axis=0)
    return np.where(keep, np.choose(pick, cand), 0.0)


def _pq(model, st, data, opts, log) -> dict[str, dict]:
    """Q-CNN product quantization, then codebook fine-tuning (when retraining)."""
    from hwq.compress.pq import product_quantize
    from hwq.train.params import PQWeight

    m, k = opts.pq
    params = {}
    for name, w in st.weights.items():
        # a layer whose input axis M does not divide (e.g. a 1-channel first conv) gets gcd(M, size)
        codebook, assignments = product_quantize(w, math.gcd(m, w.shape[1]), k, seed=opts.seed)
        params[name] = PQWeight(codebook, assignments, w.shape)
        st.weights[name] = params[name].value().copy()
    _retrain(model, st, data, opts, params, opts.retrain_epochs, log)
    return {n: {"values": "pq", "centroids": p.codebook, "labels": p.assignments,
                "bits": max(1, int(np.ceil(np.log2(p.codebook.shape[1]))))} for n, p in params.items()}


def _encode(model: Model, st: State, opts: CompressOptions, plans: dict[str, dict]) -> Model:
    encoded = {}
    for name in st.weights:
        w, keep = st.weights[name], st.masks[name]
        plan = dict(plans.get(name, {"values": opts.scheme}))
        values = plan.pop("values")
        sparse = _layout(opts, st, name)
        mask = None if sparse is None and keep.all() else keep
        if plan.pop("mask_nonzero", False):  # ternary zeros inside the kept set are zeros too
            mask = keep & (w != 0)
        kwargs = dict(values=values, sparse=sparse, index_bits=opts.index_bits or 4, seed=opts.seed)
        if values == "int8":
            kwargs.update(per_channel=True)
        elif values == "codebook":
            labels = plan.pop("labels")
            plan["labels"] = np.where(labels >= 0, labels, 0)
        kwargs.update(plan)
        encoded[name] = encode_weight(w, mask=mask, **kwargs)
    return with_weights(model, encoded, st.biases)


def compress_model(model: Model, opts: CompressOptions, data=None, log=None) -> Model:
    """The compressed model (quantized when ``opts.act_bits``); ``model`` is not modified."""
    opts.check()
    names = [l.name for l in model.weighted()]
    for option in ("prune", "share_bits"):
        table = getattr(opts, option)
        unknown = sorted(set(table) - set(names) - {"*"}) if isinstance(table, dict) else []
        if unknown:
            raise HwqError(f"--{option.replace('_', '-')}: no weighted layer named {unknown[0]!r} "
                           f"(layers: {', '.join(names)})")
    st = State(weights={l.name: l.weight.dense_float() for l in model.weighted()},
               masks={l.name: np.ones(l.weight.shape, bool) for l in model.weighted()},
               biases={l.name: None if l.bias is None else l.bias.astype(np.float64) for l in model.weighted()})
    base = float_model(model, st)
    if opts.pruning:
        _prune(base, st, data, opts, log)
    scheme = opts.scheme
    # schemes with a quantize-and-retrain step; int8 and float32 encode the weights directly
    quantize = {"codebook": _share, "pow2": _pow2, "ternary": _ternary, "pq": _pq}.get(scheme)
    plans = quantize(base, st, data, opts, log) if quantize else {}
    out = _encode(base, st, opts, plans)
    if opts.act_bits is not None:
        x = data.x_train[:CALIBRATION_SAMPLES].reshape((-1,) + tuple(out.inputs[0].shape))
        out = calibrate(out, x, act_bits=opts.act_bits, pow2_scales=opts.pow2_act)
    # one-shot schemes (int8, float32) only retrain after pruning
    retrained = opts.retrain_epochs and (opts.pruning or scheme in ("codebook", "pow2", "ternary", "pq"))
    steps = [s for s in (f"prune {opts.prune}" if opts.prune is not None and opts.pruning else None,
                         f"prune_quality {opts.prune_quality}" if opts.prune_quality is not None else None,
                         scheme, f"retrain {opts.retrain_epochs}" if retrained else None,
                         f"act_bits {opts.act_bits}" if opts.act_bits else None) if s]
    out.provenance = {**model.provenance, "compress": steps}
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
        if y.size and int(y.max()) >= n_out:
            raise HwqError(f"--data {name}: {part} holds label {int(y.max())}, but the model has "
                           f"{n_out} outputs (labels must be 0..{n_out - 1})")
    if int(np.prod(shape)) != d.x_train.shape[1]:
        raise HwqError(f"--data {name}: the model input {list(shape)} does not take "
                       f"{d.x_train.shape[1]} values per sample")
    return d


def summary(model: Model, data) -> dict:
    from hwq.train.evaluate import accuracy

    total = sum((layer_storage(l) for l in model.weighted()), StorageBits())
    row = {"bits": total.total, "rate": compression_rate(total), "rate_huffman": compression_rate(total, True)}
    if data is not None:
        row["acc_float"] = accuracy(model, data.x_test, data.y_test, "float")
        row["acc_int"] = accuracy(model, data.x_test, data.y_test, "int") if model.is_quantized else None
    return row


def _refuse_empty_layers(model: Model, opts: CompressOptions) -> None:
    """A quality threshold above every |w| of a layer leaves nothing to store or run: refuse it
    up front (the library still encodes such layers; the command will not write them)."""
    if opts.prune_quality is None:
        return
    for layer in model.weighted():
        if layer.weight.size and not prune_quality(layer.weight.dense_float(), opts.prune_quality).any():
            raise HwqError(f"--prune-quality {opts.prune_quality}: prunes every weight of layer "
                           f"{layer.name}; give a lower quality")


def compress_file(src: str, dst: str, opts: CompressOptions, echo=print) -> str:
    from hwq import ir

    from hwq.ir.atomic import check_output, refuse_inputs

    check_output(dst)  # fail before any work, not after it
    refuse_inputs(dst, [src, opts.data if opts.data != "digits" else None])
    model = load_any(src)
    _refuse_empty_layers(model, opts)
    data = load_data(opts.data, model)
    before = summary(model, data)
    t0 = time.perf_counter()
    out = compress_model(model, opts, data, log=lambda s: echo(f"  retrain {s}"))
    after = summary(out, data)
    ir.save(out, dst)
    lines = [f"wrote {dst} in {time.perf_counter() - t0:.1f} s",
             f"{'':8}{'storage':>12}{'vs float32':>12}{'(+Huffman)':>12}{'acc float':>11}{'acc int':>9}"]
    for label, r in (("before", before), ("after", after)):
        acc_f = f"{r['acc_float']:.4f}" if r.get("acc_float") is not None else "-"
        acc_i = f"{r['acc_int']:.4f}" if r.get("acc_int") is not None else "-"
        lines.append(f"{label:8}{(r['bits'] + 7) // 8:>10} B{_times(r['rate']):>12}{_times(r['rate_huffman']):>12}"
                     f"{acc_f:>11}{acc_i:>9}")
    return "\n".join(lines)


def _times(rate: float) -> str:
    return f"{1 / rate:.1f}x" if rate > 0 else "-"
