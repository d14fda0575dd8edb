"""afa tune: search spaces, objectives and the one-line errors (fast); real Optuna SQLite studies
over real tiny trainings (slow): a whole search, pruning, a stopped search resumed."""

import csv
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from omegaconf import OmegaConf
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from rich.console import Console
from typer.testing import CliRunner

from afa_cli.cli import app
from afa_cli.commands.tune import tune
from afa_cli.config import compose_config
from afa_cli.machine import available_cores
from afa_cli.errors import UserError
from afa_cli.runs import Run
from afa_cli.tune.launch import _settle
from afa_cli.tune.report import report
from afa_cli.tune.space import ParamSpec, check_space, load_space, override
from afa_cli.tune.state import TuneState
from afa_cli.tune.study import (ERROR, RETRIED, RUN, counted, create_study, load_study, may_ask,
                                sampler, storage_url)
from conftest import ROOT, TINY, another_writer, needs_data, run_afa
# untrained_jobs: a fixture, used by naming it
from test_sweep import config_dir_with_afa_option, given_config_dirs, untrained_jobs

# TINY, leaving the search to split the cores between its trials.
TINY_SPLIT = [o for o in TINY if not o.startswith("train.num_threads=")]
# 38 steps (validation at 10, 20, 30, 38): long enough to stop a trial halfway.
LONGER = [*TINY, "train.max_train_samples=600"]
SPACE = {"afa.mask_ratio": {"type": "float", "low": 0.1, "high": 0.3},
         "afa.policy": {"type": "categorical", "choices": ["complement", "attention"]}}


def config_dir_with_space(tmp_path: Path, params: dict, name: str = "tiny") -> Path:
    config_dir = tmp_path / "conf"
    (config_dir / "tune").mkdir(parents=True, exist_ok=True)
    (config_dir / "tune" / f"{name}.yaml").write_text(yaml.safe_dump({"params": params}))
    return config_dir


def quiet() -> Console:
    return Console(file=open("/dev/null", "w"))


def study_of(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name=None, storage=storage_url(folder))


def the_tune_folder(output_dir: Path) -> Path:
    folder, = (output_dir / "tunes").iterdir()
    return folder


def printed_command(output: str, number: int) -> list[str]:
    """The afa train command printed under `best trial N: ...`."""
    lines = output.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith(f"best trial {number}:"))
    return shlex.split(lines[title + 1])


# ---- search spaces ------------------------------------------------------------------------------

def test_afa_preset_searches_the_methods_keys_and_every_value_composes():
    space = load_space("afa", [])
    assert [p.key for p in space] == ["afa.mask_ratio", "afa.pg_weight", "afa.entropy_weight",
                                     "afa.d_lr", "afa.warmup_steps", "afa.policy", "afa.layer"]
    assert check_space("afa", space, ["train=quick"], []) == Path("outputs")
    # what tune.yaml keeps of each parameter reads back as the same distribution
    for param in space:
        assert ParamSpec.read(param.spec.given()).distribution == param.spec.distribution
    assert space[4].spec.given() == {"type": "int", "low": 0, "high": 200, "step": 10}


@pytest.mark.parametrize("value", [0.25, 1e-05, -1, True, None, "complement", "1", "a b,c",
                                   "it's", "back\\slash"])
def test_sampled_values_reach_the_config_exactly(value):
    assert compose_config([override("+probe", value)]).probe == value


