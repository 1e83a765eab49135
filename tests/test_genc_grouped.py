"""Code-grouped rows (hwq/kernels/grouped.py): the repacked stream against the IR's integer
weights, and the kernels (Thumb-2 on Cortex-M4/M55, AArch64 on Cortex-A53, portable C on the
host) against the golden model, bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwq import ir
from hwq.codegen import gen_c
from hwq.kernels.grouped import group_layout
from hwq.compress.random_model import random_mlp, random_weight
from hwq.ir.sparse import encode
from tests.factories import cnn, mlp
from tests.genc_helpers import merge, need_target, pow2_shift_limits, with_zero_points

M32 = (1 << 32) - 1


def check(rep):
    bad = [l["name"] for l in rep["layers"] if not l["match"]]
    assert rep["match"] and not bad, f"mismatch in {bad}"


def run_stream(gr, rows: int, x: np.ndarray) -> np.ndarray:
    """Interpret the stream as the kernels do (running sum, one step per group), modulo 2^32;
    with lanes > 1 the count is in vectors and the padding index reads the zero after x."""
    out = np.zeros(rows, np.int64)
    xz = np.concatenate([x, [0]])
    p = 0
    for o in range(rows):
        a = s = 0
        for gs in gr.groups:
            n = int(gr.stream[p]) * gr.lanes
            cols = gr.stream[p + 1:p + 1 + n].astype(np.int64)
            p += 1 + n
            k = int(np.count_nonzero(cols < x.size))  # the entries, then less than a vector of padding
            assert np.all(cols[k:] == x.size) and n - k < gr.lanes
            t = int(xz[cols].sum())
            s = (s + t if gs.op == "add" else s - t) & M32
            if gr.mode == "abel":
                a = (a + s * int(gr.coef[gs.coef])) & M32
            else:
                s = (s << gs.shift) & M32
        if gr.mode == "horner":
            a = (a + (s << gr.final_shift)) & M32
        out[o] = a
    assert p == gr.stream.size
    return out


def to_csr(w: ir.Weight, index_bits: int) -> ir.Weight:
    """The same weights in CSR with ``index_bits`` relative indices (fillers where gaps are long)."""
    codes = w.values.code_array().reshape(w.matrix_shape)
    sp, src = encode(codes != 0, "csr", index_bits)
    flat = codes.reshape(-1)
    stored = np.where(src >= 0, flat[np.maximum(src, 0)], 0).astype(codes.dtype)
    values = dataclasses.replace(w.values, **{w.values.code_tensor: stored})
    return ir.Weight(w.shape, values, sp)


@pytest.mark.parametrize("enc,bits,layout", [("codebook", 4, "csr"), ("codebook", 2, "csc"), ("codebook", 5, "csr"),
                                             ("pow2", 3, "csr"), ("pow2", 5, "csc"), ("pow2", 7, "csr"),
                                             ("ternary", 2, "csr")])
def test_stream_reproduces_the_integer_weights(enc, bits, layout):
    """sum_i w_int[o, i] x[i] modulo 2^32, from the IR's own integer weights, against the stream
    (empty rows, a zero centroid, 7-bit pow2 shifts past 32, huge activations)."""
    rng = np.random.default_rng(bits)
    w = random_weight(rng, (37, 300), enc, 0.08, bits, layout, 3)
    if enc == "codebook":
        w.values.codebook[1] = 0  # a zero centroid: its entries are dropped
    codes = getattr(w.values, w.values.code_tensor)
    codes[w.sparse.coordinates()[0] == 5] = 0  # row 5 empty
    gr = group_layout(ir.Dense("fc", ["x"], in_features=300, out_features=37, weight=w))
    assert gr is not None
    x = rng.integers(-(1 << 15), 1 << 15, 300)
    ref = (w.dense_int().astype(object) @ x.astype(object)) % (1 << 32)
    np.testing.assert_array_equal(run_stream(gr, 37, x), ref.astype(np.int64))
    nnz = int(np.count_nonzero(w.dense_int()))
    assert gr.nnz == nnz and gr.stream.size == nnz + 37 * len(gr.groups)
    # padded to vectors of 8 (the MVE kernel): the same sums, every (row, group) a multiple of 8
    g8 = group_layout(ir.Dense("fc", ["x"], in_features=300, out_features=37, weight=w), lanes=8)
    np.testing.assert_array_equal(run_stream(g8, 37, x), ref.astype(np.int64))
    assert g8.nnz == nnz and g8.stream.size == 37 * len(g8.groups) + 8 * g8.units and g8.units >= nnz / 8


def grouped_models(seed: int = 0) -> list[ir.Model]:
    """What the grouped kernels must run: conv (im2col) and dense, int8 and uint8 and 12-bit
    activations, codebook/pow2/ternary from CSR and CSC, 2- to 5-bit codes, empty rows,
    fillers, non-zero zero points (one merged model per input)."""
    rng = np.random.default_rng(seed)
    encs = ("codebook", "pow2", "ternary")
    cnns = merge({e: cnn(rng, e, "csr", index_bits=2, density=0.4) for e in encs}, "g_cnn")
    mlps = {e: mlp(rng, e, "csc", index_bits=1, density=0.3) for e in encs}
    mlps["codebook_12bit"] = mlp(rng, "codebook", "csr", index_bits=3, density=0.5, act_bits=12)
    wide = {f"pow2_{b}": random_mlp("96,33,7", density=0.2, encoding="pow2", bits=b, sparse="csr", index_bits=3,
                                    seed=seed) for b in (3, 5)}
    wide["codebook"] = random_mlp("96,40,5", density=0.03, encoding="codebook", bits=4, sparse="csr", index_bits=4,
                                  seed=seed)
    return [with_zero_points(cnns, {"codebook_c1": 4}), with_zero_points(merge(mlps, "g_mlp"), {"x": -3, "pow2_fc1": 3}),
            merge(wide, "g_wide")]


PATH = {"host": "c", "cortex-a53": "a64", "cortex-m4": "thumb2", "cortex-m55": "mve"}


@pytest.mark.parametrize("target", list(PATH))
def test_grouped_kernels_match_the_golden_model(tmp_path, target):
    need_target(target)
    path = PATH[target]
    for k, m in enumerate(grouped_models()):
        rep = gen_c(m, target, tmp_path / f"g{k}", run=True, count=False, grouped=True)
        check(rep)
        n = sum(f"/grouped/{path}" in l["kernel"] for l in rep["layers"])
        assert n == len(m.weighted())  # every weighted layer ran grouped


@pytest.mark.parametrize("target", ["cortex-a53", "cortex-m4", "cortex-m55"])
def test_grouped_shifts_at_the_range_limits(tmp_path, target):
    """7-bit pow2 shifts 62, 31, 32 (docs/semantics.md: shifts >= 32 give 0) through the
    Horner doublings of the grouped kernel, from CSR with fillers."""
    need_target(target)
    m, x = pow2_shift_limits()
    m.layers["fc"].weight = to_csr(m.layers["fc"].weight, 2)
    ir.validate(m)
    rep = gen_c(m, target, tmp_path / "s", x=x, run=True, count=False, grouped=True)
    check(rep)
    assert rep["layers"][0]["kernel"].startswith(f"dense/csr+pow2/grouped/{PATH[target]}")
    assert rep["excluded_samples"] == []


def test_grouped_is_chosen_where_it_is_faster(tmp_path):
    """Auto: EIE-style 10 % layers run grouped on Cortex-M4, tiny rows keep the IR's entries."""
    need_target("cortex-m4")
    m = random_mlp("784,64,16", density=0.1, encoding="codebook", bits=4, sparse="csr", index_bits=4)
    rep = gen_c(m, "cortex-m4", tmp_path / "a")
    kinds = {l["name"]: l["kernel"] for l in rep["layers"]}
    assert kinds["fc1"] == "dense/csr+codebook/grouped/thumb2+relu"
    assert kinds["fc2"] == "dense/csr+codebook/plain/thumb2"  # 6 entries per row, 15 codes


