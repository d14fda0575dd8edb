"""What a probe measured, as its report keeps it: numbers and which examples were right, read
back without the models (afa report and the suites' comparisons read kept reports)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from afa_cli.evaluation.kinds import probe_kind


@dataclass
class ProbeResult:
    probe: str
    kind: str
    dataset: str
    split: str
    num_examples: int
    metrics: dict
    correct: np.ndarray | None = None   # per example, for McNemar (scores, pairs, attacks)
    files: list[str] = field(default_factory=list)

    @property
    def headline_metric(self) -> str:
        return probe_kind(self.kind).headline.key

    @property
    def headline(self) -> float:
        return self.metrics[self.headline_metric]

    def to_dict(self) -> dict:
        """The report's form; `correct` as a string of 0/1 (one per example, in the probe's
        order), so that kept reports can still be compared example by example."""
        return {"probe": self.probe, "kind": self.kind, "dataset": self.dataset,
                "split": self.split, "num_examples": self.num_examples, "metrics": self.metrics,
                "files": self.files,
                "correct": (None if self.correct is None
                            else "".join("1" if right else "0" for right in self.correct))}

    @classmethod
    def from_dict(cls, payload: dict) -> "ProbeResult":
        correct = payload.get("correct")
        return cls(probe=payload["probe"], kind=payload["kind"], dataset=payload["dataset"],
                   split=payload["split"], num_examples=payload["num_examples"],
                   metrics=payload["metrics"],
                   correct=None if correct is None else np.array([c == "1" for c in correct]),
                   files=payload.get("files", []))
