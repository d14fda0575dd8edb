"""How a path is shown in reports and summaries: reports get shared and committed, and one
machine's absolute paths mean nothing on another."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_VARIABLE = "AFA_DATA_DIR"


def shown_path(path: str | Path) -> str:
    """A path the way the user gave it; an absolute one inside $AFA_DATA_DIR as
    $AFA_DATA_DIR/..., and one inside the current folder relative to it."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    data_dir = os.environ.get(DATA_DIR_VARIABLE)
    if data_dir and path.is_relative_to(Path(data_dir).expanduser().resolve()):
        return f"${DATA_DIR_VARIABLE}/{path.relative_to(Path(data_dir).expanduser().resolve())}"
    if path.is_relative_to(Path.cwd()):
        return str(path.relative_to(Path.cwd()))
    return str(path)
