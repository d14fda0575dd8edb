"""Paths in reports: as the user gave them, never one machine's absolute paths when avoidable."""

from pathlib import Path

from afa_cli.paths import shown_path


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
