"""The run folder's JSON files: written whole or not at all, an undefined number as null."""

from __future__ import annotations

import json
import math
from pathlib import Path

from afa_cli import files


def finite(value):
    """JSON has no NaN: undefined metrics are written as null."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, payload: dict, exclusive: bool = False, then: str = files.AGAIN) -> None:
    """Written whole or not at all (see files.new_file); `exclusive`: never over an existing
    file."""
    files.write_text(path, _json_text(payload), replace=not exclusive, then=then)


def write_new_json(folder: Path, stem: str, payload: dict) -> Path:
    """folder/<stem>.json, or <stem>-2.json, -3, ... whichever does not exist yet, written whole
    or not at all; two writers at once get two names."""
    return files.write_numbered(folder, stem, ".json", _json_text(payload))


def _json_text(payload: dict) -> str:
    return json.dumps(finite(payload), indent=2) + "\n"
