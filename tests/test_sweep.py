"""hwq sweep: points on Dask equal points run one by one, shared compression, resume, a
killed worker, and bad specs refused before any work (tiny specs on the digits MLP)."""

import csv
from importlib.resources import files

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from hwq import ir
from hwq.cli import main
from hwq.sweep import execute, run_sweep, stages
from hwq.sweep.pareto import front
from hwq.sweep.spec import Objective
from tests import sweep_stages

MLP = "digits_mlp.ir"  # a shipped example; the spec resolves it
TINY = {"model": MLP, "data": "digits", "seed": 0, "stages": ["compress", "accuracy"],
        "compress": {"prune": [0.8, 0.9], "scheme": "codebook", "bits": [3, 4], "act_bits": 8},
        "constraints": ["acc_drop <= 50"]}


def write_spec(tmp_path, doc, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


def results(out):
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def without_timings(rows):
    return [{k: v for k, v in r.items() if not k.startswith("t_")} for r in rows]


@pytest.fixture
def extra_stages():
    added = [sweep_stages.KILL, sweep_stages.COUNT, sweep_stages.KNOB]
    for s in added:
        stages.register(s)
    yield
    for s in added:
        stages.REGISTRY.pop(s.name)


def test_dask_rows_equal_one_by_one_and_the_library(tmp_path):
    spec = write_spec(tmp_path, TINY)
    serial = run_sweep(spec, tmp_path / "serial", serial=True, progress=False, echo=lambda s: None)
    dask = run_sweep(spec, tmp_path / "dask", workers=2, processes=False, progress=False, echo=lambda s: None)
    a, b = without_timings(results(tmp_path / "serial")), without_timings(results(tmp_path / "dask"))
    assert len(a) == 4 and a == b
    assert len({r["point"] for r in a}) == 4
    again = run_sweep(spec, tmp_path / "again", serial=True, progress=False, echo=lambda s: None)
    assert without_timings(again.rows) == a  # deterministic per point
    assert serial.computed == dask.computed == 4

    # one point against the library called directly (no sweep code)
    from hwq.compress.pipeline import CompressOptions, compress_model, load_data
    from hwq.info import model_info
    from hwq.train.evaluate import accuracy

    model = ir.load(str(files("hwq.examples") / MLP))
    data = load_data("digits", model)
    row = next(r for r in a if r["prune"] == "0.9" and r["bits"] == "3")
    c = compress_model(model, CompressOptions(prune=0.9, share_bits=3, act_bits=8, data="digits"), data)
    assert float(row["acc"]) == pytest.approx(100 * accuracy(c, data.x_test, data.y_test, "int"), abs=1e-12)
    assert float(row["acc_base"]) == pytest.approx(100 * accuracy(model, data.x_test, data.y_test), abs=1e-12)
    assert int(row["storage_bytes"]) == (model_info(c)["storage_bits"]["total"] + 7) // 8
    assert float(row["density"]) == pytest.approx(model_info(c)["density"])
    assert row["feasible"] == ("true" if float(row["acc_drop"]) <= 50 else "false")


def test_compressed_model_shared_by_hardware_points(tmp_path, extra_stages, monkeypatch):
    count = tmp_path / "count.txt"
    monkeypatch.setenv("HWQ_TEST_COUNT_FILE", str(count))
    doc = {**TINY, "stages": ["compress", "count", "knob"], "compress": {"prune": [0.5, 0.9], "int8": True},
           "hardware": {"knob": [1, 2, 3]}, "constraints": [], "objectives": {"knob_bytes": "min"}}
    r = run_sweep(write_spec(tmp_path, doc), tmp_path / "out", workers=2, processes=False, progress=False,
                  echo=lambda s: None)
    rows = results(tmp_path / "out")
    assert len(rows) == 6
    assert len(count.read_text().splitlines()) == 2  # two compressed models, not six
    # each hardware point saw its own compression's model: knob_bytes / knob is one number per model
    per_model = {(x["prune"], int(x["knob_bytes"]) / int(x["knob"])) for x in rows}
    assert len(per_model) == 2 and len({p for p, _ in per_model}) == 2
    best = min(int(x["knob_bytes"]) for x in rows)
    assert [int(x["knob_bytes"]) for x in r.front] == [best] * len(r.front) and r.front


def test_resume_after_a_crash_skips_finished_points(tmp_path):
    spec = write_spec(tmp_path, TINY)
    out = tmp_path / "out"
    full = without_timings(run_sweep(spec, out, serial=True, progress=False, echo=lambda s: None).rows)
    text = (out / "results.csv").read_text().splitlines(keepends=True)
    # a crash: two rows written, the third torn in the middle
    (out / "results.csv").write_text("".join(text[:3]) + text[3][:10])
    r = run_sweep(spec, out, resume=True, workers=2, processes=False, progress=False, echo=lambda s: None)
    assert r.computed == 2
    assert without_timings(results(out)) == full
    again = run_sweep(spec, out, resume=True, progress=False, echo=lambda s: None)
    assert again.computed == 0 and without_timings(results(out)) == full


def test_killed_worker_point_is_retried_once_written(tmp_path, extra_stages, monkeypatch):
    marker = tmp_path / "killed"
    monkeypatch.setenv("HWQ_TEST_KILL_MARKER", str(marker))
    doc = {**TINY, "stages": ["compress", "accuracy", "kill-once"]}
    spec = write_spec(tmp_path, doc)
    r = run_sweep(spec, tmp_path / "dask", workers=2, processes=True, progress=False, echo=lambda s: None)
    assert marker.exists()  # a worker really died
    rows = results(tmp_path / "dask")
    assert sorted(x["point"] for x in rows) == sorted(p.pid for p in r.plan.points)  # none lost, none twice
    assert all(x["alive"] == "1" and not x["error"] for x in rows)
    ref = run_sweep(spec, tmp_path / "serial", serial=True, progress=False, echo=lambda s: None)
    assert without_timings(rows) == without_timings(ref.rows)


def test_pareto_front_against_brute_force():
    rng = np.random.default_rng(3)
    rows = [{"a": str(x), "b": str(y)} for x, y in rng.integers(0, 6, size=(60, 2))]
    objs = (Objective("a", "min"), Objective("b", "max"))
    got = front(rows, objs)
    pts = [(int(r["a"]), int(r["b"])) for r in rows]
    want = [r for r, (a, b) in zip(rows, pts)
            if not any(a2 <= a and b2 >= b and (a2, b2) != (a, b) for a2, b2 in pts)]
    assert got == want and got


def test_cli_sweep_writes_table_front_and_plot(tmp_path):
    spec = write_spec(tmp_path, {**TINY, "compress": {**TINY["compress"], "prune": 0.9}})
    res = CliRunner().invoke(main, ["sweep", str(spec), "-o", str(tmp_path / "out"), "--workers", "1",
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "Pareto front (max acc, min storage_bytes)" in res.output
    assert (tmp_path / "out" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(results(tmp_path / "out")) == 2
    again = CliRunner().invoke(main, ["sweep", str(spec), "-o", str(tmp_path / "out")])
    assert again.exit_code == 1 and "--resume" in again.stderr


BAD = [
    ({"compress": {"prune": 0.9, "colour": [1, 2]}}, "unknown compression axis 'colour'"),
    ({"compress": {"prune": []}}, "empty grid"),
    ({"compress": {"prune.fc9": [0.5]}}, "no weighted layer 'fc9'"),
    ({"compress": {"prune": [0.5, 1.5]}}, "rates must be in [0, 1)"),
    ({"hardware": {"n_pe": [4]}}, "no stage of this sweep takes hardware"),
    ({"constraints": ["acc >= 101"]}, "unreachable"),
    ({"constraints": ["energy_pj <= 5"]}, "no column 'energy_pj'"),
    ({"constraints": ["acc about 5"]}, "expected 'column <= number'"),
    ({"stages": ["compress", "simulate"], "hardware": {"n_pe": [0]}}, "n_pe = 0"),
    ({"stages": ["accuracy"]}, "needs stage compress before it"),
    ({"stages": ["compress", "teleport"]}, "unknown stage 'teleport'"),
    ({"objectives": {"acc": "most"}}, "neither min nor max"),
    ({"sampling": {"random": 0}}, "sampling.random"),
    ({"compress": {"prune": {"min": 0.5, "max": 0.9}}}, "needs sampling: {random: N}"),
    ({"colour": 1}, "unknown key 'colour'"),
    ({"model": "nope.ir"}, "model nope.ir: no such file"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m for _, m in BAD])
def test_bad_spec_one_line_exit_1_before_any_work(tmp_path, change, message):
    spec = write_spec(tmp_path, {**TINY, **change})
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["sweep", str(spec), "-o", str(out)])
    assert res.exit_code == 1
    assert message in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert not out.exists()


def test_scheduler_that_does_not_answer(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "CONNECT_TIMEOUT", 0.5)
    spec = write_spec(tmp_path, TINY)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["sweep", str(spec), "-o", str(out), "--scheduler", "tcp://127.0.0.1:9"])
    assert res.exit_code == 1
    assert "scheduler tcp://127.0.0.1:9: no answer" in res.stderr and res.stderr.count("\n") == 1
    assert not out.exists()


def test_random_sampling_is_seeded(tmp_path):
    from hwq.sweep.plan import make_plan
    from hwq.sweep.spec import load_spec

    doc = {**TINY, "sampling": {"random": 5, "seed": 7},
           "compress": {"prune": {"min": 0.5, "max": 0.95, "step": 0.05}, "scheme": "codebook",
                        "bits": {"min": 2, "max": 6}, "act_bits": 8}}
    p1 = make_plan(load_spec(write_spec(tmp_path, doc, "a.yaml")))
    p2 = make_plan(load_spec(write_spec(tmp_path, doc, "b.yaml")))
    assert [p.params for p in p1.points] == [p.params for p in p2.points]
    assert all(0.5 <= p.params["prune"] <= 0.95 and 2 <= p.params["bits"] <= 6 for p in p1.points)
    assert all(round(p.params["prune"] / 0.05, 9) % 1 == 0 for p in p1.points)
    other = make_plan(load_spec(write_spec(tmp_path, {**doc, "sampling": {"random": 5, "seed": 8}}, "c.yaml")))
    assert [p.params for p in other.points] != [p.params for p in p1.points]


ESTIMATE = {"model": MLP, "data": "digits", "stages": ["compress", "accuracy", "estimate"],
            "compress": {"prune": [0.9], "scheme": "codebook", "bits": 4, "act_bits": 8},
            "hardware": {"target": "generic", "macs_per_cycle": [16, 256], "sram_bytes": [8192, 1 << 20]}}


def test_estimate_rows_equal_estimate_model_and_share_compression(tmp_path):
    from hwq.compress.pipeline import CompressOptions, compress_model, load_data
    from hwq.cost.estimate import estimate_model

    r = run_sweep(write_spec(tmp_path, ESTIMATE), tmp_path / "out", workers=2, processes=False,
                  progress=False, echo=lambda s: None)
    rows = results(tmp_path / "out")
    assert len(rows) == 4 and len({p.ckey for p in r.plan.points}) == 1
    model = ir.load(str(files("hwq.examples") / MLP))
    data = load_data("digits", model)
    c = compress_model(model, CompressOptions(prune=0.9, share_bits=4, act_bits=8, data="digits"), data)
    for row in rows:
        cfg = {"macs_per_cycle": int(row["macs_per_cycle"]), "sram_bytes": int(row["sram_bytes"])}
        t = estimate_model(c, target="generic", config=cfg, x=data.x_test[:64])["total"]
        assert float(row["energy_pj"]) == t["energy_pj"]["total"] and float(row["cycles"]) == t["cycles"]
        assert row["fits"] == ("true" if all(t["fits"].values()) else "false")
    assert r.plot is not None


@pytest.mark.parametrize("hardware,message", [
    ({"target": "generic", "n_pee": [4]}, "target generic has no parameter 'n_pee'"),
    ({"target": "tpu9"}, "unknown target"),
    ({"target": "generic", "macs_per_cycle": [-4]}, "below its minimum"),
    ({"act_density": [1.5]}, "act_density 1.5"),
])
def test_bad_hardware_axes_refused_before_work(tmp_path, hardware, message):
    spec = write_spec(tmp_path, {**ESTIMATE, "hardware": hardware})
    res = CliRunner().invoke(main, ["sweep", str(spec), "-o", str(tmp_path / "out")])
    assert res.exit_code == 1 and message in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert not (tmp_path / "out").exists()
