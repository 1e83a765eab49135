"""Real network shapes with Deep Compression's per-layer densities and bits, as random IRs.

``hwq random --net lenet300|lenet5|alexnet|vgg16`` builds these so that real-size networks
can be estimated without their weights. Densities ("Weights% (P)"), weight bits ("Weight
bits (P+Q)") and index bits ("Index bits (P+Q)") are Deep Compression's Tables 2-5 (Han,
Mao, Dally, ICLR 2016; seed 002). Layer shapes are the Caffe models those tables describe:
LeNet-300-100 (784-300-100-10), LeNet-5 (Caffe's: conv 20 and 50 of 5x5, ip 500),
AlexNet (Caffe's BVLC model: 227x227, two-group conv2/4/5; LRN has no IR kind and is
left out), VGG-16 (configuration D, 224x224).

hwq's IR has no grouped convolution; a two-group convolution is stored as one convolution
whose weight is block-diagonal (the same function): the pruned mask only ever keeps
weights inside the blocks, so non-zeros, effective MACs and payload equal the grouped
layer's, while ``macs_dense`` counts the ungrouped product and the relative index needs
fillers to jump over the empty block.

Weights are drawn chunk by chunk (never one dense random matrix of a whole FC6), encoded with
:func:`hwq.ir.sparse.encode` per chunk and concatenated; activations get a nominal
quantization (no calibration run, which would need a float forward pass of the whole net).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from hwq.compress.random_model import random_codes
from hwq.errors import HwqError
from hwq.golden.fixedpoint import round_half_away
from hwq.ir.layers import Conv2d, Dense, Flatten, Input, MaxPool, ReLU, WeightedLayer
from hwq.ir.model import Model
from hwq.ir.quant import QuantParams, make_requant
from hwq.ir.sparse import SparseIndex, encode
from hwq.ir.validate import validate
from hwq.ir.values import PQValues
from hwq.ir.weight import Weight

SOURCE = "Han, Mao, Dally, Deep Compression, ICLR 2016, Tables 2-5 (seed 002)"


@dataclass(frozen=True)
class Spec:
    """One layer: kind ("conv", "fc", "pool", "flatten"), sizes, and the paper's P+Q figures."""

    kind: str
    name: str
    out: int = 0
    kernel: int = 0
    stride: int = 1
    pad: int = 0
    groups: int = 1
    density: float = 1.0  # Weights% (P)
    bits: int = 0  # Weight bits (P+Q)
    index_bits: int = 0  # Index bits (P+Q)


def _conv(name, out, k, d, bits, idx, stride=1, pad=0, groups=1):
    return Spec("conv", name, out, k, stride, pad, groups, d, bits, idx)


def _fc(name, out, d, bits, idx):
    return Spec("fc", name, out, density=d, bits=bits, index_bits=idx)


def _pool(name, k, s):
    return Spec("pool", name, kernel=k, stride=s)


def _vgg() -> list[Spec]:
    dens = {"conv1_1": .58, "conv1_2": .22, "conv2_1": .34, "conv2_2": .36, "conv3_1": .53, "conv3_2": .24,
            "conv3_3": .42, "conv4_1": .32, "conv4_2": .27, "conv4_3": .34, "conv5_1": .35, "conv5_2": .29,
            "conv5_3": .36}
    out: list[Spec] = []
    for block, (width, n) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        for i in range(1, n + 1):
            name = f"conv{block}_{i}"
            out.append(_conv(name, width, 3, dens[name], 8, 5, pad=1))
        out.append(_pool(f"pool{block}", 2, 2))
    return out + [Spec("flatten", "flatten"), _fc("fc6", 4096, .04, 5, 5), _fc("fc7", 4096, .04, 5, 5),
                  _fc("fc8", 1000, .23, 5, 5)]


