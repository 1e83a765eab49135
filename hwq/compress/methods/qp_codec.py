"""QP weight codec (seed 000): a quantization parameter -> a uniform step, an optional
transform, and an entropy-coded bitstream that decodes losslessly to the quantized weights.

The seed keeps only its tables, so this follows what they pin down (docs/methods/qp-codec.md):

* **QP -> step**: step = QP x 2^-16 (the constant is ours; the tables only fix that the step
  is proportional to QP: PSNR falls ~6 dB per QP doubling, as for a uniform quantizer);
* **quantizer**: q = round_half_away(w / step), the weight decodes to q x step;
* **transform** (optional, ``--transform dct``): an orthonormal DCT-II along the input axis
  in blocks of 8 (or the largest of 4, 2 that divides it), quantizing the coefficients;
* **bitstream**: ``methods/bitstream.py`` (constriction's range coder, adaptive model);
  BPW = the layer's record bits / its weights, ratio = 32 / BPW, as in the seed's tables;
* **PSNR** = 10 log10(max|w|^2 / MSE(w, w_hat)) per layer (the seed does not define its
  peak; this is the usual one for signed data);
* **single-layer compression** (``--only fc6``, Table 5): the other layers stay float32.

With ``--retrain-epochs`` the layers are trained with the quantizer in the forward pass
(straight-through, ``hwq.train.params.STEWeight``) before the final quantization, so the
result is exactly what training saw.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from hwq.compress.encode import encode_weight
from hwq.compress.methods import bitstream as bs
from hwq.compress.methods.result import MethodResult
from hwq.errors import HwqError
from hwq.golden.fixedpoint import round_half_away
from hwq.ir.atomic import atomic_write
from hwq.ir.rewrite import with_float_weights, with_weights
from hwq.ir.values import CodebookValues
from hwq.ir.weight import Weight

STEP_UNIT = 2.0 ** -16
MAGIC = b"HWQB"
TRANSFORMS = ("none", "dct")


def step_of(qp: float) -> float:
    """The quantization step of ``qp``, as float32 (the stored scale) in float64."""
    return float(np.float32(qp * STEP_UNIT))


def psnr(w: np.ndarray, w_hat: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(w, np.float64) - w_hat) ** 2))
    peak = float(np.abs(w).max(initial=0.0))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse) if peak > 0 else -math.inf


def _block(n: int) -> int:
    return next(b for b in (8, 4, 2, 1) if n % b == 0)


def _dct_matrix(b: int) -> np.ndarray:
    """Orthonormal DCT-II: row k = basis k (rows orthonormal, inverse = transpose)."""
    k, i = np.meshgrid(np.arange(b), np.arange(b), indexing="ij")
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * b)) * math.sqrt(2.0 / b)
    m[0] /= math.sqrt(2.0)
    return m


def forward_transform(w2: np.ndarray) -> np.ndarray:
    """(O, I) -> DCT coefficients along I in blocks."""
    b = _block(w2.shape[1])
    t = _dct_matrix(b)
    return (w2.reshape(w2.shape[0], -1, b) @ t.T).reshape(w2.shape)


def inverse_transform(c2: np.ndarray) -> np.ndarray:
    b = _block(c2.shape[1])
    t = _dct_matrix(b)
    return (c2.reshape(c2.shape[0], -1, b) @ t).reshape(c2.shape)


def quantize(w: np.ndarray, step: float, transform: str = "none") -> np.ndarray:
    """Integer codes of ``w`` (shape of w; over the transform coefficients for ``dct``)."""
    w2 = np.asarray(w, np.float64).reshape(w.shape[0], -1)
    c = forward_transform(w2) if transform == "dct" else w2
    return round_half_away(c / step).astype(np.int64).reshape(w.shape)


def dequantize(q: np.ndarray, step: float, transform: str = "none") -> np.ndarray:
    c = q.reshape(q.shape[0], -1).astype(np.float64) * step
    return (inverse_transform(c) if transform == "dct" else c).reshape(q.shape)


def snap(w: np.ndarray, step: float, transform: str = "none") -> np.ndarray:
    return dequantize(quantize(w, step, transform), step, transform)


def levels_weight(q: np.ndarray, step: float) -> Weight:
    """The IR weight of integer codes q on the step grid: a codebook of the used levels whose
    entries are the integers themselves and whose scale is the step, so it decodes to q x step."""
    levels, idx = np.unique(q.ravel(), return_inverse=True)
    if levels.size > 65536:
        raise HwqError(f"qp-codec: {levels.size} distinct levels exceed a 16-bit codebook index; "
                       "use a larger QP")
    top = int(np.abs(levels).max(initial=0))
    value_bits = max(2, top.bit_length() + 1)
    if value_bits > 32:
        raise HwqError("qp-codec: levels exceed 32-bit integers; use a larger QP")
    bits = max(1, math.ceil(math.log2(levels.size)))
    cb = levels.astype(np.int16 if value_bits <= 16 else np.int32)
    values = CodebookValues(idx.astype(np.uint8 if bits <= 8 else np.uint16), cb,
                            np.array([step], np.float32), bits, value_bits)
    weight = Weight(tuple(int(s) for s in q.shape), values)
    weight.check("qp-codec")
    return weight


def write_bitstream(path: str, records: list[tuple[str, float, str, bytes]]) -> None:
    """MAGIC, u16 version 1, u16 layer count; per layer: u16 name length, name, f32 step,
    u8 transform (0 none, 1 dct), the layer record (methods/bitstream.py)."""
    out = [MAGIC, struct.pack("<HH", 1, len(records))]
    for name, step, transform, rec in records:
        raw = name.encode()
        out += [struct.pack("<H", len(raw)), raw, struct.pack("<fB", step, TRANSFORMS.index(transform)), rec]
    blob = b"".join(out)
    atomic_write(path, lambda f: f.write(blob))


def read_bitstream(data: bytes) -> dict[str, tuple[float, str, np.ndarray]]:
    """name -> (step, transform, integer codes 1-D): the inverse of ``write_bitstream``."""
    if data[:4] != MAGIC:
        raise HwqError("bitstream: not an hwq QP-codec bitstream")
    _, n = struct.unpack_from("<HH", data, 4)
    pos, out = 8, {}
    for _ in range(n):
        (ln,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2:pos + 2 + ln].decode()
        pos += 2 + ln
        step, t = struct.unpack_from("<fB", data, pos)
        pos += 5
        q, used = bs.decode_codes(data[pos:])
        pos += used
        out[name] = (float(step), TRANSFORMS[t], q)
    return out


def compress(model, data, p, log=None) -> MethodResult:
    from hwq.compress.pipeline import for_layer

    from hwq.compress.methods.options import chosen_layers

    names = [l.name for l in model.weighted()]
    only = [n for n in chosen_layers(model, p) if for_layer(p.qp, n) != "float"]
    if p.qp is None:
        raise HwqError("--method qp-codec needs --qp (e.g. --qp 4096, or fc1=4096,*=8192)")
    if isinstance(p.qp, dict):
        bad = sorted(set(p.qp) - set(names) - {"*"})
        if bad:
            raise HwqError(f"--qp: no weighted layer named {bad[0]!r}")
    steps = {}
    for n in only:
        qp = for_layer(p.qp, n)
        if qp is None:
            raise HwqError(f"--qp: no QP for layer {n} (name it or add *=QP)")
        steps[n] = step_of(qp)
    weights = {l.name: l.weight.dense_float() for l in model.weighted()}
    biases = {l.name: None if l.bias is None else l.bias.astype(np.float64) for l in model.weighted()}
    original = {n: w.copy() for n, w in weights.items()}
    if p.retrain_epochs and data is not None:
        from hwq.train.params import STEWeight
        from hwq.train.sgd import train

        params = {n: STEWeight(weights[n], lambda v, s=steps[n]: snap(v, s, p.transform)) for n in only}
        res = train(with_float_weights(model, weights, biases), data.x_train, data.y_train,
                    epochs=p.retrain_epochs, lr=p.lr, seed=p.seed, params=params, log=log)
        for n, prm in res.params.items():
            weights[n] = np.asarray(prm.w if n in params else prm.value(), np.float64).copy()
        biases.update({n: b.copy() for n, b in res.biases.items()})
    encoded, records, rows = {}, [], {}
    for layer in model.weighted():
        n = layer.name
        if n not in steps:
            encoded[n] = encode_weight(weights[n], values="float32")
            continue
        q = quantize(weights[n], steps[n], p.transform)
        rec = bs.encode_codes(q)
        back, _ = bs.decode_codes(rec)
        if not np.array_equal(back, q.ravel()):  # the codec's promise, checked on every run
            raise HwqError(f"qp-codec: {n}: the bitstream did not decode to the quantized weights")
        w_hat = dequantize(q, steps[n], p.transform)
        encoded[n] = (levels_weight(q, steps[n]) if p.transform == "none"
                      else encode_weight(w_hat, values="float32"))
        records.append((n, steps[n], p.transform, rec))
        bits = bs.record_bits(rec) + 32  # + the float32 step
        rows[n] = {"qp": for_layer(p.qp, n), "step": steps[n], "bits": bits, "weights": q.size,
                   "bpw": bits / q.size, "psnr": psnr(original[n], w_hat),
                   "levels": int(np.unique(q).size)}
    if p.bitstream:
        write_bitstream(p.bitstream, records)
    out = with_weights(model, encoded, biases)
    report = [f"{'layer':8}{'QP':>8}{'step':>11}{'levels':>7}{'BPW':>7}{'ratio':>8}{'PSNR dB':>9}"]
    for n, r in rows.items():
        report.append(f"{n:8}{r['qp']:>8g}{r['step']:>11.3g}{r['levels']:>7}{r['bpw']:>7.2f}"
                      f"{32 / r['bpw']:>7.1f}x{r['psnr']:>9.2f}")
    tot_bits = sum(r["bits"] for r in rows.values())
    tot_w = sum(r["weights"] for r in rows.values())
    all_w = sum(w.size for w in weights.values())
    net_bits = tot_bits + 32 * (all_w - tot_w)
    report.append(f"bitstream: {tot_bits} bits, {tot_bits / tot_w:.3f} BPW over the coded layers "
                  f"({32 * tot_w / tot_bits:.1f}x); network {net_bits / all_w:.3f} BPW "
                  f"({32 * all_w / net_bits:.1f}x, float layers at 32)")
    prov = {"transform": p.transform, "step_unit": STEP_UNIT, "retrain_epochs": p.retrain_epochs,
            "layers": {n: {k: (None if isinstance(v, float) and not math.isfinite(v)  # a lossless layer's PSNR
                               else round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
                       for n, r in rows.items()},
            "bitstream_bits": tot_bits, "network_bpw": round(net_bits / all_w, 6)}
    return MethodResult(out, report, prov)