def sized_groups(enc: str, seed: int = 0) -> ir.Model:
    """A CSR layer whose (row, group) counts run through 0..17 (around MVE's 8 lanes: empty,
    one, 7, 8, 9, 16, 17 entries), every non-zero code used, an empty row, rows that saturate
    at both ends, a non-zero input zero point."""
    rng = np.random.default_rng(seed)
    bits = {"codebook": 4, "pow2": 4, "ternary": 2}[enc]
    m = random_mlp("300,18", density=0.3, encoding=enc, bits=bits, sparse="csr", index_bits=4, seed=seed)
    fc = m.layers["fc1"]
    codes = {"codebook": list(range(1, 16)), "pow2": [k | s << 3 for k in range(1, 8) for s in (0, 1)],
             "ternary": [1, -1]}[enc]
    vals = fc.weight.values
    dense = np.zeros((18, 300), getattr(vals, vals.code_tensor).dtype)
    for r in range(17):  # row 17 stays empty
        perm, pos = rng.permutation(300), 0
        for gi, c in enumerate(codes):
            n = (r + 5 * gi) % 18
            dense[r, perm[pos:pos + n]] = c
            pos += n
    w = ir.Weight((18, 300), dataclasses.replace(vals, **{vals.code_tensor: dense.reshape(-1)}))
    fc.weight = to_csr(w, 4)
    fc.bias_q[0], fc.bias_q[1] = 1 << 28, -(1 << 28)  # saturate high and low
    return with_zero_points(ir.validate(m), {"input": 7})


