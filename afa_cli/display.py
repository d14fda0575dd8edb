"""What a person watching a training run sees: a rich progress bar on a terminal, plain periodic
lines otherwise (CI logs, nohup, sweeps)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from afa_cli.metrics import registry


def _fmt(stats: dict) -> str:
    return " ".join(f"{m.key}={stats[m.key]:.4g}" for m in registry.TRAINING_LINE
                    if isinstance(stats.get(m.key), float))


class TrainingDisplay:
    def __init__(self, console: Console, total_steps: int, start_step: int):
        self.console = console
        self.progress = None
        if console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=console, transient=False)
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
        if self.progress:
            self.progress.update(self.task, stats=_fmt(stats))
        else:
            self.console.print(f"step {step} {_fmt(stats)}", highlight=False, soft_wrap=True)

    def evaluation(self, step: int, metrics: dict, improved: bool) -> None:
        mark = " (best)" if improved else ""
        scores = " ".join(f"{m.key}={m.format(metrics.get(m.key))}" for m in registry.VALIDATION_LINE)
        self.console.print(f"step {step} validation {scores}{mark}", highlight=False,
                           soft_wrap=True)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {message}")
