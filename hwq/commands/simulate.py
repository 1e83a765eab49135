"""``hwq simulate``: the model (or one dense layer) on the accelerator's RTL under cocotb,
every layer's output compared with the golden model and every cycle count with the model."""

from __future__ import annotations

import json
import sys

import click
import numpy as np

from hwq.commands.eie_options import accelerator_options, load_model, make_config
from hwq.commands.guard import guarded
from hwq.errors import HwqError


def default_inputs(model, samples: int, seed: int) -> np.ndarray:
    """The bundled digits test samples for a digits model, else seeded random in-range integers."""
    inp = model.inputs[0]
    if tuple(inp.shape) == (64,) and model.name.startswith("digits"):
        from importlib import resources

        from hwq.golden import quantize
        from hwq.npyio import load_npy

        with resources.as_file(resources.files("hwq.examples") / "digits_test_x.npy") as p:
            x = load_npy(p)
        return quantize(x[:samples], inp.quant)
    q = inp.quant
    return np.random.default_rng(seed).integers(q.qmin, q.qmax + 1, (samples,) + tuple(inp.shape))


@click.command("simulate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--input", "input_path", type=click.Path(dir_okay=False), help=".npy batch (integers or floats).")
@click.option("--samples", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--layer", "layer_name", default=None, help="Run one dense layer, fed with the golden input.")
@accelerator_options
@click.option("--simulator", type=click.Choice(["icarus", "verilator"]), default="icarus", show_default=True)
@click.option("--waves", type=click.Path(dir_okay=False), default=None, help="Write a waveform dump.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@guarded
def simulate_cmd(model, input_path, samples, layer_name, config_path, n_pe, fifo_depth, weight_mode, params,
                 simulator, waves, seed, as_json):
    """Simulate the EIE-style RTL against the golden model (bit-exact, exact cycles)."""
    from hwq.eie.program import plan_model
    from hwq.golden import quantize, run_int
    from hwq.sim.check import check
    from hwq.sim.runner import check_simulator

    m = load_model(model)
    cfg = make_config(m, config_path, n_pe, fifo_depth, weight_mode, params)
    check_simulator(simulator)
    prog = plan_model(m, cfg, layer_name)
    if input_path:
        from hwq.npyio import load_npy

        x = load_npy(input_path)
        if np.issubdtype(x.dtype, np.floating):
            x = quantize(x, m.inputs[0].quant)
        x = x[:samples] if x.ndim > len(m.inputs[0].shape) else x[None]
    else:
        x = default_inputs(m, samples, seed)
    if layer_name is not None:
        x = run_int(m, x, keep_all=True)[prog.input_name]
    report = check(m, prog, np.asarray(x, dtype=np.int64), simulator, waves)
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