@pytest.mark.parametrize("target", list(PATH))
def test_group_sizes_around_the_vector_width(tmp_path, target):
    """Every grouped kernel (MVE's padded vectors on Cortex-M55) on groups of 0..17 entries,
    bit-exact for codebook, pow2 and ternary; the counts really cover 0..17."""
    need_target(target)
    m = merge({e: sized_groups(e, k) for k, e in enumerate(("codebook", "pow2", "ternary"))}, "sizes")
    for layer in m.weighted():
        gr = group_layout(layer)  # entries per (row, group), read off the unpadded stream
        p, counts = 0, set()
        for _ in range(18 * len(gr.groups)):
            counts.add(int(gr.stream[p]))
            p += 1 + int(gr.stream[p])
        assert counts == set(range(18)), layer.name
    x = np.random.default_rng(9).integers(0, 256, (4, 300))
    x[0] = 255
    rep = gen_c(m, target, tmp_path / "s", x=x, run=True, count=False, grouped=True)
    check(rep)
    assert rep["excluded_samples"] == []
    assert all(f"/grouped/{PATH[target]}" in l["kernel"] for l in rep["layers"])
    y = np.load(rep["output"])  # the first output (codebook): rows 0 and 1 clamp high and low
    q = m.layers[m.outputs[0]].quant
    assert (y[:, 0] == q.qmax).all() and (y[:, 1] == q.qmin).all()


@pytest.mark.parametrize("density", [0.1, 1.0])
def test_mve_pow2_kernel_has_no_multiply(tmp_path, density):
    """Cortex-M55, CSR at 10 % and dense pow2 (shift requantization): gen-c picks the MVE
    code-grouped kernel, whose body gathers (VLDRB.U16 Qd, [Rn, Qm]) and adds across vectors
    (VADDVA) and holds no scalar or vector multiply."""
    import re
    import subprocess

    t = need_target("cortex-m55")
    m = random_mlp("200,40", density=density, encoding="pow2", bits=4, sparse="csr" if density < 1 else "none",
                   index_bits=4, pow2_act=True)
    assert m.layers["fc1"].requant.mode == "shift"
    rep = gen_c(m, "cortex-m55", tmp_path / "p", run=True, count=False)
    check(rep)
    assert rep["layers"][0]["kernel"].startswith(("dense/csr+pow2/grouped/mve", "dense/pow2/grouped/mve"))
    asm = subprocess.run([t.size_tool.replace("size", "objdump"), "-d", "-m", "armv8.1-m.main", "--no-show-raw-insn",
                          str(tmp_path / "p" / "prog")], capture_output=True, text=True, check=True).stdout
    body = re.search(r"<hwq_random_mlp_L_fc1>:\n(.*?)\n\n", asm, re.S).group(1)
    assert re.search(r"\svldrb\.u16\s+q\d, \[r\d+, q\d\]", body) and "vaddva.u16" in body
    assert not re.search(r"\s(v?mul|v?mla\w*|mls|[su]mull|[su]mlal|smla\w*|smul\w*|smmul\w*|vml\w*|vqd?r?mul\w*)[.\s]", body)


