"""What a person watching a training run sees: a rich progress bar on a terminal, plain periodic
lines otherwise (CI logs, nohup, sweeps)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

SHOWN = ("loss", "loss_pg", "loss_d", "attn_entropy", "examples_per_s")


def _fmt(stats: dict) -> str:
    return " ".join(f"{k}={stats[k]:.4g}" for k in SHOWN if isinstance(stats.get(k), float))


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

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()
        return False

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
        self.console.print(
            f"step {step} validation accuracy={metrics['accuracy']:.4f} "
            f"macro_f1={metrics['macro_f1']:.4f} lexicon_mass={metrics['lexicon_mass']:.3f} "
            f"frequent_mass={metrics['frequent_mass']:.3f}{mark}", highlight=False, soft_wrap=True)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {message}")
