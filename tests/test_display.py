"""What a person watching long work sees: plain lines without a terminal (CI, nohup, sweep job
logs), a bar that keeps its room at 80 columns on one."""

import io

from rich.console import Console

from afa_cli.display import TrainingDisplay, WorkProgress, duration


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plain_console(width=200):
    return Console(file=io.StringIO(), force_terminal=False, width=width)


def test_plain_lines_name_the_registrys_metrics_the_total_the_rate_and_the_eta():
    console, clock = plain_console(), Clock()
    display = TrainingDisplay(console, total_steps=100, start_step=0, clock=clock)
    display.start()
    clock.now += 10.0
    display.step(5)
    display.log(5, {"loss": 0.69312, "loss_pg": float("nan"), "lr": 1e-4, "examples_per_s": 120.0})
    display.evaluation(10, {"accuracy": 0.85, "macro_f1": 0.84, "lexicon_mass": 0.2,
                            "frequent_mass": float("nan")}, improved=True)
    display.warn("attention collapsing")
    display.stop()
    lines = console.file.getvalue().splitlines()
    assert lines[0] == ("step 5/100 loss=0.6931 loss_pg=nan examples_per_s=120 "
                        "0.5 steps/s ETA 3:10")
    assert lines[1] == ("step 10 validation accuracy=0.8500 macro_f1=0.8400 lexicon_mass=0.2000 "
                        "frequent_mass=n/a (best)")
    assert lines[2] == "warning: attention collapsing"


def test_a_resumed_runs_rate_counts_only_its_own_steps():
    console, clock = plain_console(), Clock()
    display = TrainingDisplay(console, total_steps=100, start_step=60, clock=clock)
    clock.now += 20.0
    display.log(70, {"loss": 0.5})
    assert console.file.getvalue().strip() == "step 70/100 loss=0.5 0.5 steps/s ETA 1:00"


def test_work_progress_off_a_terminal_prints_a_line_every_few_seconds_and_at_the_end():
    console, clock = plain_console(), Clock()
    with WorkProgress(console, "scoring", 300, clock=clock) as progress:
        for _ in range(3):
            clock.now += 6.0
            progress.advance(100)
    assert console.file.getvalue().splitlines() == [
        "scoring 200/300 16.7 rows/s ETA 0:06", "scoring 300/300 16.7 rows/s ETA 0:00"]


def test_quick_work_prints_nothing():
    console, clock = plain_console(), Clock()
    with WorkProgress(console, "tokenising", 10, clock=clock) as progress:
        clock.now += 0.5
        progress.advance(10)
    assert console.file.getvalue() == ""


def test_work_progress_times_the_work_from_its_start_not_from_its_making():
    console, clock = plain_console(), Clock()
    progress = WorkProgress(console, "tokenising", 10, clock=clock)
    clock.now += 60.0   # a cache lookup before the work
    with progress:
        clock.now += 0.5
        progress.advance(10)
    assert console.file.getvalue() == ""


def test_at_80_columns_the_bar_keeps_its_room_and_statistics_become_lines():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, color_system=None)
    display = TrainingDisplay(console, total_steps=100, start_step=0)
    display.start()
    display.step(50)
    display.log(50, {"loss": 0.69312, "loss_pg": 0.1234, "examples_per_s": 120.0})
    display.stop()
    text = out.getvalue()
    assert "step 50/100 loss=0.6931 loss_pg=0.1234 examples_per_s=120" in text
    bar_lines = [line for line in text.splitlines() if "50/100" in line and "train" in line]
    assert bar_lines and all(len(line.rstrip()) <= 80 for line in bar_lines)
    assert "━" in bar_lines[-1]  # the bar itself is drawn


def test_durations():
    assert [duration(s) for s in (0, 59.6, 61, 3600, 3725)] == [
        "0:00", "1:00", "1:01", "1:00:00", "1:02:05"]
