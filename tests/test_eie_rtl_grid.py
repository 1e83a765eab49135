"""The accelerator's Verilog across the issue's verification grid (n_pe, FIFO depth, weight
modes, requant modes, zero points, activation widths, edge-case layers), each case held to the
golden model (every layer's output) and to the cycle model (every count).

Each EieConfig is one Verilog build, so every config runs one hand-built model that chains
many edge-case layers, fed with several samples (all-zero, at the zero point, random)."""

import shutil

import numpy as np
import pytest

from hwq.compress.random_model import random_codes, random_mlp
from hwq.eie import EieConfig
from hwq.eie.program import plan_model
from hwq.ir.layers import Dense, Input, ReLU
from hwq.ir.model import Model
from hwq.golden import run_int
from hwq.ir.quant import QuantParams, Requant, quantize_multiplier
from hwq.ir.sparse import encode as encode_sparse
from hwq.ir.values import TernaryValues
from hwq.ir.weight import Weight

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None,
                                reason="icarus not installed: apt-get install iverilog")

MEM = dict(act_depth=64, row_depth=128, sparse_words=256, pointer_depth=512, max_layers=8)


def q(bits, signed, zp=0):
    return QuantParams(bits=bits, signed=signed, scale=1.0, zero_point=zp)


def requant(mode, factors):
    """Shift mode rounds each factor to a power of two; multiplier mode keeps it (Q31)."""
    factors = np.atleast_1d(np.asarray(factors, np.float64))
    if mode == "shift":
        e = np.clip(np.round(np.log2(factors)), -31, 30).astype(np.int32)
        return Requant("shift", e[:1])
    pairs = [quantize_multiplier(float(f)) for f in factors]
    return Requant("multiplier", np.array([e for _, e in pairs], np.int32), np.array([m for m, _ in pairs], np.int32))


class Chain:
    """A chain of hand-built dense layers (optionally relu-fused) on one input, each layer's
    requant factor chosen from its accumulators on the test samples so outputs spread over
    most of their range (``gain`` > 1 saturates)."""

    def __init__(self, name, n_in, in_q, encoding, bits, seed):
        self.m = Model(name, {}, [], {"source": "test"})
        self.m.layers["input"] = Input("input", [], shape=(n_in,), quant=in_q)
        self.prev, self.n, self.enc, self.bits = "input", n_in, encoding, bits
        self.rng = np.random.default_rng(seed)
        self.x = samples(in_q, n_in, self.rng)
        self.act, self.act_q = self.x, in_q

    def add(self, mask, out_q, mode, relu=False, codes=None, bias=200, gain=1.0, per_channel=False, mags=None):
        mask = np.asarray(mask, bool)
        rows, cols = mask.shape
        assert cols == self.n
        idx, src = encode_sparse(mask, "csc", 4)
        kept = src >= 0
        c, make = random_codes(self.rng, kept.size, self.enc, self.bits)
        if codes is not None:  # forced codes (e.g. the pow2 range limits)
            c = np.resize(np.asarray(codes, c.dtype), kept.size)
        if mags is not None:  # forced ternary magnitudes [pos, neg]
            make = lambda c: TernaryValues(c.astype(np.int8), np.array(mags, np.int32),  # noqa: E731
                                           np.array([1 / 1024], np.float32))
        w = Weight((rows, cols), make(np.where(kept, c, 0).astype(c.dtype)), idx)
        bq = self.rng.integers(-bias, bias + 1, rows).astype(np.int64)
        acc = (self.act - self.act_q.zero_point) @ w.dense_int().reshape(rows, cols).T.astype(np.int64) + bq
        assert np.abs(acc).max() < 2**31 - 1, "accumulator overflow in the test model"
        f = gain * (out_q.qmax - out_q.qmin) / 2.5 / max(float(np.abs(acc).max()), 1.0)
        factors = f * self.rng.uniform(0.5, 1.5, rows) if per_channel else f
        name = f"fc{len(self.m.layers)}"
        self.m.layers[name] = Dense(name, [self.prev], in_features=cols, out_features=rows, weight=w,
                                    bias=np.zeros(rows, np.float32), bias_q=bq.astype(np.int32),
                                    requant=requant(mode, factors), quant=out_q)
        self.prev, self.n = name, rows
        if relu:
            self.m.layers[name + "_relu"] = ReLU(name + "_relu", [name], quant=out_q)
            self.prev = name + "_relu"
        self.m.outputs = [self.prev]
        self.act = run_int(self.m, self.x)[self.prev]
        self.act_q = out_q
        return self

    def model(self):
        return self.m


