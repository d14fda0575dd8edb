import csv
import io
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from scipy import stats as scipy_stats
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from omegaconf import OmegaConf
from rich.console import Console
from typer.testing import CliRunner

from afa_cli.cli import app
from afa_cli.commands.sweep import sweep, sweep_tables
from afa_cli.config import compose_config, group_options
from afa_cli.machine import available_cores
from afa_cli.runs import Run
from afa_cli.errors import UserError
from afa_cli.sweep import runner
from afa_cli.sweep.grid import check_jobs, parse, plan_sweep
from afa_cli.sweep.launch import resume_sweep
from afa_cli.sweep.plot import draw_metric
from afa_cli.sweep.state import DONE, JobState, Outcome, SweepState
from afa_cli.sweep.summary import STD_NOTE, summarize
from conftest import DATA_DIR, ROOT, TINY, another_writer, needs_data, run_afa

# TINY on ~200 rows: a real truncated MiniLM trained for a few steps.


def tiny_with(*overrides: str) -> list[str]:
    """TINY with these overrides in place of its own of the same keys: a sweep takes each key
    once."""
    keys = {o.split("=", 1)[0] for o in overrides}
    return [*(o for o in TINY if o.split("=", 1)[0] not in keys), *overrides]


SMALL = tiny_with("train.max_train_samples=200", "train.max_eval_samples=50")
# The same, leaving the sweep to split the cores between its jobs.
SMALL_SPLIT = [o for o in SMALL if not o.startswith("train.num_threads=")]


def read_state(sweep_dir) -> dict:
    """sweep.yaml, as its layout reads."""
    return SweepState.read(sweep_dir).to_dict()


# ---- grid expansion ---------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["afa.mask_ratio=0.05,0.1", "seed=range(1,4)", "train=quick"],
    ["seed=choice(1,5)", "afa.pg_weight=0.1,0.2", "dataset=mr"],
    ["seed=range(1,7,2)", "afa=off,default"],
])
def test_expansion_is_hydras_cartesian_product(args):
    hydra_jobs = BasicSweeper.split_arguments(parse(args), None)[0]
    assert [job.overrides for job in plan_sweep(args).jobs] == hydra_jobs


def test_glob_selects_options_of_a_config_group(tmp_path):
    every = [job.overrides[0] for job in plan_sweep(["afa=glob(*)"]).jobs]
    assert every == [f"afa={option}" for option in group_options("afa")]
    no_off = [job.overrides[0] for job in plan_sweep(["afa=glob(*,exclude=off)"]).jobs]
    assert "afa=off" not in no_off and len(no_off) == len(every) - 1
    assert [job.overrides[0] for job in plan_sweep(["afa=glob(d*)"]).jobs] == [
        "afa=default", "afa=divergence"]
    (tmp_path / "afa").mkdir()
    (tmp_path / "afa" / "mine.yaml").write_text("defaults:\n  - default\n  - _self_\nmask_ratio: 0.4\n")
    assert "afa=mine" in [job.overrides[0]
                          for job in plan_sweep(["afa=glob(*)"], [tmp_path]).jobs]


def test_a_preset_line_with_a_key_twice_is_refused(tmp_path):
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "twice.yaml").write_text("grids:\n  - seed=1,2 afa=off seed=3\n")
    with pytest.raises(UserError, match=r"sweep preset 'twice': seed is given twice"):
        plan_sweep(["+sweep=twice"], [tmp_path])


def test_job_names_and_swept_keys():
    plan = plan_sweep(["afa.mask_ratio=0.1,0.2", "seed=1,2", "train=quick"])
    assert plan.swept_keys == ["afa.mask_ratio", "seed"]
    assert [job.name for job in plan.jobs] == [
        "000_afa.mask_ratio=0.1_seed=1", "001_afa.mask_ratio=0.1_seed=2",
        "002_afa.mask_ratio=0.2_seed=1", "003_afa.mask_ratio=0.2_seed=2"]
    assert plan.jobs[3].values == {"afa.mask_ratio": "0.2", "seed": "2", "train": "quick"}


def test_mask_ratio_preset_and_command_line_merge():
    plan = plan_sweep(["+sweep=mask_ratio"])
    assert plan.preset == "mask_ratio" and len(plan.jobs) == 18
    ratios = [job.values.get("afa.mask_ratio") for job in plan.jobs]
    assert ratios == [r for r in ("0.05", "0.1", "0.15", "0.2", "0.3") for _ in range(3)] + [None] * 3
    assert [job.values.get("afa") for job in plan.jobs[-3:]] == ["off"] * 3
    assert plan.swept_keys == ["afa.mask_ratio", "seed", "afa"]
    # a command-line override replaces the preset's entry of that key, or joins every job
    plan = plan_sweep(["+sweep=mask_ratio", "seed=1", "model.num_layers=2"])
    assert len(plan.jobs) == 6 and plan.swept_keys == ["afa.mask_ratio", "afa"]
    assert all(job.overrides[-2:] == ["seed=1", "model.num_layers=2"] or
               job.overrides == ["afa=off", "seed=1", "model.num_layers=2"] for job in plan.jobs)
    # the preset never reaches the jobs' configs
    assert not any("sweep" in override for job in plan.jobs for override in job.overrides)
    assert "sweep" not in compose_config(plan.jobs[0].overrides)


