"""metrics.jsonl: a run's events, appended a line at a time; those a resume repeats are set
aside, never deleted."""

from __future__ import annotations

import json
import time
from pathlib import Path

from afa_cli import files
from afa_cli.runs.json_files import finite
from afa_cli.runs.records import Event


class MetricsEvents:
    """Run's metrics.jsonl."""

    METRICS = "metrics.jsonl"
    path: Path  # the run folder

    def append_event(self, step: int, epoch: int, split: str, metrics: dict) -> None:
        event = {"step": step, "epoch": epoch, "split": split, "time": time.time(),
                 "metrics": finite(metrics)}
        files.append_line(self.path / self.METRICS, json.dumps(event))

    def event_count(self) -> int:
        """Lines of metrics.jsonl so far: a checkpoint records it, so that a resume from it knows
        which events came after it."""
        path = self.path / self.METRICS
        return len(path.read_bytes().splitlines()) if path.is_file() else 0

    def set_aside_events(self, keep: int) -> Path | None:
        """A run resumed from a checkpoint repeats the steps logged after it: metrics.jsonl keeps
        its first `keep` lines and the rest (with a line a hard stop cut short) moves to
        metrics.after-<keep>.jsonl, or -2, -3, ... beside an earlier one; returns that file."""
        path = self.path / self.METRICS
        lines = path.read_bytes().splitlines(keepends=True) if path.is_file() else []
        if len(lines) <= keep:
            return None
        aside = next(candidate for n in range(1, 10_000) for candidate in
                     [self.path / f"metrics.after-{keep}{'' if n == 1 else f'-{n}'}.jsonl"]
                     if not candidate.exists())
        with files.open_new(aside, "wb") as handle:
            handle.write(b"".join(lines[keep:]))
        with files.open_new(path, "wb", replace=True) as handle:
            handle.write(b"".join(lines[:keep]))
        return aside

    def events(self, split: str | None = None) -> list[Event]:
        path = self.path / self.METRICS
        if not path.is_file():
            return []
        with path.open(encoding="utf-8") as handle:
            events = [Event.from_dict(json.loads(line)) for line in handle if line.strip()]
        return [e for e in events if split is None or e.split == split]
