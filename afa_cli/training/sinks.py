"""Where training metrics go: metrics.jsonl (the source of truth), train.log, the display — and
any tracker, as one more sink. Only rank 0 has sinks; the other processes write nothing."""

from __future__ import annotations

import logging

from rich.console import Console

from afa_cli import distributed
from afa_cli.display import TrainingDisplay
from afa_cli.runs import TRAIN, VALIDATION, Run


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


def run_sinks(ctx: distributed.Context, run: Run, log: logging.Logger, console: Console,
              total_steps: int, start_step: int) -> Sinks:
    if not ctx.is_main:
        return Sinks([])
    return Sinks([JsonlSink(run), LogSink(log),
                  DisplaySink(TrainingDisplay(console, total_steps, start_step))])
