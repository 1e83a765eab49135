"""Every seed method's output is accepted by the back ends (issue 16, quality bar).

Each ``--method`` compresses the digits MLP and LeNet with tiny settings; the result must pass
the validator after a save/load round trip, run in the integer golden model, run under gen-c on
the host bit for bit equal to the golden model (gen-c compares every layer with
``hwq.golden.run_int``), and, for the dense-only MLP, run on the EIE-style RTL under Icarus
bit-exact with the golden model and cycle-exact with the cycle model, or be refused in one line
where the accelerator cannot hold the encoding (product quantization: one codebook per layer).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwq import ir
from hwq.cli import main
from hwq.compress.methods.options import MethodParams
from hwq.compress.methods.run import compress_model_method
from hwq.compress.pipeline import parse_per_layer
from hwq.data.digits import Split, load_digits_split
from hwq.golden import run_int
from tests.genc_helpers import need_target

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# tiny settings: each method runs in well under a second or two on 300 training images
TINY = {
    "deep-compression": dict(prune=0.9, share_bits=4),
    "qcnn": dict(pq_dim=4, pq_k=8, ec_samples=200, ec_sweeps=2),
    "slq": dict(wbits=3, score_samples=100),
    "eslq": dict(wbits=3, score_samples=100, beta=1.0),
    "mlq": dict(score_samples=100),
    "ttq": dict(retrain_epochs=1),
    "sqs": dict(target_ratio=30, score_samples=100),
    "qp-codec": dict(qp=8192),
}
# LeNet's conv1 has one input channel: Q-CNN's sub-vector dimension must divide it
LENET = {**TINY, "deep-compression": dict(prune=0.5, share_bits=4), "sqs": dict(target_ratio=10, score_samples=100),
         "qcnn": dict(TINY["qcnn"], pq_dim=parse_per_layer("--pq-dim", "conv1=1,*=4", int))}
# the accelerator holds one codebook (or pow2 table) per layer: PQ's per-subspace codebooks are refused
NOT_ON_EIE = {"qcnn": "distinct weight values"}


@pytest.fixture(scope="module")
def digits():
    d = load_digits_split()
    return d, Split(d.x_train[:300], d.y_train[:300], d.x_test, d.y_test)


_CACHE: dict = {}


def compressed(net: str, method: str, digits, tmp_path_factory) -> Path:
    """The method's IR file for ``net`` (compressed once per test session)."""
    if (net, method) not in _CACHE:
        d, small = digits
        kw = (TINY if net == "mlp" else LENET)[method]
        res = compress_model_method(ir.load(EXAMPLES / f"digits_{net}.ir"), small,
                                    MethodParams(method=method, data="digits", act_bits=8, seed=0, **kw))
        path = tmp_path_factory.mktemp("methods") / f"{net}_{method}.ir"
        ir.save(res.model, path)
        _CACHE[net, method] = path
    return _CACHE[net, method]


def _inputs(model, d, n):
    return d.x_test[:n].reshape((n,) + tuple(model.inputs[0].shape))


@pytest.mark.parametrize("net", ["mlp", "lenet"])
@pytest.mark.parametrize("method", list(TINY))
def test_method_output_validates_and_runs_bit_exact_in_gen_c(method, net, digits, tmp_path, tmp_path_factory):
    from hwq.codegen import gen_c

    d, _ = digits
    m = ir.load(compressed(net, method, digits, tmp_path_factory))  # load validates
    assert m.is_quantized and all(l.weight.is_integer for l in m.weighted())
    x = _inputs(m, d, 40)
    y = run_int(m, x)[m.outputs[0]]
    acc = float((y.reshape(len(x), -1).argmax(1) == d.y_test[:40]).mean())
    assert acc > 0.3, f"{method} on {net}: integer accuracy {acc:.2f} (chance 0.1)"  # tiny settings
    need_target("host")
    rep = gen_c(m, "host", tmp_path / "c", x=x[:4], run=True)
    bad = [l["name"] for l in rep["layers"] if not l["match"]]
    assert rep["match"] and not bad and rep["samples"] == 4, f"gen-c mismatch in {bad}"
    assert {l["name"] for l in rep["layers"]} >= {l.name for l in m.weighted()}


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="icarus not installed: apt-get install iverilog")
@pytest.mark.parametrize("method", list(TINY))
def test_method_output_on_the_accelerator_rtl(method, digits, tmp_path_factory, monkeypatch):
    """``hwq simulate`` (the CLI, on the file) on one digits sample: outputs bit-exact with the
    golden model, cycles equal to the cycle model; or one line and exit 1."""
    import json

    monkeypatch.setenv("HWQ_CACHE", str(tmp_path_factory.getbasetemp() / "hwq-eie-cache"))
    path = compressed("mlp", method, digits, tmp_path_factory)
    r = CliRunner().invoke(main, ["simulate", str(path), "--samples", "1", "--json"])
    if method in NOT_ON_EIE:
        assert r.exit_code == 1 and NOT_ON_EIE[method] in r.stderr and len(r.stderr.strip().splitlines()) == 1
        return
    assert r.exit_code == 0, r.output + r.stderr
    rep = json.loads(r.output)
    assert rep["match"] and rep["samples"] == 1 and rep["cycles_rtl"] == rep["cycles_model"]
    assert rep["layers"][-1]["golden"] == ir.load(path).outputs[0]  # the whole model ran


def test_methods_cli_file_runs_in_gen_c(tmp_path):
    """The command line end to end: compress --method writes a file gen-c --run accepts."""
    need_target("host")
    out = tmp_path / "slq.ir"
    r = CliRunner().invoke(main, ["compress", str(EXAMPLES / "digits_mlp.ir"), "-o", str(out), "--method", "slq",
                                  "--bits", "3", "--score-samples", "50", "--data", "digits", "--act-bits", "8"])
    assert r.exit_code == 0, r.output + r.stderr
    r = CliRunner().invoke(main, ["gen-c", str(out), "--target", "host", "-o", str(tmp_path / "c"), "--run"])
    assert r.exit_code == 0 and "PASS" in r.output, r.output + r.stderr