def samples(in_q, n, rng, k=5):
    """All-zero, all at the zero point, then random samples over the input's full range."""
    xs = [np.zeros(n, np.int64), np.full(n, in_q.zero_point)]
    xs += [rng.integers(in_q.qmin, in_q.qmax + 1, n) for _ in range(k)]
    return np.clip(np.stack(xs), in_q.qmin, in_q.qmax)


def mask_of(rng, rows, cols, density):
    return rng.random((rows, cols)) < density


def edge_masks(rng, rows, cols, n_pe):
    """One mask with an empty column, a column whose two non-zeros sit 17 local rows apart in
    PE 0 (a gap longer than the 4-bit relative index: a filler), a full column."""
    m = mask_of(rng, rows, cols, 0.4)
    m[:, 0] = False                       # empty column
    m[:, 1] = False
    m[[0, 17 * n_pe], 1] = True           # filler in PE 0
    m[:, 2] = True                        # full column
    return m


def one_pe_mask(rng, rows, cols, n_pe):
    """Every non-zero in PE 0 (rows i % n_pe == 0): that PE's FIFO stays full."""
    m = np.zeros((rows, cols), bool)
    m[::n_pe] = True
    return m


def run_check(model, cfg, x):
    from hwq.sim.check import check

    r = check(model, plan_model(model, cfg), x)
    bad = [(l["name"], l["first_mismatch"], l.get("counter_mismatch")) for l in r["layers"] if not l["match"]]
    assert r["match"], bad
    assert r["cycles_rtl"] == r["cycles_model"]
    for layer in r["layers"]:
        assert layer["cycles_rtl"] == layer["cycles_model"] and layer["pe_busy"] == layer["pe_busy_model"]
    return r


def pow2_grid_model(n_pe, seed):
    """pow2 weights (5-bit codes), shift and multiplier requant, 4/8/12/16-bit signed and
    unsigned activations, non-zero zero points, densities 0 % and 100 %, saturating outputs,
    the pow2 range limits (shifts 0 and 14), an empty column, fillers, a 1x1 layer."""
    rng = np.random.default_rng(seed)
    rows = 17 * n_pe + 3
    ch = Chain(f"grid_pow2_{n_pe}", 24, q(8, False, 100), "pow2", 5, seed)
    ch.add(mask_of(rng, 20, 24, 1.0), q(12, True, -300), "multiplier", codes=[1, 16 + 1])        # 100 %, shift 0
    ch.add(edge_masks(rng, rows, 20, n_pe), q(4, False, 3), "shift", relu=True,
           codes=[1, 2, 3, 4, 17, 18, 19, 20])                                                   # relu, 4-bit, filler
    ch.add(mask_of(rng, 12, rows, 0.5), q(8, True, 0), "shift", codes=[15, 16 + 15], gain=4)      # shift 14, saturates
    ch.add(mask_of(rng, 5, 12, 1.0), q(16, False, 7), "multiplier")
    ch.add(mask_of(rng, 1, 5, 1.0), q(12, False, 0), "shift", codes=[1, 2, 3, 17, 18])           # 5 -> 1
    ch.add(np.ones((1, 1), bool), q(8, True, -5), "multiplier")                                  # 1x1
    ch.add(mask_of(rng, 3, 1, 0.0), q(16, True, 1000), "multiplier", bias=3000)                  # 0 %: bias only
    return ch.model(), ch.x


