"""What a search optimises: one or two validation metrics of the registry, each in the direction
its registry entry calls better. A trial's value is the metric at its run's kept (best)
checkpoint; the values its validation curve passes through are what pruning compares."""

from __future__ import annotations

from dataclasses import dataclass

from afa_cli.errors import UserError
from afa_cli.metrics.registry import ACCURACY, SCORES, Metric, get
from afa_cli.runs import VALIDATION, Event, Run

# The validation scores that have a better direction (attention entropy has none).
OBJECTIVE_METRICS = tuple(metric for metric in SCORES if metric.higher_is_better is not None)
DEFAULT_OBJECTIVE = ACCURACY.key
MAX_OBJECTIVES = 2


@dataclass(frozen=True)
class Objective:
    metric: Metric

    @property
    def key(self) -> str:
        return self.metric.key

    @property
    def direction(self) -> str:
        """Optuna's word for it."""
        return "maximize" if self.metric.higher_is_better else "minimize"

    def describe(self) -> str:
        return f"{self.key} {'↑' if self.metric.higher_is_better else '↓'}"

    def value(self, run: Run) -> float | None:
        """At the run's best checkpoint; None when the run has no such number."""
        summary = run.summary()
        return summary.best_metrics.get(self.key) if summary else None

    def curve(self, events: list[Event]) -> list[tuple[int, float]]:
        """(step, value) of each validation event that has a value."""
        return [(event.step, event.metrics[self.key]) for event in events
                if event.split == VALIDATION and event.metrics.get(self.key) is not None]


def parse_objectives(keys: list[str]) -> list[Objective]:
    """--objective METRIC (once or twice) as Objectives; one line on anything else."""
    known = {metric.key for metric in OBJECTIVE_METRICS}
    for key in keys:
        if key not in known:
            raise UserError(f"--objective {key}: choose one of {', '.join(sorted(known))} "
                            "(validation metrics, each in its better direction).")
    if not 1 <= len(keys) <= MAX_OBJECTIVES or len(set(keys)) != len(keys):
        raise UserError("Give one --objective, or two different ones for a Pareto front.")
    return [Objective(get(key)) for key in keys]
