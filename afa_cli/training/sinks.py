"""Where training metrics go: metrics.jsonl (the source of truth), train.log, the display — and
any tracker, as one more sink. Only rank 0 has sinks; the other processes write nothing."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from omegaconf import DictConfig
from rich.console import Console

from afa_cli import distributed
from afa_cli.display import TrainingDisplay
from afa_cli.runs import TRAIN, VALIDATION, Event, Run
from afa_cli.tracking import backends
from afa_cli.tracking.tracker import Target, Tracker, one_line

LOG = logging.getLogger(__name__)


class MetricSink:
    """A destination of training metrics; every method is optional."""

    def open(self) -> None:
        pass

    def step(self, step: int) -> None:
        pass

    def train(self, step: int, epoch: int, means: dict) -> None:
        pass

    def validation(self, step: int, epoch: int, metrics: dict, improved: bool) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def note(self, message: str) -> None:
        """Something the user should know that is not a fault (an early stop)."""

    def close(self) -> None:
        pass


class JsonlSink(MetricSink):
    def __init__(self, run: Run):
        self.run = run

    def train(self, step: int, epoch: int, means: dict) -> None:
        self.run.append_event(step, epoch, TRAIN, means)

    def validation(self, step: int, epoch: int, metrics: dict, improved: bool) -> None:
        self.run.append_event(step, epoch, VALIDATION, metrics)


class LogSink(MetricSink):
    def __init__(self, log: logging.Logger):
        self.log = log

    def train(self, step: int, epoch: int, means: dict) -> None:
        self.log.info("step %d train %s", step, means)

    def validation(self, step: int, epoch: int, metrics: dict, improved: bool) -> None:
        self.log.info("step %d validation %s", step,
                      {k: v for k, v in metrics.items() if isinstance(v, float)})

    def warn(self, message: str) -> None:
        self.log.warning(message)

    def note(self, message: str) -> None:
        self.log.info(message)


class DisplaySink(MetricSink):
    def __init__(self, display: TrainingDisplay):
        self.display = display

    def open(self) -> None:
        self.display.start()

    def step(self, step: int) -> None:
        self.display.step(step)

    def train(self, step: int, epoch: int, means: dict) -> None:
        self.display.log(step, means)

    def validation(self, step: int, epoch: int, metrics: dict, improved: bool) -> None:
        self.display.evaluation(step, metrics, improved)

    def warn(self, message: str) -> None:
        self.display.warn(message)

    def note(self, message: str) -> None:
        self.display.note(message)

    def close(self) -> None:
        self.display.stop()


class Sinks(MetricSink):
    """Every sink of a run, called in order; `with sinks:` opens and closes them."""

    def __init__(self, sinks: list[MetricSink]):
        self.sinks = sinks

    def __enter__(self) -> "Sinks":
        for sink in self.sinks:
            sink.open()
        return self

    def __exit__(self, *exc) -> bool:
        for sink in self.sinks:
            sink.close()
        return False

    def step(self, step: int) -> None:
        for sink in self.sinks:
            sink.step(step)

    def train(self, step: int, epoch: int, means: dict) -> None:
        for sink in self.sinks:
            sink.train(step, epoch, means)

    def validation(self, step: int, epoch: int, metrics: dict, improved: bool) -> None:
        for sink in self.sinks:
            sink.validation(step, epoch, metrics, improved)

    def warn(self, message: str) -> None:
        for sink in self.sinks:
            sink.warn(message)

    def note(self, message: str) -> None:
        for sink in self.sinks:
            sink.note(message)


class TrackerSink(MetricSink):
    """A tracker is a copy: one that fails during training (its server gone) is dropped with a
    warning, and the run goes on with every step in metrics.jsonl."""

    def __init__(self, tracker: Tracker):
        self.tracker: Tracker | None = tracker

    def train(self, step: int, epoch: int, means: dict) -> None:
        self._call(lambda tracker: tracker.log_event(Event(step, epoch, TRAIN, time.time(), means)))

    def validation(self, step: int, epoch: int, metrics: dict, improved: bool) -> None:
        self._call(lambda tracker: tracker.log_event(
            Event(step, epoch, VALIDATION, time.time(), metrics)))

    def close(self) -> None:
        # Sinks close as the training's `with` ends: an exception on its way means it stopped
        # before its end (Ctrl-C, a crash).
        completed = sys.exc_info()[1] is None
        self._call(lambda tracker: tracker.finish(completed))

    def _call(self, use: Callable[[Tracker], None]) -> None:
        if self.tracker is None:
            return
        try:
            use(self.tracker)
        except Exception as err:  # each library raises its own types
            LOG.warning("logger=%s failed and is left out from here on (%s); metrics.jsonl has "
                        "every step.", self.tracker.NAME, one_line(err))
            self.tracker = None


def tracker_sinks(run: Run, cfg: DictConfig, start_step: int) -> list[TrackerSink]:
    """A sink for each tracker cfg chooses, its tracker run started (or continued)."""
    target = Target(run, cfg, cfg.logger.experiment, start_step)
    return [TrackerSink(tracker)
            for tracker in backends.start(backends.chosen(cfg.logger), target)]


def run_sinks(ctx: distributed.Context, run: Run, cfg: DictConfig, log: logging.Logger,
              console: Console, total_steps: int, start_step: int) -> Sinks:
    trackers: list[MetricSink] = []
    # Rank 0 starts the trackers of cfg.logger; one that cannot start stops every process.
    ctx.on_main(lambda: trackers.extend(tracker_sinks(run, cfg, start_step)))
    if not ctx.is_main:
        return Sinks([])
    return Sinks([JsonlSink(run), LogSink(log),
                  DisplaySink(TrainingDisplay(console, total_steps, start_step)), *trackers])
