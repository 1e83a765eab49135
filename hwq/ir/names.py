"""Identifier rules for layer and tensor names.

Names become C and Verilog identifiers in the back ends, so the IR only accepts
``[A-Za-z_][A-Za-z0-9_]*`` (at most 64 characters). Importers map foreign names onto
that set deterministically with :func:`sanitize`.
"""

from __future__ import annotations

import re

from hwq.errors import IRError

MAX_NAME_LENGTH = 64
_VALID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def is_valid_name(name: object) -> bool:
    return isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and bool(_VALID.match(name))


def check_name(name: object, what: str = "name") -> str:
    if not is_valid_name(name):
        shown = repr(name)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise IRError(
            f"{what} {shown} is not a valid identifier "
            f"([A-Za-z_][A-Za-z0-9_]*, at most {MAX_NAME_LENGTH} characters)"
        )
    return name  # type: ignore[return-value]


class Taken(set):
    """The names in use, plus the next clash suffix to try per base name.

    With a plain set, :func:`sanitize` tries ``base_2``, ``base_3``... from 2 each time, so
    n names that cut to one base cost O(n^2) tries (10,000 long ONNX node names sharing a
    prefix took 24 s); with a ``Taken`` each base resumes where it stopped: linear.
    """

    def __init__(self, names=()):
        super().__init__(names)
        self.next_suffix: dict[str, int] = {}


def sanitize(name: str, taken: set[str]) -> str:
    """Map any string onto a valid, unused identifier; deterministic for a given ``taken``.

    Invalid characters become ``_``, a leading digit gets an ``n`` prefix, long names are
    cut, and a clash gets a ``_2``, ``_3``... suffix. The result is added to ``taken``
    (pass a :class:`Taken` when naming many things: linear time).
    """
    base = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "n"
    if base[0].isdigit():
        base = "n" + base
    base = base[: MAX_NAME_LENGTH - 6]
    candidate = base
    if candidate in taken:  # the first free of base_2, base_3, ...; a Taken skips those tried
        suffixes = getattr(taken, "next_suffix", {})
        k = suffixes.get(base, 2)
        while f"{base}_{k}" in taken:
            k += 1
        candidate = f"{base}_{k}"
        suffixes[base] = k + 1
    taken.add(candidate)
    return candidate
