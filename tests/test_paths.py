"""Paths in reports: as the user gave them, never one machine's absolute paths when avoidable."""

from pathlib import Path

import pytest

from afa_cli.errors import UserError
from afa_cli.paths import check_new_file, shown_path


def test_paths_read_as_the_user_gave_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFA_DATA_DIR", raising=False)
    assert shown_path(Path("runs/off/checkpoints/best")) == "runs/off/checkpoints/best"
    assert shown_path(tmp_path / "runs" / "off") == str(Path("runs/off"))
    outside = tmp_path.parent / "elsewhere"
    assert shown_path(outside) == str(outside)


def test_data_files_read_relative_to_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("AFA_DATA_DIR", str(tmp_path / "data"))
    assert shown_path(tmp_path / "data" / "sst2" / "dev.tsv") == "$AFA_DATA_DIR/sst2/dev.tsv"


def test_a_new_file_is_never_an_existing_one_nor_under_a_file(tmp_path):
    existing = tmp_path / "report.json"
    existing.write_text("{}")
    with pytest.raises(UserError, match=f"^--out {existing} already exists; choose a new file"):
        check_new_file(existing, "--out")
    with pytest.raises(UserError, match=f"{existing} is a file, not a folder"):
        check_new_file(existing / "deeper" / "x.json", "--out")
    check_new_file(tmp_path / "new" / "deeper" / "x.json", "--out")  # folders yet to be made
    assert not (tmp_path / "new").exists()
