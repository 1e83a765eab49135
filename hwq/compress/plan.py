"""The compression plan: every ``hwq compress`` option resolved once, per layer, and checked up front.

``CompressOptions`` (hwq/compress/pipeline.py) holds what the user typed; :func:`build_plan`
turns it, together with the model, into a :class:`Plan`: one :class:`LayerPlan` per weighted
layer (scheme, bits, pruning, layout, index and value bits, k-means initialisation) plus the
run-wide settings (retraining, activations, data, seed) and the list of phases that will run.
Every range and combination is checked here, before any work, so a stage never meets an
invalid setting. Each stage (``hwq/compress/stages/``) reads the plan, never the options.

Per-layer values are written ``fc1=0.9,conv*=0.7,*=0.8``: a layer takes the entry with its
exact name, else the first glob pattern (``fnmatch``) that matches it, else ``*``. An exact
name that is not a weighted layer, or a pattern that matches none, is an error.

Schemes (``--scheme``; the flags ``--share-bits``, ``--pow2``, ``--ternary``, ``--int8`` and
``--pq`` are shorthands for ``*=`` entries):

========================  =============================================================
``float``                 leave the weight float32 (int8 when activations are quantized)
``int8``                  symmetric per-channel int8
``codebook:B``            k-means weight sharing, 2^B entries (Deep Compression)
``pow2:B``                power-of-two codes of B bits, incremental (INQ)
``ternary``               {-s_n, 0, +s_p} with TWN's threshold, incremental
``pq:DIM:K``              Q-CNN product quantization: sub-vectors of DIM inputs, K
                          sub-codewords per subspace; M = inputs / DIM subspaces
========================  =============================================================
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field

from hwq.errors import HwqError

SCHEME_KINDS = ("float", "int8", "codebook", "pow2", "ternary", "pq")
INCREMENTAL = ("pow2", "ternary")  # quantized in growing fractions with retraining between
CLUSTERED = ("codebook", "pq")  # clustered once, then codebooks fine-tuned when retraining
DEFAULT_INDEX_BITS = {"dense": 4, "conv": 5}  # Deep Compression: 4-bit fc, 5-bit conv indices
DEFAULT_VALUE_BITS = 16
INITS = ("linear", "density", "forgy")
SPARSE = ("auto", "csc", "csr", "none")
ACC_BITS = 32


# ---------------------------------------------------------------------------- per-layer tables


def parse_per_layer(option: str, text: str, cast):
    """``0.9`` -> 0.9; ``fc1=0.9,fc3=0.7,*=0.8`` -> {"fc1": 0.9, "fc3": 0.7, "*": 0.8}.

    Deep Compression sets pruning rates and codebook sizes per layer (e.g. 8-bit codebooks
    for convs, 5-bit for FC layers); "*" stands for every layer not named.
    """
    table: dict = {}
    for part in str(text).split(","):
        name, _, value = part.rpartition("=")
        try:
            table[name.strip() or "*"] = cast(value.strip())
        except (ValueError, HwqError):
            raise HwqError(f"{option} {text!r}: expected a value like {_example(option)} "
                           f"or fc1=...,*=...") from None
    return table["*"] if set(table) == {"*"} else table


def _example(option: str) -> str:
    return {"--scheme": "codebook:5", "--prune": "0.9"}.get(option, "5")


def _is_pattern(key: str) -> bool:
    return any(c in key for c in "*?[")


def for_layer(value, layer: str, default=None):
    """A per-layer option's value for ``layer``: the scalar, its exact entry, a glob, or "*"."""
    if not isinstance(value, dict):
        return default if value is None else value
    if layer in value:
        return value[layer]
    for key, v in value.items():
        if key != "*" and _is_pattern(key) and fnmatch.fnmatchcase(layer, key):
            return v
    return value.get("*", default)


def check_table(option: str, value, names: list[str]) -> None:
    """Every exact name is a weighted layer and every pattern matches one."""
    if not isinstance(value, dict):
        return
    for key in value:
        if key == "*":
            continue
        hit = any(fnmatch.fnmatchcase(n, key) for n in names) if _is_pattern(key) else key in names
        if not hit:
            raise HwqError(f"{option}: no weighted layer {'matches' if _is_pattern(key) else 'named'} "
                           f"{key!r} (layers: {', '.join(names)})")


# ---------------------------------------------------------------------------- schemes


