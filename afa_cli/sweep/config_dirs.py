"""The --config-dir folders a sweep's sweep.yaml (and a search's tune.yaml) keeps, in the order
they were given: each relative to the folder that file is in, so that the folder and its config
folders may move together."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

KEY = "config_dirs"
# What files kept before --config-dir could be given more than once: one folder or none,
# relative (absolute in the oldest sweeps).
SINGLE_KEY = "config_dir"


def kept(folder: Path, config_dirs: Sequence[Path]) -> list[str]:
    """The folders as the file in `folder` keeps them."""
    return [os.path.relpath(Path(d).resolve(), Path(folder).resolve()) for d in config_dirs]


def kept_in(payload: dict) -> list[str]:
    """The folders a state file's contents keep, the one folder of an older file as a list."""
    if KEY in payload:
        return list(payload[KEY] or [])
    single = payload.get(SINGLE_KEY)
    return [single] if single else []


def resolved(folder: Path, config_dirs: Sequence[str]) -> list[Path]:
    """The folders, wherever the sweep or search is run from."""
    return [(Path(folder) / d).resolve() for d in config_dirs]
