"""``hwq gen-c``: emit (and with --run build, run and check) C for a target."""

from __future__ import annotations

import json

import click

from hwq.commands.guard import guarded


@click.command("gen-c")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--target", default="host", show_default=True,
              help="host, cortex-a53, cortex-a72, cortex-m4 or cortex-m55.")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Directory of the generated C project.")
@click.option("--run", "do_run", is_flag=True, help="Build, run (qemu for ARM) and compare with the golden model.")
@click.option("--input", "input_specs", multiple=True, metavar="[NAME=]FILE",
              help="Samples to bundle instead of random ones (floats are quantized): x.npy for a model "
                   "with one input, NAME=x.npy once per graph input, or one .npz named by input.")
@click.option("--no-count", is_flag=True, help="Skip the qemu instruction count.")
@click.option("--grouped/--no-grouped", default=None,
              help="Code-grouped rows for codebook/pow2/ternary weights: force them (any layout, any "
                   "target) or never use them (default: on the ARM targets where faster).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@guarded
def gen_c_cmd(model: str, target: str, outdir: str, do_run: bool, input_specs: tuple[str, ...],
              no_count: bool, grouped: bool | None, as_json: bool) -> None:
    """Generate C kernels that run the compressed weights as stored, bit-exact with the golden model."""
    import sys

    from hwq import ir
    from hwq.codegen import gen_c
    from hwq.codegen.targets import get_target
    from hwq.run_io import read_inputs

    get_target(target)  # an unknown target fails before anything is read
    m = ir.load(model)
    x = read_inputs(m, input_specs, "auto") if input_specs else None
    rep = gen_c(m, target, outdir, x=x, run=do_run, count=False if no_count else None, grouped=grouped)
    if as_json:
        click.echo(json.dumps(rep, indent=1))
    else:
        click.echo(f"wrote {outdir}: {len(rep['layers'])} layers, arena {rep['arena_bytes']} B, "
                   f"weights {rep['weight_bytes']} B")
        if do_run:
            for l in rep["layers"]:
                ins = "" if l["instructions"] is None else f"  {l['instructions']} instructions"
                click.echo(f"  {l['name']:<16} {l['kernel']:<32} {'match' if l['match'] else 'MISMATCH'}{ins}")
            click.echo(f"{rep['target']}: {'PASS' if rep['match'] else 'FAIL'} on {rep['samples']} samples; "
                       f"text {rep['text_bytes']} B, data {rep['data_bytes']} B, RAM {rep['ram_bytes']} B"
                       + (f", {rep['instructions']} instructions" if rep["instructions"] else ""))
    if do_run and not rep["match"]:
        sys.exit(1)