def codebook_grid_model(n_pe, seed):
    """Codebook weights (4-bit), per-channel multipliers, every non-zero in one PE, more PEs
    than rows, signed 12-bit input with a non-zero zero point, fillers, a 1x1 layer."""
    rng = np.random.default_rng(seed)
    ch = Chain(f"grid_cb_{n_pe}", 20, q(12, True, -1234), "codebook", 4, seed)
    ch.add(one_pe_mask(rng, 4 * n_pe, 20, n_pe), q(8, False, 128), "multiplier", per_channel=True,
           bias=10**7)                                                                           # one PE
    ch.add(edge_masks(rng, 17 * n_pe + 1, 4 * n_pe, n_pe), q(12, False, 2047), "shift", relu=True)
    ch.add(mask_of(rng, max(1, n_pe // 2 - 1), 17 * n_pe + 1, 0.7), q(4, True, -1), "multiplier",
           gain=4)                                                                                  # rows < n_pe
    ch.add(np.ones((1, max(1, n_pe // 2 - 1)), bool), q(16, True, 0), "shift")
    ch.add(np.ones((1, 1), bool), q(8, False, 0), "multiplier", relu=True)                       # 1x1
    return ch.model(), ch.x


def ternary_grid_model(n_pe, seed):
    """Ternary weights {+pos, 0, -neg} (ternary mode: add/subtract of the broadcaster's scaled
    activations): pos != neg, positive-only and negative-only layers (a zero magnitude), the
    16-bit magnitude limit 65535 (top bit set: unsigned), every non-zero in one PE, fillers and
    an empty column, more PEs than rows, saturating outputs, a 1x1 layer, density 0 %."""
    rng = np.random.default_rng(seed)
    ch = Chain(f"grid_tern_{n_pe}", 20, q(4, False, 2), "ternary", 2, seed)
    ch.add(one_pe_mask(rng, 4 * n_pe, 20, n_pe), q(8, True, -3), "multiplier", mags=[65535, 65535],
           per_channel=True)                                                                      # limit, one PE
    ch.add(edge_masks(rng, 17 * n_pe + 1, 4 * n_pe, n_pe), q(12, False, 100), "shift", relu=True,
           mags=[7, 300])                                                                         # filler, relu
    ch.add(mask_of(rng, max(1, n_pe // 2 - 1), 17 * n_pe + 1, 0.6), q(8, True, 0), "multiplier",
           codes=[1], mags=[5, 0], gain=4)                                                        # +pos only, saturates
    ch.add(mask_of(rng, 6, max(1, n_pe // 2 - 1), 1.0), q(16, True, -7), "shift", codes=[-1], mags=[0, 9])
    ch.add(np.ones((1, 6), bool), q(8, False, 0), "multiplier", relu=True)
    ch.add(np.ones((1, 1), bool), q(8, True, 1), "multiplier")                                     # 1x1
    ch.add(mask_of(rng, 3, 1, 0.0), q(8, True, 5), "shift", bias=50)                              # 0 %: bias only
    return ch.model(), ch.x


# every n_pe in {1, 2, 4, 8, 16} and FIFO depth in {1, 2, 8}, all three weight modes
GRID = [
    (1, 1, "pow2"),
    (1, 8, "codebook"),
    (2, 8, "pow2"),
    (4, 8, "codebook"),
    (8, 1, "pow2"),
    (8, 2, "codebook"),
    (16, 8, "pow2"),
    (16, 1, "codebook"),
    (1, 2, "ternary"),
    (4, 1, "ternary"),
    (16, 8, "ternary"),
]


@pytest.mark.parametrize("n_pe,fifo,mode", GRID)
def test_grid_bit_and_cycle_exact(n_pe, fifo, mode, tmp_path, monkeypatch):
    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    bits = {"pow2": 5, "codebook": 4, "ternary": 2}[mode]
    cfg = EieConfig(n_pe=n_pe, fifo_depth=fifo, weight_mode=mode, weight_bits=bits, **MEM)
    build = {"pow2": pow2_grid_model, "codebook": codebook_grid_model, "ternary": ternary_grid_model}[mode]
    m, x = build(n_pe, seed=n_pe)
    run_check(m, cfg, x)
    if mode != "pow2":  # a random ternary MLP runs in codebook mode and in ternary mode, same build
        t = random_mlp(layers=f"{2 * n_pe + 3},{n_pe + 1},3", density=0.5, encoding="ternary", seed=3 + n_pe)
        run_check(t, cfg, samples(t.inputs[0].quant, 2 * n_pe + 3, np.random.default_rng(1), k=2))


@pytest.mark.parametrize("n_pe,fifo,mode", [(3, 1, "pow2"), (4, 2, "codebook")])
def test_balanced_row_map_bit_and_cycle_exact(n_pe, fifo, mode, tmp_path, monkeypatch):
    """row_map balanced: rows permuted per layer (bias, per-channel requant and the next layer's
    columns with them, the final output read back through the permutation), same Verilog; the
    outputs equal the golden model's and every count the cycle model's."""
    monkeypatch.setenv("HWQ_CACHE", str(tmp_path.parent / "hwq-eie-cache"))
    cfg = EieConfig(n_pe=n_pe, fifo_depth=fifo, weight_mode=mode, weight_bits=5 if mode == "pow2" else 4,
                    row_map="balanced", **MEM)
    m, x = (pow2_grid_model if mode == "pow2" else codebook_grid_model)(n_pe, seed=10 + n_pe)
    prog = plan_model(m, cfg)
    moved = [lp.name for lp in prog.layers
             if lp.row_perm is not None and not np.array_equal(lp.row_perm, np.arange(lp.layer.out_features))]
    assert len(moved) >= 2  # the map does permute, including a layer that feeds another
    run_check(m, cfg, x)
