"""Q-CNN (seed 001): product quantization with error correction, single- and multi-layer.

Plain PQ (``hwq.compress.pq``) minimises the *weight* error. Q-CNN's error correction
(§3.3) minimises the layer *response* error over a batch of inputs,

    min_{D, B}  sum_n || T_n - sum_m (D^(m) B^(m))^T S_n^(m) ||^2            (eq. 8; conv: eq. 13)

by block coordinate descent over the subspaces m. For subspace m, the residual of the other
subspaces R^(m) = T - sum_{m' != m} ... (eq. 9) is fitted by alternating

* the codeword update (eq. 11): each codeword is the least-squares fit of the residuals of
  the outputs that use it. For FC layers the codewords are independent and share one Gram
  matrix S^T S; for conv layers a codeword is used at several kernel taps of one output, so
  the codewords are updated one after the other (Appendix B, eqs. 17-19), each by an exact
  least-squares step on the cross-tap Gram matrices;
* the assignment update (eq. 12): every (output, tap) tries all K codewords and keeps the
  best; conv taps are visited one after the other (eqs. 20-21).

Every step solves its block exactly, so the response error never increases. Everything is
computed in the d-dimensional Gram space of the subspace: after one pass over the rows
(im2col rows for conv, ``responses.blocks``) the inner loops cost O(O P^2 d^2) per step.

Multi-layer EC (§3.3.3): layers are quantized in order; the inputs S come from the partially
quantized network, the targets T from the float one. The whole-network schedule (§5.2.3):
convs with EC, then fine-tune the float FC layers with the quantized convs frozen, then the
FC layers with EC against the fine-tuned network.
"""

from __future__ import annotations

import math

import numpy as np

from hwq.compress.encode import encode_weight
from hwq.compress.methods.options import value_bits
from hwq.compress.methods import responses as rs
from hwq.compress.methods.accounting import qcnn_layer_bytes, qcnn_ratio
from hwq.compress.methods.result import MethodResult
from hwq.compress.pq import pq_reconstruct, product_quantize
from hwq.errors import HwqError
from hwq.ir.layers import Conv2d
from hwq.ir.rewrite import with_float_weights, with_weights
from hwq.ir.storage import compression_rate, layer_storage

EC_MODES = ("none", "single", "multi")


def _taps(assign: np.ndarray) -> np.ndarray:
    """PQ assignments (O, M) or (O, KH, KW, M) as (O, P, M), a view."""
    return assign.reshape(assign.shape[0], -1, assign.shape[-1])


def response_error(x: np.ndarray, t: np.ndarray, codebook: np.ndarray, assign: np.ndarray) -> float:
    """sum || T - X W_q^T ||^2 with X as (rows, P, C) blocks and W_q from (codebook, assignments)."""
    m, _, d = codebook.shape
    w = codebook[np.arange(m), _taps(assign)].reshape(assign.shape[0], -1)  # (O, P*C)
    return float(((t - x.reshape(x.shape[0], -1) @ w.T) ** 2).sum())


def _update_codewords(g, fe, d, a) -> None:
    """Exact least-squares step for every codeword of one subspace (in place on d and fe).

    g (P, P, d, d) Gram blocks, fe (P, O, d) = X_p^T (R - X W_m), d (K, d), a (O, P) int.
    """
    p_taps = g.shape[0]
    k_all = d.shape[0]
    if p_taps == 1:  # FC: independent codewords, one shared Gram matrix (eq. 11)
        counts = np.bincount(a[:, 0], minlength=k_all).astype(np.float64)
        grad = np.zeros_like(d)
        np.add.at(grad, a[:, 0], fe[0])
        used = counts > 0
        step = grad[used] @ np.linalg.pinv(g[0, 0]).T / counts[used, None]
        d[used] += step
        fe[0] -= step_per_output(a[:, 0], used, step, d.shape) @ g[0, 0].T
        return
    for k in range(k_all):  # conv: codewords share outputs across taps; one at a time (eq. 19)
        ak = (a == k).astype(np.float64)  # (O, P)
        if not ak.any():
            continue
        gk = np.einsum("pq,pqij->ij", ak.T @ ak, g)
        grad = np.einsum("op,poi->i", ak, fe)
        step = np.linalg.lstsq(gk, grad, rcond=None)[0]
        d[k] += step
        fe -= np.einsum("oq,pqi->poi", ak, g @ step)


def step_per_output(a0: np.ndarray, used: np.ndarray, step: np.ndarray, shape) -> np.ndarray:
    """(O, d): the step of the codeword each output uses (zeros for unused codewords)."""
    full = np.zeros(shape)
    full[used] = step
    return full[a0]


