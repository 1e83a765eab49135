"""``hwq compress --method NAME`` options: one dataclass for every method's parameters.

The click options are declared here (``method_options``) so that the compress command in
``hwq/cli.py`` only needs one decorator and one branch. Options the command already has
(``--prune``, ``--share-bits``, ``--init``, ``--index-bits``, ``--retrain-epochs``, ``--lr``,
``--act-bits``, ``--pow2-act``, ``--data``, ``--seed``) keep their meaning and are read from
there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import click

from hwq.compress.run_options import check_run_options
from hwq.errors import HwqError

METHOD_NAMES = ("deep-compression", "qcnn", "slq", "eslq", "mlq", "ttq", "sqs", "qp-codec")

# the compress command's own options a method may read
SHARED = ("prune", "prune_quality", "prune_steps", "share_bits", "init", "index_bits", "value_bits", "scheme", "pq",
          "retrain_epochs", "lr", "act_bits", "pow2_act", "data", "calib", "calib_samples", "seed", "sparse")
# the compress command's value schemes that no method takes: a method chooses its own values
SCHEMES = {"pow2_bits": "--pow2", "ternary": "--ternary", "int8": "--int8"}
# the options every method reads; READS: the others, per method. An option a method does not
# read, given with a value other than its default, is refused in one line (never ignored).
EVERY = {"method", "retrain_epochs", "lr", "act_bits", "pow2_act", "data", "calib", "calib_samples", "seed"}
_SLQ = {"wbits", "partition", "order", "score_samples", "value_bits", "init"}
READS = {
    "deep-compression": {"prune", "prune_quality", "prune_steps", "share_bits", "init", "index_bits",
                         "value_bits", "sparse"},
    "qcnn": {"scheme", "pq", "pq_dim", "pq_k", "value_bits", "ec", "ec_samples", "ec_sweeps"},
    "slq": _SLQ,
    "eslq": _SLQ | {"beta", "t_centroids"},
    "mlq": {"scheme", "only", "partition", "score_samples"},
    "ttq": {"scheme", "only"},
    "sqs": {"target_ratio", "max_accuracy_drop", "score_samples", "index_bits", "value_bits"},
    "qp-codec": {"scheme", "only", "qp", "transform", "bitstream"},
}
# Run settings a method picks when they are not given (None in MethodParams): the plain
# pipeline's defaults, except Deep Compression's measured recipe (docs/methods/deep-compression.md:
# 5 prune rounds of 10 epochs at the float training's lr 0.05 keep the digits MLP at its float
# accuracy at LeNet-300-100's rates; 1 round of 4 epochs at lr 0.01 lost 3.6 points). Epochs and
# rounds need data to train on; rounds need --prune rates.
RUN_DEFAULTS = {"retrain_epochs": 0, "lr": 0.01, "prune_steps": 1}
METHOD_RUN_DEFAULTS = {"deep-compression": {"retrain_epochs": 10, "lr": 0.05, "prune_steps": 5}}
# --scheme with a method: each layer's entry is "float" (left float) or the method's own kind
NATIVE = {"qcnn": "pq", "mlq": "ternary", "ttq": "ternary", "qp-codec": None}


def _per_layer(option: str, cast):
    def parse(ctx, param, value):
        if value is None:
            return None
        from hwq.compress.pipeline import parse_per_layer

        return parse_per_layer(option, value, cast)
    return parse


def _int_or_float(v: str):
    return "float" if v.strip() == "float" else int(v)


_OPTIONS = [
    click.option("--method", type=click.Choice(METHOD_NAMES), default=None,
                 help="A complete seed method instead of the step options (docs/methods/NAME.md)."),
    click.option("--pq-dim", callback=_per_layer("--pq-dim", _int_or_float), default=None,
                 help="qcnn: old spelling of --pq DIM:K / --scheme NAME=pq:DIM:K: sub-vector dimension C's "
                      "(per layer too: fc1=16,*=1; 'float' leaves a layer)."),
    click.option("--pq-k", callback=_per_layer("--pq-k", int), default=None,
                 help="qcnn: old spelling, with --pq-dim: sub-codewords K per subspace (per layer too)."),
    click.option("--ec", type=click.Choice(["none", "single", "multi"]), default="multi", show_default=True,
                 help="qcnn: error correction: none (plain PQ), single-layer or multi-layer."),
    click.option("--ec-samples", type=int, default=2000, show_default=True,
                 help="qcnn: training images for error correction (at most the training set)."),
    click.option("--ec-sweeps", type=int, default=8, show_default=True,
                 help="qcnn: block-coordinate sweeps over the subspaces."),
    click.option("--bits", "wbits", callback=_per_layer("--bits", int), default=None,
                 help="slq/eslq: weight bits b, 2^(b-1)+1 levels including zero (default 5)."),
    click.option("--partition", default=None,
                 help="slq/eslq: clusters quantized per step, e.g. 2,2,1 (default: the paper's for b); mlq: layers per ILC step."),
    click.option("--order", type=click.Choice(["loss", "magnitude"]), default="loss", show_default=True,
                 help="slq/eslq: quantize clusters by loss-based partition (eq. 1) or INQ's magnitude order."),
    click.option("--beta", type=float, default=None, help="eslq: pull of the t-centroids (eq. 6)."),
    click.option("--t-centroids", type=click.Choice(["pow2", "sci"]), default="pow2", show_default=True,
                 help="eslq: power-of-two or two-significant-figure target centroids."),
    click.option("--score-samples", type=int, default=500, show_default=True,
                 help="slq/eslq/mlq/sqs: training images for the loss-based scores."),
    click.option("--qp", callback=_per_layer("--qp", lambda v: "float" if v.strip() == "float" else float(v)),
                 default=None, help="qp-codec: quantization parameter (step = QP * 2^-16; per layer too, "
                                    "'float' leaves a layer: fc2=8192,*=float)."),
    click.option("--transform", type=click.Choice(["none", "dct"]), default="none", show_default=True,
                 help="qp-codec: transform stage before quantization."),
    click.option("--only", default=None,
                 help="qp-codec/mlq/ttq: compress only these layers (comma list; the rest stay float): "
                      "the old spelling of --scheme fc1=float,... ."),
    click.option("--bitstream", type=click.Path(dir_okay=False), default=None,
                 help="qp-codec: also write the entropy-coded bitstream here."),
    click.option("--target-ratio", type=float, default=None, help="sqs: SQS compression ratio to reach."),
    click.option("--max-accuracy-drop", type=float, default=None,
                 help="sqs: largest accuracy drop allowed, in points."),
]
OWN = ("method", "pq_dim", "pq_k", "ec", "ec_samples", "ec_sweeps", "wbits", "partition", "order", "beta",
       "t_centroids", "score_samples", "qp", "transform", "only", "bitstream", "target_ratio",
       "max_accuracy_drop")


def method_options(fn):
    """Decorate the compress command with every method option."""
    for opt in reversed(_OPTIONS):
        fn = opt(fn)
    return fn


@dataclass
class MethodParams:
    method: str
    pq_dim: object = None
    pq_k: object = None
    ec: str = "multi"
    ec_samples: int = 2000
    ec_sweeps: int = 8
    wbits: object = None
    partition: str | None = None
    order: str = "loss"
    beta: float | None = None
    t_centroids: str = "pow2"
    score_samples: int = 500
    qp: object = None
    transform: str = "none"
    only: str | None = None
    bitstream: str | None = None
    target_ratio: float | None = None
    max_accuracy_drop: float | None = None
    prune_steps: int | None = None  # None: RUN_DEFAULTS / METHOD_RUN_DEFAULTS
    # the compress command's own options (per-layer ones as a scalar or {pattern: value})
    prune: object = None
    prune_quality: float | None = None
    share_bits: object = None
    init: str | None = None  # slq/eslq: exp (the paper's); deep-compression: linear
    index_bits: object = None
    value_bits: object = None
    scheme: object = None  # Scheme or {pattern: Scheme}: "float" or the method's own kind per layer
    pq: str | None = None  # qcnn: "DIM:K", shorthand for --scheme *=pq:DIM:K
    calib: str | None = None
    calib_samples: int = 512
    retrain_epochs: int | None = None  # None: RUN_DEFAULTS / METHOD_RUN_DEFAULTS
    lr: float | None = None  # None: likewise
    act_bits: int | None = None
    pow2_act: bool = False
    data: str | None = None
    seed: int = 0
    sparse: str = "auto"

    def __post_init__(self) -> None:
        """Fill the run settings not given with the method's defaults (RUN_DEFAULTS)."""
        own = METHOD_RUN_DEFAULTS.get(self.method, {})
        if self.lr is None:
            self.lr = own.get("lr", RUN_DEFAULTS["lr"])
        if self.retrain_epochs is None:
            self.retrain_epochs = own.get("retrain_epochs", 0) if self.data is not None else 0
        if self.prune_steps is None:
            rounds = self.retrain_epochs and self.prune is not None and self.prune_quality is None
            self.prune_steps = own.get("prune_steps", 1) if rounds else 1

    def check(self) -> None:
        def values(v):
            return list(v.values()) if isinstance(v, dict) else [v]
        if self.ec_samples < 1 or self.ec_sweeps < 0 or self.score_samples < 1:
            raise HwqError("--ec-samples and --score-samples must be >= 1, --ec-sweeps >= 0")
        if self.wbits is not None and not all(2 <= b <= 8 for b in values(self.wbits)):
            raise HwqError(f"--bits {self.wbits}: bits must be in [2, 8]")
        if self.pq_k is not None and not all(1 <= k <= 65536 for k in values(self.pq_k)):
            raise HwqError(f"--pq-k {self.pq_k}: K must be in [1, 65536]")
        if self.pq_dim is not None and not all(d == "float" or d >= 1 for d in values(self.pq_dim)):
            raise HwqError(f"--pq-dim {self.pq_dim}: dimensions must be >= 1 (or 'float')")
        if self.value_bits is not None and not all(2 <= b <= 32 for b in values(self.value_bits)):
            raise HwqError(f"--value-bits {self.value_bits}: bits must be in [2, 32]")
        if self.index_bits is not None and not all(1 <= b <= 16 for b in values(self.index_bits)):
            raise HwqError(f"--index-bits {self.index_bits}: bits must be in [1, 16]")
        if self.share_bits is not None and not all(1 <= b <= 8 for b in values(self.share_bits)):
            raise HwqError(f"--share-bits {self.share_bits}: bits must be in [1, 8]")
        if self.prune is not None and not all(0 <= r < 1 for r in values(self.prune)):
            raise HwqError(f"--prune {self.prune}: rates must be in [0, 1)")
        if self.qp is not None and not all(q == "float" or q > 0 for q in values(self.qp)):
            raise HwqError(f"--qp {self.qp}: QP must be positive")
        if self.beta is not None and not self.beta >= 0:
            raise HwqError(f"--beta {self.beta}: must be >= 0")
        if self.target_ratio is not None and not self.target_ratio > 1:
            raise HwqError(f"--target-ratio {self.target_ratio}: must be > 1")
        if self.max_accuracy_drop is not None and not self.max_accuracy_drop >= 0:
            raise HwqError(f"--max-accuracy-drop {self.max_accuracy_drop}: must be >= 0")
        if self.prune_steps < 1:
            raise HwqError("--prune-steps must be >= 1")
        check_run_options(self)


