"""End to end: real (truncated) MiniLM, real SST-2 rows, the real `afa` command."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from afa_cli.metrics import registry
from afa_cli.runs import Run
from conftest import (ROOT, TINY, afa_here, needs_data, run_afa,
                      run_afa_past_a_file_size_limit, trained_once, written_report)

pytestmark = needs_data

AFA_DIAGNOSTICS = ("loss_cls", "loss_pg", "loss_d", "d_acc_original", "d_acc_masked", "reward_mean",
                   "adv_std", "mask_entropy", "attn_entropy", "attn_top1", "examples_per_s")
ATTENTION_METRICS = ("lexicon_mass", "lexicon_mass_uniform", "frequent_mass", "frequent_mass_uniform",
                     "lexicon_precision@5", "attn_entropy")


def weights(run_dir, which="last"):
    return load_file(run_dir / "checkpoints" / which / "model.safetensors")


def test_run_folder_is_complete(tiny_runs):
    run = tiny_runs["default"]
    for name in ("config.yaml", "overrides.yaml", "train.log", "metrics.jsonl", "summary.json",
                 "frequent_words.json", "checkpoints/best/model.safetensors",
                 "checkpoints/best/tokenizer.json", "checkpoints/last/training_state.pt"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["seed"] == 1 and summary["steps"] == 19 and summary["train_examples_per_s"] > 0
    assert summary["versions"]["torch"].startswith("2.13")
    evaluations = [e for e in Run(run).events() if e.split == "validation"]
    assert [e.step for e in evaluations] == [10, 19]
    assert summary["best"]["metrics"]["accuracy"] == max(e.metrics["accuracy"] for e in evaluations)
    for key in ATTENTION_METRICS:
        assert 0.0 <= summary["final"]["metrics"][key] <= 1.0


def test_best_checkpoint_loads_outside_afa(tiny_runs):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_runs["off"] / "checkpoints" / "best")
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert model.config.num_hidden_layers == 1


def test_afa_run_logs_every_diagnostic(tiny_runs):
    train_events = [e for e in Run(tiny_runs["default"]).events() if e.split == "train"]
    last = train_events[-1].metrics
    for key in AFA_DIAGNOSTICS:
        assert last.get(key) is not None, key
    assert 0.0 <= last["d_acc_original"] <= 1.0 and last["attn_entropy"] > 0.0
    assert "loss_pg" not in (Run(tiny_runs["off"]).events()[0].metrics)


def test_mask_with_auto_is_recorded_as_the_token_used(tiny_runs):
    assert Run(tiny_runs["default"]).config().afa.mask_with == "mask"  # MiniLM has [MASK]


def test_eval_reproduces_training_validation_accuracy(tiny_runs, tmp_path):
    run = tiny_runs["default"]
    summary = json.loads((run / "summary.json").read_text())
    predictions = tmp_path / "predictions.jsonl"
    # --limit 100: the same seeded sample the run validated on (train.max_eval_samples=100)
    shown = afa_here("eval", str(run), "--predictions", str(predictions), "--limit", "100",
                     check=True)
    report = written_report(shown.stdout)
    assert report["metrics"]["accuracy"] == summary["best"]["metrics"]["accuracy"]
    # float32 noise only: validation and eval batch the rows differently, and SDPA's kernels
    # sum over the padded length in blocks
    for key in ATTENTION_METRICS:
        assert report["metrics"][key] == pytest.approx(summary["best"]["metrics"][key], abs=1e-6)
    assert "accuracy" in shown.stdout and "confusion" in shown.stdout
    assert "scored 100 of 872 rows" in shown.stdout
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(rows) == report["num_examples"] == 100
    assert sum(r["prediction"] == r["label"] for r in rows) / 100 == report["metrics"]["accuracy"]


def test_eval_on_any_labelled_file(tiny_runs, tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text("review,stars\na superb film,positive\na dull and tedious mess,negative\n")
    shown = afa_here("eval", str(tiny_runs["off"] / "checkpoints" / "best"), "--data", str(data),
                     "--text-col", "review", "--label-col", "stars", check=True)
    report = written_report(shown.stdout)
    assert Path(shown.stdout.split("written: ")[1].strip()).parent == tiny_runs["off"]
    assert report["num_examples"] == 2


def test_afa_with_zero_weights_trains_exactly_like_off(tiny_runs, tmp_path):
    """The masker and D use their own random streams: λ = γ = 0 leaves training bit for bit alike."""
    run = tmp_path / "zero"
    run_afa("train", *TINY, "afa=default", "afa.pg_weight=0", "afa.masked_ce_weight=0", "seed=1",
            "--run-dir", str(run))
    off, zero = weights(tiny_runs["off"]), weights(run)
    assert off.keys() == zero.keys()
    assert all(torch.equal(off[k], zero[k]) for k in off)
    losses = lambda r: [e.metrics["loss_cls"] for e in Run(r).events() if e.split == "train"]
    assert losses(run) == losses(tiny_runs["off"])
    # ...while the policy gradient does change the model
    active = weights(tiny_runs["default"])
    assert not all(torch.equal(off[k], active[k]) for k in off)


# 75 steps, an evaluation (and a periodic checkpoint) every 25, every step logged.
STOPPED = ["model.num_layers=1", "train.max_train_samples=1200", "train.max_eval_samples=100",
           "train.batch_size=16", "train.eval_every=25", "train.log_every=1",
           "afa.warmup_steps=5", "seed=2", "train.num_threads=1"]


@pytest.fixture(scope="session")
def straight(tmp_path_factory):
    """STOPPED without a stop: what a stopped and resumed run must end as."""
    return trained_once(tmp_path_factory, "straight", *STOPPED)


def start_training(run_dir, *overrides) -> subprocess.Popen:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    return subprocess.Popen([sys.executable, "-m", "afa_cli", "train", *overrides,
                             "--run-dir", str(run_dir)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(proc: subprocess.Popen, run_dir, step: int) -> None:
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if any(e.step >= step for e in Run(run_dir).events()):
            return
        time.sleep(0.05)
    raise AssertionError(f"{run_dir} never logged step {step}")


@pytest.mark.slow
def test_ctrl_c_saves_last_and_resume_equals_uninterrupted(straight, tmp_path):
    overrides = STOPPED

    interrupted = tmp_path / "interrupted"
    proc = start_training(interrupted, *overrides)
    wait_for_step(proc, interrupted, 30)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert f"afa train --resume {interrupted}" in stderr and "Traceback" not in stderr
    assert (interrupted / "checkpoints" / "last" / "training_state.pt").is_file()
    assert not (interrupted / "summary.json").exists()

    run_afa("train", "--resume", str(interrupted))
    a = json.loads((straight / "summary.json").read_text())
    b = json.loads((interrupted / "summary.json").read_text())
    assert a["steps"] == b["steps"] == 75
    assert a["final"]["metrics"] == b["final"]["metrics"]
    assert a["best"]["step"] == b["best"]["step"]
    validation = lambda r: [e.metrics for e in Run(r).events() if e.split == "validation"]
    assert validation(straight) == validation(interrupted)
    assert all(torch.equal(v, weights(interrupted)[k]) for k, v in weights(straight).items())


@pytest.mark.slow
def test_kill_9_loses_only_the_steps_since_the_periodic_checkpoint(straight, tmp_path):
    killed = tmp_path / "killed"
    proc = start_training(killed, *STOPPED)
    wait_for_step(proc, killed, 35)  # past the checkpoint at step 25
    proc.kill()
    proc.communicate(timeout=60)
    assert Run(killed).resumable and not Run(killed).finished
    assert not list((killed / "checkpoints").glob(".*"))  # no half-written checkpoint left

    # two resumes at once: one continues the run, the other is refused in one line
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    resumes = [subprocess.Popen([sys.executable, "-m", "afa_cli", "train", "--resume", str(killed)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outcomes = sorted((p.wait(timeout=600), p.communicate()[1]) for p in resumes)
    assert [code for code, _ in outcomes] == [0, 2], outcomes
    refused = outcomes[1][1].strip()
    assert refused.startswith(f"error: {killed} is being written by process ") and "\n" not in refused
    steps = [e.step for e in Run(killed).events("train")]
    assert steps == list(range(1, 76))  # the steps after 25 logged once, by the resumed run
    # kept: the 25 training events and the validation up to the checkpoint; the rest set aside
    [aside] = killed.glob("metrics.after-*.jsonl")
    assert aside.name == "metrics.after-26.jsonl"
    aside_steps = [json.loads(line)["step"] for line in aside.read_text().splitlines()]
    assert aside_steps[0] == 26 and aside_steps[-1] >= 35
    same = lambda r: [(e.step, e.split, {k: v for k, v in e.metrics.items() if k != "examples_per_s"})
                      for e in Run(r).events()]
    assert same(killed) == same(straight)
    assert all(torch.equal(v, weights(killed)[k]) for k, v in weights(straight).items())


def _small_disk() -> None:
    """A file size limit stands in for a full disk: writes past it fail as they would there."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (5_000_000, 5_000_000))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="file size limits are POSIX")