# name -> (input shape, layers); Table 2 (LeNet-300-100), 3 (LeNet-5), 4 (AlexNet), 5 (VGG-16)
NETS: dict[str, tuple[tuple[int, ...], list[Spec]]] = {
    "lenet300": ((784,), [_fc("ip1", 300, .08, 6, 5), _fc("ip2", 100, .09, 6, 5), _fc("ip3", 10, .26, 6, 5)]),
    "lenet5": ((1, 28, 28), [_conv("conv1", 20, 5, .66, 8, 5), _pool("pool1", 2, 2),
                             _conv("conv2", 50, 5, .12, 8, 5), _pool("pool2", 2, 2), Spec("flatten", "flatten"),
                             _fc("ip1", 500, .08, 5, 5), _fc("ip2", 10, .19, 5, 5)]),
    "alexnet": ((3, 227, 227), [
        _conv("conv1", 96, 11, .84, 8, 4, stride=4), _pool("pool1", 3, 2),
        _conv("conv2", 256, 5, .38, 8, 4, pad=2, groups=2), _pool("pool2", 3, 2),
        _conv("conv3", 384, 3, .35, 8, 4, pad=1), _conv("conv4", 384, 3, .37, 8, 4, pad=1, groups=2),
        _conv("conv5", 256, 3, .37, 8, 4, pad=1, groups=2), _pool("pool5", 3, 2), Spec("flatten", "flatten"),
        _fc("fc6", 4096, .09, 5, 4), _fc("fc7", 4096, .09, 5, 4), _fc("fc8", 1000, .25, 5, 4)]),
    "vgg16": ((3, 224, 224), _vgg()),
}
# relu after: LeNet-5 only after ip1 (Caffe's lenet); the others after every layer but the last
NO_RELU = {"lenet5": {"conv1", "conv2", "ip2"}}

CHUNK = 1 << 22  # matrix elements drawn at a time (16 MB of float32)
EXACT = 1 << 20  # chunks up to this size get exactly round(density * size) non-zeros


def _net(net: str):
    if net not in NETS:
        raise HwqError(f"--net {net!r}: not one of {', '.join(NETS)}")
    return NETS[net]