@dataclass(frozen=True)
class Scheme:
    """One layer's value scheme; ``str(scheme)`` is its ``--scheme`` spelling."""

    kind: str
    bits: int | None = None  # codebook: index bits (2^bits entries); pow2: code bits
    dim: int | None = None  # pq: sub-vector dimension C's
    k: int | None = None  # pq: sub-codewords per subspace

    @classmethod
    def parse(cls, text: str) -> "Scheme":
        parts = str(text).strip().split(":")
        kind, args = parts[0], parts[1:]
        if kind == "float32":
            kind = "float"
        want = {"float": 0, "int8": 0, "ternary": 0, "codebook": 1, "pow2": 1, "pq": 2}
        if kind not in want:
            raise HwqError(f"scheme {text!r}: not one of float, int8, ternary, codebook:B, pow2:B, pq:DIM:K")
        if len(args) != want[kind]:
            raise HwqError(f"scheme {text!r}: {kind} takes {want[kind]} number(s) after ':'")
        try:
            nums = [int(a) for a in args]
        except ValueError:
            raise HwqError(f"scheme {text!r}: expected integers after ':'") from None
        if kind == "pq":
            return cls(kind, dim=nums[0], k=nums[1])
        return cls(kind, bits=nums[0] if nums else None)

    def __str__(self) -> str:
        if self.kind == "pq":
            return f"pq:{self.dim}:{self.k}"
        return f"{self.kind}:{self.bits}" if self.bits is not None else self.kind

    def check(self, where: str) -> None:
        if self.kind == "codebook" and not 1 <= self.bits <= 8:
            raise HwqError(f"{where}: codebook bits {self.bits} not in [1, 8]")
        if self.kind == "pow2" and not 2 <= self.bits <= 7:
            raise HwqError(f"{where}: pow2 bits {self.bits} not in [2, 7]")
        if self.kind == "pq" and (self.dim < 1 or not 1 <= self.k <= 65536):
            raise HwqError(f"{where}: pq:{self.dim}:{self.k} needs DIM >= 1 and 1 <= K <= 65536")


# ---------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class LayerPlan:
    """What happens to one weighted layer."""

    name: str
    kind: str  # "dense" or "conv"
    shape: tuple[int, ...]  # the weight's logical shape (out, in[, kh, kw])
    scheme: Scheme
    prune_rate: float = 0.0  # keep the largest 1 - rate fraction; or, when set,
    prune_quality: float | None = None  # keep |w| > quality * std(w)
    sparse: str = "auto"  # auto (CSC when pruned and smaller than dense), csc, csr, none
    index_bits: int = 4  # relative-index bits of the sparse layout
    value_bits: int = DEFAULT_VALUE_BITS  # codebook / pq codeword width
    init: str = "linear"  # k-means initialisation

    @property
    def pruning(self) -> bool:
        return self.prune_rate > 0 or self.prune_quality is not None

    @property
    def inputs(self) -> int:
        """The axis product quantization splits: in_features or in_channels."""
        return self.shape[1]


@dataclass(frozen=True)
class Plan:
    """Every layer's plan plus the run-wide settings, in model order."""

    layers: tuple[LayerPlan, ...]
    retrain_epochs: int = 0
    lr: float = 0.01
    seed: int = 0
    act_bits: int | None = None
    pow2_act: bool = False
    data: str | None = None
    prune_steps: int = 1  # rounds of prune + retrain; round s prunes to 1 - (1 - rate)^(s / steps)
    phases: tuple[str, ...] = field(default=())

    def __iter__(self):
        return iter(self.layers)

    def layer(self, name: str) -> LayerPlan:
        return next(lp for lp in self.layers if lp.name == name)

    def with_scheme(self, *kinds: str) -> list[LayerPlan]:
        return [lp for lp in self.layers if lp.scheme.kind in kinds]

    @property
    def pruning(self) -> bool:
        return any(lp.pruning for lp in self.layers)

    @property
    def retrains(self) -> bool:
        return self.retrain_epochs > 0 and self.data is not None

    def provenance(self) -> dict:
        """Every step and parameter, for the output model's provenance (JSON-safe)."""
        layers = {}
        for lp in self.layers:
            row = {k: v for k, v in asdict(lp).items() if k not in ("name", "kind", "shape", "scheme")}
            row["scheme"] = str(lp.scheme)
            if not lp.pruning:
                row.pop("prune_rate"), row.pop("prune_quality")
            elif lp.prune_quality is None:
                row.pop("prune_quality")
            if lp.scheme.kind not in CLUSTERED:
                row.pop("value_bits"), row.pop("init")
            layers[lp.name] = row
        return {"phases": list(self.phases), "layers": layers, "seed": self.seed, "lr": self.lr,
                "prune_steps": self.prune_steps,
                "retrain_epochs": self.retrain_epochs, "act_bits": self.act_bits, "pow2_act": self.pow2_act,
                "data": self.data}


