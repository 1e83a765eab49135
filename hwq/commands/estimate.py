"""``hwq estimate``: work, bytes, energy and time per layer and target (docs/estimate.md)."""

from __future__ import annotations

import json

import click

from hwq.commands.guard import guarded
from hwq.errors import HwqError


def _input_batch(spec: str, model, samples: int):
    """``--input``: an .npy batch, or ``digits`` (the scikit-learn digits test split)."""
    import numpy as np

    if samples < 1:
        raise HwqError(f"--samples {samples}: must be at least 1")
    if spec == "digits":
        from hwq.data.digits import as_input, load_digits_split

        if len(model.inputs) != 1 or int(np.prod(model.inputs[0].shape)) != 64:
            raise HwqError("--input digits: the model's input must hold 64 values (8x8 digits)")
        return as_input(load_digits_split().x_test[:samples], tuple(model.inputs[0].shape))
    from hwq.npyio import load_npy

    return load_npy(spec)[:samples]


@click.command("estimate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--target", default="generic", show_default=True,
              help="Target model (generic; see docs/estimate.md for the list).")
@click.option("--param", "params", multiple=True, metavar="K=V",
              help="Override a target parameter (repeatable), e.g. --param sram_bytes=524288.")
@click.option("--config", type=click.Path(dir_okay=False),
              help="JSON or YAML mapping of target parameters (may also set target, energy_table).")
@click.option("--energy-table", default=None,
              help="Energy table: a bundled name (horowitz45, han2015) or a .json/.yaml file.")
@click.option("--input", "input_spec", default=None,
              help="Measure activation densities with the golden model on this .npy batch "
                   "(or 'digits' for the bundled digits test split).")
@click.option("--samples", type=int, default=64, show_default=True, help="Samples of --input to run.")
@click.option("--act-density", default=None,
              help="Input activation density, one number or per layer: fc6=0.35,fc7=0.35,*=1.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the per-layer rows (and the total) as CSV.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write a PNG: stacked per-layer bytes and energy.")
@guarded
def estimate(model: str, target: str, params, config, energy_table, input_spec, samples, act_density,
             as_json, as_csv, plot_path) -> None:
    """FLOPs, bytes (payload vs metadata), energy and time per layer for a target."""
    from hwq import ir
    from hwq.cost.estimate import estimate_model
    from hwq.cost.report import plot, render_csv, render_table
    from hwq.cost.targets import read_config

    if as_json and as_csv:
        raise HwqError("--json and --csv: choose one")
    if plot_path:  # before any work: never half-written, never over an input
        from hwq.ir.atomic import check_output, refuse_inputs

        check_output(plot_path)
        refuse_inputs(plot_path, [model, input_spec, config, energy_table], "--plot")
    cfg = read_config(config) if config else {}
    target = str(cfg.pop("target", target)) if target == "generic" else target
    energy_table = energy_table or cfg.pop("energy_table", None)
    cfg.pop("energy_table", None)
    m = ir.load(model)
    x = _input_batch(input_spec, m, samples) if input_spec else None
    rep = estimate_model(m, target=target, params=params, config=cfg, energy_table=energy_table,
                         x=x, act_density=act_density)
    if plot_path:
        plot(rep, plot_path)
    if as_json:
        click.echo(json.dumps(rep, indent=1))
    elif as_csv:
        click.echo(render_csv(rep), nl=False)
    else:
        click.echo(render_table(rep))
        if plot_path:
            click.echo(f"wrote {plot_path}")
