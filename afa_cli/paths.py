"""Paths the user gives: how one is shown in reports and summaries (reports get shared and
committed, and one machine's absolute paths mean nothing on another), and whether a file or
folder can be written there."""

from __future__ import annotations

import os
from pathlib import Path

from afa_cli.errors import UserError

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


def check_new_file(path: Path, option: str) -> None:
    """One line when `path` cannot be written as a new file: it exists (nothing is overwritten)
    or a folder on its way is a file."""
    if path.exists():
        raise UserError(f"{option} {path} already exists; choose a new file name.")
    check_folder_path(path.parent, option)


def check_folder_path(path: Path, option: str) -> None:
    """One line when `path` cannot be (or become) a folder because it, or a folder on its way,
    is a file."""
    for ancestor in (path, *path.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise UserError(f"{option}{'' if option.endswith('=') else ' '}{path}: "
                                f"{ancestor} is a file, not a folder; choose another path.")
            return