@pytest.mark.parametrize("target", ["cortex-a53", "cortex-m55"])
def test_dense_pow2_shift_kernels(tmp_path, target):
    """Dense 4-bit pow2 through the per-lane shift kernels (NEON TBL + SSHL on Cortex-A53, MVE
    gathers + VSHL on Cortex-M55): every code (zero, +-2^0..+-2^6), row counts not a multiple of
    the rows per pass (2, 4) and row lengths not a multiple of 8 or 16 code bytes (tails),
    uint8 and int8 activations at their limits, a non-zero zero point, saturating rows;
    against the golden model. Without a multiply in the pow2-requantized kernels."""
    import re
    import subprocess

    from tests.factories import mlp

    t = need_target(target)
    subs = {}
    for k, shape in enumerate(("202,7", "202,5", "202,3")):  # 101 code bytes a row: tails on both
        m = random_mlp(shape, density=1.0, encoding="pow2", bits=4, sparse="none", pow2_act=k == 0, seed=k)
        codes = m.layers["fc1"].weight.values.codes
        codes[:16] = [c for c in range(16) if c != 8] + [15]  # every code at least once
        if k == 2:
            m.layers["fc1"].bias_q[0], m.layers["fc1"].bias_q[1] = 1 << 24, -(1 << 24)
        subs[f"p{k}"] = ir.validate(m)
    m = merge(subs, "shifts")
    m = with_zero_points(m, {"input": 3})
    x = np.random.default_rng(3).integers(0, 256, (3, 202))
    x[0], x[1, :100] = 255, 0
    rep = gen_c(m, target, tmp_path / "a", x=x, run=True, count=False, grouped=False)  # (M55: grouped where it fits)
    check(rep)
    assert all("/pow2/shifts/" in l["kernel"] for l in rep["layers"]), [l["kernel"] for l in rep["layers"]]
    rng = np.random.default_rng(4)
    m2 = mlp(rng, "pow2", "none")  # int8 activations (12 -> 9 -> 4)
    m2.layers["fc1"].weight = ir.Weight(m2.layers["fc1"].weight.shape, ir.Pow2Values(
        rng.choice([c for c in range(16) if c != 8], m2.layers["fc1"].weight.size).astype(np.uint8), 4, -6))
    m2 = with_zero_points(ir.validate(m2), {"x": -5})
    rep = gen_c(m2, target, tmp_path / "b", run=True, count=False, grouped=False)
    check(rep)
    assert "/pow2/shifts/" in rep["layers"][0]["kernel"]
    asm = subprocess.run([t.size_tool.replace("size", "objdump"), "-d", "--no-show-raw-insn"]
                         + (["-m", "armv8.1-m.main"] if target == "cortex-m55" else []) + [str(tmp_path / "a" / "prog")],
                         capture_output=True, text=True, check=True).stdout
    body = re.search(r"<hwq_shifts_L_p0_fc1>:\n(.*?)\n\n", asm, re.S).group(1)
    assert re.search(r"\s(v?shl|sshl)", body)
    assert not re.search(r"\s(v?mul\w*|v?mla\w*|v?mls\w*|[su]mull\w*|[su]mlal\w*|smla\w*|smul\w*|smmul\w*|smaddl|madd|msub|vml\w*|vqd?r?mul\w*)[.\s]", body)


def test_dense_ternary_lane_masks_on_cortex_m55(tmp_path):
    """Dense ternary on MVE: per 16 columns the +1 and -1 lane masks, predicated VADDVA (adds
    only); row lengths not a multiple of 16 (37, 12, 9), odd row counts, pos != neg magnitudes,
    uint8 and int8 activations, non-zero zero points, saturating rows, conv layers (im2col);
    against the golden model."""
    need_target("cortex-m55")
    m = random_mlp("37,7,3", density=1.0, encoding="ternary", bits=2, sparse="none", seed=1)
    m.layers["fc1"].weight.values.magnitudes[:] = [3, 11]
    m.layers["fc1"].bias_q[0], m.layers["fc1"].bias_q[1] = 1 << 24, -(1 << 24)
    m = with_zero_points(ir.validate(m), {"input": 9})
    x = np.random.default_rng(2).integers(0, 256, (3, 37))
    x[0] = 255
    rep = gen_c(m, "cortex-m55", tmp_path / "a", x=x, run=True, count=False, grouped=False)
    check(rep)
    assert [l["kernel"].split("+relu")[0] for l in rep["layers"] if l["name"].startswith("fc")] == \
        ["dense/ternary/planes/mve"] * 2
    m2 = with_zero_points(ir.validate(mlp(np.random.default_rng(5), "ternary", "none")), {"x": -4})  # int8 activations
    rep = gen_c(m2, "cortex-m55", tmp_path / "b", run=True, count=False, grouped=False)
    check(rep)
    assert rep["layers"][0]["kernel"].startswith("dense/ternary/planes/mve")
    # conv (im2col): the lane masks read the column in place (a tail-predicated last step)
    m3 = with_zero_points(cnn(np.random.default_rng(6), "ternary", "none"), {"x": 2})
    rep = gen_c(m3, "cortex-m55", tmp_path / "c", run=True, count=False, grouped=False)
    check(rep)
    assert sum("/ternary/planes/mve" in l["kernel"] for l in rep["layers"]) == 3
    from hwq.codegen.planning import plan
    from hwq.codegen.project import scratch_bytes

    need = scratch_bytes(m3, mve=True)
    for name in ("c1", "c2"):  # accumulators + column (+1) + the MVE code-grouped rows' copy of it (+1)
        rows, cols = m3.layers[name].weight.matrix_shape
        assert need(m3.layers[name]) >= rows * 4 + (cols + 1) + (cols + 1)
    assert plan(m3, need).arena_bytes > 0
