"""An entropy-coded bitstream of integer weight codes (the QP codec's container).

The coder is ``constriction``'s range coder (a maintained library; nothing hand-written).
Each layer's integers q are shifted to symbols q - q_min in [0, A) and coded with an
*adaptive* categorical model: the probability of symbol s is (c_s + 1/2) / (n + A/2), the
Krichevsky-Trofimov estimate from the counts c of the symbols already coded, refreshed after
1, 2, 4, ... symbols and then every ``CHUNK`` (so the first symbols are not coded blind). The decoder rebuilds the same counts as it goes, so no histogram is
transmitted: the model costs about (A - 1)/2 log2(n) bits instead of a table.

Layer record (little endian): q_min int32, alphabet A uint32, n uint32, words uint32, then
``words`` uint32 words of range-coder output. The step (float32) belongs to the codec and is
stored beside it (``qp_codec``). A layer's size in bits is the whole record: 4 x 32 header
bits plus 32 per word.
"""

from __future__ import annotations

import struct

import numpy as np

from hwq.errors import HwqError

CHUNK = 256
HEADER = struct.Struct("<iIII")
MAX_ALPHABET = 1 << 20


def _chunk_probabilities(counts: np.ndarray, n: int) -> np.ndarray:
    return (counts + 0.5) / (n + 0.5 * counts.size)


def _chunks(n: int):
    """(start, stop) of the model refreshes: sizes 1, 1, 2, 4, ... up to CHUNK, then CHUNK."""
    start, size = 0, 1
    while start < n:
        stop = min(n, start + size)
        yield start, stop
        size = min(CHUNK, max(1, stop))
        start = stop


def _coder():
    import constriction

    return constriction


def encode_codes(q: np.ndarray) -> bytes:
    """One layer's integer codes (any shape; C order) -> its record."""
    q = np.asarray(q).astype(np.int64).ravel()
    if q.size == 0:
        return HEADER.pack(0, 1, 0, 0)
    q_min, q_max = int(q.min()), int(q.max())
    alphabet = q_max - q_min + 1
    if alphabet > MAX_ALPHABET or not -(1 << 31) <= q_min < (1 << 31):
        raise HwqError(f"bitstream: {alphabet} distinct code values (q from {q_min} to {q_max}) "
                       "is too many to entropy-code; use a larger step (QP)")
    sym = (q - q_min).astype(np.int32)
    c = _coder()
    enc = c.stream.queue.RangeEncoder()
    if alphabet > 1:  # a single symbol costs nothing beyond the header
        model = c.stream.model.Categorical(perfect=False)
        counts = np.zeros(alphabet)
        for s, e in _chunks(sym.size):
            part = sym[s:e]
            probs = np.broadcast_to(_chunk_probabilities(counts, s), (part.size, alphabet))
            enc.encode(part, model, np.ascontiguousarray(probs))
            counts += np.bincount(part, minlength=alphabet)
    words = enc.get_compressed() if alphabet > 1 else np.zeros(0, np.uint32)
    return HEADER.pack(q_min, alphabet, q.size, words.size) + words.astype("<u4").tobytes()


def decode_codes(record: bytes) -> tuple[np.ndarray, int]:
    """A record -> (the codes int64 1-D, bytes consumed)."""
    if len(record) < HEADER.size:
        raise HwqError("bitstream: truncated layer header")
    q_min, alphabet, n, nwords = HEADER.unpack_from(record)
    end = HEADER.size + 4 * nwords
    if len(record) < end or alphabet < 1:
        raise HwqError("bitstream: truncated or corrupt layer record")
    if alphabet == 1:
        return np.full(n, q_min, np.int64), end
    c = _coder()
    words = np.frombuffer(record[HEADER.size:end], dtype="<u4").astype(np.uint32)
    dec = c.stream.queue.RangeDecoder(words)
    model = c.stream.model.Categorical(perfect=False)
    counts = np.zeros(alphabet)
    out = np.empty(n, np.int64)
    for s, e in _chunks(n):
        probs = np.broadcast_to(_chunk_probabilities(counts, s), (e - s, alphabet))
        part = np.asarray(dec.decode(model, np.ascontiguousarray(probs)), np.int64)
        out[s:e] = part
        counts += np.bincount(part, minlength=alphabet)
    return out + q_min, end


def record_bits(record: bytes) -> int:
    return 8 * len(record)