def _phases(plan_layers: list[LayerPlan], epochs: int, retrains: bool, act_bits, pow2_act,
            prune_steps: int = 1) -> tuple[str, ...]:
    out = []
    pruned = [lp.name for lp in plan_layers if lp.pruning]
    if pruned:
        for s in range(1, prune_steps + 1):
            rounds = f" (round {s}/{prune_steps})" if prune_steps > 1 else ""
            out.append(f"prune {','.join(pruned)}{rounds}")
            if retrains:
                out.append(f"retrain {epochs} epochs after pruning{rounds}")
    by_kind: dict[str, list[str]] = {}
    for lp in plan_layers:
        by_kind.setdefault(str(lp.scheme), []).append(lp.name)
    quantized = {s: n for s, n in by_kind.items() if not s.startswith(("float", "int8"))}
    for s, names in quantized.items():
        out.append(f"quantize {s} {','.join(names)}")
    incremental = [lp.name for lp in plan_layers if lp.scheme.kind in INCREMENTAL]
    clustered = [lp.name for lp in plan_layers if lp.scheme.kind in CLUSTERED]
    if incremental:
        if retrains:
            out.append(f"incremental quantization of {','.join(incremental)}: 3 rounds of "
                       f"{max(1, epochs // 2)} epochs retraining the rest, then the last fraction")
    if clustered and retrains:
        out.append(f"retrain {epochs} epochs: codebook fine-tuning of {','.join(clustered)}")
    out.append("encode")
    if act_bits is not None:
        out.append(f"calibrate {act_bits}-bit activations{' (power-of-two scales)' if pow2_act else ''}")
    return tuple(out)


def build_plan(model, opts) -> Plan:
    """Resolve ``opts`` (CompressOptions) for every weighted layer of ``model`` and check it all."""
    from hwq.compress.pow2 import pow2_span

    layers = model.weighted()
    names = [l.name for l in layers]
    schemes = opts.scheme_table()
    for option, table in (("--prune", opts.prune), ("--scheme", schemes), ("--index-bits", opts.index_bits),
                          ("--value-bits", opts.value_bits)):
        check_table(option, table, names)
    out = []
    for layer in layers:
        kind = "conv" if layer.KIND == "conv2d" else "dense"
        scheme = for_layer(schemes, layer.name, Scheme("float"))
        scheme.check(f"--scheme ({layer.name})")
        lp = LayerPlan(
            name=layer.name, kind=kind, shape=tuple(int(d) for d in layer.weight.shape), scheme=scheme,
            prune_rate=float(for_layer(opts.prune, layer.name, 0.0)) if opts.prune_quality is None else 0.0,
            prune_quality=opts.prune_quality, sparse=opts.sparse,
            index_bits=int(for_layer(opts.index_bits, layer.name, DEFAULT_INDEX_BITS[kind])),
            value_bits=int(for_layer(opts.value_bits, layer.name, DEFAULT_VALUE_BITS)), init=opts.init)
        _check_layer(lp, opts, pow2_span)
        out.append(lp)
    retrains = opts.retrain_epochs > 0 and opts.data is not None
    return Plan(layers=tuple(out), retrain_epochs=opts.retrain_epochs, lr=opts.lr, seed=opts.seed,
                act_bits=opts.act_bits, pow2_act=opts.pow2_act, data=opts.data, prune_steps=opts.prune_steps,
                phases=_phases(out, opts.retrain_epochs, retrains, opts.act_bits, opts.pow2_act, opts.prune_steps))


def _check_layer(lp: LayerPlan, opts, pow2_span) -> None:
    where = lp.name
    if not 0 <= lp.prune_rate < 1:
        raise HwqError(f"--prune {lp.prune_rate} ({where}): rates must be in [0, 1)")
    if not 1 <= lp.index_bits <= 16:
        raise HwqError(f"--index-bits {lp.index_bits} ({where}): must be in [1, 16]")
    if not 2 <= lp.value_bits <= 32:
        raise HwqError(f"--value-bits {lp.value_bits} ({where}): must be in [2, 32]")
    s = lp.scheme
    if s.kind == "pq":
        if lp.pruning or lp.sparse in ("csr", "csc"):
            raise HwqError(f"--scheme {s} ({where}): product quantization is dense only: it cannot be "
                           "combined with pruning or a sparse layout")
        if lp.inputs % s.dim:
            raise HwqError(f"--scheme {s} ({where}): sub-vector dimension {s.dim} does not divide the "
                           f"layer's {lp.inputs} inputs (divisors: {_divisors(lp.inputs)})")
    if s.kind == "pow2" and opts.act_bits is not None:
        # one product of a full-scale activation code and the largest weight code 2^span must
        # fit the signed accumulator, or calibration can only fail at the very end
        span = pow2_span(s.bits)
        need = opts.act_bits + span
        if need > ACC_BITS - 1:
            raise HwqError(f"--pow2 {s.bits} with --act-bits {opts.act_bits} ({where}): one product of a "
                           f"full-scale activation and the largest weight 2^{span} needs {need + 1} bits, "
                           f"over the {ACC_BITS}-bit accumulator (use --pow2 5 or less, or leave "
                           "activations float)")


def _divisors(n: int) -> str:
    small = [d for d in range(1, min(n, 4096) + 1) if n % d == 0]
    return ", ".join(map(str, small[:12])) + (", ..." if len(small) > 12 else "")


def pq_subspaces(lp: LayerPlan) -> int:
    """Q-CNN's M = C_s / C's for a ``pq:DIM:K`` layer."""
    return lp.inputs // lp.scheme.dim


def codebook_size(lp: LayerPlan, reserve_zero: bool) -> int:
    """k-means clusters of a codebook layer: 2^bits, one fewer when index 0 is the zero."""
    return (1 << lp.scheme.bits) - (1 if reserve_zero else 0)