@pytest.mark.parametrize("preset, jobs, first", [
    ("baseline_vs_afa", 18, ["dataset=sst2", "afa=off", "seed=1", "train=quick"]),
    ("ablations", 18, ["afa=off", "seed=1", "dataset=sst2", "train=quick"]),
    ("tradeoff", 30, ["seed=1", "dataset=sst2", "train=quick", "afa=off"]),
])
def test_study_presets(preset, jobs, first):
    plan = plan_sweep([f"+sweep={preset}"])
    assert len(plan.jobs) == jobs and plan.jobs[0].overrides == first
    check_jobs(plan.jobs, [])


def test_every_job_is_checked_before_anything_runs():
    plan = plan_sweep(["afa.mask_ratio=0.1,1.5"])
    with pytest.raises(Exception, match=r"job 001_afa.mask_ratio=1.5: Invalid config: afa.mask_ratio"):
        check_jobs(plan.jobs, [])


# ---- command-line errors: one line, exit 2, nothing written -----------------------------------

@pytest.mark.parametrize("args, message", [
    (["seed=1,2", "train.lrate=1"], "job 000_seed=1: Unknown config key 'train.lrate'."),
    (["seed=1,2", "afa=nope"], "job 000_seed=1: Unknown afa 'nope'. Valid choices:"),
    (["seed=(1"], "Error parsing override 'seed=(1': "),
    (["seed=1,2", "run_dir=x"], "run_dir=x: a sweep gives every job its own folder"),
    (["+sweep=mask_ratio", "+sweep=ablations"], "Give one sweep preset"),
    (["+sweep=nope"], "Unknown sweep 'nope'. Valid choices: ablations, baseline_vs_afa, "
                       "learning_curve, mask_ratio, tradeoff, transfer"),
    (["afa.mask_ratio=interval(0.1,0.3)"], "an interval cannot be enumerated"),
    (["afa=off,default", "seed=1,2", "--baseline", "afa=of"],
     "--baseline afa=of: no job has it; the values of afa are default, off"),
    (["afa=off,default", "seed=1,2", "--baseline", "seed=1"], "give KEY=VALUE with a swept key"),
    (["seed=glob(*)"], "'seed' is not a config group"),
    (["seed=1"], "Nothing to sweep"),
    (["seed=1,2", "afa=off", "seed=7"], "seed is given twice (seed=1,2 and seed=7); give each key once"),
    (["afa.mask_ratio=0.1,0.2", "+afa.mask_ratio=0.3"], "afa.mask_ratio is given twice"),
    (["seed=1,2", "--metric", "loss"], "--metric loss: choose one of best_accuracy"),
    (["seed=1,2", "--jobs", "0"], "--jobs must be at least 1"),
    (["seed=1,2", "--name", "a b"], "--name 'a b': use letters"),
    (["seed=1,2", "hydra/launcher=nope"], "hydra/launcher=nope: no launcher 'nope' (installed "
                                           "launchers: joblib, submitit_local, submitit_slurm)"),
    (["seed=1,2", "hydra/launcher=jobllib"], "(installed launchers: joblib, submitit_local, "
                                             "submitit_slurm; did you mean hydra/launcher=joblib?)"),
    (["seed=1,2", "hydra.job.chdir=true"], "hydra.job.chdir=true: afa sweep takes only hydra/launcher"),
])
def test_bad_sweeps_fail_in_one_line_before_running(tmp_path, args, message):
    result = CliRunner().invoke(app, ["sweep", *args, f"output_dir={tmp_path / 'out'}"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_resume_and_summarize_need_a_sweep_folder(tmp_path):
    result = CliRunner().invoke(app, ["sweep", "--summarize", str(tmp_path)])
    assert result.exit_code == 2 and f"{tmp_path} is not a sweep folder" in result.stderr
    result = CliRunner().invoke(app, ["sweep", "--resume", str(tmp_path), "seed=1,2"])
    assert result.exit_code == 2 and "drop the overrides" in result.stderr


# ---- summaries of hand-made sweep folders -----------------------------------------------------

def _job(name: str, values: dict, status: str = "done", wall: float = 10.0) -> dict:
    return {"name": name, "overrides": [f"{k}={v}" for k, v in values.items()], "values": values,
            "status": status, "attempts": 1, "exit_code": 0 if status == "done" else 1,
            "error": None if status == "done" else "error: boom", "wall_seconds": wall}


def _run_summary(accuracy: float, final_accuracy: float, lexicon_mass: float) -> dict:
    metrics = {"accuracy": accuracy, "macro_f1": accuracy - 0.1, "lexicon_mass": lexicon_mass,
               "frequent_mass": 0.5, "lexicon_precision@5": 0.2, "attn_entropy": 0.9}
    return {"dataset": "sst2", "best": {"step": 20, "metrics": metrics}, "steps": 30,
            "final": {"step": 30, "metrics": {**metrics, "accuracy": final_accuracy}}}


@pytest.fixture
def hand_made_sweep(tmp_path):
    """A mask-ratio sweep with known numbers: ratio 0.1 (3 seeds), ratio 0.2 (2 seeds done, one
    failed) and afa=off (3 seeds)."""
    accuracies = {("0.1", "1"): 0.80, ("0.1", "2"): 0.82, ("0.1", "3"): 0.84,
                  ("0.2", "1"): 0.70, ("0.2", "2"): 0.74, ("off", "1"): 0.75,
                  ("off", "2"): 0.75, ("off", "3"): 0.78}
    jobs = []
    for ratio in ("0.1", "0.2", "off"):
        for seed in ("1", "2", "3"):
            values = {"afa": "off", "seed": seed} if ratio == "off" else {
                "afa.mask_ratio": ratio, "seed": seed}
            name = f"{len(jobs):03d}_{ratio}_{seed}"
            accuracy = accuracies.get((ratio, seed))
            jobs.append(_job(name, values, "done" if accuracy else "failed", wall=10.0 * int(seed)))
            (tmp_path / name).mkdir()
            if accuracy:
                (tmp_path / name / "summary.json").write_text(
                    json.dumps(_run_summary(accuracy, accuracy - 0.01, 0.1 * int(seed))))
    # a sweep.yaml without the optional keys (created, preset, launcher, grids)
    SweepState.from_dict(tmp_path, {"command": "afa sweep +sweep=mask_ratio", "config_dir": None,
                                    "swept_keys": ["afa.mask_ratio", "seed", "afa"], "pid": None,
                                    "jobs": jobs}).save()
    return tmp_path


FAILED_JOB = "005_0.2_3"


def test_resume_counts_a_job_finished_by_hand_as_done(hand_made_sweep):
    (hand_made_sweep / FAILED_JOB / "summary.json").write_text(json.dumps(_run_summary(0.72, 0.71, 0.3)))
    resume_sweep(hand_made_sweep, 1, Console(quiet=True))  # nothing left to run
    job = next(j for j in SweepState.read(hand_made_sweep).jobs if j.name == FAILED_JOB)
    assert job.status == DONE and job.error is None
    assert (hand_made_sweep / FAILED_JOB / "summary.json").is_file()
    assert not (hand_made_sweep / "previous_attempts").exists()


def test_summarizing_a_live_sweep_writes_the_done_jobs_and_says_how_far_it_is(hand_made_sweep):
    state = SweepState.read(hand_made_sweep)
    running, pending = state.jobs[0], state.jobs[1]  # of the 0.1 ratio, whose third seed is done
    running.status, pending.status = "running", "pending"
    (hand_made_sweep / running.name / "summary.json").unlink()
    (hand_made_sweep / pending.name / "summary.json").unlink()
    sweeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state.pid = sweeper.pid
        state.save()
        result = CliRunner().invoke(app, ["sweep", "--summarize", str(hand_made_sweep)])
        # the one failed job is a failure still; the running and pending ones are not
        assert result.exit_code == 1 and "1 of 9 jobs not done: 005_0.2_3" in result.stderr
        assert (f"note: the sweep is still running (process {sweeper.pid}): 6 of 9 jobs done, "
                "1 running, 1 pending") in " ".join(result.stderr.split())
        assert (hand_made_sweep / "summary.md").is_file()
        rows = list(csv.DictReader((hand_made_sweep / "summary.csv").open()))
        assert [row["status"] for row in rows[:3]] == ["running", "pending", "done"]
    finally:
        sweeper.kill()
        sweeper.wait()
    result = CliRunner().invoke(app, ["sweep", "--summarize", str(hand_made_sweep)])
    assert "still running" not in result.stderr and "3 of 9 jobs not done" in result.stderr


def test_resume_never_moves_the_folder_of_a_job_still_training(hand_made_sweep):
    job_dir = hand_made_sweep / FAILED_JOB
    with another_writer(job_dir) as holder:
        with pytest.raises(UserError, match=f"job {FAILED_JOB} is still being trained by process "
                                            f"{holder.pid}"):
            resume_sweep(hand_made_sweep, 1, Console(quiet=True))
    assert job_dir.is_dir() and not (hand_made_sweep / "previous_attempts").exists()


def test_summary_groups_over_seeds_with_sample_std(hand_made_sweep):
    report = summarize(hand_made_sweep)
    assert report.group_keys == ["afa.mask_ratio", "afa"]
    assert [g.values for g in report.groups] == [
        {"afa.mask_ratio": "0.1", "afa": ""}, {"afa.mask_ratio": "0.2", "afa": ""},
        {"afa.mask_ratio": "", "afa": "off"}]
    mean, std, n = report.groups[0].stats("best_accuracy")
    assert (mean, std, n) == (pytest.approx(0.82), pytest.approx(0.02), 3)  # ddof=1
    mean, std, n = report.groups[1].stats("best_accuracy")
    assert (mean, std, n) == (pytest.approx(0.72), pytest.approx(math.sqrt(0.0008)), 2)
    assert report.groups[2].stats("final_accuracy")[:2] == (pytest.approx(0.75),
                                                            pytest.approx(math.sqrt(0.0003)))
    assert report.groups[0].stats("wall_seconds") == (pytest.approx(20.0), pytest.approx(10.0), 3)
    assert report.failed == ["005_0.2_3"]

    (title, header, rows), (attention_title, attention_header, _) = report.tables()
    assert header == ["afa.mask_ratio", "afa", "n", "best_accuracy", "best_macro_f1",
                      "final_accuracy", "final_macro_f1", "wall_seconds"]
    assert rows[0][:5] == ["0.1", "–", "3", "0.820 ± 0.020", "0.720 ± 0.020"]
    assert rows[1][:4] == ["0.2", "–", "2 of 3", "0.720 ± 0.028"]
    assert rows[2][:4] == ["–", "off", "3", "0.760 ± 0.017"]
    assert attention_header[3:] == ["lexicon_mass", "frequent_mass", "lexicon_precision@5",
                                    "attn_entropy"]


def test_summary_tables_at_80_columns_split_no_number_and_are_whole_off_a_terminal(hand_made_sweep):
    report = summarize(hand_made_sweep, baseline="afa=off")
    numbers = {cell for _, _, rows in report.tables() for row in rows for cell in row
               if cell[:1].isdigit() or cell[:1] in "+-"}
    narrow = Console(width=80, force_terminal=True, record=True)
    for table in sweep_tables(report):
        narrow.print(table, crop=False)
    lines = narrow.export_text().splitlines()
    assert max(map(len, lines)) <= 80
    words = {word for line in lines for word in line.split()}
    for number in numbers:  # each number (or each word of "0.82 ± 0.02") whole on one line
        assert all(part in words for part in number.split() if part != "±"), number
    piped = Console(width=80, file=io.StringIO(), record=True)
    for table in sweep_tables(report):
        piped.print(table, crop=False)
    rows = piped.export_text().splitlines()
    assert any(len(row) > 80 for row in rows)  # a file gets whole rows, however wide


def test_summary_files(hand_made_sweep):
    report = summarize(hand_made_sweep, metric="lexicon_mass")
    with (hand_made_sweep / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 and rows[0]["afa.mask_ratio"] == "0.1" and rows[0]["seed"] == "1"
    assert float(rows[1]["best_accuracy"]) == 0.82
    assert float(rows[1]["final_accuracy"]) == pytest.approx(0.81)
    assert float(rows[2]["lexicon_mass"]) == pytest.approx(0.3) and rows[2]["wall_seconds"] == "30.0"
    assert rows[5]["status"] == "failed" and rows[5]["best_accuracy"] == "" and rows[5]["error"]
    markdown = (hand_made_sweep / "summary.md").read_text()
    assert STD_NOTE in markdown and "afa sweep +sweep=mask_ratio" in markdown
    assert "| 0.1 | – | 3 | 0.200 ± 0.100 |" in markdown  # the chosen metric leads its table
    assert "`005_0.2_3` (failed): error: boom" in markdown and "![lexicon_mass](summary.png)" in markdown
    assert (hand_made_sweep / "summary.png").stat().st_size > 0
    assert report.files[-1] == hand_made_sweep / "summary.md"


def test_plot_draws_the_baseline_as_a_reference_line(hand_made_sweep):
    report = summarize(hand_made_sweep)
    axes = draw_metric(report.groups, "afa.mask_ratio", "best_accuracy", STD_NOTE).axes[0]
    curve, = [c for c in axes.containers]  # one error-bar series: the AFA mask ratios
    assert list(curve.lines[0].get_xdata()) == [0.1, 0.2]
    assert list(curve.lines[0].get_ydata()) == pytest.approx([0.82, 0.72])
    reference = [line for line in axes.lines if line.get_label().startswith("afa=off")]
    assert len(reference) == 1 and list(reference[0].get_ydata()) == pytest.approx([0.76, 0.76])
    assert axes.get_xlabel() == "afa.mask_ratio"


# ---- sweep.yaml --------------------------------------------------------------------------------

def test_sweep_state_keeps_its_config_dirs_relative_and_reads_older_absolute_ones(tmp_path):
    folder, config_dir = tmp_path / "out" / "sweeps" / "s", tmp_path / "conf"
    folder.mkdir(parents=True)
    config_dir.mkdir()
    SweepState.create(folder, command="afa sweep seed=1,2", config_dirs=[config_dir], preset=None,
                      launcher=[], grids=["seed=1,2"], swept_keys=["seed"],
                      jobs=[JobState("000_seed=1", ["seed=1"], {"seed": "1"})])
    assert read_state(folder)["config_dirs"] == ["../../../conf"]
    assert SweepState.read(folder).config_paths == [config_dir.resolve()]
    older = {key: value for key, value in read_state(folder).items() if key != "config_dirs"}
    SweepState.from_dict(folder, {**older, "config_dir": str(config_dir)}).save()
    assert SweepState.read(folder).config_paths == [config_dir.resolve()]


def test_job_updates_from_many_threads_all_reach_sweep_yaml(tmp_path):
    jobs = [JobState(f"{i:03d}", [f"seed={i}"], {"seed": str(i)}) for i in range(40)]
    state = SweepState.create(tmp_path, command="afa sweep seed=range(40)", config_dirs=[],
                              preset=None, launcher=[], grids=[], swept_keys=["seed"], jobs=jobs)

    def run(job):
        state.start_attempt(job)
        state.record(job, Outcome(DONE, 0, None, 1.0))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(run, jobs))
    assert [(job["status"], job["attempts"]) for job in read_state(tmp_path)["jobs"]] == [
        ("done", 1)] * 40


# ---- --config-dir folders, without training -----------------------------------------------------

@pytest.fixture
def untrained_jobs(monkeypatch):
    """Every job's `python -m afa_cli train ...` run as `true -m afa_cli train ...`, which ends at
    once: the job fails untrained, and its job.log starts with the command it was given."""
    monkeypatch.setattr(runner, "sys", SimpleNamespace(executable="true"))


def given_config_dirs(run_dir: Path) -> list[Path]:
    """The --config-dir folders of the afa train command a job's job.log starts with."""
    command = shlex.split(Run(run_dir).job_log.read_text().splitlines()[0].removeprefix("$ "))
    return [Path(command[i + 1]) for i, arg in enumerate(command) if arg == "--config-dir"]


def config_dir_with_afa_option(folder: Path) -> Path:
    """A config folder holding afa=mine: the default method with mask_ratio 0.4."""
    config_dir = folder / "conf"
    (config_dir / "afa").mkdir(parents=True)
    (config_dir / "afa" / "mine.yaml").write_text(
        "defaults:\n  - default\n  - _self_\nmask_ratio: 0.4\n")
    return config_dir


def test_a_sweep_takes_a_preset_and_an_option_from_two_config_dirs_and_gives_jobs_both(
        tmp_path, untrained_jobs):
    presets = _config_dir_with_preset(tmp_path / "presets", "afa=mine seed=1,2")
    options = config_dir_with_afa_option(tmp_path / "options")
    result = CliRunner().invoke(app, ["sweep", "+sweep=tiny", "--config-dir", str(presets),
                                      "--config-dir", str(options),
                                      f"output_dir={tmp_path / 'out'}"])
    assert "not done" in result.stderr  # its jobs composed, ran and failed untrained
    sweep_dir, = (tmp_path / "out" / "sweeps").iterdir()
    assert read_state(sweep_dir)["config_dirs"] == ["../../../presets/conf",
                                                    "../../../options/conf"]
    state = SweepState.read(sweep_dir)
    assert state.config_paths == [presets.resolve(), options.resolve()]
    assert state.command.endswith(f"--config-dir {presets} --config-dir {options}")
    assert [job.values for job in state.jobs] == [{"seed": "1"}, {"seed": "2"}]
    assert all(job.overrides[0] == "afa=mine" for job in state.jobs)
    for job in state.jobs:  # given both folders, in order: the config the sweep composed
        assert given_config_dirs(state.job_dir(job)) == state.config_paths
        assert compose_config(job.overrides, state.config_paths).afa.mask_ratio == 0.4


def test_an_older_sweep_yaml_of_one_config_dir_resumes_with_it(tmp_path, untrained_jobs):
    options = config_dir_with_afa_option(tmp_path / "options")
    sweep_dir = tmp_path / "out" / "sweeps" / "older"
    sweep_dir.mkdir(parents=True)
    job = _job("000_seed=1", {"afa": "mine", "seed": "1"}, "failed")
    (sweep_dir / SweepState.FILE).write_text(yaml.safe_dump({  # as sweeps were written before
        "command": f"afa sweep afa=mine seed=1,2 --jobs 1 --config-dir {options}",
        "created": "2024-01-01T00:00:00", "config_dir": "../../../options/conf", "preset": None,
        "launcher": [], "grids": ["afa=mine seed=1,2"], "swept_keys": ["seed"], "pid": None,
        "jobs": [job]}, sort_keys=False))
    assert SweepState.read(sweep_dir).config_dirs == ["../../../options/conf"]
    resume_sweep(sweep_dir, 1, Console(quiet=True))
    assert given_config_dirs(sweep_dir / job["name"]) == [options.resolve()]
    saved = yaml.safe_load((sweep_dir / SweepState.FILE).read_text())
    assert saved["config_dirs"] == ["../../../options/conf"] and "config_dir" not in saved


def test_resume_refuses_config_dirs_of_its_own(hand_made_sweep, tmp_path):
    result = CliRunner().invoke(app, ["sweep", "--resume", str(hand_made_sweep),
                                      "--config-dir", str(tmp_path)])
    assert result.exit_code == 2 and "drop the overrides, --name and --config-dir" in result.stderr


# ---- real sweeps ------------------------------------------------------------------------------

def _config_dir_with_preset(tmp_path, grid_line: str):
    config_dir = tmp_path / "conf"
    (config_dir / "sweep").mkdir(parents=True)
    (config_dir / "sweep" / "tiny.yaml").write_text(yaml.safe_dump({"grids": [grid_line]}))
    return config_dir


@pytest.mark.slow
@needs_data
def test_two_job_sweep_end_to_end(tmp_path):
    config_dir = _config_dir_with_preset(tmp_path, " ".join(["seed=1,2", *SMALL_SPLIT]))
    result = run_afa("sweep", "+sweep=tiny", "--config-dir", str(config_dir), "--jobs", "2",
                     f"output_dir={tmp_path / 'out'}")
    sweep_dir, = (tmp_path / "out" / "sweeps").iterdir()
    assert sweep_dir.name.endswith("_tiny") and "validation scores" in result.stdout
    state = read_state(sweep_dir)
    assert [job["status"] for job in state["jobs"]] == ["done", "done"]
    assert state["swept_keys"] == ["seed"] and state["command"].startswith("afa sweep +sweep=tiny")
    with (sweep_dir / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for job, row, seed in zip(state["jobs"], rows, (1, 2)):
        run_dir = sweep_dir / job["name"]
        cfg = OmegaConf.load(run_dir / "config.yaml")
        assert "sweep" not in cfg and cfg.seed == seed and cfg.model.num_layers == 1
        assert cfg.train.num_threads == max(1, available_cores() // 2)
        assert f"run folder: {run_dir.resolve()}" in (run_dir / "job.log").read_text()
        summary = json.loads((run_dir / "summary.json").read_text())
        assert float(row["best_accuracy"]) == summary["best"]["metrics"]["accuracy"]
        assert row["seed"] == str(seed) and row["status"] == "done"
    assert (sweep_dir / "summary.md").is_file() and (sweep_dir / "summary.png").is_file()


@pytest.mark.slow
@needs_data
def test_failing_job_does_not_stop_the_sweep_and_resume_reruns_it(tmp_path):
    late_data = tmp_path / "late_data"  # missing at first: the job that reads it fails
    output_dir = tmp_path / "out"
    first = run_afa("sweep", f"dataset.path={late_data},{DATA_DIR}/sst2", *SMALL,
                    f"output_dir={output_dir}", check=False)
    sweep_dir, = (output_dir / "sweeps").iterdir()
    failed, done = read_state(sweep_dir)["jobs"]
    assert first.returncode == 1 and f"1 of 2 jobs not done: {failed['name']}" in first.stderr
    assert failed["status"] == "failed" and "does not exist" in failed["error"]
    assert done["status"] == "done"
    # a train.num_threads given to the sweep wins over its share of the cores
    assert OmegaConf.load(sweep_dir / done["name"] / "config.yaml").train.num_threads == 1
    done_summary = (sweep_dir / done["name"] / "summary.json").read_text()

    shutil.copytree(f"{DATA_DIR}/sst2", late_data)
    run_afa("sweep", "--resume", str(sweep_dir))
    rerun, skipped = read_state(sweep_dir)["jobs"]
    assert (rerun["status"], rerun["attempts"], skipped["attempts"]) == ("done", 2, 1)
    assert (sweep_dir / done["name"] / "summary.json").read_text() == done_summary
    assert (sweep_dir / rerun["name"] / "summary.json").is_file()
    aside = sweep_dir / "previous_attempts" / f"{failed['name']}-attempt1"
    assert "does not exist" in (aside / "job.log").read_text()
    assert "does not exist" not in (sweep_dir / rerun["name"] / "job.log").read_text()


@pytest.mark.slow
@needs_data
def test_stopped_sweep_stops_its_jobs_and_resumes(tmp_path):
    output_dir = tmp_path / "out"
    sweep = subprocess.Popen([sys.executable, "-m", "afa_cli", "sweep", "seed=1,2",
                              *tiny_with("train.max_train_samples=600"), f"output_dir={output_dir}"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # stop it once the first job is training (its first metrics are written)
    deadline = time.monotonic() + 300
    while not list(output_dir.glob("sweeps/*/000_seed=1/metrics.jsonl")):
        assert sweep.poll() is None and time.monotonic() < deadline, sweep.communicate()
        time.sleep(0.1)
    sweep.send_signal(signal.SIGTERM)
    _, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 130 and "afa sweep --resume" in stderr
    sweep_dir, = (output_dir / "sweeps").iterdir()
    state = read_state(sweep_dir)
    stopped, waiting = state["jobs"]
    assert state["pid"] is None and waiting["status"] == "pending"
    assert stopped["status"] == "failed" and stopped["error"].startswith("interrupted")
    # the job got the stop too: it saved its last checkpoint instead of running on
    assert (sweep_dir / stopped["name"] / "checkpoints" / "last").is_dir()

    stopped_at = max(e.step for e in Run(sweep_dir / stopped["name"]).events())
    run_afa("sweep", "--resume", str(sweep_dir))
    state = read_state(sweep_dir)
    assert [job["status"] for job in state["jobs"]] == ["done", "done"]
    # the stopped job went on from its checkpoints/last, in its own folder
    assert not (sweep_dir / "previous_attempts").exists()
    continued = sweep_dir / stopped["name"]
    steps = [e.step for e in Run(continued).events() if e.split == "train"]
    assert steps == sorted(set(steps)) and steps[-1] > stopped_at
    assert json.loads((continued / "summary.json").read_text())["steps"] == math.ceil(600 / 16)
    log = (continued / "job.log").read_text()
    assert "Interrupted at step" in log and f"--resume {continued.resolve()}" in log
    assert state["jobs"][0]["wall_seconds"] > stopped["wall_seconds"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of this process is dead too
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.slow
@needs_data
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="jobs die with the sweep on Linux")
def test_a_sweep_killed_hard_takes_its_jobs_with_it_and_resumes(tmp_path):
    output_dir = tmp_path / "out"
    # the first job is stopped mid-training; the second, a few steps, has not started
    sweep = subprocess.Popen([sys.executable, "-m", "afa_cli", "sweep",
                              *tiny_with("train.max_train_samples=1200,64"),
                              f"output_dir={output_dir}"],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(output_dir.glob("sweeps/*/000_*/metrics.jsonl")):
        assert sweep.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    job_dir, = (p for p in output_dir.glob("sweeps/*/000_*") if p.is_dir())  # not its stray log
    job_pid = Run(job_dir).writer()
    assert job_pid is not None and _alive(job_pid)
    sweep.kill()
    sweep.wait()
    deadline = time.monotonic() + 120
    while _alive(job_pid):  # told to stop, it saves its checkpoint first
        assert time.monotonic() < deadline, "the job outlived its sweep"
        time.sleep(0.2)
    assert (job_dir / "checkpoints" / "last" / Run.TRAINING_STATE).is_file()
    run_afa("sweep", "--resume", str(job_dir.parent))
    assert [job["status"] for job in read_state(job_dir.parent)["jobs"]] == ["done", "done"]
    assert Run(job_dir).finished and not (job_dir.parent / "previous_attempts").exists()


@pytest.mark.slow
@needs_data
def test_sweep_through_hydras_submitit_local_launcher_fails_and_resumes_like_a_local_one(tmp_path):
    late_data = tmp_path / "late_data"  # missing at first: the job that reads it fails
    output_dir = tmp_path / "out"
    launcher = ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=30"]
    first = run_afa("sweep", f"dataset.path={late_data},{DATA_DIR}/sst2", *SMALL, *launcher,
                    f"output_dir={output_dir}", check=False)
    sweep_dir, = (output_dir / "sweeps").iterdir()
    state = read_state(sweep_dir)
    assert state["launcher"] == launcher and state["pid"] is None
    failed, done = state["jobs"]
    assert first.returncode == 1 and f"1 of 2 jobs not done: {failed['name']}" in first.stderr
    assert failed["status"] == "failed" and "does not exist" in failed["error"]
    assert done["status"] == "done" and done["wall_seconds"] > 0
    # the launcher's own files stay inside the sweep folder; the jobs' folders are afa's
    assert list((sweep_dir / "launcher" / ".submitit").iterdir())
    assert (sweep_dir / done["name"] / "summary.json").is_file()
    assert "launcher" not in OmegaConf.load(sweep_dir / done["name"] / "config.yaml")

    shutil.copytree(f"{DATA_DIR}/sst2", late_data)
    resumed = run_afa("sweep", "--resume", str(sweep_dir))
    assert "launching 1 jobs: hydra/launcher=submitit_local" in resumed.stdout
    rerun, skipped = read_state(sweep_dir)["jobs"]
    assert (rerun["status"], rerun["attempts"], skipped["attempts"]) == ("done", 2, 1)
    with (sweep_dir / "summary.csv").open() as handle:
        assert [row["status"] for row in csv.DictReader(handle)] == ["done", "done"]


def test_baseline_pairs_every_group_with_it_over_shared_seeds(hand_made_sweep):
    report = summarize(hand_made_sweep, baseline="afa=off")
    title, header, rows = report.tables()[-1]
    assert title.startswith("paired with the baseline afa=off")
    assert header == ["afa.mask_ratio", "afa", "metric", "difference", "95% CI", "p", "seeds"]
    accuracy = {row[0]: row for row in rows if row[2] == "best_accuracy"}
    # ratio 0.1: .80 .82 .84 against .75 .75 .78 -> +.05 +.07 +.06
    assert accuracy["0.1"][3] == "+0.0600" and accuracy["0.1"][6] == "3"
    t = 0.06 / (0.01 / math.sqrt(3))
    assert float(accuracy["0.1"][5]) == pytest.approx(2 * scipy_stats.t.sf(t, df=2), rel=1e-2)
    low, high = (float(x) for x in accuracy["0.1"][4].strip("[]").split(", "))
    half = scipy_stats.t.ppf(0.975, df=2) * 0.01 / math.sqrt(3)   # Student's t over 3 seeds
    assert (low, high) == (pytest.approx(0.06 - half, abs=1e-4), pytest.approx(0.06 + half, abs=1e-4))
    # ratio 0.2 finished seeds 1 and 2 only: .70 .74 against .75 .75
    assert accuracy["0.2"][3] == "-0.0300" and accuracy["0.2"][6] == "2"
    assert "## Paired with the baseline afa=off" in (hand_made_sweep / "summary.md").read_text()
    with pytest.raises(UserError, match="--baseline afa=default: no group has it"):
        summarize(hand_made_sweep, baseline="afa=default")
    with pytest.raises(UserError, match="give KEY=VALUE with a swept key"):
        summarize(hand_made_sweep, baseline="seed=1")


def test_seeds_whose_differences_tie_print_no_spread_and_the_note_names_the_t_interval(
        hand_made_sweep):
    # every seed of ratio 0.2 now gains exactly as much over afa=off (.75, .75): no spread
    for job, accuracy in (("003_0.2_1", 0.85), ("004_0.2_2", 0.85)):
        (hand_made_sweep / job / "summary.json").write_text(
            json.dumps(_run_summary(accuracy, accuracy - 0.01, 0.1)))
    report = summarize(hand_made_sweep, baseline="afa=off")
    title, _, rows = report.tables()[-1]
    tied = next(row for row in rows if row[0] == "0.2" and row[2] == "best_accuracy")
    assert tied[3] == "+0.1000" and tied[4] == "no spread" and tied[5] == "–"
    markdown = (hand_made_sweep / "summary.md").read_text()
    assert "nan" not in markdown and "no spread" in markdown
    assert "Student's t interval" in title and "bootstrap" not in title


def test_resume_with_a_baseline_no_job_has_is_refused_before_any_job_reruns(hand_made_sweep):
    before = (hand_made_sweep / "sweep.yaml").read_text()
    with pytest.raises(UserError, match="--baseline afa=of: no job has it"):
        sweep([], resume=hand_made_sweep, baseline="afa=of", console=Console(quiet=True))
    # the failed job (0.2, seed 3) was not started again: the sweep's state is untouched
    assert (hand_made_sweep / "sweep.yaml").read_text() == before
    assert list((hand_made_sweep / "005_0.2_3").iterdir()) == []
