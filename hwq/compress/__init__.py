"""Compression primitives: pruning, weight sharing, pow2/ternary/int8/PQ quantization, Huffman sizing, encoding into IR weights."""
