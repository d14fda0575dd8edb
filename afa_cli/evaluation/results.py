"""What a probe measured, with the number its kind compares runs by: a report's ProbeRecord
(runs.suite_report) read as its kind (afa_cli/evaluation/kinds) makes of it."""

from __future__ import annotations

from afa_cli.evaluation.kinds import probe_kind
from afa_cli.runs.suite_report import ProbeRecord


class ProbeResult(ProbeRecord):
    """A probe's record and the headline metric its kind compares runs by."""

    @classmethod
    def of(cls, record: ProbeRecord) -> "ProbeResult":
        """A record read back from a report (afa report and the suites' comparisons read kept
        reports)."""
        return cls(**vars(record))

    @property
    def headline_metric(self) -> str:
        return probe_kind(self.kind).headline.key

    @property
    def headline(self) -> float:
        return self.metrics[self.headline_metric]
