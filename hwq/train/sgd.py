"""Minibatch SGD with momentum and softmax cross-entropy over an IR model graph."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from hwq import ir
from hwq.ir.layers import Input, Softmax, WeightedLayer
from hwq.ir.rewrite import with_float_weights
from hwq.train import layers as L
from hwq.train.params import FreeWeight


@dataclass
class TrainResult:
    params: dict  # layer name -> FreeWeight / SharedWeight / any object with value() and step()
    biases: dict[str, np.ndarray]  # layer name -> float64 (O,); layers without a bias are absent
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, loss, accuracy (train)
    best_epoch: int | None = None  # with ``select``: the epoch kept (0 = the starting point)
    scores: list[float] = field(default_factory=list)  # with ``select``: epochs 0..E


def _logits_layer(model: ir.Model) -> str:
    """The output is a Softmax (train on its input with fused softmax-CE) or raw logits."""
    if len(model.outputs) != 1:
        raise ValueError(f"{model.name}: training needs exactly one output, has {len(model.outputs)}")
    out = model.layers[model.outputs[0]]
    return out.inputs[0] if isinstance(out, Softmax) else out.name


def _as_batch(model: ir.Model, x: np.ndarray) -> np.ndarray:
    ins = model.inputs
    if len(ins) != 1:
        raise ValueError(f"{model.name}: training needs exactly one input, has {len(ins)}")
    x = np.asarray(x, dtype=np.float64)
    return x.reshape((x.shape[0],) + tuple(ins[0].shape))  # (N, 64) rows fit a (1, 8, 8) input too


def loss_and_grads(model: ir.Model, x: np.ndarray, y: np.ndarray, weights: dict[str, np.ndarray],
                   biases: dict[str, np.ndarray]):
    """One forward/backward pass. Returns (loss, logits, dL/dW by layer, dL/db by layer)."""
    logits_name = _logits_layer(model)
    order = [l for l in model.topo_order() if l.name != model.outputs[0] or l.name == logits_name]
    vals: dict[str, np.ndarray] = {}
    caches = {}
    for layer in order:
        if isinstance(layer, Input):
            vals[layer.name] = x
            continue
        vals[layer.name], caches[layer.name] = L.forward(
            layer, [vals[i] for i in layer.inputs], weights.get(layer.name), biases.get(layer.name))
    logits = vals[logits_name]
    loss, dlogits = L.softmax_cross_entropy(logits, y)
    # Reverse sweep; a layer read by several consumers (e.g. through Add) sums their gradients.
    grad = {logits_name: dlogits}
    dw, db = {}, {}
    for layer in reversed(order):
        dy = grad.pop(layer.name, None)
        if dy is None or isinstance(layer, Input):
            continue
        dxs, gw, gb = L.backward(layer, caches.pop(layer.name), dy)
        if isinstance(layer, WeightedLayer):
            dw[layer.name] = gw
            if layer.name in biases:
                db[layer.name] = gb
        for src, dx in zip(layer.inputs, dxs):
            if isinstance(model.layers[src], Input):
                continue
            grad[src] = grad[src] + dx if src in grad else dx
    return loss, logits, dw, db


def train(model: ir.Model, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float = 0.05,
          momentum: float = 0.9, weight_decay: float = 0.0, batch_size: int = 64, seed: int = 0,
          params: dict | None = None, log: Callable[[str], None] | None = None,
          frozen_biases: frozenset[str] | set[str] = frozenset(),
          select: Callable[[dict, dict], float] | None = None) -> TrainResult:
    """Train the float semantics of ``model`` (quant parameters are ignored) on (x, y).

    ``params`` maps layer names to parameterizations; weighted layers not listed get
    ``FreeWeight(layer.weight.dense_float())``. Biases train freely without weight decay,
    except those of the layers in ``frozen_biases`` (e.g. Q-CNN's already-quantized convs).
    Deterministic for a given ``seed``. ``model`` itself is not modified.

    ``select(weights, biases)`` scores the starting point and every epoch (e.g. accuracy on a
    held-out split); the best-scoring state is returned (the latest on ties), so retraining
    never returns something worse, by that score, than what it started from.
    """
    x = _as_batch(model, x)
    y = np.asarray(y, dtype=np.int64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} samples but {len(y)} labels")
    params = dict(params or {})
    bias_params = {}
    for layer in model.weighted():
        if layer.name not in params:
            params[layer.name] = FreeWeight(layer.weight.dense_float())
        if layer.bias is not None:
            b = layer.bias.astype(np.float64)
            bias_params[layer.name] = FreeWeight(b, trainable=np.zeros(b.shape, bool)
                                                 if layer.name in frozen_biases else None)
    rng = np.random.default_rng(seed)
    history = []
    scores, best = [], None

    def score(epoch: int) -> None:
        nonlocal best
        s = float(select({n: p.value() for n, p in params.items()}, {n: p.value() for n, p in bias_params.items()}))
        scores.append(s)
        if best is None or s >= best[0]:
            best = (s, epoch, copy.deepcopy(params), copy.deepcopy(bias_params))

    if select is not None:
        score(0)
    # One BLAS thread: a 64-row minibatch's products are far too small to split, and on 2 busy
    # cores OpenBLAS's threads made a 120-image Deep Compression run 8.5x slower (28 s vs 3.3 s).
    with threadpool_limits(limits=1, user_api="blas"):
        for epoch in range(1, epochs + 1):
            perm = rng.permutation(len(x))
            total_loss, correct = 0.0, 0
            for start in range(0, len(x), batch_size):
                idx = perm[start:start + batch_size]
                weights = {n: p.value() for n, p in params.items()}
                biases = {n: p.value() for n, p in bias_params.items()}
                loss, logits, dw, db = loss_and_grads(model, x[idx], y[idx], weights, biases)
                for n, p in params.items():
                    p.step(dw[n], lr, momentum, weight_decay)
                for n, p in bias_params.items():
                    p.step(db[n], lr, momentum, 0.0)
                total_loss += loss * len(idx)
                correct += int((logits.argmax(axis=1) == y[idx]).sum())
            rec = {"epoch": epoch, "loss": total_loss / len(x), "accuracy": correct / len(x)}
            history.append(rec)
            if select is not None:
                score(epoch)
            if log is not None:
                held = f", held-out {scores[-1]:.4f}" if select is not None else ""
                log(f"epoch {epoch}/{epochs}: loss {rec['loss']:.4f}, train accuracy {rec['accuracy']:.4f}{held}")
    best_epoch = None
    if best is not None:
        _, best_epoch, params, bias_params = best
    return TrainResult(params=params, biases={n: p.value().copy() for n, p in bias_params.items()},
                       history=history, best_epoch=best_epoch, scores=scores)


def to_float_model(model: ir.Model, result: TrainResult) -> ir.Model:
    """A float copy of ``model`` carrying the trained weights (dense float32) and biases.

    Every quant, requant and bias_q is dropped: a model is quantized everywhere or nowhere,
    and the trained floats no longer match any earlier integer grid.
    """
    weights = {n: np.asarray(p.value(), dtype=np.float64) for n, p in result.params.items()}
    return ir.validate(with_float_weights(model, weights, result.biases))