def sparse_random_weight(rng: np.random.Generator, shape: tuple[int, ...], encoding: str, density: float,
                         bits: int, fmt: str, index_bits: int, groups: int = 1) -> Weight:
    """A random pruned weight of ``shape`` drawn and encoded in chunks of whole columns (CSC) or
    rows (CSR, or a dense layout), so memory stays a few chunk-sized temporaries."""
    if not 0 < density <= 1:
        raise HwqError(f"density {density}: must be in (0, 1]")
    rows = int(shape[0])
    cols = int(np.prod(shape[1:], dtype=np.int64))
    taps = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) == 4 else 1
    in_ch = int(shape[1])
    csc = fmt == "csc"
    n_major, n_minor = (cols, rows) if csc else (rows, cols)
    step = max(1, CHUNK // n_minor)
    ptrs, rels, kept = [np.zeros(1, np.int64)], [], []
    for m0 in range(0, n_major, step):
        m1 = min(n_major, m0 + step)
        # view[major, minor], C-contiguous: encode's nonzero() then walks memory in order
        draw = rng.random((m1 - m0, n_minor), dtype=np.float32)
        k = int(round(density * draw.size))
        if 0 < k < draw.size <= EXACT:  # small layers: exactly the paper's density
            view = draw <= np.partition(draw.reshape(-1), k - 1)[k - 1]
        else:  # large chunks: Bernoulli, within a fraction of a percent of it
            view = draw < density
        if groups > 1:  # keep only the diagonal blocks: output group == input-channel group
            out_group = lambda r: r * groups // rows  # noqa: E731
            in_group = lambda c: (c // taps) * groups // in_ch  # noqa: E731
            majors, minors = np.arange(m0, m1), np.arange(n_minor)
            view &= (in_group(majors)[:, None] == out_group(minors)[None, :]) if csc else \
                (out_group(majors)[:, None] == in_group(minors)[None, :])
        mask = view.T if csc else view
        if fmt == "none":
            kept.append(mask.reshape(-1))
            continue
        idx, src = encode(mask, fmt, index_bits)
        ptrs.append(idx.ptr[1:].astype(np.int64) + ptrs[-1][-1])
        rels.append(idx.rel)
        kept.append(src >= 0)
    keep = np.concatenate(kept)
    codes, make = random_codes(rng, keep.size, encoding, bits)
    values = make(np.where(keep, codes, 0).astype(codes.dtype))
    if fmt == "none":
        return Weight(tuple(shape), values)
    ptr = np.concatenate(ptrs)
    stored = int(ptr[-1])
    sp = SparseIndex(fmt, index_bits, max(1, stored.bit_length()), ptr.astype(np.int32),
                     np.concatenate(rels) if rels else np.zeros(0, np.uint8))
    return Weight(tuple(shape), values, sp)


def _bits_for(encoding: str, table_bits: int) -> int:
    return {"pow2": min(table_bits, 7), "pq": min(table_bits, 8)}.get(encoding, table_bits)


def _pq_weight(rng, shape, bits) -> Weight:
    from hwq.compress.random_model import random_weight

    return random_weight(rng, shape, "pq", 1.0, bits, "none")


def random_net(net: str, encoding: str = "codebook", sparse: str = "csc", act_bits: int = 8, seed: int = 0) -> Model:
    """The network ``net`` with random weights at the paper's per-layer density and bits."""
    in_shape, specs = _net(net)
    if encoding == "pq":
        sparse = "none"  # product quantization is dense only; the paper's densities do not apply
    rng = np.random.default_rng(seed)
    model = Model(net, {}, [], {"source": f"hwq random --net {net}", "seed": seed, "tables": SOURCE})
    model.layers["input"] = Input("input", [], shape=in_shape)
    prev, shape = "input", in_shape
    weighted = [s.name for s in specs if s.kind in ("conv", "fc")]
    for s in specs:
        if s.kind == "pool":
            layer = MaxPool(s.name, [prev], kernel=(s.kernel, s.kernel), stride=(s.stride, s.stride))
        elif s.kind == "flatten":
            layer = Flatten(s.name, [prev])
        else:
            bits = _bits_for(encoding, s.bits)
            if s.kind == "conv":
                wshape = (s.out, shape[0], s.kernel, s.kernel)
            else:
                wshape = (s.out, int(np.prod(shape)))
            if encoding == "pq":
                w = _pq_weight(rng, wshape, bits)
            else:
                w = sparse_random_weight(rng, wshape, encoding, s.density, bits, sparse, s.index_bits, s.groups)
            bias = (rng.normal(size=s.out) * 0.1).astype(np.float32)
            if s.kind == "conv":
                layer = Conv2d(s.name, [prev], in_channels=shape[0], out_channels=s.out, kernel=(s.kernel, s.kernel),
                               stride=(s.stride, s.stride), padding=(s.pad,) * 4, weight=w, bias=bias)
            else:
                layer = Dense(s.name, [prev], in_features=wshape[1], out_features=s.out, weight=w, bias=bias)
        model.layers[s.name] = layer
        prev, shape = s.name, layer.out_shape([shape])
        if s.kind in ("conv", "fc") and s.name != weighted[-1] and s.name not in NO_RELU.get(net, set()):
            model.layers[f"relu_{s.name}"] = ReLU(f"relu_{s.name}", [prev])
            prev = f"relu_{s.name}"
    model.outputs = [prev]
    return nominal_quant(model, act_bits)


def nominal_quant(model: Model, act_bits: int) -> Model:
    """Activation grids without a calibration run: each weighted layer's output scale keeps a
    typical accumulator (sqrt(non-zeros per output) x mean |w| x mean |x|) at a quarter of the
    grid; outputs followed by a ReLU are unsigned (the requant clamp acts as the ReLU)."""
    if not 2 <= act_bits <= 16:
        raise HwqError(f"--act-bits {act_bits}: must be in [2, 16]")
    g = model.graph
    qmax_u = (1 << act_bits) - 1
    quant: dict[str, QuantParams] = {}
    for layer in model.topo_order():
        if isinstance(layer, Input):
            quant[layer.name] = QuantParams(act_bits, False, 1.0 / qmax_u, 0)
        elif not isinstance(layer, WeightedLayer):
            quant[layer.name] = quant[layer.inputs[0]]
        else:
            q_in = quant[layer.inputs[0]]
            w = layer.weight
            s_w = float(w.scale_vector()[0])
            if isinstance(w.values, PQValues):  # every sub-codeword entry is used; no pruning
                nz = np.abs(w.values.codebook.astype(np.int64)).reshape(-1)
                per_out = w.size / w.channels
            else:
                nz = np.abs(w.values.int_values())
                nz = nz[nz > 0]
                per_out = nz.size / w.channels
            mean_w = float(nz.mean()) if nz.size else 1.0
            per_out = max(1.0, per_out)
            acc = math.sqrt(per_out) * mean_w * (q_in.qmax - q_in.zero_point) / 2
            relu_next = all(model.layers[c].KIND == "relu" for c in g.successors(layer.name)) and \
                layer.name not in model.outputs
            qmax = qmax_u if relu_next else (1 << (act_bits - 1)) - 1
            s_out = q_in.scale * s_w * acc / (qmax / 4)
            quant[layer.name] = QuantParams(act_bits, not relu_next, float(s_out), 0)
    layers = {}
    for name, layer in model.layers.items():
        q = quant[name]
        if isinstance(layer, WeightedLayer):
            s_in = quant[layer.inputs[0]].scale
            s_w = layer.weight.scale_vector()
            factors = s_in * s_w / q.scale
            bq = round_half_away(layer.bias.astype(np.float64) / (s_in * s_w))
            bq = np.clip(bq, -(1 << 20), 1 << 20).astype(np.int32)
            uniform = np.all(factors == factors[0])
            layer = replace(layer, quant=q, bias_q=bq, requant=make_requant(factors[:1] if uniform else factors))
        else:
            layer = replace(layer, quant=q)
        layers[name] = layer
    model.layers = layers
    return validate(model)

