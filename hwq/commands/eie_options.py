"""Accelerator options shared by ``hwq gen-rtl`` and ``hwq simulate``: --config, --n-pe, ..."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hwq.eie.config import EieConfig, parse_params
from hwq.eie.weight_mode import with_auto_weight_mode
from hwq.errors import HwqError, IRError


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
            cfg = with_auto_weight_mode(model, cfg)
    else:
        cfg = cfg.replace(weight_mode=weight_mode)
    return cfg


def load_model(path: str):
    from hwq import ir

    if not Path(path).is_file():
        raise IRError(f"{path}: no such file")
    return ir.load(path)
