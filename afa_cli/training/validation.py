"""The validation schedule's bookkeeping: score the validation split, keep the best checkpoint
(by train.best_metric), count evaluations without improvement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from afa_cli import distributed
from afa_cli.data import Encoded
from afa_cli.metrics import registry
from afa_cli.metrics.scoring import evaluate
from afa_cli.models import AttendingClassifier
from afa_cli.training.sinks import MetricSink
from afa_cli.training.state import Progress


@dataclass
class Validator:
    net: AttendingClassifier
    data: Encoded
    texts: list[str]
    label_names: list[str]
    frequent: list[str]         # the training set's most frequent words (attention metrics)
    batch_size: int
    pad_id: int
    patience: int | None
    best_metric: registry.Metric   # train.best_metric: picks checkpoints/best, counts patience
    progress: Progress
    save_best: Callable[[], None]
    sink: MetricSink
    ctx: distributed.Context

    def __call__(self) -> dict:
        """Evaluate now. Every process scores a share and all of them get the same metrics, so
        they agree on the best step and on early stopping."""
        progress = self.progress
        metrics, _ = evaluate(self.net, self.data, self.texts, self.label_names, self.frequent,
                              self.batch_size, self.pad_id, self.ctx)
        value = metrics[self.best_metric.key]
        improved = self.best_metric.improves(value, progress.best_value)
        if improved:
            progress.best_value, progress.best_step = value, progress.step
            progress.evals_without_improvement = 0
            self.save_best()
        else:
            progress.evals_without_improvement += 1
        self.sink.validation(progress.step, progress.epoch, metrics, improved)
        return metrics

    @property
    def out_of_patience(self) -> bool:
        return (self.patience is not None
                and self.progress.evals_without_improvement >= self.patience)
