"""The ``hwq`` command line. Each subcommand is a thin shell over a library function.

The error policy lives in `hwq.commands.guard`; back-end subcommands live one per module in
`hwq/commands/` and are registered at the bottom of this file. Subcommands owned by later
work exit 2 with "not implemented yet".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hwq import __version__
from hwq.commands.guard import guarded
from hwq.commands.usage import HwqGroup, optional_int_command
from hwq.compress.methods.options import method_options
from hwq.errors import HwqError


@click.group(cls=HwqGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hwq")
def main() -> None:
    """hwq: compressed neural networks on hardware (IR, golden model, cost, C and RTL)."""


def is_stdout(path) -> bool:
    """-o /dev/stdout: messages go to stderr then (hwq.ir.atomic.is_stdout)."""
    from hwq.ir.atomic import is_stdout as same

    return same(path)


def _load(path: str):
    """An .ir file, or an .onnx imported on the fly (info and run take either)."""
    from hwq.compress.pipeline import load_any

    return load_any(path)


# --------------------------------------------------------------------------- import
@main.command("import")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="IR file to write.")
@click.option("--name", default=None, help="Model name (default: the ONNX graph name; torch exports say main_graph).")
@guarded
def import_cmd(model: str, output: str, name: str | None) -> None:
    """Convert an ONNX model to an hwq IR file (float weights)."""
    from hwq import ir
    from hwq.frontends.onnx_import import import_onnx

    from hwq.ir.atomic import check_output, refuse_inputs

    if not Path(model).is_file():
        raise HwqError(f"{model}: no such file")
    check_output(output)
    refuse_inputs(output, [model])
    m = import_onnx(model, name=name)
    ir.save(m, output)
    click.echo(f"wrote {output}: {len(m.layers)} layers", err=is_stdout(output))


# --------------------------------------------------------------------------- info
@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--csv", "as_csv", is_flag=True, help="Print one CSV row per layer (storage in bits).")
@guarded
def info(model: str, as_json: bool, as_csv: bool) -> None:
    """Per-layer table: kind, shape, encoding, density, bits per weight, storage."""
    if as_json and as_csv:
        raise HwqError("--json and --csv are alternatives; give one")
    m = _load(model)
    from hwq.info import model_info, render_csv, render_table

    data = model_info(m)
    click.echo(json.dumps(data, indent=1) if as_json else render_csv(data) if as_csv else render_table(data))


# --------------------------------------------------------------------------- run
@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--input", "input_specs", required=True, multiple=True, metavar="[NAME=]FILE",
              help=".npy batch, [N, *input shape] or flat rows [N, size]; NAME=x.npy per graph input "
                   "(repeat), or one .npz with a member per input name.")
@click.option("--input-kind", type=click.Choice(["auto", "quantized", "real"]), default="auto", show_default=True,
              help="quantized: integer codes on the input's grid; real: values to quantize (uint8 images "
                   "too); auto: integer arrays are codes, float arrays are real.")
@click.option("--dequantize", is_flag=True, help="int mode: print/write real values (q - zero_point) * scale.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the outputs: .npz holds every output by name; .npy the first (named in the message).")
@click.option("--mode", type=click.Choice(["int", "float"]), default=None,
              help="int: the bit-exact golden model (default for quantized models); float: reference.")
@click.option("--json", "as_json", is_flag=True, help="Print outputs and argmax as JSON.")
@click.option("--dump", "dump_dir", type=click.Path(file_okay=False),
              help="Also write every layer's output as DIR/<layer>.npy (for debugging back ends).")
@guarded
def run(model: str, input_specs: tuple[str, ...], input_kind: str, dequantize: bool, output: str | None,
        mode: str | None, as_json: bool, dump_dir: str | None) -> None:
    """Run the golden model on an input batch."""
    from hwq.dump import check_dump_dir, write_dump
    from hwq.golden import run_float, run_int
    from hwq.ir.atomic import check_output, refuse_inputs
    from hwq.run_io import input_files, output_values, read_inputs, write_outputs

    files = input_files(input_specs)
    if output:
        check_output(output)
        refuse_inputs(output, [model, *files])
    m = _load(model)
    if dump_dir is not None:
        check_dump_dir(dump_dir, list(m.layers), inputs=[model, *files, output])
    x = read_inputs(m, input_specs, input_kind)
    mode = mode or ("int" if m.is_quantized else "float")
    outs = (run_int if mode == "int" else run_float)(m, x, keep_all=dump_dir is not None)
    if dump_dir is not None:
        write_dump(dump_dir, outs)
    ys = output_values(m, outs, mode, dequantize)
    if output:
        what = write_outputs(output, ys)
    if as_json:
        name, y = next(iter(ys.items()))
        click.echo(json.dumps({"model": m.name, "mode": mode, "output": name,
                               "shape": list(y.shape), "argmax": y.reshape(y.shape[0], -1).argmax(1).tolist(),
                               "values": y.tolist(),
                               "outputs": {n: {"shape": list(v.shape), "values": v.tolist()} for n, v in ys.items()}}))
    elif not output:
        for name, y in ys.items():
            click.echo(f"{name} ({mode}): shape {list(y.shape)}")
            click.echo(f"argmax: {y.reshape(y.shape[0], -1).argmax(1).tolist()}")
    else:
        click.echo(f"wrote {output}: {what} ({mode})", err=is_stdout(output))


# --------------------------------------------------------------------------- compress
@main.command(cls=optional_int_command(**{"--pow2": 5}))
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--prune", type=str, default=None,
              help="Fraction of weights to remove in each layer (0..1), or per layer: fc1=0.9,fc3=0.7,*=0.8.")
@click.option("--prune-quality", type=float, default=None, help="Prune |w| <= quality x std(w) instead (Han et al. 2015).")
@click.option("--prune-steps", type=int, default=None,
              help="Reach the --prune rates in this many prune/retrain rounds (Han et al.'s iterative pruning; "
                   "default 1, --method deep-compression: 5 when it retrains).")
@click.option("--scheme", type=str, default=None,
              help="Value scheme per layer: float, int8, ternary, codebook:B, pow2:B, pq:DIM:K, e.g. "
                   "fc1=pq:4:32,fc3=float,conv*=codebook:8,*=codebook:5 (the flags below set *=).")
@click.option("--share-bits", type=str, default=None,
              help="k-means weight sharing with 2^B values (= --scheme *=codebook:B), or per layer: conv1=8,*=5.")
@click.option("--init", type=click.Choice(["linear", "density", "forgy", "exp"]), default=None,
              help="k-means centroid initialisation (default linear; --method slq/eslq: exp, the paper's).")
@click.option("--pow2", "pow2_bits", type=click.IntRange(2, 7), default=None, metavar="[BITS]",
              help="Power-of-two weights with BITS bits (2..7; --pow2 alone: 5). BITS is the next "
                   "word only when it is an integer.")
@click.option("--ternary", is_flag=True, help="Ternary weights {-s_n, 0, +s_p}.")
@click.option("--int8", "int8", is_flag=True, help="Symmetric per-channel int8 weights.")
@click.option("--pq", "pq", type=str, default=None,
              help="Q-CNN product quantization DIM:K: sub-vectors of DIM inputs (DIM must divide every "
                   "layer's inputs; per layer: --scheme fc1=pq:4:32), K sub-codewords.")
@click.option("--sparse", type=click.Choice(["auto", "csc", "csr", "none"]), default="auto",
              help="Sparse layout for pruned layers (auto: CSC when pruned and smaller than dense).")
@click.option("--index-bits", type=str, default=None,
              help="Relative index bits of the sparse layout (default 4 fc, 5 conv), or per layer: conv*=5,*=4.")
@click.option("--value-bits", type=str, default=None,
              help="Codebook / PQ codeword width in bits (default 16), or per layer: fc1=32,*=16.")
@click.option("--retrain-epochs", type=int, default=None,
              help="Retrain after pruning/sharing (needs --data; default 0, --method deep-compression: 10 "
                   "per round with --data).")
@click.option("--lr", type=float, default=None, help="Retraining learning rate (default 0.01; "
                                                     "--method deep-compression: 0.05).")
@click.option("--act-bits", type=int, default=None, help="Quantize activations to this width (needs --data).")
@click.option("--pow2-act", is_flag=True, help="Power-of-two activation scales (shift requantization).")
@click.option("--data", type=str, default=None,
              help="Data for retraining, calibration and accuracy: 'digits' or an .npz with "
                   "x_train, y_train, x_test, y_test (labels optional: without them, the output error "
                   "against the float model is reported).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (plan, before, after).")
@click.option("--calib", type=click.Path(dir_okay=False), default=None,
              help="Unlabeled calibration samples (.npy, [N, ...]) for --act-bits, instead of --data's.")
@click.option("--calib-samples", type=click.IntRange(min=1), default=512, show_default=True,
              help="At most this many calibration samples, spread evenly over the set.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@method_options
@guarded
def compress(model: str, output: str, as_json: bool, **opts) -> None:
    """Prune, share, quantize and pack a model; prints size and accuracy before and after."""
    from hwq.compress.methods.options import split_method_options
    from hwq.compress.pipeline import CompressOptions, compress_file

    from hwq.ir.atomic import check_output, refuse_inputs

    check_output(output)  # before any work, for --method too
    refuse_inputs(output, [model, opts.get("data") if opts.get("data") != "digits" else None, opts.get("calib")])
    err = is_stdout(output)
    method = split_method_options(opts)  # --method NAME: a complete seed method (docs/methods/)
    if method is not None:
        from hwq.compress.methods.run import compress_file_method

        click.echo(compress_file_method(model, output, method, echo=lambda s: click.echo(s, err=err)), err=err)
        return

    # with --json, progress goes to stderr and stdout holds the JSON alone
    report = compress_file(model, output, CompressOptions.from_cli(**opts),
                           echo=lambda s: click.echo(s, err=err or as_json), as_json=as_json)
    click.echo(report, err=err)


# --------------------------------------------------------------------------- random
@main.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--layers", default="64,32,10", show_default=True, help="Feature sizes of an MLP.")
@click.option("--net", type=click.Choice(["lenet300", "lenet5", "alexnet", "vgg16"]), default=None,
              help="A real network's shapes at Deep Compression's per-layer densities and bits "
                   "(replaces --layers/--density/--bits/--index-bits; docs/estimate.md).")
@click.option("--density", type=float, default=0.1, show_default=True)
@click.option("--encoding", type=click.Choice(["int8", "codebook", "pow2", "ternary", "pq"]), default="codebook",
              show_default=True)
@click.option("--bits", type=click.IntRange(1, 16), default=4, show_default=True,
              help="Code bits (codebook/pq: 1..16, pow2: 2..7).")
@click.option("--sparse", type=click.Choice(["csc", "csr", "none"]), default="csc", show_default=True)
@click.option("--index-bits", type=int, default=4, show_default=True)
@click.option("--act-bits", type=int, default=8, show_default=True)
@click.option("--pow2-act", is_flag=True, help="Power-of-two activation scales (shift requantization).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@guarded
def random(output: str, net: str | None, **opts) -> None:
    """Write a random quantized MLP (benchmark layers for back ends)."""
    from hwq import ir
    from hwq.compress.random_model import random_mlp
    from hwq.ir.atomic import check_output

    check_output(output)
    if net:
        from hwq.compress.nets import random_net

        m = random_net(net, opts["encoding"], opts["sparse"], opts["act_bits"], opts["seed"])
    else:
        m = random_mlp(**opts)
    ir.save(m, output)
    click.echo(f"wrote {output}: {len(m.weighted())} weighted layers", err=is_stdout(output))


# --------------------------------------------------------------------------- later issues
def _not_yet(name: str, what: str):
    @main.command(name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                  help=f"{what} (not implemented yet).")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cmd(args) -> None:
        click.echo(f"hwq {name}: not implemented yet", err=True)
        sys.exit(2)

    return cmd



from hwq.commands.sweep import sweep  # noqa: E402

main.add_command(sweep)

from hwq.commands.gen_rtl import gen_rtl_cmd  # noqa: E402
from hwq.commands.simulate import simulate_cmd  # noqa: E402

main.add_command(gen_rtl_cmd)
main.add_command(simulate_cmd)


from hwq.commands.estimate import estimate as _estimate  # noqa: E402

main.add_command(_estimate)


from hwq.commands.gen_c import gen_c_cmd  # noqa: E402

main.add_command(gen_c_cmd)


if __name__ == "__main__":  # pragma: no cover
    main()
