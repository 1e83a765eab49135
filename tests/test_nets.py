"""``hwq random --net``: real layer shapes, the paper's densities, chunked sparse generation."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from hwq import ir
from hwq.cli import main
from hwq.compress import nets
from hwq.golden import run_int

# Deep Compression Tables 3 and 4, "#Weights" (grouped AlexNet convs counted per group)
LENET5_WEIGHTS = {"conv1": 500, "conv2": 25_000, "ip1": 400_000, "ip2": 5_000}


@pytest.mark.parametrize("fmt", ["csc", "csr", "none"])
@pytest.mark.parametrize("groups", [1, 2])
def test_chunked_weight_is_valid_and_block_diagonal(monkeypatch, fmt, groups):
    monkeypatch.setattr(nets, "CHUNK", 40)  # many chunks even for a tiny weight
    rng = np.random.default_rng(0)
    shape = (6, 4, 3, 3)
    w = nets.sparse_random_weight(rng, shape, "codebook", 0.3, 4, fmt, 2, groups=groups)
    w.check("w")
    nz = w.dense_int().reshape(6, -1) != 0
    if groups == 2:  # rows 0-2 read channels 0-1 (columns 0-17) only, rows 3-5 channels 2-3
        assert not nz[:3, 18:].any() and not nz[3:, :18].any()
    # every chunk holds round(0.3 x its size) non-zeros, before the block mask
    assert abs(nz.sum() - 0.3 * nz.size / groups) <= 0.3 * nz.size / groups * 0.25 + 2


def test_random_net_cli_lenet5_runs_in_the_golden_model(tmp_path):
    r = CliRunner().invoke(main, ["random", "--net", "lenet5", "-o", str(tmp_path / "l.ir"), "--seed", "3"])
    assert r.exit_code == 0, r.output
    m = ir.load(tmp_path / "l.ir")
    assert {l.name: l.weight.size for l in m.weighted()} == LENET5_WEIGHTS
    dens = {s.name: s.density for s in nets.NETS["lenet5"][1] if s.kind in ("conv", "fc")}
    for layer in m.weighted():
        nnz = np.count_nonzero(layer.weight.dense_int())
        assert nnz == pytest.approx(dens[layer.name] * layer.weight.size, rel=0.02)
    y = run_int(m, np.random.default_rng(0).random((2, 1, 28, 28)))
    assert y[m.outputs[0]].shape == (2, 10)
    est = CliRunner().invoke(main, ["estimate", str(tmp_path / "l.ir"), "--input", str(tmp_path / "x.npy")])
    assert est.exit_code == 1  # no such input file: one line
    np.save(tmp_path / "x.npy", np.random.default_rng(1).random((4, 1, 28, 28)))
    est = CliRunner().invoke(main, ["estimate", str(tmp_path / "l.ir"), "--input", str(tmp_path / "x.npy")])
    assert est.exit_code == 0 and "measured" in est.stdout


def test_alexnet_and_vgg_tables_match_the_paper_sizes():
    shapes = {}
    for net in ("alexnet", "vgg16"):
        in_shape, specs = nets.NETS[net]
        c, h = in_shape[0], in_shape[1]
        for s in specs:
            if s.kind == "conv":
                shapes[(net, s.name)] = s.out * (c // s.groups) * s.kernel ** 2
                h = (h + 2 * s.pad - s.kernel) // s.stride + 1
                c = s.out
            elif s.kind == "pool":
                h = (h - s.kernel) // s.stride + 1
            elif s.kind == "fc":
                shapes[(net, s.name)] = s.out * c
                c = s.out
            elif s.kind == "flatten":
                c = c * h * h
    # Table 4 (AlexNet) and Table 5 (VGG-16) "#Weights", rounded as printed
    assert shapes[("alexnet", "conv1")] == 34_848 and shapes[("alexnet", "conv2")] == 307_200
    assert shapes[("alexnet", "conv3")] == 884_736 and shapes[("alexnet", "conv4")] == 663_552
    assert shapes[("alexnet", "conv5")] == 442_368 and shapes[("alexnet", "fc6")] == 37_748_736
    assert shapes[("vgg16", "fc6")] == 102_760_448 and shapes[("vgg16", "conv1_1")] == 1_728
    total = sum(v for (n, _), v in shapes.items() if n == "vgg16")
    assert total == pytest.approx(138e6, rel=0.01)
    kept = sum(v * s.density for s in nets.NETS["vgg16"][1] for (n, k), v in shapes.items()
               if n == "vgg16" and k == s.name)
    assert kept / total == pytest.approx(0.075, abs=0.003)  # Table 5 total: 7.5 %


def test_bad_net():
    r = CliRunner().invoke(main, ["random", "--net", "resnet", "-o", "x.ir"])
    assert r.exit_code != 0