def test_a_full_disk_is_one_line_and_leaves_no_half_written_checkpoint(tmp_path):
    run = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "afa_cli", "train", *TINY,
                             "train.max_train_samples=32", "--run-dir", str(run)], cwd=ROOT,
                            preexec_fn=_small_disk, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: Cannot save {run / 'checkpoints' / 'best'}")
    assert "file size limit" in line and "Free some space" in line
    assert list((run / "checkpoints").iterdir()) == []  # no half-written folder left
    assert Run.is_run(run)  # what was written before the failure is kept


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="file size limits are POSIX")
def test_a_training_state_past_the_file_size_limit_is_one_line_naming_the_checkpoint(tmp_path):
    """Room for the weights (55 MB) but not for the training state (110 MB): torch's writer
    fails with "unexpected pos", which is the same full disk and the same one line."""
    run = tmp_path / "run"
    result = run_afa_past_a_file_size_limit(80_000_000, "train", *TINY,
                                            "train.max_train_samples=32", "--run-dir", str(run))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line == (f"error: Cannot save {run / 'checkpoints' / 'last'}: the file size limit "
                    "(ulimit -f) is reached. Free some space, then train again."), line
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best"]  # no half folder


@pytest.mark.slow
def test_max_steps_trains_that_many_steps_whatever_the_data_size(tmp_path):
    """32 rows are 2 steps an epoch: 5 steps take 3 epochs, and the schedule ends at step 5."""
    run = tmp_path / "run"
    run_afa("train", *TINY, "train.max_train_samples=32", "train.max_steps=5",
            "train.log_every=1", "afa.schedule=alternate", "afa.alternate_every=2",
            "--run-dir", str(run))
    train_events = [e for e in Run(run).events() if e.split == "train"]
    assert [e.step for e in train_events] == [1, 2, 3, 4, 5]
    assert [e.epoch for e in train_events] == [0, 0, 1, 1, 2]
    assert train_events[-1].metrics["lr"] == 0.0   # the decay reaches 0 at max_steps
    assert json.loads((run / "summary.json").read_text())["steps"] == 5
    # alternate blocks of 2: steps 1-2 AFA, 3-4 plain, 5 AFA
    afa_steps = [e.step for e in train_events if e.metrics.get("loss_d") is not None]
    assert afa_steps == [1, 2, 5]