@pytest.mark.parametrize("spec, message", [
    ({"afa.mask_ratio": {"type": "float", "low": 0.3, "high": 0.1}}, "low <= high"),
    ({"afa.mask_ratio": {"type": "float", "low": 0.1, "high": 1.5}},
     "afa.mask_ratio must be in (0, 1]"),
    ({"afa.mask_ratio": {"type": "float", "lo": 0.1, "high": 0.3}}, "unknown field 'lo'"),
    ({"afa.mask_ratio": {"low": 0.1, "high": 0.3}}, "type: float|int|categorical"),
    ({"afa.d_lr": {"type": "float", "low": 0, "high": 0.1, "log": True}}, "low > 0"),
    ({"afa.warmup_steps": {"type": "int", "low": 0.5, "high": 10}}, "low must be an integer"),
    ({"afa.policy": {"type": "categorical", "choices": ["complement"], "low": 0}},
     "unknown field 'low'; a categorical parameter takes choices"),
    ({"afa.mask_ratio": {"type": "float", "low": True, "high": 0.3}},
     "low: Value 'True' of type 'bool' could not be converted to Float"),
    ({"afa.mask_ratio": {"type": "uniform", "low": 0.1, "high": 0.3}}, "type: Invalid value"),
    ({"afa.mask_ratio": 0.2}, "give {type: float|int|categorical, ...}"),
    ({"afa.layer": {"type": "categorical", "choices": [-1, "last"]}},
     "afa.layer must be an integer, got 'last'"),
    ({"afa.policy": {"type": "categorical", "choices": ["complement", "greedy"]}}, "afa.policy"),
    ({"afa.nope": {"type": "float", "low": 0.1, "high": 0.3}}, "Unknown config key 'afa.nope'"),
    # composes, but no trial could train it: checked as a sweep checks its jobs
    ({"dataset": {"type": "categorical", "choices": ["sst2", "advglue_sst2"]}},
     "dataset=advglue_sst2 is for evaluation only"),
])
def test_a_bad_search_space_is_one_line_before_anything_is_written(tmp_path, spec, message):
    config_dir = config_dir_with_space(tmp_path, spec)
    with pytest.raises(UserError) as err:
        tune(["+tune=tiny", f"output_dir={tmp_path / 'out'}"], trials=2, config_dirs=[config_dir],
             console=quiet())
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("Search space 'tiny'")
    assert not (tmp_path / "out").exists()


