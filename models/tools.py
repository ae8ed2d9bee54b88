"""Locating KenLM's command-line tools (lmplz, build_binary), built by scripts/setup.sh."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import ToolNotFoundError

KENLM_TOOLS_VERSION = "0.3.0"


def default_cache() -> Path:
    return Path(os.environ.get("WINNOW_CACHE", Path.home() / ".cache" / "winnow"))


def kenlm_tool(name: str) -> Path:
    """Path of ``lmplz`` or ``build_binary``: $WINNOW_KENLM_BIN, then PATH, then the cache."""
    candidates = []
    if env := os.environ.get("WINNOW_KENLM_BIN"):
        candidates.append(Path(env) / name)
    if found := shutil.which(name):
        candidates.append(Path(found))
    candidates.append(default_cache() / f"kenlm-{KENLM_TOOLS_VERSION}" / "bin" / name)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise ToolNotFoundError(
        f"KenLM's {name} was not found (looked in $WINNOW_KENLM_BIN, PATH and "
        f"{candidates[-1].parent}). Run `bash scripts/setup.sh`, which builds it from the "
        f"kenlm {KENLM_TOOLS_VERSION} sdist, or set WINNOW_KENLM_BIN to the folder holding it."
    )
