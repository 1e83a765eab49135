"""C identifiers from IR names: IR names are already `[A-Za-z_][A-Za-z0-9_]*` (hwq.ir.names),
but a model or layer name may still collide with a C keyword or a reserved prefix, so every
emitted symbol is built here, under one prefix per model."""

from __future__ import annotations

import re

C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern
float for goto if inline int long register restrict return short signed sizeof static struct
switch typedef union unsigned void volatile while _Bool _Complex _Imaginary main""".split())


def sanitize(name: str) -> str:
    """A safe lower-case C identifier fragment for ``name`` (non-identifier characters -> _)."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
    if s[0].isdigit():
        s = "_" + s
    if s in C_KEYWORDS:
        s += "_"
    return s


def model_prefix(model_name: str) -> str:
    """``hwq_<model>``: the prefix of every public symbol of a generated project."""
    return f"hwq_{sanitize(model_name).lower()}"


def macro_prefix(model_name: str) -> str:
    return model_prefix(model_name).upper()


def layer_symbol(prefix: str, layer_name: str) -> str:
    """The function name of one layer's kernel (its instructions are counted by this name)."""
    return f"{prefix}_L_{sanitize(layer_name)}"