_DEFAULTS = {f.name: f.default for f in fields(MethodParams)}


def _flag(key: str) -> str:
    return {"wbits": "--bits", "pow2_bits": "--pow2"}.get(key, "--" + key.replace("_", "-"))


def split_method_options(opts: dict) -> MethodParams | None:
    """Pop the method options from the compress command's ``opts``; None without --method.

    A method option given without --method, a value scheme given with one, or an option the
    method does not read is an error. The common spellings (``--scheme``, ``--pq DIM:K``,
    ``--index-bits``, ``--value-bits``) are resolved here; the old ones (``--pq-dim``/``--pq-k``,
    ``--only``) are aliases, and giving both spellings is an error.
    """
    own = {k: opts.pop(k) for k in OWN if k in opts}
    method = own.get("method")
    if method is None:
        changed = [k for k, v in own.items() if k != "method" and v != _DEFAULTS[k]]
        if changed:
            raise HwqError(f"{_flag(changed[0])} belongs to a method: add --method NAME")
        return None
    for key, flag in SCHEMES.items():
        if opts.get(key) not in (None, False):
            raise HwqError(f"--method {method} chooses its own values: drop {flag}")
    shared = {k: opts[k] for k in SHARED if k in opts}
    given = {**own, **shared}
    for key, v in given.items():
        if key not in EVERY and key not in READS[method] and v != _DEFAULTS.get(key):
            raise HwqError(f"{_flag(key)} does not apply to --method {method} (docs/methods/{method}.md)")
    from hwq.compress.plan import Scheme, parse_per_layer

    for key, cast in (("prune", float), ("share_bits", int), ("index_bits", int), ("value_bits", int),
                      ("scheme", Scheme.parse)):
        if isinstance(shared.get(key), str):
            shared[key] = parse_per_layer(_flag(key), shared[key], cast)
    p = MethodParams(**own, **shared)
    _resolve_scheme(p)
    p.check()
    return p


