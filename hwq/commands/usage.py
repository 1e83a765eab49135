"""Command-line parsing policy: one-line usage errors and unambiguous optional option values.

click prints a usage error as three lines (usage, hint, message); hwq prints one,
``hwq: error: <command>: <message> (see 'hwq <command> --help')``, with click's exit code 2,
so that every failure of every subcommand is one line on stderr (README, "The command line").
"""

from __future__ import annotations

import re

import click


def _one_line(e: click.UsageError) -> None:
    names, ctx = [], e.ctx
    while ctx is not None and ctx.parent is not None:  # the subcommand names, not the program's
        names.append(ctx.info_name)
        ctx = ctx.parent
    sub = " ".join(reversed(names))
    msg = " ".join(e.format_message().split())
    prefix = f"{sub}: " if sub else ""
    where = f"hwq {sub}".strip()

    def show(file=None) -> None:
        click.echo(f"hwq: error: {prefix}{msg} (see '{where} --help')", err=True)

    e.show = show  # type: ignore[method-assign]


class HwqGroup(click.Group):
    """The top-level group: every usage error of it and of its subcommands is one line."""

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError:
            raise  # bare ``hwq``: the help text, as click prints it
        except click.UsageError as e:
            _one_line(e)
            raise

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as e:
            _one_line(e)
            raise


_INTEGER = re.compile(r"[0-9]+\Z")


class OptionalIntCommand(click.Command):
    """A command with options whose integer value may be left out (``--pow2`` or ``--pow2 6``).

    The value is taken only when the next word is an integer, so ``hwq compress --pow2
    mlp.ir`` reads ``mlp.ir`` as the model, never as the bits (click alone takes any next
    word that does not start with ``-``). ``optional_ints`` maps each option to its value
    when left out; a file literally named like an integer is written ``./5``.
    """

    optional_ints: dict[str, str] = {}

    def parse_args(self, ctx, args):
        out, i = [], 0
        while i < len(args):
            a = args[i]
            if a == "--":
                out += args[i:]
                break
            if a in self.optional_ints:
                nxt = args[i + 1] if i + 1 < len(args) else None
                if nxt is not None and _INTEGER.match(nxt):
                    out += [f"{a}={nxt}"]
                    i += 2
                    continue
                out.append(f"{a}={self.optional_ints[a]}")
            else:
                out.append(a)
            i += 1
        return super().parse_args(ctx, out)


def optional_int_command(**defaults: int):
    """``@main.command(cls=optional_int_command(**{"--pow2": 5}))``."""
    return type("OptionalIntCommand", (OptionalIntCommand,),
                {"optional_ints": {k: str(v) for k, v in defaults.items()}})
