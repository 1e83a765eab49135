"""Data flows one way (docs/architecture.md): the IR depends on nothing, golden only on the IR."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "hwq"

ALLOWED = {
    "ir": {"hwq.errors", "hwq.ir"},
    "golden": {"hwq.errors", "hwq.ir", "hwq.golden"},
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
    allowed = ALLOWED[package]
    for path in sorted((PKG / package).glob("*.py")):
        for mod in hwq_imports(path):
            assert any(mod == a or mod.startswith(a + ".") for a in allowed), f"{path.name} imports {mod}"
