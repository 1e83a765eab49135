"""gen-c under qemu on every ARM target: every kernel and encoding (one merged model per target,
so one build and one emulator run), the quantized examples, the harness's exit status, and
the memory check of the Cortex-M targets."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwq import ir
from hwq.codegen import gen_c
from hwq.errors import HwqError
from tests.genc_helpers import byte_entry_model, every_kernel_model, merge, need_target, with_zero_points

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ARM = ["cortex-a53", "cortex-a72", "cortex-m4", "cortex-m55"]


def check(rep):
    bad = [l["name"] for l in rep["layers"] if not l["match"]]
    assert rep["match"] and not bad, f"mismatch in {bad}"


@pytest.fixture(scope="module")
def kernels_model():
    return every_kernel_model()


@pytest.fixture(scope="module")
def example_models():
    mlps = {p.stem.replace("digits_mlp_", ""): ir.load(p) for p in sorted(EXAMPLES.glob("digits_mlp_*.ir"))}
    lenets = {p.stem.replace("digits_lenet_", ""): ir.load(p) for p in sorted(EXAMPLES.glob("digits_lenet_*.ir"))}
    x = np.load(EXAMPLES / "digits_test_x.npy")[:3]
    return merge(mlps, "mlps"), merge(lenets, "lenets"), x


@pytest.mark.parametrize("target", ARM)
def test_every_kernel_under_qemu(tmp_path, kernels_model, target):
    t = need_target(target)
    rep = gen_c(kernels_model, target, tmp_path / "k", run=True, count=False)
    check(rep)
    kernels = " ".join(l["kernel"] for l in rep["layers"])
    assert f"int8/plain/{t.simd}" in kernels  # the SIMD path ran (and matched)


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55"])
def test_thumb2_sparse_loops(tmp_path, target):
    need_target(target)
    rep = gen_c(byte_entry_model(), target, tmp_path / "b", run=True, count=False, grouped=False)
    check(rep)
    kernels = " ".join(l["kernel"] for l in rep["layers"])
    for k in ("csr+codebook/plain/thumb2", "csr+pow2/bucket/thumb2", "csc+codebook/table/thumb2",
              "csc+pow2/table/thumb2"):
        assert k in kernels


@pytest.mark.parametrize("target", ARM)
def test_quantized_examples_under_qemu(tmp_path, example_models, target):
    need_target(target)
    mlps, lenets, x = example_models
    check(gen_c(mlps, target, tmp_path / "mlp", x=x, run=True, count=False))
    check(gen_c(lenets, target, tmp_path / "lenet", x=x.reshape(-1, 1, 8, 8), run=True, count=False))


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-a53"])
def test_harness_fails_on_a_wrong_expected_output(tmp_path, target):
    t = need_target(target)
    d = tmp_path / "p"
    gen_c(ir.load(EXAMPLES / "digits_mlp_int8.ir"), target, d)
    text = (d / "inputs.h").read_text()
    i = text.index("hwq_expected0")
    j = text.index("{", i) + 1
    m = re.compile(r"\s*(-?\d+)").match(text, j)
    wrong = int(m.group(1)) + 1 if int(m.group(1)) < 127 else 126
    (d / "inputs.h").write_text(text[:m.start(1)] + str(wrong) + text[m.end(1):])
    subprocess.run(["make", "-s", "-C", str(d), "prog"], check=True, capture_output=True)
    from hwq.codegen.build import run

    status, out = run(d / "prog", t)
    assert status == 1 and "FAIL 1 of 3 samples" in out


def test_model_too_big_for_cortex_m55(tmp_path):
    """A 1x1 convolution to 512 channels of 32x32 (a 512 kB activation, more than the 512 kB
    DTCM), then a global max pool: gen-c says which memory overflows, before writing anything
    (the arena alone exceeds the board's RAM; the link would fail too)."""
    need_target("cortex-m55")
    rng = np.random.default_rng(0)
    m = ir.Model("big", {}, ["pool"])
    m.layers["x"] = ir.Input("x", [], shape=(1, 32, 32), quant=ir.QuantParams(8, False, 1 / 256, 0))
    w = ir.Weight((512, 1, 1, 1), ir.Int8Values(rng.integers(-127, 128, 512).astype(np.int8),
                                                  np.array([1 / 64], np.float32)))
    m.layers["conv"] = ir.Conv2d("conv", ["x"], in_channels=1, out_channels=512, kernel=(1, 1), weight=w,
                                 requant=ir.make_requant(np.array([1 / 64])), quant=ir.QuantParams(8, True, 1.0, 0))
    m.layers["pool"] = ir.MaxPool("pool", ["conv"], kernel=(32, 32), stride=(32, 32), quant=m.layers["conv"].quant)
    ir.validate(m)
    with pytest.raises(HwqError, match=r"^cortex-m55: the model does not fit: the activation arena takes \d+ B, "
                                       r"more than the board's 524288 B of RAM$"):
        gen_c(m, "cortex-m55", tmp_path / "big", x=rng.integers(0, 256, (1, 1, 32, 32)), run=True, count=False)
    assert not (tmp_path / "big").exists()


def test_code_and_weights_overflow_flash_at_the_link(tmp_path):
    """Weights that fit the Cortex-M55 board's 512 kB flash alone (720x720 int8: 518,400 B) but
    not with the code: the link's overflow, reported in one line."""
    need_target("cortex-m55")
    from hwq.compress.random_model import random_mlp

    m = random_mlp("720,720", density=1.0, encoding="int8", bits=4, sparse="none", index_bits=4, seed=0)
    with pytest.raises(HwqError, match=r"^cortex-m55: the model does not fit: FLASH overflowed by \d+ bytes"):
        gen_c(m, "cortex-m55", tmp_path / "p", run=True, count=False)


def test_pow2_kernels_have_no_multiply_on_cortex_m4(tmp_path):
    """Shifts and adds only: the Cortex-M4 pow2 kernels (dense, CSR sums per code, CSC signed
    shift tables) with shift requantization hold no multiply instruction at all."""
    from hwq.compress.random_model import random_mlp

    t = need_target("cortex-m4")
    subs = {f"p_{lay}": random_mlp("128,40,10", density=0.3, encoding="pow2", bits=4, sparse=lay,
                                   index_bits=4, pow2_act=True) for lay in ("none", "csr", "csc")}
    m = merge(subs, "pow2_only")
    assert all(l.requant.mode == "shift" for l in m.weighted())
    rep = gen_c(m, "cortex-m4", tmp_path / "p", run=True, count=False)
    check(rep)
    asm = subprocess.run([t.size_tool.replace("size", "objdump"), "-d", "--no-show-raw-insn", str(tmp_path / "p" / "prog")],
                         capture_output=True, text=True, check=True).stdout
    funcs = re.findall(r"<(hwq_pow2_only_L_\w+)>:\n(.*?)\n\n", asm, re.S)
    assert len(funcs) == 6
    for name, body in funcs:
        assert not re.search(r"\s(mul|mla|mls|[su]mull|[su]mlal|smla\w*|smul\w*|smmul\w*)\s", body), name


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55"])
def test_dense_codebook_pair_table(tmp_path, target):
    """Dense 4-bit codebooks through the pair table (SMLAD on Cortex-M4, MVE gathers + VMLADAVA
    on Cortex-M55): rows not a multiple of four (38, 10), row lengths not a multiple of 8 (100, 38, 12), extreme int16
    centroids, int8 and uint8 activations, a non-zero zero point; odd row lengths keep the
    per-code sums."""
    from hwq.compress.random_model import random_mlp
    from tests.factories import mlp

    need_target(target)
    m = random_mlp("100,38,10", density=1.0, encoding="codebook", bits=4, sparse="none", seed=3)
    cb = m.layers["fc1"].weight.values.codebook
    cb[1], cb[-1] = -32767, 32767
    m = ir.validate(m)
    rep = gen_c(m, target, tmp_path / "a", run=True, count=False)
    check(rep)
    assert rep["excluded_samples"] == []
    assert all("/codebook/pairs/" in l["kernel"] for l in rep["layers"] if l["name"] in ("fc1", "fc2"))
    rng = np.random.default_rng(4)
    m2 = mlp(rng, "codebook", "none")  # 12 -> 9 (pairs), 9 -> 4 (odd: bucket)
    m2.layers["fc1"].weight.values.codebook[0] = -32767
    rep = gen_c(with_zero_points(ir.validate(m2), {"x": 5}), target, tmp_path / "b", run=True, count=False)
    check(rep)
    kinds = {l["name"]: l["kernel"] for l in rep["layers"]}
    assert "/codebook/pairs/" in kinds["fc1"] and "/codebook/pairs/" not in kinds["fc2"]


def test_sdot_path_under_cpu_max(tmp_path):
    """The A53/A72 targets run on qemu's model of the named core (no dot product: the SMLAL
    path); the SDOT path, taken where getauxval reports the extension, is checked on the same
    program under -cpu max, with int8 and uint8 activations."""
    import dataclasses

    from hwq.codegen.build import run
    from hwq.codegen.targets import TARGETS

    t = need_target("cortex-a53")
    d = tmp_path / "p"
    m = merge({"mlp": ir.load(EXAMPLES / "digits_mlp_int8.ir")}, "sdot")
    gen_c(m, "cortex-a53", d, x=np.load(EXAMPLES / "digits_test_x.npy")[:3])
    subprocess.run(["make", "-s", "-C", str(d), "prog"], check=True, capture_output=True)
    for cpu in ("cortex-a53", "max"):
        status, out = run(d / "prog", dataclasses.replace(t, run=("qemu-aarch64", "-cpu", cpu)))
        assert status == 0 and "PASS 3 samples" in out, (cpu, out[-200:])
    assert TARGETS["cortex-a53"].run[-1] == "cortex-a53" and TARGETS["cortex-a72"].run[-1] == "cortex-a72"


def test_pq_blocks_of_16_on_aarch64(tmp_path):
    """Product quantization with long sub-vectors (d = 25: one block of 16 and a tail of 9,
    the NEON-friendly table loop of AArch64) on the A53, bit-exact."""
    from hwq.compress.random_model import random_mlp

    need_target("cortex-a53")
    m = random_mlp("100,20", density=1.0, encoding="pq", bits=4, sparse="none", seed=2)
    assert m.layers["fc1"].weight.values.codebook.shape[2] >= 16
    check(gen_c(m, "cortex-a53", tmp_path / "q", run=True, count=False))
