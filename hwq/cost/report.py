"""Rendering an estimate: the per-layer table with totals, CSV rows, and a plot (matplotlib)."""

from __future__ import annotations

import csv
import io

from hwq.errors import HwqError

TABLE_COLUMNS = (  # (heading, how to read it from a row or the total)
    ("MACs dense", lambda r: r["macs_dense"]),
    ("MACs eff", lambda r: r["macs_effective"]),
    ("MACs exec", lambda r: r["macs_executed"]),
    ("weight B", lambda r: r["weight_bytes"]["total"]),
    ("act B", lambda r: r["activation_bytes"]["in"] + r["activation_bytes"]["out"]),
    ("DRAM B", lambda r: r["traffic_bytes"].get("dram", 0.0)),
    ("energy uJ", lambda r: r["energy_pj"]["total"] * 1e-6),
    ("cycles", lambda r: r["cycles"]),
    ("time us", lambda r: r["seconds"] * 1e6),
)


def si(x: float | int | None) -> str:
    """4 significant digits with an SI suffix (k, M, G, T); '-' for None."""
    if x is None:
        return "-"
    x = float(x)
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.4g}{suf}"
    return f"{x:.4g}"


def _fits(r: dict) -> str:
    bad = [k for k, ok in r["fits"].items() if not ok]
    return "no: " + ",".join(bad) if bad else ("yes" if r["fits"] else "-")


def table_cells(r: dict, name: str, kind: str, encoding: str) -> list[str]:
    return [name, kind, encoding, *(si(get(r)) for _, get in TABLE_COLUMNS), r.get("bound") or "-", _fits(r)]


def render_table(rep: dict) -> str:
    head = ["layer", "kind", "encoding", *(h for h, _ in TABLE_COLUMNS), "bound", "on chip"]
    rows = [table_cells(r, r["name"], r["kind"], r["encoding"] or "-") for r in rep["layers"]]
    rows.append(table_cells(rep["total"], "total", "", ""))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 3 or i >= len(head) - 2 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in rep["params"].items())
    out = [f"model {rep['model']} on target {rep['target']} ({params}); energy table {rep['energy_table']}",
           f"activation density: {rep['act_density_source']}; per inference of one sample; "
           "1 MAC = 2 FLOPs",
           line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    tot = rep["total"]
    e = tot["energy_pj"]
    out.append("energy by component (uJ): " + ", ".join(
        f"{k} {si(v * 1e-6)}" for k, v in e.items() if k != "total") + f"; total {si(e['total'] * 1e-6)}")
    wb = tot["weight_bytes"]
    out.append("weight bytes: " + ", ".join(f"{k} {si(wb[k])}" for k in
                                              ("payload", "index", "pointer", "codebook", "bias", "total",
                                               "total_huffman")))
    out.append(f"FLOPs dense {si(tot['flops_dense'])}, effective {si(tot['flops_effective'])}; "
               f"dense/executed MACs {tot['speedup']:.3g}x" if tot["speedup"] else
               f"FLOPs dense {si(tot['flops_dense'])}")
    return "\n".join(out)


def _flatten(prefix: str, d: dict) -> dict:
    return {f"{prefix}_{k}": v for k, v in d.items()}


CSV_SCALARS = ("name", "kind", "encoding", "macs_dense", "macs_effective", "macs_executed", "flops_dense",
               "flops_effective", "speedup", "act_density", "cycles", "seconds", "bound")


def csv_rows(rep: dict) -> list[dict]:
    rows = []
    for r in rep["layers"] + [dict(rep["total"], name="total", kind="", encoding=None, act_density=None,
                                   bound="")]:
        row = {k: r.get(k) for k in CSV_SCALARS}
        row |= _flatten("weight_bytes", r["weight_bytes"]) | _flatten("activation_bytes", r["activation_bytes"])
        row |= _flatten("traffic_bytes", r["traffic_bytes"]) | _flatten("energy_pj", r["energy_pj"])
        row |= {f"fits_{k}": v for k, v in r["fits"].items()}
        rows.append(row)
    return rows


def render_csv(rep: dict) -> str:
    rows = csv_rows(rep)
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def plot(rep: dict, path: str) -> None:
    """Stacked per-layer weight/activation bytes and energy by component; per-PE utilization
    when the target reports ``extra["pe_busy"]`` (e.g. eie). Written atomically."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - a dependency of hwq
        raise HwqError("--plot needs matplotlib: pip install matplotlib") from None
    from hwq.ir.atomic import atomic_write

    layers = [r for r in rep["layers"] if r["energy_pj"]["total"] or r["weight_bytes"]["total"]] or rep["layers"]
    names = [r["name"] for r in layers]
    pe = [r for r in layers if isinstance(r.get("extra"), dict) and r["extra"].get("pe_busy")]
    fig, axes = plt.subplots(3 if pe else 2, 1, figsize=(max(7, 0.45 * len(names) + 3), 9 if pe else 6.5))
    x = range(len(names))
    parts = [("payload", lambda r: r["weight_bytes"]["payload"]), ("index", lambda r: r["weight_bytes"]["index"]),
             ("pointer", lambda r: r["weight_bytes"]["pointer"]),
             ("codebook", lambda r: r["weight_bytes"]["codebook"]), ("bias", lambda r: r["weight_bytes"]["bias"]),
             ("act in", lambda r: r["activation_bytes"]["in"]), ("act out", lambda r: r["activation_bytes"]["out"])]
    _stack(axes[0], x, layers, parts, "bytes")
    comps = [k for k in rep["total"]["energy_pj"] if k != "total"]
    _stack(axes[1], x, layers, [(k, lambda r, k=k: r["energy_pj"][k] * 1e-6) for k in comps], "energy (uJ)")
    if pe:
        for r in pe:
            busy = r["extra"]["pe_busy"]
            total = max(r["cycles"], 1.0)
            axes[2].plot(range(len(busy)), [b / total for b in busy], marker=".", label=r["name"])
        axes[2].set_xlabel("PE")
        axes[2].set_ylabel("utilization")
        axes[2].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    for ax in axes[:2]:
        ax.set_xticks(list(x), names, rotation=45, ha="right", fontsize="small")
    axes[0].set_title(f"{rep['model']} on {rep['target']} ({rep['energy_table']})")
    fig.tight_layout()
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    finally:
        plt.close(fig)


def _stack(ax, x, layers, parts, ylabel) -> None:
    bottom = [0.0] * len(layers)
    for label, get in parts:
        vals = [float(get(r)) for r in layers]
        if any(vals):
            ax.bar(list(x), vals, bottom=bottom, label=label)
            bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
