"""One kernel choice (hwq/kernels: method, code-grouped rows, the flash cap): for every ARM
target, ``hwq estimate`` names the kernel ``hwq gen-c`` generates for each layer, on layers
where the choice is close -- dense 4/5-bit pow2, codebook and ternary at 784x300 (code-grouped
rows beat the IR's layout there, but on Cortex-M55 their arrays exceed 40 % of the board's
512 kB flash), CSR at 1024x300 (MVE vector gathers too large, Thumb-2 entries fit), small
layers on both sides of the pair-table and bucket thresholds, CSC (never grouped), wide
activations. No build or qemu needed: gen-c's kernel names come from its packing."""

from __future__ import annotations

import pytest

from hwq.codegen import gen_c
from hwq.compress.random_model import random_mlp
from hwq.cost.estimate import estimate_model
from hwq.kernels.cpus import CPUS, GROUPED_FLASH_SHARE
from hwq.kernels.grouped import choose_grouped
from hwq.kernels.method import kernel_method

CASES = [  # shape, encoding, layout, density, bits
    ("784,300", "pow2", "none", 1.0, 4), ("784,300", "pow2", "none", 1.0, 5), ("784,300", "codebook", "none", 1.0, 4),
    ("784,300", "ternary", "none", 1.0, 4), ("1024,300", "pow2", "csr", 0.3, 5), ("1024,300", "codebook", "csr", 0.3, 4),
    ("64,10", "pow2", "none", 1.0, 4), ("63,10", "codebook", "none", 1.0, 4), ("100,10", "codebook", "csr", 0.1, 5),
    ("300,100", "ternary", "csr", 0.05, 4), ("256,64", "pow2", "csc", 0.1, 4), ("128,32", "codebook", "none", 1.0, 3),
]
TARGETS = ["cortex-m4", "cortex-m55", "cortex-a53", "cortex-a72"]


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """(case, target) -> (gen-c's kernel, the estimate's kernel)."""
    out = {}
    for case in CASES:
        shape, enc, lay, dens, bits = case
        m = random_mlp(shape, density=dens, encoding=enc, bits=bits, sparse=lay, index_bits=4, seed=5)
        for t in TARGETS:
            rep = gen_c(m, t, tmp_path_factory.mktemp("p"), run=False)
            gk = [layer["kernel"].split("+relu")[0] for layer in rep["layers"] if layer.get("kernel")]
            ek = [r["extra"]["kernel"] for r in estimate_model(m, t)["layers"] if "kernel" in r["extra"]]
            out[case, t] = (gk, ek)
    return out


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_estimate_names_gen_c_kernel(kernels, case, target):
    gk, ek = kernels[case, target]
    assert gk and gk == ek, (case, target, gk, ek)


def test_flash_cap_decides_on_cortex_m55():
    """The case the cap exists for: dense 4-bit pow2 at 784x300 as MVE code-grouped rows would
    take 2 bytes per weight (470 kB) > 40 % of 512 kB, so gen-c keeps the per-lane shift kernel;
    without the cap the grouped rows would be chosen (they are faster by gen-c's model)."""
    m = random_mlp("784,300", density=1.0, encoding="pow2", bits=4, sparse="none", index_bits=4, seed=5)
    layer = m.weighted()[0]
    opts = CPUS["cortex-m55"].kernel_options(True)
    assert opts.max_grouped_bytes == int(GROUPED_FLASH_SHARE * (512 << 10))
    method = kernel_method(layer, cheap_mla=opts.cheap_mla, dsp=opts.dsp, shifts=True, planes=opts.planes)
    assert method == "shifts"
    assert choose_grouped(layer, method, opts)[0] is None
    from dataclasses import replace
    gr, path = choose_grouped(layer, method, replace(opts, max_grouped_bytes=None))
    assert gr is not None and path == "mve" and 2 * gr.stream.size > opts.max_grouped_bytes