def _update_assignments(g, fe, d, a) -> None:
    """Best codeword for every (output, tap), taps in turn (eqs. 12, 20-21); in place."""
    quad = np.einsum("ki,pij,kj->pk", d, np.einsum("ppij->pij", g), d)  # D_k^T G_pp D_k per tap
    rows = np.arange(a.shape[0])
    for p in range(g.shape[0]):
        cur = a[:, p]
        q = fe[p] + d[cur] @ g[p, p].T  # X_p^T (residual without tap p's own contribution)
        score = quad[p][None, :] - 2.0 * q @ d.T
        new = score.argmin(axis=1)
        stay = score[rows, new] >= score[rows, cur]  # change only on a strict improvement
        new = np.where(stay, cur, new)
        moved = new != cur
        if moved.any():
            diff = d[new[moved]] - d[cur[moved]]  # (o', d)
            fe[:, moved] -= np.einsum("qij,oj->qoi", g[:, p], diff)
            a[moved, p] = new[moved]


def error_correct(x: np.ndarray, t: np.ndarray, codebook: np.ndarray, assign: np.ndarray,
                  sweeps: int = 8, inner: int = 2) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Q-CNN error correction of one layer's (codebook (M, K, d), assignments).

    ``x`` (rows, P, C) input blocks, ``t`` (rows, O) target responses. Returns the corrected
    codebook and assignments (copies) and the response error before and after every sweep.
    """
    cb = np.array(codebook, np.float64)
    a = np.array(_taps(assign), np.int64)
    m_all, _, dim = cb.shape
    rows, p_taps, _ = x.shape
    w = cb[np.arange(m_all), a]  # (O, P, M, d)
    y = x.reshape(rows, -1) @ w.transpose(0, 1, 2, 3).reshape(a.shape[0], -1).T
    errors = [float(((t - y) ** 2).sum())]
    for _ in range(sweeps):
        for m in range(m_all):
            xm = x[:, :, m * dim:(m + 1) * dim].reshape(rows, p_taps * dim)
            wm = cb[m][a[:, :, m]].reshape(a.shape[0], -1)  # (O, P*d)
            ym = xm @ wm.T
            resid = t - y + ym  # eq. 9: the target minus the other subspaces
            g = (xm.T @ xm).reshape(p_taps, dim, p_taps, dim).transpose(0, 2, 1, 3)
            fe = (xm.T @ (resid - ym)).reshape(p_taps, dim, -1).transpose(0, 2, 1).copy()
            for _ in range(inner):
                _update_codewords(g, fe, cb[m], a[:, :, m])
                _update_assignments(g, fe, cb[m], a[:, :, m])
            y = y - ym + xm @ cb[m][a[:, :, m]].reshape(a.shape[0], -1).T
        errors.append(float(((t - y) ** 2).sum()))
    return cb, a.reshape(assign.shape), errors


# ----------------------------------------------------------------------------- the method


def layer_settings(model, dims, ks) -> dict[str, tuple[int, int] | None]:
    """Per weighted layer (C'_s, K), or None to leave it float; checks that C'_s divides."""
    from hwq.compress.pipeline import for_layer

    out = {}
    for layer in model.weighted():
        dim, k = for_layer(dims, layer.name), for_layer(ks, layer.name)
        if dim is None or dim == "float":
            out[layer.name] = None
            continue
        size = layer.weight.shape[1]
        if k is None:
            raise HwqError(f"--pq-k: no K for layer {layer.name} (name it or add *=K)")
        if not 1 <= int(k) <= 65536:
            raise HwqError(f"--pq-k {k} ({layer.name}): K must be in [1, 65536]")
        if int(dim) < 1 or size % int(dim):
            what = "input size" if len(layer.weight.shape) == 2 else "input channels"
            raise HwqError(f"--pq-dim {dim} ({layer.name}): does not divide the {what} {size}; "
                           f"choose a divisor or name the layer, e.g. --pq-dim {layer.name}=1,*={dim}")
        out[layer.name] = (int(dim), int(k))
    return out


def compress(model, data, p, log=None) -> MethodResult:
    """``hwq compress --method qcnn``: see the module docstring and docs/methods/qcnn.md."""
    if p.ec not in EC_MODES:
        raise HwqError(f"--ec {p.ec!r}: one of {', '.join(EC_MODES)}")
    settings = layer_settings(model, p.pq_dim, p.pq_k)
    if p.ec != "none" and data is None:
        raise HwqError("--method qcnn with error correction needs a data set (--data digits)")
    weights = {l.name: l.weight.dense_float() for l in model.weighted()}
    biases = {l.name: None if l.bias is None else l.bias.astype(np.float64) for l in model.weighted()}
    ref = with_float_weights(model, weights, biases)
    x = None
    if data is not None:
        idx = np.random.default_rng(p.seed).permutation(len(data.x_train))[:p.ec_samples]
        x = data.x_train[idx]
    books: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    errors: dict[str, list[float]] = {}

    def quantize(names, reference):
        ref_vals = rs.layer_values(reference, x) if x is not None else None
        for name in names:
            dim, k = settings[name]
            layer = reference.layers[name]
            w = weights[name]
            cb, assign = product_quantize(w, w.shape[1] // dim, k, seed=p.seed)
            if p.ec != "none":
                src = reference if p.ec == "single" else with_float_weights(model, weights, biases)
                s_vals = ref_vals if p.ec == "single" else rs.layer_values(src, x)
                xb = rs.blocks(layer, rs.layer_input(src, s_vals, name))
                tb = rs.targets(layer, rs.response(layer, ref_vals))
                cb, assign, errors[name] = error_correct(xb, tb, cb, assign, p.ec_sweeps)
                if log:
                    log(f"{name}: response error {errors[name][0]:.4g} -> {errors[name][-1]:.4g}")
            books[name] = (cb, assign)
            weights[name] = pq_reconstruct(cb, assign, w.shape)

    quantized = [l for l in model.weighted() if settings[l.name] is not None]
    convs = [l.name for l in quantized if isinstance(l, Conv2d)]
    fcs = [l.name for l in quantized if not isinstance(l, Conv2d)]
    quantize(convs, ref)  # stage 1
    if convs and fcs and p.retrain_epochs and data is not None:  # stage 2: fine-tune float FC layers
        from hwq.train.params import FreeWeight
        from hwq.train.sgd import train

        conv_all = [l.name for l in model.weighted() if isinstance(l, Conv2d)]
        params = {n: FreeWeight(weights[n], trainable=np.zeros(weights[n].shape, bool)) for n in conv_all}
        res = train(with_float_weights(model, weights, biases), data.x_train, data.y_train,
                    epochs=p.retrain_epochs, lr=p.lr, seed=p.seed, params=params, frozen_biases=set(conv_all),
                    log=log)
        for n, prm in res.params.items():
            weights[n] = np.asarray(prm.value(), np.float64).copy()
        biases.update({n: b.copy() for n, b in res.biases.items()})
        ref = with_float_weights(model, weights, biases)
    quantize(fcs, ref)  # stage 3

    encoded = {}
    for layer in model.weighted():
        name = layer.name
        if name in books:
            cb, assign = books[name]
            encoded[name] = encode_weight(weights[name], values="pq", centroids=cb, labels=assign,
                                          bits=max(1, math.ceil(math.log2(cb.shape[1]))),
                                          value_bits=value_bits(p, name))
        else:
            encoded[name] = encode_weight(weights[name], values="float32")
    out = with_weights(model, encoded, biases)
    table = [(l.weight.shape, *(settings[l.name] or (None, None))) for l in model.weighted()]
    # K as learned (capped at the number of sub-vectors), for Table 1
    table = [(s, d, None if d is None else books[n][0].shape[1]) for (s, d, _), n in
             zip(table, [l.name for l in model.weighted()])]
    report = [f"{'layer':8}{'Cs':>4}{'K':>6}{'M':>5}{'resp. err PQ':>14}{'-> EC':>12}{'hwq rate':>10}{'Table-1 B':>11}"]
    for (shape, dim, k), layer in zip(table, out.weighted()):
        e = errors.get(layer.name)
        rate = 1 / compression_rate(layer_storage(layer))
        report.append(f"{layer.name:8}{dim or '-':>4}{k or '-':>6}{(shape[1] // dim) if dim else '-':>5}"
                      f"{(f'{e[0]:.4g}' if e else '-'):>14}{(f'{e[-1]:.4g}' if e else '-'):>12}"
                      f"{rate:>9.1f}x{qcnn_layer_bytes(shape, dim, k):>11.0f}")
    ratio = qcnn_ratio(table)
    report.append(f"Q-CNN Table-1 compression (float32 codewords, float layers at 4 B/weight): {ratio:.2f}x")
    prov = {"method": "qcnn", "ec": p.ec, "ec_samples": p.ec_samples, "ec_sweeps": p.ec_sweeps,
            "layers": {n: (None if s is None else {"dim": s[0], "k": int(books[n][0].shape[1])})
                       for n, s in settings.items()},
            "qcnn_table1_ratio": round(ratio, 4)}
    return MethodResult(out, report, prov)
