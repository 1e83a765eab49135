"""``hwq.sim.simulate``: the Python API of ``hwq simulate``. A model (or one dense layer of it)
on the accelerator's RTL under cocotb, every layer's output compared with the golden model
and every cycle count with the cycle model; returns the report ``hwq simulate --json`` prints.
"""

from __future__ import annotations

import numpy as np

from hwq.eie.config import EieConfig
from hwq.errors import HwqError
from hwq.ir.model import Model


def default_inputs(model: Model, samples: int, seed: int = 0) -> np.ndarray:
    """The bundled digits test samples for a digits model, else seeded random in-range integers."""
    inp = model.inputs[0]
    if tuple(inp.shape) == (64,) and model.name.startswith("digits"):
        from importlib import resources

        from hwq.golden import quantize

        with resources.as_file(resources.files("hwq.examples") / "digits_test_x.npy") as p:
            x = np.load(p, allow_pickle=False)
        return quantize(x[:samples], inp.quant)
    q = inp.quant
    return np.random.default_rng(seed).integers(q.qmin, q.qmax + 1, (samples,) + tuple(inp.shape))


def auto_config(model: Model, cfg: EieConfig | None = None, layer: str | None = None) -> EieConfig:
    """``cfg`` (default ``EieConfig()``) in the weight mode the model's weights (or its one
    ``layer``'s) call for: ``hwq.eie.weight_mode``, the rule ``hwq gen-rtl`` uses too."""
    from hwq.eie.weight_mode import with_auto_weight_mode

    return with_auto_weight_mode(model, EieConfig() if cfg is None else cfg, layer)


def simulate(model: Model, x: np.ndarray | None = None, cfg: EieConfig | None = None, *,
             simulator: str = "icarus", layer: str | None = None, samples: int = 8, seed: int = 0,
             waves: str | None = None, jobs: int | None = None) -> dict:
    """Simulate ``model`` on the RTL of ``cfg`` (default: ``auto_config``).

    ``x``: a batch of model inputs (floats are quantized with the input's parameters; one
    unbatched input is accepted), at most ``samples`` of it used; without it
    ``default_inputs``. ``layer``: run that one dense layer, fed with the golden model's input
    to it. ``jobs``: simulator processes (default one per core, see ``hwq.sim.runner``).
    Raises ``HwqError`` for a model, layer, configuration or simulator that cannot run; a
    mismatch is not an error: the report's ``match`` is False."""
    from hwq.eie.program import plan_model
    from hwq.golden import quantize, run_int
    from hwq.sim.check import check
    from hwq.sim.runner import check_simulator

    cfg = auto_config(model, layer=layer) if cfg is None else cfg
    if samples < 1:
        raise HwqError(f"samples = {samples}: must be at least 1")
    check_simulator(simulator)
    prog = plan_model(model, cfg, layer)
    if x is None:
        x = default_inputs(model, samples, seed)
    else:
        x = np.asarray(x)
        if x.ndim == len(model.inputs[0].shape):
            x = x[None]
        x = x[:samples]
        if np.issubdtype(x.dtype, np.floating):
            x = quantize(x, model.inputs[0].quant)
    if layer is not None:
        x = run_int(model, x, keep_all=True)[prog.input_name]
    return check(model, prog, np.asarray(x, dtype=np.int64), simulator, waves, jobs=jobs)
