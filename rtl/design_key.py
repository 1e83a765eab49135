"""The design's cache key: the configuration's hash plus a hash of the design's sources (rtl/*.py
but this file and the synthesis script, which do not change the design), so a changed design
never reuses a stale build or synthesis result; and ``cache_root``, where builds and synthesis
results are kept under that key ($HWQ_CACHE/eie, default ~/.cache/hwq/eie)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from hwq.eie.config import EieConfig

NOT_DESIGN = {"design_key.py", "synthesis.py"}


def design_key(cfg: EieConfig) -> str:
    h = hashlib.sha256(cfg.key().encode())
    for f in sorted(Path(__file__).parent.glob("*.py")):
        if f.name not in NOT_DESIGN:
            h.update(f.read_bytes())
    return f"{cfg.key()}-{h.hexdigest()[:10]}"


def cache_root() -> Path:
    return Path(os.environ.get("HWQ_CACHE", Path.home() / ".cache" / "hwq")) / "eie"
