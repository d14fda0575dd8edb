"""The records a run folder keeps: an Event (one line of metrics.jsonl) and the RunSummary
(summary.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

VALIDATION, TRAIN = "validation", "train"  # an event's split


@dataclass
class Event:
    """One line of metrics.jsonl: a training window's means or an evaluation."""

    step: int
    epoch: int
    split: str
    time: float
    metrics: dict

    @classmethod
    def from_dict(cls, payload: dict) -> "Event":
        return cls(**{f.name: payload.get(f.name) for f in fields(cls)})


@dataclass
class RunSummary:
    """summary.json: what a finished run found, and what it ran on."""

    dataset: str
    model: str | None = None
    afa_enabled: bool | None = None
    seed: int | None = None
    steps: int | None = None
    stopped_early: bool = False     # train.patience ended it before its last step
    stop_reason: str | None = None
    best: Event | None = None       # the evaluation of checkpoints/best
    final: Event | None = None      # the last evaluation
    train_seconds: float | None = None
    train_examples_per_s: float | None = None
    processes: int = 1
    device: str | None = None       # where it trained (cpu, cuda:0 (NVIDIA ...)); older runs: None
    versions: dict = field(default_factory=dict)
    git_commit: str | None = None

    @property
    def best_metrics(self) -> dict:
        return self.best.metrics if self.best else {}

    @property
    def final_metrics(self) -> dict:
        return self.final.metrics if self.final else {}

    @classmethod
    def from_dict(cls, payload: dict) -> "RunSummary":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in payload.items() if k in known}
        for key in ("best", "final"):
            if values.get(key) is not None:
                values[key] = Event.from_dict(values[key])
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)
