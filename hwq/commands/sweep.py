"""``hwq sweep SPEC.yaml -o results/``: compression x hardware points on Dask (docs/sweep.md)."""

from __future__ import annotations

import sys

import click

from hwq.commands.guard import guarded


@click.command("sweep")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Results directory: results.csv, pareto.png, a copy of the spec.")
@click.option("--workers", type=int, default=None,
              help="Workers of the local Dask cluster (default: one per core).")
@click.option("--scheduler", type=str, default=None,
              help="Attach to a running Dask scheduler (tcp://host:8786) instead of a local cluster.")
@click.option("--resume", is_flag=True, help="Continue results.csv: skip the points already in it.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@guarded
def sweep(spec: str, output: str, workers: int | None, scheduler: str | None, resume: bool,
          no_progress: bool) -> None:
    """Run a co-design sweep: compress, evaluate and estimate every point of SPEC."""
    from hwq.sweep import run_sweep, summary

    try:
        result = run_sweep(spec, output, workers=workers, scheduler=scheduler, resume=resume,
                           progress=not no_progress, echo=click.echo)
    except KeyboardInterrupt:
        click.echo(f"hwq sweep: interrupted; finished points are in {output}/results.csv "
                   "(continue with --resume)", err=True)
        sys.exit(130)
    click.echo(summary(result))
