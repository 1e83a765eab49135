"""The main demo (``make demo``): the digits MLP through every part of hwq.

1. show the float model, 2. compress it Deep-Compression style (prune 90%, 5-bit shared
weights, centroid fine-tuning, 8-bit activations), 3. inspect the result, 4. run the
bit-exact golden model on the test split and compare with the float reference,
5. estimate work, bytes, energy and time (generic roofline and the EIE accelerator's
cycle-exact model), 6. generate C that runs the compressed weights as they are stored, build
it and check it bit for bit against the golden model (host, and Cortex-M4 under qemu),
7. simulate the EIE-style RTL (Amaranth -> Verilog -> Icarus via cocotb) on two samples:
outputs bit-exact, cycles equal to the model's.
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

    test_x = str(HERE / "digits_test_x.npy")
    hwq("estimate", small, "--input", test_x)
    hwq("estimate", small, "--target", "eie", "--input", test_x, "--param", "n_pe=4")
    hwq("gen-c", small, "--target", "host", "-o", str(OUT / "c_host"), "--run")
    hwq("gen-c", small, "--target", "cortex-m4", "-o", str(OUT / "c_m4"), "--run")
    hwq("simulate", small, "--input", test_x, "--samples", "2", "--n-pe", "4")
    print("\nthe pow2 and LeNet variants are in examples/ (see examples/README.md); "
          "hwq sweep examples/digits_sweep.yaml -o out/sweep explores compression x hardware")


if __name__ == "__main__":
    main()
