"""The main demo (``make demo``): the digits MLP through hwq's compression flow.

1. show the float model, 2. compress it Deep-Compression style (prune 90%, 5-bit shared
weights, centroid fine-tuning, 8-bit activations), 3. inspect the result, 4. run the
bit-exact golden model on the test split and compare with the float reference.
Uses the ``hwq`` command line exactly as a user would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "out"


def hwq(*args: str) -> None:
    print(f"\n$ hwq {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "hwq", *args], check=True)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    mlp = str(HERE / "digits_mlp.ir")
    small = str(OUT / "digits_mlp_compressed.ir")
    hwq("info", mlp)
    hwq("compress", mlp, "-o", small, "--prune", "0.9", "--share-bits", "5", "--retrain-epochs", "8",
        "--lr", "0.02", "--act-bits", "8", "--data", "digits")
    hwq("info", small)
    hwq("run", small, "--input", str(HERE / "digits_test_x.npy"), "-o", str(OUT / "logits.npy"))

    import numpy as np

    from hwq import golden, ir

    y = np.load(HERE / "digits_test_y.npy")
    m = ir.load(small)
    x = np.load(HERE / "digits_test_x.npy")
    acc_int = float((np.load(OUT / "logits.npy").argmax(1) == y).mean())
    acc_float = float((golden.run_float(m, x)[m.outputs[0]].argmax(1) == y).mean())
    print(f"\ntest accuracy on {len(y)} digits: bit-exact integer model {acc_int:.2%}, "
          f"float reference {acc_float:.2%}")
    print("the pow2 and LeNet variants are in examples/ (see examples/README.md)")


if __name__ == "__main__":
    main()
