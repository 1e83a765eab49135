"""The plot of bench_genc.py's measurements: instructions per dense MAC of every gen-c kernel on
the 784x300 layer (sparse encodings at 10 % weight density, dense layouts at 100 %), per
target, with every activation non-zero, on a log scale beside CMSIS-NN's
arm_fully_connected_s8 on Cortex-M4 (1.939, issue #14) and the goal (0.4).

Reads bench/genc_arm_model.json (exact qemu counts, every kernel checked bit for bit against
the golden model when measured; ``python bench/bench_genc.py ...`` writes it) and writes
bench/genc_instructions.png (or the path given). Run: python3 bench/plot_genc.py [OUT.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_genc import CMSIS_NN_M4, ENCODINGS, HEADLINE  # noqa: E402

TARGETS = ["cortex-m4", "cortex-m55", "cortex-a53"]
GOAL = 0.4  # issue #14: pow2- and codebook-sparse kernels at 10 % density on 784x300


def headline_rows(measurements: list[dict]) -> dict[str, dict[str, tuple[float, str]]]:
    """label -> target -> (instructions per dense MAC, gen-c's kernel) on the headline layer."""
    n_in, n_out, dens = HEADLINE
    shape = f"{n_in}x{n_out}"
    out: dict = {}
    for s in measurements:
        sparse = s["label"].replace("_", "-") in {e[0] for e in ENCODINGS if e[2] != "none"}
        if s["shape"] == shape and s["regime"] == "dense" and s["density"] == (dens if sparse else 1.0) \
                and "_rq_" not in s["label"]:
            out.setdefault(s["label"].replace("_", "-"), {})[s["target"]] = (s["instructions"] / (n_in * n_out),
                                                                             s["kernel"])
    return out


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    data = json.loads((ROOT / "bench" / "genc_arm_model.json").read_text())
    rows = headline_rows(data["measurements"])
    labels = [e[0] for e in ENCODINGS if e[0] in rows]
    x = np.arange(len(labels))
    width = 0.8 / len(TARGETS)
    fig, ax = plt.subplots(figsize=(13, 5.2))
    for k, t in enumerate(TARGETS):
        y = [rows[lab].get(t, (np.nan, ""))[0] for lab in labels]
        ax.bar(x + (k - (len(TARGETS) - 1) / 2) * width, y, width, label=t)
    ax.axhline(CMSIS_NN_M4[(784, 300)], color="k", ls="--", lw=1, label="CMSIS-NN arm_fully_connected_s8, Cortex-M4")
    ax.axhline(GOAL, color="tab:red", ls=":", lw=1.2, label=f"goal {GOAL} (sparse pow2 / codebook, 10 %)")
    ax.set_yscale("log")
    ax.set_xticks(x, [lab + ("" if any(e[0] == lab and e[2] != "none" for e in ENCODINGS) else " (dense)")
                      for lab in labels], rotation=40, ha="right")
    ax.set_ylabel("instructions per dense MAC (qemu, exact)")
    ax.set_title("gen-c kernels on a 784x300 layer: sparse at 10 % weight density, dense layouts at 100 %, "
                 "all activations non-zero")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "genc_instructions.png"
    fig.savefig(out, dpi=110)
    print(out)
    for lab in labels:
        print(f"{lab:22s}" + "".join(f"{rows[lab].get(t, (float('nan'), ''))[0]:9.3f}" for t in TARGETS))


if __name__ == "__main__":
    main()
