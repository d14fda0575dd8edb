"""What a person watching long work sees: a rich progress bar with an ETA on a terminal, plain
lines with `N/TOTAL`, rate and ETA otherwise (CI logs, nohup, a sweep job's job.log)."""

from __future__ import annotations

import time
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from afa_cli import progress
from afa_cli.metrics import registry

# Below this width the bar shares no line with the training statistics: they are printed as
# lines above it instead, so the bar keeps its room at 80 columns.
WIDE_TERMINAL = 120
PLAIN_EVERY_S = 10.0   # off a terminal, a progress line at most this often
QUIET_BELOW_S = 2.0    # work done sooner than this prints no line at all


def _fmt(stats: dict) -> str:
    return " ".join(f"{m.key}={stats[m.key]:.4g}" for m in registry.TRAINING_LINE
                    if isinstance(stats.get(m.key), float))


def duration(seconds: float) -> str:
    """h:mm:ss or m:ss."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Rate:
    """Units per second since the start, and the time the rest will take at that rate."""

    def __init__(self, total: int, done: int, clock: Callable[[], float]):
        self.total, self.start_done, self.clock = total, done, clock
        self.start = clock()

    def describe(self, done: int, unit: str) -> str:
        elapsed = self.clock() - self.start
        if done <= self.start_done or elapsed <= 0:
            return ""
        rate = (done - self.start_done) / elapsed
        return f"{rate:.3g} {unit}/s ETA {duration((self.total - done) / rate)}"


def _bar(console: Console, label: str, *extra: TextColumn) -> Progress:
    width = None if console.width >= WIDE_TERMINAL else 20  # None: as wide as the line allows
    return Progress(TextColumn(f"[bold]{label}"), BarColumn(bar_width=width),
                    TextColumn("{task.completed}/{task.total}"), *extra, TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


class WorkProgress(progress.WorkProgress):
    """Progress over `total` units of one piece of work (tokenising, scoring, a sweep's jobs):
    `with WorkProgress(console, "scoring", n) as progress: ... progress.advance(k)`. Its clock
    starts on entering: work given a progress may turn out to be done already (cached)."""

    def __init__(self, console: Console, label: str, total: int, unit: str = "rows",
                 clock: Callable[[], float] = time.monotonic):
        self.console, self.label, self.total, self.unit, self.clock = console, label, total, unit, clock
        self.done = self.shown = 0
        self.bar = _bar(console, label) if console.is_terminal else None

    def __enter__(self) -> "WorkProgress":
        self.rate = Rate(self.total, 0, self.clock)
        self.last_line = self.rate.start
        if self.bar:
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        return self

    def advance(self, units: int = 1) -> None:
        self.done += units
        if self.bar:
            self.bar.update(self.task, completed=self.done)
        elif self.clock() - self.last_line >= PLAIN_EVERY_S:
            self._line()

    def _line(self) -> None:
        self.last_line, self.shown = self.clock(), self.done
        self.console.print(f"{self.label} {self.done}/{self.total} "
                           f"{self.rate.describe(self.done, self.unit)}".rstrip(),
                           highlight=False, soft_wrap=True)

    def __exit__(self, *exc) -> bool:
        if self.bar:
            self.bar.stop()
        elif self.shown != self.done and (self.last_line > self.rate.start
                                          or self.clock() - self.rate.start >= QUIET_BELOW_S):
            self._line()
        return False


class TrainingDisplay:
    def __init__(self, console: Console, total_steps: int, start_step: int,
                 clock: Callable[[], float] = time.monotonic):
        self.console = console
        self.total_steps = total_steps
        self.rate = Rate(total_steps, start_step, clock)
        self.progress = None
        self.stats_on_bar = console.width >= WIDE_TERMINAL
        if console.is_terminal:
            extra = [TextColumn("{task.fields[stats]}")] if self.stats_on_bar else []
            self.progress = _bar(console, "train", *extra)
            self.task = self.progress.add_task("train", total=total_steps, completed=start_step,
                                               stats="")

    def start(self) -> None:
        if self.progress:
            self.progress.start()

    def stop(self) -> None:
        if self.progress:
            self.progress.stop()

    def step(self, step: int) -> None:
        if self.progress:
            self.progress.update(self.task, completed=step)

    def log(self, step: int, stats: dict) -> None:
        if self.progress and self.stats_on_bar:
            self.progress.update(self.task, stats=_fmt(stats))
            return
        line = f"step {step}/{self.total_steps} {_fmt(stats)}"
        if not self.progress:  # the bar shows its own rate and ETA
            line = f"{line} {self.rate.describe(step, 'steps')}"
        self.console.print(line.rstrip(), highlight=False, soft_wrap=True)

    def evaluation(self, step: int, metrics: dict, improved: bool) -> None:
        mark = " (best)" if improved else ""
        scores = " ".join(f"{m.key}={m.format(metrics.get(m.key))}" for m in registry.VALIDATION_LINE)
        self.console.print(f"step {step} validation {scores}{mark}", highlight=False,
                           soft_wrap=True)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {message}")

    def note(self, message: str) -> None:
        self.console.print(f"note: {message}", highlight=False, soft_wrap=True)
