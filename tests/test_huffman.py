import heapq
import itertools

import numpy as np
import pytest

from hwq.ir.huffman import canonical_codes, code_lengths, huffman_bits
from hwq.errors import HwqError


def _kraft(lengths):
    return sum(2.0 ** -int(n) for n in lengths if n > 0)


def _brute_optimum(counts):
    """Minimum sum(count * length) over all length vectors satisfying Kraft <= 1."""
    n = len(counts)
    best = None
    for ls in itertools.product(range(1, n), repeat=n):
        if sum(2.0 ** -l for l in ls) <= 1.0:
            cost = sum(c * l for c, l in zip(counts, ls))
            best = cost if best is None else min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(20))
def test_kraft_and_entropy_bounds(seed):
    r = np.random.default_rng(seed)
    counts = r.integers(1, 1000, size=r.integers(2, 40))
    lengths = code_lengths(counts)
    assert _kraft(lengths) == 1.0
    p = counts / counts.sum()
    h = -(p * np.log2(p)).sum()
    avg = (p * lengths).sum()
    assert h - 1e-12 <= avg < h + 1


@pytest.mark.parametrize("counts", [[1, 1], [5, 1, 1], [1, 2, 3, 4], [10, 1, 1, 1, 1],
                                    [3, 3, 3, 3, 3], [40, 30, 20, 5, 4, 1], [1, 1, 2, 3, 5, 8]])
def test_matches_brute_force_optimum(counts):
    lengths = code_lengths(counts)
    assert int(np.dot(counts, lengths)) == _brute_optimum(counts)


def test_known_example_and_prefix_code():
    # classic: a 45, b 13, c 12, d 16, e 9, f 5 -> lengths 1,3,3,3,4,4 (CLRS 16.3), cost 224
    lengths = code_lengths([45, 13, 12, 16, 9, 5])
    assert lengths.tolist() == [1, 3, 3, 3, 4, 4]
    codes = canonical_codes(lengths)
    words = list(codes.values())
    assert [len(codes[s]) for s in range(6)] == lengths.tolist()
    assert not any(a != b and b.startswith(a) for a in words for b in words)


def test_zero_single_and_mapping():
    assert code_lengths([0, 7, 0]).tolist() == [0, 1, 0]
    assert code_lengths([0, 0]).tolist() == [0, 0]
    assert code_lengths([4, 0, 4]).tolist() == [1, 0, 1]
    assert code_lengths({"x": 3, "y": 0, "z": 1}) == {"x": 1, "z": 1}
    with pytest.raises(HwqError):
        code_lengths([1, -1])


def test_huffman_bits():
    assert huffman_bits([]) == 0
    assert huffman_bits([7, 7, 7]) == 3
    seq = [0] * 45 + [1] * 13 + [2] * 12 + [3] * 16 + [4] * 9 + [5] * 5
    assert huffman_bits(np.random.default_rng(0).permutation(seq)) == 224
    assert huffman_bits(np.array([-3, 100, -3, 100], dtype=np.int16)) == 4


def test_deterministic_ties():
    counts = [2] * 7 + [1] * 5
    a = code_lengths(counts)
    assert np.array_equal(a, code_lengths(list(counts)))
    # a reference heap with the same (count, id) ordering gives the same lengths
    heap = [(c, i, [i]) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    depth = [0] * len(counts)
    nxt = len(counts)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            depth[s] += 1
        heapq.heappush(heap, (c1 + c2, nxt, s1 + s2))
        nxt += 1
    assert a.tolist() == depth
