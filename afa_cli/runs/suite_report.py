"""A suite folder's report.json (reports.py names and places it): what the suite measured on
one run, probe by probe, and which probes it still misses. Reports written before a key
existed read with that key's neutral value: kept results hold such reports."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ProbeRecord:
    """A probe's entry in the report: its numbers and which examples were right, read back
    without the models (evaluation.results.ProbeResult adds what its kind makes of them)."""

    probe: str
    kind: str
    dataset: str
    split: str
    num_examples: int
    metrics: dict
    correct: np.ndarray | None = None   # per example, for McNemar (scores, pairs, attacks)
    files: list[str] = field(default_factory=list)
    seconds: float | None = None        # how long the measurement took, once the report has it

    def to_dict(self) -> dict:
        """`correct` as a string of 0/1 (one per example, in the probe's order), so that kept
        reports can still be compared example by example."""
        return {"probe": self.probe, "kind": self.kind, "dataset": self.dataset,
                "split": self.split, "num_examples": self.num_examples, "metrics": self.metrics,
                "files": self.files,
                "correct": (None if self.correct is None
                            else "".join("1" if right else "0" for right in self.correct)),
                "seconds": self.seconds}

    @classmethod
    def from_dict(cls, payload: dict) -> "ProbeRecord":
        correct = payload.get("correct")
        return cls(probe=payload["probe"], kind=payload["kind"], dataset=payload["dataset"],
                   split=payload["split"], num_examples=payload["num_examples"],
                   metrics=payload["metrics"],
                   correct=None if correct is None else np.array([c == "1" for c in correct]),
                   files=payload.get("files", []), seconds=payload.get("seconds"))


@dataclass
class SuiteRunReport:
    """One evaluation of a run with a suite. Written after every probe: `missing` says which
    probes an interrupted evaluation did not reach, and --resume continues them."""

    suite: str
    description: str = ""
    run: str | None = None          # absolute; kept results make it relative to the run
    checkpoint: str | None = None   # ... as this
    overrides: list[str] = field(default_factory=list)
    probes: list[ProbeRecord] = field(default_factory=list)   # in the suite's order
    skipped: dict[str, str] = field(default_factory=dict)     # probe name -> why (no WordNet)
    missing: list[str] = field(default_factory=list)          # probes not measured yet

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def finished(self) -> list[str]:
        """The probes measured, then those skipped."""
        return [*(probe.probe for probe in self.probes), *self.skipped]

    def to_dict(self) -> dict:
        return {"suite": self.suite, "description": self.description, "run": self.run,
                "checkpoint": self.checkpoint, "overrides": self.overrides,
                "probes": [probe.to_dict() for probe in self.probes], "skipped": self.skipped,
                "missing": self.missing, "complete": self.complete}

    @classmethod
    def from_dict(cls, payload: dict) -> "SuiteRunReport":
        """KeyError when payload is not a suite report (no suite or probes)."""
        return cls(suite=payload["suite"], description=payload.get("description", ""),
                   run=payload.get("run"), checkpoint=payload.get("checkpoint"),
                   overrides=list(payload.get("overrides", [])),
                   probes=[ProbeRecord.from_dict(probe) for probe in payload["probes"]],
                   skipped=payload.get("skipped", {}), missing=payload.get("missing", []))