@pytest.mark.slow
def test_best_metric_picks_the_best_checkpoint_in_its_direction(tmp_path):
    run = tmp_path / "run"
    run_afa("train", *TINY, "train.best_metric=frequent_mass", "train.patience=null",
            "--run-dir", str(run))
    evaluations = Run(run).events("validation")
    lowest = min(evaluations, key=lambda e: e.metrics["frequent_mass"])
    assert json.loads((run / "summary.json").read_text())["best"]["step"] == lowest.step
    result = afa_here("train", *TINY, "train.best_metric=attn_entropy",
                      "--run-dir", str(tmp_path / "x"))
    assert result.returncode == 2 and "train.best_metric=attn_entropy: choose one of" in result.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_two_runs_started_at_once_get_two_folders(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "afa_cli", "train", *TINY,
                               "train.max_train_samples=32", "train.max_eval_samples=16",
                               f"output_dir={tmp_path}", "name=same"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    folders = sorted(p.name for p in (tmp_path / "sst2" / "minilm").iterdir())
    assert len(folders) == 2 and all("_same" in f for f in folders)


@pytest.mark.parametrize("args, message", [
    (["dataset=imdb"], "Unknown dataset 'imdb'"),
    (["dataset.path=/nonexistent/file.tsv"], "dataset.path=/nonexistent/file.tsv does not exist"),
    (["afa.mask_with=nothing"], "afa.mask_with must be one of auto, mask, unk, drop"),
    (["model.source=/nonexistent/model"], "Cannot load model '/nonexistent/model'"),
    (["afa.layer=-2"], "afa.layer=-2 is out of range: model.num_layers=1 keeps layers -1 to 0."),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    result = afa_here("train", *TINY, *args, f"output_dir={tmp_path}")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.rglob("*"))


def test_bad_rows_stop_before_training(tmp_path):
    data = tmp_path / "bad.tsv"
    data.write_text("sentence\tlabel\ngood film\t1\n\t0\nbad film\t5\n")
    result = afa_here("train", *TINY, f"dataset.path={data}", f"output_dir={tmp_path / 'out'}")
    assert result.returncode == 2
    assert "1 rows with an empty text (first at line 3)" in result.stderr
    assert not (tmp_path / "out").exists()


def test_existing_run_dir_is_never_overwritten(tiny_runs):
    before = (tiny_runs["off"] / "summary.json").read_bytes()
    result = afa_here("train", *TINY, "--run-dir", str(tiny_runs["off"]))
    assert result.returncode == 2 and "already exists" in result.stderr
    assert (tiny_runs["off"] / "summary.json").read_bytes() == before


@pytest.mark.parametrize("make_path, message", [
    (lambda tmp: tmp / "missing", "does not exist"),
    (lambda tmp: tmp, "neither a checkpoint folder nor a run folder"),
])
def test_eval_bad_checkpoint(tmp_path, make_path, message):
    result = afa_here("eval", str(make_path(tmp_path)))
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_broken_checkpoint(tiny_runs, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    result = afa_here("eval", str(broken))
    assert result.returncode == 2 and "Cannot load checkpoint" in result.stderr


def test_eval_of_cut_short_weights_is_one_line(tiny_runs, tmp_path):
    cut = tmp_path / "cut"
    shutil.copytree(tiny_runs["off"] / "checkpoints" / "best", cut)
    weights_file = cut / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:100_000])
    result = afa_here("eval", str(cut))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(f"error: Cannot load checkpoint {cut}")
    assert "a damaged file" in result.stderr


def test_every_logged_number_is_a_registered_metric(tiny_runs):
    """afa/ names its own diagnostics (it imports nothing of afa_cli): the registry must know them."""
    for run in tiny_runs.values():
        for event in Run(run).events():
            numbers = [k for k, v in event.metrics.items() if not isinstance(v, (dict, list))]
            assert all(registry.is_known(key) for key in numbers), numbers


@pytest.mark.slow
def test_patience_stops_at_the_first_evaluation_without_improvement(tmp_path):
    run = tmp_path / "patient"
    result = run_afa("train", *TINY, "afa=off", "train.eval_every=4", "train.patience=1",
                     "train.epochs=3", "--run-dir", str(run))
    accuracies = [(e.step, e.metrics["accuracy"]) for e in Run(run).events() if e.split == "validation"]
    best, stop_at = -1.0, None
    for step, accuracy in accuracies:
        if accuracy <= best and step % 4 == 0:
            stop_at = step
            break
        best = max(best, accuracy)
    summary = Run(run).summary()
    assert stop_at is not None, accuracies  # three epochs of 19 steps leave time for a plateau
    assert summary.steps == stop_at and accuracies[-1][0] == stop_at
    # said where the user looks, kept where a script looks, and in train.log
    said = f"stopped early at step {stop_at} of 57: 1 evaluations without a better validation accuracy"
    assert f"note: {said}" in result.stdout
    assert summary.stopped_early and summary.stop_reason.startswith("1 evaluations without")
    assert said in (run / "train.log").read_text()


def test_a_run_that_trains_every_step_did_not_stop_early(tiny_runs):
    summary = Run(tiny_runs["default"]).summary()
    assert summary.stopped_early is False and summary.stop_reason is None
