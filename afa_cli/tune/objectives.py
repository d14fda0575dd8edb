"""What a search optimises: one or two numbers, each in the direction its registry entry calls
better. A validation metric (accuracy, lexicon_mass, ...) is read at the trial run's kept (best)
checkpoint, and the values its validation curve passes through are what pruning compares. A
suite probe (SUITE/PROBE, e.g. pairs/imdb_cad) is its kind's headline number, scored by
`afa eval RUN --suite SUITE` on the same checkpoint once the trial has trained; it has no curve,
so a study led by one is not pruned."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from afa_cli.errors import UserError
from afa_cli.evaluation.kinds import probe_kind
from afa_cli.evaluation.suites import load_suite
from afa_cli.metrics.registry import ACCURACY, SCORES, Metric, get
from afa_cli.runs import VALIDATION, Event, Run

# The validation scores that have a better direction (attention entropy has none).
OBJECTIVE_METRICS = tuple(metric for metric in SCORES if metric.higher_is_better is not None)
DEFAULT_OBJECTIVE = ACCURACY.key
MAX_OBJECTIVES = 2


@dataclass(frozen=True)
class Objective:
    metric: Metric
    suite: str | None = None   # a suite probe's objective: the suite that scores it
    probe: str | None = None

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.probe}" if self.suite else self.metric.key

    @property
    def direction(self) -> str:
        """Optuna's word for it."""
        return "maximize" if self.metric.higher_is_better else "minimize"

    def describe(self) -> str:
        return f"{self.key} {'↑' if self.metric.higher_is_better else '↓'}"

    def value(self, run: Run) -> float | None:
        """At the run's best checkpoint; None when the run has no such number."""
        if self.suite is None:
            summary = run.summary()
            return summary.best_metrics.get(self.key) if summary else None
        report_file = run.suite_reports().get(self.suite)
        report = run.suite_report(report_file.parent) if report_file else None
        record = next((p for p in report.probes if p.probe == self.probe), None) if report else None
        return record.metrics.get(self.metric.key) if record else None

    def curve(self, events: list[Event]) -> list[tuple[int, float]]:
        """(step, value) of each validation event that has a value."""
        if self.suite is not None:
            return []
        return [(event.step, event.metrics[self.key]) for event in events
                if event.split == VALIDATION and event.metrics.get(self.key) is not None]


def parse_objectives(keys: list[str], config_dirs: list[Path]) -> list[Objective]:
    """--objective METRIC or SUITE/PROBE (once or twice) as Objectives; one line on anything
    else."""
    if not 1 <= len(keys) <= MAX_OBJECTIVES or len(set(keys)) != len(keys):
        raise UserError("Give one --objective, or two different ones for a Pareto front.")
    return [_probe_objective(key, config_dirs) if "/" in key else _metric_objective(key)
            for key in keys]


def suites_to_score(objectives: list[Objective]) -> list[str]:
    """The suites a trial is scored with after it trains, each once."""
    return list(dict.fromkeys(o.suite for o in objectives if o.suite is not None))


def _metric_objective(key: str) -> Objective:
    known = {metric.key for metric in OBJECTIVE_METRICS}
    if key not in known:
        raise UserError(f"--objective {key}: choose one of {', '.join(sorted(known))} "
                        "(validation metrics, each in its better direction), or SUITE/PROBE "
                        "(a suite probe's headline number, e.g. pairs/imdb_cad).")
    return Objective(get(key))


def _probe_objective(key: str, config_dirs: list[Path]) -> Objective:
    suite_name, _, probe_name = key.partition("/")
    try:
        suite = load_suite(suite_name, config_dirs)
    except UserError as err:
        raise UserError(f"--objective {key}: {err}") from None
    probe = next((p for p in suite.probes if p.name == probe_name), None)
    if probe is None:
        raise UserError(f"--objective {key}: suite {suite_name} has no probe {probe_name}; its "
                        f"probes are {', '.join(p.name for p in suite.probes)}.")
    headline = probe_kind(probe.kind).headline
    if headline.higher_is_better is None:
        raise UserError(f"--objective {key}: {headline.key} has no better direction.")
    return Objective(headline, suite_name, probe_name)
