"""What ``hwq info`` reports: per-layer structure, encoding, density and storage."""

from __future__ import annotations

from hwq.ir.layers import Conv2d, Dense, WeightedLayer
from hwq.ir.manifest import SCHEMA_VERSION
from hwq.ir.model import Model
from hwq.ir.storage import StorageBits, bits_per_weight, compression_rate, layer_storage

PARTS = ("payload", "index", "pointer", "codebook", "bias", "total")


def signed_bits(lo: int, hi: int) -> int:
    """The fewest two's-complement bits holding every integer in [lo, hi]."""
    return 1 + max(max(hi, 0).bit_length(), max(-lo - 1, 0).bit_length())


def accumulator_bits_needed(model: Model) -> dict[str, int]:
    """Exact worst-case signed accumulator width per weighted layer over every input in
    range: with ``d = x - zx`` in ``[dmin, dmax]``, row ``o`` reaches
    ``bias + P*dmax + N*(-dmin)`` at most and ``bias + P*dmin - N*dmax`` at least (P, N:
    sums of its positive weights and of its negative weights' magnitudes). Python ints
    throughout, so 7-bit pow2 weights (2^62) are exact; sparse weights stay sparse."""
    out = {}
    for layer in model.weighted():
        src = model.layers[layer.inputs[0]].quant
        if src is None or not layer.weight.is_integer:
            continue
        dmin, dmax = src.qmin - src.zero_point, src.qmax - src.zero_point
        pos, neg = layer.weight.row_sums()
        bias = [int(b) for b in layer.bias_q] if layer.bias_q is not None else [0] * len(pos)
        out[layer.name] = max(signed_bits(b + int(p) * dmin - int(n) * dmax, b + int(p) * dmax - int(n) * dmin)
                              for b, p, n in zip(bias, pos, neg))
    return out


def model_info(model: Model) -> dict:
    shapes = model.shapes()
    acc_needed = accumulator_bits_needed(model) if model.is_quantized else {}
    layers, totals = [], []
    for layer in model.topo_order():
        row: dict = {"name": layer.name, "kind": layer.KIND, "inputs": list(layer.inputs),
                     "out_shape": list(shapes[layer.name]),
                     "quant": layer.quant.to_json() if layer.quant else None}
        if isinstance(layer, Dense):
            row.update(in_features=layer.in_features, out_features=layer.out_features)
        if isinstance(layer, Conv2d):
            row.update(in_channels=layer.in_channels, out_channels=layer.out_channels,
                       kernel=list(layer.kernel), stride=list(layer.stride), padding=list(layer.padding))
        if isinstance(layer, WeightedLayer):
            w = layer.weight
            s = layer_storage(layer)
            totals.append(s)
            row.update(weights=w.size, nnz=s.nnz, stored=w.stored, density=s.nnz / w.size,
                       encoding=w.encoding_name(), bits=w.values.payload_bits(),
                       index_bits=w.sparse.index_bits if w.sparse else None,
                       storage_bits=s.as_dict(), compression_rate=compression_rate(s),
                       compression_rate_huffman=compression_rate(s, huffman=True),
                       deep_compression=bits_per_weight(s),  # the paper's per-entry columns
                       acc_bits=layer.acc_bits, acc_bits_needed=acc_needed.get(layer.name))
        else:
            row.update(weights=0, nnz=0, stored=0, density=None, encoding=None, bits=None,
                       index_bits=None, storage_bits=None)
        layers.append(row)
    total = sum(totals, StorageBits())
    n_weights = sum(r["weights"] for r in layers)
    nnz = sum(r["nnz"] for r in layers)
    return {"name": model.name, "schema_version": SCHEMA_VERSION, "quantized": model.is_quantized,
            "outputs": list(model.outputs), "weights": n_weights, "nnz": nnz,
            "density": nnz / n_weights if n_weights else None,
            "storage_bits": total.as_dict(),
            "compression_rate": compression_rate(total) if total.dense_float_bits else None,
            "compression_rate_huffman": compression_rate(total, huffman=True) if total.dense_float_bits else None,
            "deep_compression": bits_per_weight(total) if total.stored else None,
            "provenance": model.provenance, "layers": layers}


def _bytes(bits: int) -> str:
    return str((bits + 7) // 8)


def render_table(data: dict) -> str:
    head = ["layer", "kind", "shape", "encoding", "density", "bits", "payload", "index", "pointer",
            "codebook", "bias", "total"]
    rows = []
    for r in data["layers"]:
        sb = r["storage_bits"]
        rows.append([
            r["name"], r["kind"], "x".join(map(str, r["out_shape"])), r["encoding"] or "-",
            f"{r['density']:.1%}" if r["density"] is not None else "-",
            str(r["bits"]) if r["bits"] is not None else "-",
            *([_bytes(sb[p]) for p in PARTS] if sb else ["-"] * len(PARTS)),
        ])
    sb = data["storage_bits"]
    rows.append(["total", "", "", "", f"{data['density']:.1%}" if data["density"] is not None else "-", "",
                 *[_bytes(sb[p]) for p in PARTS]])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = [f"model {data['name']} (schema v{data['schema_version']}, "
           f"{'quantized' if data['quantized'] else 'float'}); storage in bytes",
           line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append(f"compression vs dense float32 (payload+index+codebook): "
               f"{1 / data['compression_rate']:.1f}x, with Huffman {1 / data['compression_rate_huffman']:.1f}x"
               if data["compression_rate"] else "")
    return "\n".join(out)


CSV_COLUMNS = ("name", "kind", "out_shape", "encoding", "weights", "nnz", "density", "bits") + \
    tuple(f"{p}_bits" for p in PARTS)


def render_csv(data: dict) -> str:
    """One row per layer (storage in bits, empty where a layer has no weight), for spreadsheets."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in data["layers"]:
        sb = r.get("storage_bits") or {}
        w.writerow([r["name"], r["kind"], "x".join(map(str, r["out_shape"])), r.get("encoding") or "",
                    r.get("weights", ""), r.get("nnz", ""), "" if r.get("density") is None else r["density"],
                    "" if r.get("bits") is None else r["bits"], *(sb.get(p, "") for p in PARTS)])
    return buf.getvalue().rstrip("\n")
