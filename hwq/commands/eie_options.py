"""Accelerator options shared by ``hwq gen-rtl`` and ``hwq simulate``: --config, --n-pe, ..."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hwq.eie.config import EieConfig, parse_params
from hwq.eie.mapping import pow2_codes, ternary_table
from hwq.errors import HwqError, IRError
from hwq.ir.layers import Dense


def accelerator_options(fn):
    opts = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="JSON file of accelerator parameters (docs/eie.md)."),
        click.option("--n-pe", type=int, default=None, help="Processing elements (default 4)."),
        click.option("--fifo-depth", type=int, default=None, help="Activation FIFO depth (default 8)."),
        click.option("--weight-mode", type=click.Choice(["pow2", "codebook", "ternary", "auto"]), default="auto",
                     show_default=True, help="auto: ternary when every layer has one positive and one "
                     "negative weight value, else pow2 when every weight is a power of two, else codebook."),
        click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="Any other parameter of docs/eie.md, e.g. --param act_depth=512."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _all_fit(model, fits) -> bool:
    """Does ``fits(w_int of a dense layer)`` hold (no HwqError) for every integer dense layer?"""
    for layer in model.weighted():
        if not isinstance(layer, Dense) or layer.weight is None or not layer.weight.is_integer:
            continue
        try:
            fits(layer.weight.values.int_values() if layer.weight.values.ELEMENTWISE
                 else layer.weight.dense_int().reshape(-1))
        except HwqError:
            return False
    return True


def _auto_mode(model, cfg: EieConfig) -> str:
    """ternary when every layer has at most one positive and one negative weight value, else pow2
    when every weight is a power of two, else codebook (docs/eie.md)."""
    if model is None:
        return "codebook"
    tern = cfg.replace(weight_mode="ternary", value_bits=24)
    if _all_fit(model, lambda w: ternary_table(w, tern, "")):
        return "ternary"
    if _all_fit(model, lambda w: pow2_codes(w, cfg.replace(weight_mode="pow2", weight_bits=7), "")):
        return "pow2"
    return "codebook"


def make_config(model, config_path, n_pe, fifo_depth, weight_mode, params) -> EieConfig:
    base = EieConfig()
    if config_path:
        try:
            data = json.loads(Path(config_path).read_text())
        except OSError as e:
            raise HwqError(f"{config_path}: {e.strerror or e}") from None
        except ValueError as e:
            raise HwqError(f"{config_path}: not JSON ({e})") from None
        base = EieConfig.from_json(data, config_path)
    changes = {}
    if n_pe is not None:
        changes["n_pe"] = n_pe
    if fifo_depth is not None:
        changes["fifo_depth"] = fifo_depth
    cfg = parse_params(list(params), base.replace(**changes))
    if weight_mode == "auto":
        if not config_path and not any(p.startswith("weight_mode=") for p in params):
            mode = _auto_mode(model, cfg)
            cfg = cfg.replace(weight_mode=mode, weight_bits=2 if mode == "ternary" else cfg.weight_bits)
    else:
        cfg = cfg.replace(weight_mode=weight_mode)
    return cfg


def load_model(path: str):
    from hwq import ir

    if not Path(path).is_file():
        raise IRError(f"{path}: no such file")
    return ir.load(path)
