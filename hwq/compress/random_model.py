"""Random quantized models: benchmark layers for the back ends and fuzzing for the tests.

Weights are drawn directly as integer codes of the requested encoding (no training), with
scales chosen so activations keep a useful range; activations are then calibrated on
random inputs like a real model.
"""

from __future__ import annotations

import numpy as np

from hwq.compress.calibrate import BiasRangeError, calibrate
from hwq.errors import HwqError
from hwq.ir.layers import Dense, Input, ReLU
from hwq.ir.model import Model
from hwq.ir.sparse import encode as encode_sparse
from hwq.ir.values import CodebookValues, Int8Values, PQValues, Pow2Values, TernaryValues
from hwq.ir.weight import Weight

ENCODINGS = ("int8", "codebook", "pow2", "ternary", "pq")


# --bits each encoding accepts (int8 and ternary have fixed codes and ignore it)
BITS_RANGE = {"int8": (1, 16), "codebook": (1, 16), "pow2": (2, 7), "ternary": (1, 16), "pq": (1, 16)}
BIAS_STD = 0.1
BIAS_RETRIES = 8  # each retry scales the float biases by 2^-8


def check_bits(encoding: str, bits: int) -> None:
    """Reject up front a --bits value the encoding cannot hold (docs/semantics.md section 9)."""
    if encoding not in BITS_RANGE:
        raise HwqError(f"encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
    lo, hi = BITS_RANGE[encoding]
    if type(bits) is not int or not lo <= bits <= hi:
        raise HwqError(f"--bits {bits}: {encoding} codes have {lo} to {hi} bits")


def pow2_e_min(bits: int) -> int:
    """Scale exponent of random pow2 weights: the largest weight is 2^-3, as long as e_min
    stays in the IR's range [-64, 63] (7-bit codes: -64, largest weight 2^-2)."""
    return max(-((1 << (bits - 1)) - 1) - 2, -64)


def bias_scale(encoding: str, bits: int) -> float:
    """Factor on the random float biases so that they fit int32 on the accumulator grid.

    The grid step is scale_in * 2^e_min for pow2 weights: with 6- and 7-bit codes (e_min
    -33, -64) a bias of 0.1 would need about 2^37 steps. 2^(e_min + 17) keeps every bias
    below ~2^22 steps for 8-bit activations and leaves 2- to 5-bit codes (e_min >= -17)
    unchanged.
    """
    return min(1.0, 2.0 ** (pow2_e_min(bits) + 17)) if encoding == "pow2" else 1.0


def random_codes(rng: np.random.Generator, n: int, encoding: str, bits: int):
    """``n`` random non-zero codes of ``encoding`` and a factory for the codec around them.

    Returns (codes, make) where ``make(codes)`` builds the Values object; a zero code
    (needed by sparse fillers) is always representable.
    """
    if encoding == "int8":
        codes = rng.integers(1, 128, n) * rng.choice([-1, 1], n)
        scale = np.array([1.0 / 64], np.float32)
        return codes.astype(np.int8), lambda c: Int8Values(c.astype(np.int8), scale)
    if encoding == "codebook":
        k = 1 << bits
        cb = np.sort(rng.integers(-2048, 2048, k)).astype(np.int16)
        cb[0] = 0  # index 0 is the exact zero that fillers use
        codes = rng.integers(1, k, n) if k > 1 else np.zeros(n, np.int64)
        scale = np.array([1.0 / 1024], np.float32)
        return codes.astype(np.uint8 if bits <= 8 else np.uint16), \
            lambda c: CodebookValues(c, cb, scale, bits, 16)
    if encoding == "pow2":
        kmax = (1 << (bits - 1)) - 1
        codes = rng.integers(1, kmax + 1, n) | (rng.integers(0, 2, n) << (bits - 1))
        return codes.astype(np.uint8), lambda c: Pow2Values(c.astype(np.uint8), bits, pow2_e_min(bits))
    if encoding == "ternary":
        mags = np.array([rng.integers(100, 1000), rng.integers(100, 1000)], np.int16)
        scale = np.array([1.0 / 1024], np.float32)
        return rng.choice([-1, 1], n).astype(np.int8), lambda c: TernaryValues(c.astype(np.int8), mags, scale)
    raise HwqError(f"encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")


def random_weight(rng: np.random.Generator, shape: tuple[int, ...], encoding: str, density: float,
                  bits: int = 4, sparse: str = "csc", index_bits: int = 4) -> Weight:
    if not 0 < density <= 1:
        raise HwqError(f"--density {density}: must be in (0, 1]")
    check_bits(encoding, bits)
    rows, cols = shape[0], int(np.prod(shape[1:]))
    if encoding == "pq":
        return _random_pq(rng, shape, bits, sparse)
    mask = rng.random((rows, cols)) < density
    if sparse == "none":
        idx, kept = None, mask.reshape(-1)  # every element stored, pruned ones as zero codes
    else:
        idx, src = encode_sparse(mask, sparse, index_bits)
        kept = src >= 0  # fillers hold the zero code
    codes, make = random_codes(rng, kept.size, encoding, bits)
    return Weight(tuple(shape), make(np.where(kept, codes, 0).astype(codes.dtype)), idx)


def _random_pq(rng: np.random.Generator, shape: tuple[int, ...], bits: int, sparse: str) -> Weight:
    """Product quantization: the largest M in (4, 3, 2, 1) dividing the input axis, K = 2^bits."""
    if sparse != "none":
        raise HwqError("pq weights are dense only (use --sparse none)")
    m = next(m for m in (4, 3, 2, 1) if shape[1] % m == 0)
    k = 1 << bits
    codebook = rng.integers(-2048, 2048, (m, k, shape[1] // m)).astype(np.int16)
    lead = (shape[0],) if len(shape) == 2 else (shape[0], shape[2], shape[3])
    assignments = rng.integers(0, k, lead + (m,)).astype(np.uint8 if bits <= 8 else np.uint16)
    return Weight(tuple(shape), PQValues(assignments, codebook, np.array([1.0 / 4096], np.float32), bits, 16))


def random_mlp(layers: str = "64,32,10", density: float = 0.1, encoding: str = "codebook", bits: int = 4,
               sparse: str = "csc", index_bits: int = 4, act_bits: int = 8, pow2_act: bool = False,
               seed: int = 0) -> Model:
    try:
        sizes = [int(s) for s in layers.split(",")]
    except ValueError:
        raise HwqError(f"--layers {layers!r}: expected comma-separated sizes like 64,32,10") from None
    if len(sizes) < 2 or min(sizes) < 1 or max(sizes) > 65536:
        raise HwqError(f"--layers {layers!r}: need at least two sizes in [1, 65536]")
    check_bits(encoding, bits)
    rng = np.random.default_rng(seed)
    model = Model("random_mlp", {}, [], {"source": "hwq random", "seed": seed})
    model.layers["input"] = Input("input", [], shape=(sizes[0],))
    prev = "input"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        name = f"fc{i}"
        w = random_weight(rng, (n_out, n_in), encoding, density, bits, sparse, index_bits)
        bias = (rng.normal(size=n_out) * (BIAS_STD * bias_scale(encoding, bits))).astype(np.float32)
        model.layers[name] = Dense(name, [prev], in_features=n_in, out_features=n_out, weight=w, bias=bias)
        prev = name
        if i < len(sizes) - 1:
            model.layers[f"relu{i}"] = ReLU(f"relu{i}", [prev])
            prev = f"relu{i}"
    model.outputs = [prev]
    x = rng.random((256, sizes[0]))
    for _ in range(BIAS_RETRIES):
        try:
            return calibrate(model, x, act_bits=act_bits, pow2_scales=pow2_act, weights_to_int8=False)
        except BiasRangeError:
            # a fine accumulator grid (wide pow2 codes, 16-bit activations): smaller biases
            for layer in model.weighted():
                layer.bias = (layer.bias * np.float32(2.0**-8)).astype(np.float32)
    return calibrate(model, x, act_bits=act_bits, pow2_scales=pow2_act, weights_to_int8=False)