def _entries(table) -> dict:
    return table if isinstance(table, dict) else {"*": table}


def _resolve_scheme(p: MethodParams) -> None:
    """``--scheme`` / ``--pq`` against the method's own spellings (one of them, not both)."""
    from hwq.compress.plan import Scheme

    if p.pq is not None:
        try:
            dim, k = (int(v) for v in p.pq.split(":"))
        except ValueError:
            raise HwqError(f"--pq {p.pq!r}: expected DIM:K, e.g. 4:32") from None
        table = dict(_entries(p.scheme)) if p.scheme is not None else {}
        if "*" in table:
            raise HwqError("--pq DIM:K is --scheme *=pq:DIM:K, and the --scheme has a *= entry already")
        table["*"] = Scheme("pq", dim=dim, k=k)
        p.scheme = table["*"] if set(table) == {"*"} else table
    if p.scheme is None:
        return
    native = NATIVE[p.method]
    for key, sch in _entries(p.scheme).items():
        if sch.kind != "float" and sch.kind != native:
            allowed = "float" + (f" or {native}" + (":DIM:K" if native == "pq" else "") if native else "")
            raise HwqError(f"--scheme {key}={sch}: --method {p.method} takes {allowed} per layer")
        sch.check(f"--scheme {key}")
    if p.method == "qcnn":
        if p.pq_dim is not None or p.pq_k is not None:
            raise HwqError("--pq-dim/--pq-k are the old spelling of --pq DIM:K / --scheme NAME=pq:DIM:K: give one")
        t = _entries(p.scheme)
        p.pq_dim = {n: ("float" if s.kind == "float" else s.dim) for n, s in t.items()}
        p.pq_k = {n: s.k for n, s in t.items() if s.kind != "float"}
        p.pq_dim, p.pq_k = (v["*"] if set(v) == {"*"} else v for v in (p.pq_dim, p.pq_k))
        if p.pq_k == {}:
            p.pq_k = None
    elif p.only is not None:
        raise HwqError("--only is the old spelling of --scheme NAME=float,...: give one")


def chosen_layers(model, p: MethodParams) -> list[str]:
    """The weighted layers the method compresses: not ``float`` in ``--scheme`` (or in ``--qp``),
    and named by ``--only`` when that is given; the others stay float."""
    from hwq.compress.plan import check_table, for_layer

    names = [l.name for l in model.weighted()]
    keep = names
    if p.only is not None:
        only = [s.strip() for s in p.only.split(",") if s.strip()]
        bad = [n for n in only if n not in names]
        if bad:
            raise HwqError(f"--only: no weighted layer named {bad[0]!r} (layers: {', '.join(names)})")
        keep = [n for n in names if n in only]
    if p.scheme is not None:
        check_table("--scheme", p.scheme, names)
        keep = [n for n in keep if getattr(for_layer(p.scheme, n), "kind", None) != "float"]
    return keep


def value_bits(p: MethodParams, name: str) -> int:
    """``--value-bits`` for layer ``name`` (codebook, PQ codeword and ternary magnitude width)."""
    from hwq.compress.plan import DEFAULT_VALUE_BITS, for_layer

    return int(for_layer(p.value_bits, name, DEFAULT_VALUE_BITS))
