"""``hwq simulate``: the model (or one dense layer) on the accelerator's RTL under cocotb,
every layer's output compared with the golden model and every cycle count with the model."""

from __future__ import annotations

import json
import sys

import click

from hwq.commands.eie_options import accelerator_options, load_model, make_config
from hwq.commands.guard import guarded


@click.command("simulate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--input", "input_path", type=click.Path(dir_okay=False), help=".npy batch (integers or floats).")
@click.option("--samples", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--layer", "layer_name", default=None, help="Run one dense layer, fed with the golden input.")
@accelerator_options
@click.option("--simulator", type=click.Choice(["icarus", "verilator"]), default="icarus", show_default=True)
@click.option("--waves", type=click.Path(dir_okay=False), default=None, help="Write a waveform dump.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Simulator processes the samples are split over (default: one per core).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@guarded
def simulate_cmd(model, input_path, samples, layer_name, config_path, n_pe, fifo_depth, weight_mode, params,
                 simulator, waves, seed, jobs, as_json):
    """Simulate the EIE-style RTL against the golden model (bit-exact, exact cycles)."""
    from hwq.sim import simulate
    from hwq.sim.runner import check_simulator

    m = load_model(model)
    cfg = make_config(m, config_path, n_pe, fifo_depth, weight_mode, params)
    check_simulator(simulator)
    x = None
    if input_path:
        from hwq.npyio import load_npy

        x = load_npy(input_path)
    report = simulate(m, x, cfg, simulator=simulator, layer=layer_name, samples=samples, seed=seed,
                      waves=waves, jobs=jobs)
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(f"{m.name}: {report['samples']} samples on {simulator}, n_pe {cfg.n_pe}, "
                   f"fifo {cfg.fifo_depth}, {cfg.weight_mode}")
        for l in report["layers"]:
            mm = l["first_mismatch"]
            click.echo(f"  {l['name']:<12} {'match' if l['match'] else 'MISMATCH'}  cycles rtl {l['cycles_rtl']} "
                       f"model {l['cycles_model']}" + (f"  first mismatch {mm}" if mm else ""))
        click.echo(f"  total cycles rtl {report['cycles_rtl']} model {report['cycles_model']}: "
                   f"{'MATCH' if report['match'] else 'MISMATCH'}")
    if not report["match"]:
        if not as_json:
            click.echo("hwq: error: simulate: RTL and golden model or cycle model disagree", err=True)
        sys.exit(1)
