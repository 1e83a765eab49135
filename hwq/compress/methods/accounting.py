"""Each seed paper's own compression accounting, beside hwq's storage rate.

hwq's rate (``hwq.ir.storage.compression_rate``) counts what the IR stores. The papers each
count differently, and a result is only comparable under its paper's formula:

* Q-CNN (seed 001, Table 1): float32 sub-codebooks, 4 C_s K bytes per layer, plus
  M C_t log2(K) / 8 bytes of assignments (conv: x d_k^2 kernel taps); a layer left in float
  costs 4 bytes per weight. Biases are not counted.
* SQS (seed 004): 32 / ((1 - sparsity) x average bits): no index, codebook or bias cost
  (reproduces its table rows within 3 %, docs/methods/sqs.md).
* QP codec (seed 000): bits per weight (BPW) of the entropy-coded bitstream; ratio 32 / BPW.
* Deep Compression (seed 002): ``compression_rate`` itself (payload + index + codebook).
"""

from __future__ import annotations

import math

import numpy as np


def qcnn_layer_bytes(shape: tuple[int, ...], dim: int | None, k: int | None) -> float:
    """Table 1 storage of one layer: (C'_s, K) product-quantized, or float32 when ``dim`` is None."""
    n = int(np.prod(shape))
    if dim is None:
        return 4.0 * n
    o, c = int(shape[0]), int(shape[1])
    taps = int(np.prod(shape[2:])) if len(shape) == 4 else 1
    m = c // int(dim)
    return 4.0 * c * k + m * o * taps * math.log2(k) / 8.0


def qcnn_ratio(layers: list[tuple[tuple[int, ...], int | None, int | None]]) -> float:
    """Compression of a network under Table 1: float32 bytes over Q-CNN bytes."""
    dense = sum(4.0 * int(np.prod(s)) for s, _, _ in layers)
    return dense / sum(qcnn_layer_bytes(s, d, k) for s, d, k in layers)


def sqs_ratio(sparsity: float, avg_bits: float) -> float:
    """SQS's ratio 32 / ((1 - sparsity) x average bits)."""
    return 32.0 / ((1.0 - sparsity) * avg_bits)


def bpw(bits: float, weights: int) -> float:
    """Bits per weight of a bitstream of ``bits`` over ``weights`` parameters."""
    return bits / weights
