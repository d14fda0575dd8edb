"""What a person watching training sees without a terminal (CI, nohup, sweep job logs)."""

import io

from rich.console import Console

from afa_cli.display import TrainingDisplay


def plain_console():
    return Console(file=io.StringIO(), force_terminal=False, width=200)


def test_plain_lines_name_the_registrys_metrics():
    console = plain_console()
    display = TrainingDisplay(console, total_steps=100, start_step=0)
    display.start()
    display.step(5)
    display.log(5, {"loss": 0.69312, "loss_pg": float("nan"), "lr": 1e-4, "examples_per_s": 120.0})
    display.evaluation(10, {"accuracy": 0.85, "macro_f1": 0.84, "lexicon_mass": 0.2,
                            "frequent_mass": float("nan")}, improved=True)
    display.warn("attention collapsing")
    display.stop()
    lines = console.file.getvalue().splitlines()
    assert lines[0] == "step 5 loss=0.6931 loss_pg=nan examples_per_s=120"
    assert lines[1] == ("step 10 validation accuracy=0.8500 macro_f1=0.8400 lexicon_mass=0.2000 "
                        "frequent_mass=n/a (best)")
    assert lines[2] == "warning: attention collapsing"
