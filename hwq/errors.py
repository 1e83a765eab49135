"""User-facing errors.

Every problem caused by the user's input (a malformed IR, an unknown option, NaN
weights...) is raised as :class:`HwqError`; the CLI prints its message as one line and
exits 1. Anything else escaping is a bug in hwq.
"""


class HwqError(Exception):
    """An error in the user's input, reported as one line without a traceback."""


class IRError(HwqError):
    """The IR file or in-memory model breaks the schema. The message names the place."""


class SemanticsError(HwqError):
    """The integer model cannot be evaluated exactly (e.g. accumulator overflow).

    For an accumulator overflow, ``layer`` names the layer, ``sample`` is the lowest batch
    index that overflows there and ``samples`` every such index (ascending); all three are
    None / () for other errors. docs/semantics.md section 6, "Overflow is per sample".
    """

    def __init__(self, message: str, layer: str | None = None, sample: int | None = None,
                 samples: tuple[int, ...] = ()):
        super().__init__(message)
        self.layer = layer
        self.sample = sample
        self.samples = tuple(samples)
