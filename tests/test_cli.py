"""The command line itself: its options, user config folders through a run's life, the wheel."""

import io
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import torch
import typer
from omegaconf import OmegaConf
from rich.console import Console
from typer.testing import CliRunner

from afa_cli.cli import BATCH_SIZE, AfaGroup, app
from afa_cli.commands.evaluate import report_tables
from afa_cli.errors import UserError
from afa_cli.metrics import EVAL_BATCH_SIZE, registry
from afa_cli.runs import Run
from afa_cli.views.terminal import boxed_table
from conftest import ROOT, TINY, afa_here, needs_data, run_afa


@pytest.mark.parametrize("args, message", [
    (["train", "--resum", "RUN"], "no such option --resum; did you mean --resume?"),
    (["train", "afa=off", "--cfgg"], "no such option --cfgg; did you mean --cfg?"),
    (["train", "--config_dir=conf"], "no such option --config_dir; did you mean --config-dir?"),
    (["eval", "RUN", "--splitt", "test"], "no such option --splitt; did you mean --split?"),
    (["inspect-attention", "--chekpoint", "RUN"],
     "no such option --chekpoint; did you mean --checkpoint?"),
    (["sweep", "seed=1,2", "--job", "2"], "no such option --job; did you mean --jobs?"),
    (["train", "--xyz"],
     "no such option --xyz; the options are --cfg, --config-dir, --resume, --run-dir, --help."),
    (["train", "afa=off", "run_dir=runs/a"],
     "run_dir=runs/a: the run folder is an option, not a config key; give --run-dir runs/a."),
    (["train", "--resume", "RUN", "--run-dir", "runs/a"],
     "--resume continues a run in its own folder with its own config; drop the overrides and "
     "--run-dir."),
])
def test_an_unknown_option_is_one_line_naming_the_closest(args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {message}"


def test_overrides_that_add_or_delete_keys_are_not_options():
    result = CliRunner().invoke(app, ["train", "--cfg", "+extra.note=hi", "~output_dir"])
    assert result.exit_code == 0, result.output
    printed = OmegaConf.create(result.output)
    assert printed.extra.note == "hi" and "output_dir" not in printed


def test_after_a_double_dash_everything_is_an_argument(tmp_path):
    result = CliRunner().invoke(app, ["inspect-attention", "--checkpoint", str(tmp_path / "none"),
                                      "--", "-5 stars, awful"])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: Checkpoint {tmp_path / 'none'} does not exist."


def test_error_lines_keep_their_brackets(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mine.yaml").write_text("defaults: [minilm, _self_]\nlora: {r: 4}\n")
    result = CliRunner().invoke(app, ["train", "--cfg", "--config-dir", str(tmp_path), "model=mine"])
    assert result.exit_code == 2
    assert "(defaults: [schema_lora, _self_])." in result.output


def test_a_user_error_from_any_command_is_one_error_line_and_exit_2():
    commands = typer.Typer(cls=AfaGroup)

    @commands.command()
    def refuse() -> None:
        raise UserError("refused [as asked]")

    @commands.command()
    def accept() -> None:
        print("accepted")

    refused = CliRunner().invoke(commands, ["refuse"])
    assert refused.exit_code == 2
    assert refused.stderr == "error: refused [as asked]\n" and refused.stdout == ""
    accepted = CliRunner().invoke(commands, ["accept"])
    assert accepted.exit_code == 0 and accepted.stdout == "accepted\n"


def test_an_evaluations_tables_show_every_score_class_and_count():
    names = ["neg [0]", "pos"]
    keys = [metric.key for metric in registry.with_uniform_references(registry.SCORES)]
    metrics = dict.fromkeys(keys, 0.5)
    metrics |= {"per_class": {name: {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "support": 2}
                              for name in names},
                "confusion": [[1, 1], [0, 2]]}
    scores, per_class, confusion = report_tables({"metrics": metrics, "label_names": names})
    assert [row[0] for row in scores.rows] == keys
    assert scores.numeric() == (False, True)
    assert per_class.header == ("class", "precision", "recall", "f1", "support")
    assert [cell.text for cell in per_class.rows[0][1:]] == ["0.5000", "0.2500", "0.3333", "2"]
    assert confusion.header == ("", *names) and confusion.numeric() == (False, True, True)
    shown = Console(width=100, record=True, file=io.StringIO())
    for table in (scores, per_class, confusion):
        shown.print(boxed_table(table))
    text = shown.export_text()
    assert "│ neg [0] │       1 │   1 │" in text  # a label's brackets are text, numbers right


@pytest.mark.slow
@needs_data
def test_a_run_with_a_user_option_is_read_back_with_its_config_dirs(tmp_path):
    user_conf = tmp_path / "my_conf"
    (user_conf / "afa").mkdir(parents=True)
    (user_conf / "afa" / "mine.yaml").write_text("defaults:\n  - default\n  - _self_\n\n"
                                                 "mask_ratio: 0.3\n")
    run_dir = tmp_path / "run"
    run_afa("train", "--config-dir", str(user_conf), "afa=mine", *TINY,
            "train.max_train_samples=64", "--run-dir", str(run_dir))
    assert Run(run_dir).config_dirs() == [user_conf.resolve()]
    assert Run(run_dir).config().afa.mask_ratio == 0.3
    # Both compose the run's overrides (afa=mine) with a new dataset: they need its config dir.
    afa_here("eval", str(run_dir), "dataset=mr", "--limit", "50", check=True)
    afa_here("inspect-attention", "--dataset", "mr", "--examples", "2", "--checkpoint",
             str(run_dir), check=True)


@pytest.mark.slow
def test_a_wheel_built_from_the_repo_carries_the_config_groups(tmp_path):
    # A clean copy: an in-tree build/ folder would carry files deleted since into later wheels.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".*", "__pycache__", "*.egg-info", "build", "outputs", "docs", "tests", "benchmarks"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                    "--no-build-isolation", "--quiet", "-w", str(tmp_path / "dist")],
                   check=True, cwd=tmp_path)
    wheel, = (tmp_path / "dist").glob("afa-*.whl")
    packed = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".yaml")}
    assert packed == {f"afa_cli/conf/{p.relative_to(ROOT / 'conf').as_posix()}"
                      for p in (ROOT / "conf").rglob("*.yaml")}

    installed = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
                    str(installed), str(wheel)], check=True, cwd=tmp_path)
    # -S: no site processing, so the checkout's editable-install hook is not loaded; the
    # dependencies come from this environment's site-packages, after the installed wheel.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(installed),
                                                       sysconfig.get_paths()["purelib"]]))
    where = subprocess.run([sys.executable, "-S", "-c", "import afa_cli.conf; "
                            "print(afa_cli.conf.__file__)"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(installed)
    shown = subprocess.run([sys.executable, "-S", "-m", "afa_cli", "train", "--cfg", "afa=off"],
                           env=env, cwd=tmp_path, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == run_afa("train", "--cfg", "afa=off").stdout


def test_reading_configs_and_run_folders_does_not_load_torch():
    """afa train --cfg and every config error answer in well under a second: torch (2 s to
    import) loads only when a model or a training state is touched."""
    probe = ("import sys, afa_cli.cli, afa_cli.config, afa_cli.runs; "
             "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "False", result.stderr


def test_scoring_options_default_to_the_scoring_batch_and_refuse_a_missing_gpu(tmp_path):
    assert BATCH_SIZE.default == EVAL_BATCH_SIZE
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    result = CliRunner().invoke(app, ["eval", str(tmp_path), "--device", "cuda"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: --device cuda but torch sees no CUDA device; use "
                                     "--device cpu (or auto).")
    result = CliRunner().invoke(app, ["eval", str(tmp_path), "--device", "tpu"])
    assert result.stderr.strip() == "error: --device tpu: choose auto, cpu or cuda."


@pytest.mark.parametrize("shell, marker", [("zsh", "#compdef afa"), ("fish", "complete --command afa"),
                                           ("bash", "COMPREPLY")])
def test_the_completion_of_a_named_shell_is_that_shells(shell, marker):
    # from bash, whose own script Typer's flag would print whatever shell is named
    result = subprocess.run(["bash", "-c", f"{sys.executable} -m afa_cli --show-completion {shell}; exit $?"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and marker in result.stdout, result.stderr
    assert shell == "bash" or "COMPREPLY" not in result.stdout


def test_an_unknown_shell_is_one_line():
    result = subprocess.run([sys.executable, "-m", "afa_cli", "--show-completion", "tcsh"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: --show-completion tcsh: choose one of bash, zsh, fish, powershell, pwsh (or name "
        "none: the shell afa runs under).")


def test_shell_completion_is_offered():
    # typed in bash, as users do: the script is for the shell afa runs under, found by walking up
    # the process tree (`; exit` keeps bash from handing its process to afa, which would leave
    # whatever started the tests, such as make's sh, as afa's parent)
    result = subprocess.run(["bash", "-c", f"{sys.executable} -m afa_cli --show-completion; exit $?"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "complete_bash" in result.stdout and "COMPREPLY" in result.stdout
