"""Data flows one way (docs/architecture.md): the IR depends on nothing, golden only on the IR,
and the back ends (cost, codegen, the accelerator's eie/rtl/sim) never import each other."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "hwq"

BASE = {"hwq.errors", "hwq.ir"}
# package -> (its source folder, what it may import). The back ends may run the golden model
# (cost: activation densities; codegen and sim: comparing outputs). rtl/ and sim/ install as
# hwq.rtl and hwq.sim (pyproject.toml); hwq.eie is the shared description of the accelerator.
ALLOWED = {
    "ir": (PKG / "ir", BASE),
    "golden": (PKG / "golden", BASE | {"hwq.golden"}),
    "eie": (PKG / "eie", BASE | {"hwq.eie"}),
    # hwq.kernels: the shared facts about gen-c's C kernels (which method runs a layer)
    "kernels": (PKG / "kernels", BASE | {"hwq.kernels"}),
    "rtl": (ROOT / "rtl", BASE | {"hwq.eie", "hwq.rtl"}),
    "sim": (ROOT / "sim", BASE | {"hwq.eie", "hwq.rtl", "hwq.sim", "hwq.golden"}),
    "cost": (PKG / "cost", BASE | {"hwq.eie", "hwq.kernels", "hwq.cost", "hwq.golden"}),
    "codegen": (PKG / "codegen", BASE | {"hwq.kernels", "hwq.codegen", "hwq.golden"}),
    # the sweep orchestrates the back ends; nothing below it imports it (test below)
    "sweep": (PKG / "sweep", BASE | {"hwq.sweep", "hwq.compress", "hwq.golden", "hwq.cost", "hwq.eie", "hwq.sim", "hwq.rtl",
                                     "hwq.codegen", "hwq.kernels"}),
}


def hwq_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hwq"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("hwq")}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package):
    folder, allowed = ALLOWED[package]
    for path in sorted(folder.rglob("*.py")):
        for mod in hwq_imports(path):
            assert any(mod == a or mod.startswith(a + ".") for a in allowed), f"{path.name} imports {mod}"


def test_only_the_cli_imports_the_sweep():
    files = [p for p in [*PKG.rglob("*.py"), *(ROOT / "rtl").rglob("*.py"), *(ROOT / "sim").rglob("*.py")]
             if PKG / "sweep" not in p.parents and p != PKG / "commands" / "sweep.py"]
    for path in files:
        assert not any(m == "hwq.sweep" or m.startswith("hwq.sweep.") for m in hwq_imports(path)), path
