"""Energy tables: the numbers of the sources, interpolation by formula, totals = sum of parts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hwq.cost.energy import EnergyTable, table_names
from hwq.cost.estimate import estimate_model
from hwq.cost.traffic import Level
from hwq.errors import HwqError
from tests.factories import cnn, mlp


def test_bundled_tables_give_their_sources_numbers():
    t = EnergyTable.load("horowitz45")
    # Horowitz ISSCC 2014 (shared/notes/energy.md): int mult 8/32 bit, int add 8/32 bit, fp32
    assert t.op_pj("mult:8x8") == pytest.approx(0.2)
    assert t.op_pj("mult:32x32") == pytest.approx(3.1)
    assert t.op_pj("add:8") == pytest.approx(0.03)
    assert t.op_pj("add:32") == pytest.approx(0.1)
    assert t.op_pj("fp_mult:32") == pytest.approx(3.7) and t.op_pj("fp_add:32") == pytest.approx(0.9)
    assert t.op_pj("fp_add:16") == pytest.approx(0.4) and t.op_pj("fp_mult:16") == pytest.approx(1.1)
    # the stated shift assumption: a shift costs an add of the same width
    assert t.op_pj("shift:32") == t.op_pj("add:32") and t.op_pj("shift:20") == t.op_pj("add:20")
    # SRAM 64-bit read: 10 pJ at 8 KB, 20 pJ at 32 KB, 100 pJ at 1 MB; DRAM 1300 pJ per 64 bits
    per_byte = lambda kind, size=None: t.memory_pj_per_byte(Level(kind, kind, size))  # noqa: E731
    assert per_byte("sram", 8192) == pytest.approx(10 / 8)
    assert per_byte("sram", 32768) == pytest.approx(20 / 8)
    assert per_byte("sram", 1 << 20) == pytest.approx(100 / 8)
    assert per_byte("sram", 16384) == pytest.approx(math.sqrt(10 * 20) / 8)  # power law: geometric mean
    assert per_byte("dram") == pytest.approx(1300 / 8)
    assert per_byte("rf") == pytest.approx(1.0 / 4)  # Han et al.: ~1 pJ per 32-bit RF access
    h = EnergyTable.load("han2015")  # Han et al. 2015: 640 pJ DRAM, 5 pJ SRAM per 32-bit access
    assert h.memory_pj_per_byte(Level("d", "dram")) == pytest.approx(640 / 4)
    assert h.memory_pj_per_byte(Level("s", "sram", 1 << 30)) == pytest.approx(5 / 4)
    assert set(table_names()) >= {"horowitz45", "han2015"}


def test_multiplier_width_rule():
    t = EnergyTable.load("horowitz45")
    k = math.log(3.1 / 0.2) / math.log(4)  # power law through (8, 0.2) and (32, 3.1)
    assert t.op_pj("mult:8x16") == pytest.approx(0.2 * (math.sqrt(8 * 16) / 8) ** k)
    assert t.op_pj("mult:16x16") == pytest.approx(0.2 * 2 ** k)


@pytest.mark.parametrize("table", ["horowitz45", "han2015"])
@pytest.mark.parametrize("encoding,sparse", [("int8", "none"), ("codebook", "csc"), ("pow2", "csr"),
                                             ("ternary", "csc"), ("pq", "none")])
def test_energy_total_is_the_sum_of_components(table, encoding, sparse):
    rng = np.random.default_rng(1)
    t = EnergyTable.load(table)
    for m in (mlp(rng, encoding=encoding, sparse=sparse), cnn(rng, encoding=encoding, sparse=sparse)):
        rep = estimate_model(m, energy_table=table)
        for r in rep["layers"] + [rep["total"]]:
            e = r["energy_pj"]
            assert e["total"] == pytest.approx(sum(v for k, v in e.items() if k != "total"))
        for r in rep["layers"]:  # each component = its action counts x the table
            e = r["energy_pj"]
            for kind in ("mult", "add", "shift", "lookup", "requant", "compare"):
                want = sum(n * t.op_pj(k) for k, n in r["ops"].items() if k.split(":")[0] == kind)
                assert e.get(kind, 0.0) == pytest.approx(want)
            assert e["dram"] == pytest.approx(r["traffic_bytes"]["dram"] * 1300 / 8 if table == "horowitz45"
                                              else r["traffic_bytes"]["dram"] * 640 / 4)
        tot = rep["total"]["energy_pj"]
        for k in tot:
            assert tot[k] == pytest.approx(sum(r["energy_pj"][k] for r in rep["layers"]))


def test_user_table_file_json_and_yaml(tmp_path):
    data = json.loads(json.dumps(EnergyTable.load("han2015").data))
    data["memory"]["dram"]["pj"] = 1000
    (tmp_path / "t.json").write_text(json.dumps(data))
    t = EnergyTable.load(str(tmp_path / "t.json"))
    assert t.memory_pj_per_byte(Level("d", "dram")) == pytest.approx(1000 / 4)
    import yaml

    (tmp_path / "t.yaml").write_text(yaml.safe_dump(data))
    assert EnergyTable.load(str(tmp_path / "t.yaml")).op_pj("add:32") == pytest.approx(0.1)


@pytest.mark.parametrize("text,msg", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be an object"),
    ('{"ops": {}, "memory": {"dram": {"pj": 1, "access_bits": 64}}}', "missing"),
    ('{"ops": {}, "memory": {"dram": {"pj": -1, "access_bits": 64}, "sram": {"pj": 1, "access_bits": 8},'
     ' "rf": {"pj": 1, "access_bits": 8}}}', "non-negative"),
])
def test_malformed_tables(tmp_path, text, msg):
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(HwqError, match=msg):
        EnergyTable.load(str(tmp_path / "bad.json"))
    with pytest.raises(HwqError, match="neither a file nor a known table"):
        EnergyTable.load("no-such-table")