# ---- the command line ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["+tune=nope"], "Unknown tune 'nope'. Valid choices: afa"),
    (["+tune=afa", "--objective", "loss"], "--objective loss: choose one of accuracy"),
    (["+tune=afa", "--objective", "attn_entropy"], "choose one of"),  # no better direction
    (["+tune=afa", "--objective", "accuracy", "--objective", "accuracy"], "two different ones"),
    (["+tune=afa", "--trials", "0"], "--trials N (at least 1)"),
    (["train=quick"], "Give one search space, +tune=NAME"),
    (["+tune=afa", "seed=1,2"], "seed=1,2: afa tune gives every trial one value per key"),
    (["+tune=afa", "run_dir=x"], "every trial gets its own run folder"),
    (["+tune=afa", "hydra/launcher=joblib"], "Hydra launchers are for afa sweep"),
    (["+tune=afa", "--name", "a/b"], "--name 'a/b'"),
    (["+tune=afa", "--objective", "accuracy", "--objective", "lexicon_mass", "--pruner",
      "median"], "Pruning needs one objective"),
    (["+tune=afa", "--pruner", "mean"], "--pruner mean: choose median or none"),
    (["+tune=afa", "--objective", "transfer/imdb"],
     "--objective transfer/imdb: suite transfer has no probe imdb; its probes are own, sst2, "),
    (["+tune=afa", "--objective", "transfr/imdb_cad"],
     "--objective transfr/imdb_cad: --suite transfr: no such suite"),
    (["+tune=afa", "--objective", "transfer/imdb_cad", "--prune-warmup", "50"],
     "Pruning needs one objective, a validation metric"),
    (["+tune=afa", "afa.policy=greedy"], "afa.policy"),
    (["+tune=afa", "--jobs", "0"], "--jobs must be at least 1"),
    # a space wider than the model it is tuned on: refused before trial 0, not burnt on it
    (["+tune=afa", "model.num_layers=1"],
     "Search space 'afa': afa.layer=-3 is out of range: model.num_layers=1 keeps layers -1 to 0."),
])
def test_bad_command_lines_are_one_line_exit_2_and_write_nothing(tmp_path, args, message):
    trials = [] if "--trials" in args else ["--trials", "2"]
    result = CliRunner().invoke(app, ["tune", *args, *trials, f"output_dir={tmp_path / 'out'}"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_resume_needs_a_tune_folder_and_takes_only_trials_and_jobs(tmp_path):
    result = CliRunner().invoke(app, ["tune", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and f"{tmp_path} is not a tune folder" in result.stderr
    result = CliRunner().invoke(app, ["tune", "--resume", str(tmp_path), "seed=2"])
    assert result.exit_code == 2 and "only --trials and --jobs may change" in result.stderr
    assert list(tmp_path.iterdir()) == []


# ---- resuming, without training -----------------------------------------------------------------

def hand_made_tune(tmp_path: Path) -> TuneState:
    folder = tmp_path / "tune"
    folder.mkdir()
    state = TuneState.create(folder, [], command="afa tune +tune=tiny --trials 2",
                             preset="tiny", overrides=[], space=SPACE, objectives=["accuracy"],
                             pruner=None, trials=2)
    create_study(state, ["maximize"])
    return state


def test_a_trial_stopped_before_its_first_checkpoint_is_tried_again_as_a_new_trial(tmp_path):
    state = hand_made_tune(tmp_path)
    study = load_study(state)
    study.ask({p.key: p.spec.distribution for p in state.params})  # its process never got far
    stopped, = study.get_trials()
    assert not _settle(study, Run(tmp_path / "tune" / "trial_000"), stopped)
    failed, retry = study.get_trials()
    assert failed.state == TrialState.FAIL and failed.user_attrs[RETRIED]
    assert "before its first checkpoint" in failed.user_attrs[ERROR]
    assert retry.state == TrialState.WAITING
    assert counted(study) == [retry] and may_ask(study, 1)
    # the next trial asked is the retry, with the stopped trial's values
    asked = study.ask({p.key: p.spec.distribution for p in state.params})
    assert asked.number == retry.number and asked.params == failed.params


def test_resume_refuses_a_search_another_process_runs(tmp_path):
    state = hand_made_tune(tmp_path)
    with another_writer(state.folder) as holder:
        with pytest.raises(UserError, match=f"being written by process {holder.pid}"):
            tune([], resume=state.folder, console=quiet())


def test_the_report_notes_plots_the_study_cannot_make_yet(tmp_path):
    state = hand_made_tune(tmp_path)
    study = load_study(state)
    study.tell(study.ask({p.key: p.spec.distribution for p in state.params}), state=TrialState.FAIL)
    result = report(state.folder)
    assert result.best == [] and result.failed == [0]
    assert [path.name for path in result.files] == ["trials.csv"]
    assert result.notes == [
        "history_accuracy.png not drawn: it needs 1 complete trials, the study has 0.",
        "importances.png not drawn: it needs 2 complete trials, the study has 0."]


def test_the_report_of_a_tune_folder_without_its_trials_gives_their_commands(tmp_path):
    """A tune folder copied without its trial folders (or with them deleted for their disk
    space): the best trial's command is rebuilt from the search's overrides and the values."""
    state = hand_made_tune(tmp_path)
    state.overrides = ["train=quick", "seed=4"]
    state.save()
    study = load_study(state)
    trial = study.ask({p.key: p.spec.distribution for p in state.params})
    trial.set_user_attr(RUN, "trial_000")   # as the search records it; the folder is not there
    study.tell(trial, 0.8)
    best, = report(state.folder).best
    params = load_study(state).best_trial.params
    assert shlex.split(best.command) == [
        "afa", "train", "train=quick", "seed=4", *(override(k, v) for k, v in params.items())]
    state.overrides = ["train=quick"]       # no seed given: the one the overrides compose to
    state.save()
    assert shlex.split(report(state.folder).best[0].command)[-1] == "seed=1"


# ---- --config-dir folders, without training -----------------------------------------------------

def test_a_search_takes_its_space_and_an_option_from_two_config_dirs_and_gives_trials_both(
        tmp_path, untrained_jobs):
    spaces = config_dir_with_space(tmp_path / "spaces",
                                   {"afa": {"type": "categorical", "choices": ["mine"]}})
    options = config_dir_with_afa_option(tmp_path / "options")
    result = CliRunner().invoke(app, ["tune", "+tune=tiny", f"output_dir={tmp_path / 'out'}",
                                      "--trials", "1", "--config-dir", str(spaces),
                                      "--config-dir", str(options)])
    assert "No trial completed" in result.stderr  # its trial composed, ran and failed untrained
    folder = the_tune_folder(tmp_path / "out")
    saved = yaml.safe_load((folder / TuneState.FILE).read_text())
    assert saved["config_dirs"] == ["../../../spaces/conf", "../../../options/conf"]
    state = TuneState.read(folder)
    assert state.config_paths == [spaces.resolve(), options.resolve()]
    assert state.command.endswith(f"--config-dir {spaces} --config-dir {options}")
    assert "afa=mine" in Run(folder / "trial_000").job_log.read_text()
    assert given_config_dirs(folder / "trial_000") == state.config_paths


def test_an_older_tune_yaml_of_one_config_dir_resumes_with_it(tmp_path, untrained_jobs):
    folder = hand_made_tune(tmp_path).folder
    options = config_dir_with_afa_option(tmp_path / "options")
    older = yaml.safe_load((folder / TuneState.FILE).read_text())
    del older["config_dirs"]  # as searches were written before: one folder, and a trial needs it
    (folder / TuneState.FILE).write_text(yaml.safe_dump(
        {**older, "config_dir": "../options/conf", "overrides": ["afa=mine"]}, sort_keys=False))
    assert TuneState.read(folder).config_dirs == ["../options/conf"]
    tune([], trials=1, resume=folder, console=quiet())
    assert given_config_dirs(folder / "trial_000") == [options.resolve()]
    saved = yaml.safe_load((folder / TuneState.FILE).read_text())
    assert saved["config_dirs"] == ["../options/conf"] and "config_dir" not in saved


def test_resume_refuses_config_dirs_of_its_own(tmp_path):
    folder = hand_made_tune(tmp_path).folder
    result = CliRunner().invoke(app, ["tune", "--resume", str(folder), "--config-dir",
                                      str(tmp_path)])
    assert result.exit_code == 2 and "only --trials and --jobs may change" in result.stderr


# ---- real searches ------------------------------------------------------------------------------

@pytest.mark.slow
@needs_data
def test_three_trial_search_end_to_end(tmp_path):
    config_dir = config_dir_with_space(tmp_path, SPACE)
    output_dir = tmp_path / "out"
    result = run_afa("tune", "+tune=tiny", *TINY_SPLIT, f"output_dir={output_dir}", "--trials",
                     "3", "--jobs", "2", "--config-dir", str(config_dir), "--sampler-seed", "0")
    folder = the_tune_folder(output_dir)
    assert folder.name.endswith("_tiny") and "[3/3] trial" in result.stdout
    trials = study_of(folder).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    with (folder / "trials.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["state"] for row in rows] == ["complete"] * 3
    for trial, row in zip(trials, rows):
        run = Run(folder / row["run"])
        cfg = run.config()
        # the sampled values reached the run, which reads as one experiment with the others
        assert cfg.afa.mask_ratio == trial.params["afa.mask_ratio"] == float(row["afa.mask_ratio"])
        assert cfg.afa.policy == trial.params["afa.policy"] == row["afa.policy"]
        assert cfg.logger.experiment == folder.name
        assert cfg.train.num_threads == max(1, available_cores() // 2)
        assert trial.values[0] == run.summary().best_metrics["accuracy"] == float(row["accuracy"])
        assert float(row["wall_seconds"]) > 0
    for png in ("history_accuracy.png", "importances.png"):
        assert (folder / png).stat().st_size > 0
    assert (folder / "study.db").is_file() and (folder / "tune.yaml").is_file()

    # the printed command composes the best trial's config again (but for where it is written,
    # and the mask token the run recorded for afa.mask_with=auto)
    best = study_of(folder).best_trial
    command = printed_command(result.stdout, best.number)
    assert command[:2] == ["afa", "train"]
    config_dirs = [command[i + 1] for i, arg in enumerate(command) if arg == "--config-dir"]
    overrides = [arg for arg in command[2:] if arg != "--config-dir" and arg not in config_dirs]
    assert "seed=1" in overrides
    composed = compose_config(overrides, config_dirs)
    trained = Run(folder / best.user_attrs["run"]).config()
    trained.afa.mask_with = "auto"  # as composed: the run records what auto chose
    assert OmegaConf.to_container(composed) == OmegaConf.to_container(trained)


def good_then_bad_seed(good: float, bad: float) -> int:
    """A sampler seed whose first two trials (one told before the other is asked, as with
    --jobs 1) draw train.lr=good, then bad."""
    space = {"train.lr": optuna.distributions.CategoricalDistribution([good, bad])}
    for seed in range(100):
        study = optuna.create_study(direction="maximize", sampler=sampler(seed))
        first = study.ask(space)
        study.tell(first, 1.0)
        if (first.params["train.lr"], study.ask(space).params["train.lr"]) == (good, bad):
            return seed
    raise AssertionError("no seed samples good, then bad")


@pytest.mark.slow
@needs_data
def test_a_trial_below_the_median_is_pruned_and_stops_early(tmp_path):
    # lr 1e-12 leaves the seeded model as it starts (41% at step 10); 1e-4 has learnt the
    # majority class by then (59%): the second trial is below the first one's median
    good, bad = 1e-4, 1e-12
    config_dir = config_dir_with_space(
        tmp_path, {"train.lr": {"type": "categorical", "choices": [good, bad]}})
    output_dir = tmp_path / "out"
    result = run_afa("tune", "+tune=tiny", *LONGER, f"output_dir={output_dir}", "--trials", "2",
                     "--config-dir", str(config_dir), "--prune-startup", "1", "--prune-warmup",
                     "0", "--sampler-seed", str(good_then_bad_seed(good, bad)))
    folder = the_tune_folder(output_dir)
    complete, pruned = study_of(folder).get_trials()
    assert (complete.state, pruned.state) == (TrialState.COMPLETE, TrialState.PRUNED)
    assert pruned.params["train.lr"] == bad and pruned.last_step == 10
    assert "[2/2] trial 1 pruned at step 10" in result.stdout
    # its training was stopped as Ctrl-C stops one: checkpoints/last, no summary, fewer steps
    stopped = Run(folder / "trial_001")
    full_steps = Run(folder / "trial_000").summary().steps
    assert stopped.resumable and full_steps == 38
    assert max(event.step for event in stopped.events()) < full_steps
    assert "Interrupted at step" in stopped.job_log.read_text()
    with (folder / "trials.csv").open() as handle:
        assert [row["pruned_at_step"] for row in csv.DictReader(handle)] == ["", "10"]


@pytest.mark.slow
@needs_data
def test_a_stopped_two_objective_search_resumes_its_trial_and_draws_the_pareto_front(tmp_path):
    """The second objective a suite probe's, scored with its suite once a trial has trained (the
    stopped trial: after its resumed training)."""
    config_dir = config_dir_with_space(tmp_path, SPACE)
    (config_dir / "suite").mkdir()
    (config_dir / "suite" / "quick.yaml").write_text(
        "probes:\n  - {name: mr, kind: scores, dataset: mr, limit: 30}\n")
    output_dir = tmp_path / "out"
    search = subprocess.Popen(
        [sys.executable, "-m", "afa_cli", "tune", "+tune=tiny", *LONGER,
         f"output_dir={output_dir}", "--trials", "2", "--config-dir", str(config_dir),
         "--objective", "accuracy", "--objective", "quick/mr"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(output_dir.glob("tunes/*/trial_000/metrics.jsonl")):  # trial 0 trains
        assert search.poll() is None and time.monotonic() < deadline, search.communicate()
        time.sleep(0.1)
    search.send_signal(signal.SIGTERM)
    _, stderr = search.communicate(timeout=300)
    folder = the_tune_folder(output_dir)
    assert search.returncode == 130 and f"afa tune --resume {folder}" in stderr
    stopped, = study_of(folder).get_trials()
    assert stopped.state == TrialState.RUNNING  # for --resume to continue
    assert Run(folder / "trial_000").resumable and (folder / "trials.csv").is_file()
    stopped_at = max(event.step for event in Run(folder / "trial_000").events())

    result = run_afa("tune", "--resume", str(folder))
    assert "continued trial 0" in result.stdout and "Pareto front" in result.stdout
    continued, new = study_of(folder).get_trials()
    assert (continued.state, new.state) == (TrialState.COMPLETE, TrialState.COMPLETE)
    assert continued.params == stopped.params and len(continued.values) == 2
    # the same run folder went on from its checkpoints/last
    run = Run(folder / "trial_000")
    assert run.summary().steps == 38
    assert max(e.step for e in run.events() if e.split == "train") > stopped_at
    assert f"--resume {run.path.resolve()}" in run.job_log.read_text()
    for trial in (continued, new):
        run = Run(folder / trial.user_attrs["run"])
        probe, = run.suite_report(run.suite_reports()["quick"].parent).probes
        assert probe.num_examples == 30 and probe.dataset == "mr"
        assert trial.values == [run.summary().best_metrics["accuracy"],
                                probe.metrics["accuracy"]]
        commands = [line for line in run.job_log.read_text().splitlines() if line.startswith("$ ")]
        assert " eval " in commands[-1] and "--suite quick" in commands[-1]
        assert not any(" eval " in command for command in commands[:-1])
    assert (folder / "pareto.png").stat().st_size > 0
    assert {p.name for p in folder.glob("history_*.png")} == {"history_accuracy.png",
                                                              "history_quick_mr.png"}


def test_a_resumed_seeded_study_does_not_propose_its_first_trials_again(tmp_path):
    state = TuneState(folder=tmp_path, command="afa tune", preset="p", overrides=[], space={},
                      objectives=["accuracy"], pruner=None, sampler_seed=7, trials=4)
    space = {"x": FloatDistribution(0.0, 1.0)}
    first = create_study(state, ["maximize"])
    for _ in range(2):
        trial = first.ask(space)
        first.tell(trial, trial.params["x"])
    earlier = [t.params["x"] for t in first.trials]
    again = load_study(state).ask(space).params["x"]
    assert again not in earlier
