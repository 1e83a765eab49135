"""The installed distribution carries templates/, rtl/, sim/, the examples and the schema."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_every_top_level_part(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("hwq-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("hwq/rtl/__init__.py", "hwq/sim/__init__.py", "hwq/templates/__init__.py",
                   "hwq/ir/manifest.schema.json", "hwq/examples/digits_mlp.ir",
                   "hwq/examples/digits_test_x.npy", "hwq/cli.py", "hwq/commands/guard.py", "hwq/sweep/run.py",
                   "hwq/commands/estimate.py", "hwq/cost/energy_tables/horowitz45.json"):
        assert needed in names, needed
    shipped = {p.name for p in (ROOT / "examples").glob("*.ir")}
    assert shipped and {n.split("/")[-1] for n in names if n.startswith("hwq/examples/") and n.endswith(".ir")} == shipped
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "hwq = hwq.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
