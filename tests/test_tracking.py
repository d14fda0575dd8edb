"""Trackers (logger=...): what a training, its resume and `afa log` leave in TensorBoard, MLflow and
W&B, read back with each library's own reader."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from mlflow import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from afa_cli.commands.log import replay
from afa_cli.config import compose_config
from afa_cli.config.schema import LoggerConfig
from afa_cli.errors import UserError
from afa_cli.metrics import registry
from afa_cli.runs import TRAIN, Event, Run
from afa_cli.sweep.grid import plan_sweep
from afa_cli.tracking import backends
from afa_cli.tracking.scalars import metric_name, scalars
from afa_cli.training.sinks import TrackerSink
from afa_cli.tracking.tracker import Tracker
from conftest import needs_data, run_afa
from test_train import start_training, wait_for_step

EVERY_TRACKER = "logger=[tensorboard,mlflow,wandb]"
# 40 steps, a periodic checkpoint every 10, a log every 2: a hard stop past step 10 leaves steps
# that the resume repeats.
STOPPABLE = ["model.num_layers=1", "train.max_train_samples=640", "train.max_eval_samples=100",
             "train.batch_size=16", "train.eval_every=10", "train.log_every=2",
             "afa.warmup_steps=2", "train.num_threads=1"]
History = dict[str, list[tuple[int, float]]]  # metric name -> (step, value), in logging order
# The one metric a repeated step does not reproduce: MLflow keeps the value it had first.
THROUGHPUT = metric_name(TRAIN, registry.EXAMPLES_PER_S.key)


@pytest.fixture(autouse=True, scope="module")
def default_tracker_settings():
    """What the trackers do unless told otherwise: a local MLflow store, W&B offline."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("MLFLOW_TRACKING_URI", "WANDB_MODE", "WANDB_BASE_URL"):
            patch.delenv(variable, raising=False)
        yield


# ---- reading back what each tracker holds --------------------------------------------------------

def from_metrics_jsonl(run_dir: Path) -> History:
    history: History = {}
    for event in Run(run_dir).events():
        for name, value in scalars(event).items():
            history.setdefault(name, []).append((event.step, value))
    return history


def from_tensorboard(run_dir: Path) -> History:
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def mlflow_run(run_dir: Path):
    ids = Run(run_dir).trackers()["mlflow"]
    client = MlflowClient(ids["tracking_uri"])
    return client, client.get_run(ids["run_id"])


def from_mlflow(run_dir: Path) -> History:
    client, run = mlflow_run(run_dir)
    history = {name: client.get_metric_history(run.info.run_id, name) for name in run.data.metrics}
    return {name: [(m.step, m.value) for m in sorted(points, key=lambda m: (m.step, m.timestamp))]
            for name, points in history.items()}


def wandb_segments(run_dir: Path) -> list[dict]:
    """Each offline W&B run folder's records (one folder per process that logged the run), read
    by W&B's own reader of its .wandb transaction log."""
    segments = []
    for log in sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb")):
        shown = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json",
                                str(log)], capture_output=True, text=True, check=True).stdout
        records = [json.loads(line) for line in shown.splitlines() if line.strip()]
        segments.append({"run": next((r["run"] for r in records if r["type"] == "run"), None),
                         "history": [r["history"] for r in records if r["type"] == "history"]})
    return segments


def from_wandb(segments: list[dict]) -> History:
    history: History = {}
    for segment in segments:
        for row in segment["history"]:
            for name, value in row["item"].items():
                if not name.startswith("_"):
                    history.setdefault(name, []).append((row["step"]["num"], value))
    return history


def assert_same(logged: History, expected: History, values_may_differ: str | None = None) -> None:
    """The same metrics at the same steps, each step once; values to float32 precision
    (TensorBoard stores float32)."""
    assert sorted(logged) == sorted(expected)
    for name, points in expected.items():
        assert [step for step, _ in logged[name]] == [step for step, _ in points], name
        assert name == values_may_differ or all(
            math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7)
            for (_, a), (_, b) in zip(logged[name], points)), name


# ---- choosing trackers ---------------------------------------------------------------------------

def test_logger_options_alone_together_or_none():
    assert backends.chosen(compose_config([]).logger) == {}
    assert list(backends.chosen(compose_config(["logger=tensorboard"]).logger)) == ["tensorboard"]
    logger = compose_config([EVERY_TRACKER, "logger.experiment=study"]).logger
    assert list(backends.chosen(logger)) == ["tensorboard", "mlflow", "wandb"]
    assert logger.experiment == "study" and logger.tensorboard.dir == "tensorboard"
    assert set(backends.BACKENDS) == {f.name for f in fields(LoggerConfig)} - {"experiment"}
    assert all(backends.load(name).NAME == name for name in backends.BACKENDS)


@pytest.mark.parametrize("overrides, message", [
    (["logger=nonsense"],
     "Unknown logger 'nonsense'. Valid choices: mlflow, none, tensorboard, wandb."),
    (["logger=tensorboard,mlflow"], "logger=tensorboard,mlflow lists several values: one run "
                                    "takes one value; run each with afa sweep"),
    (["logger=wandb", "logger.wandb.mode=loud"],
     "Invalid config: logger.wandb.mode must be one of offline, online (or null), got 'loud'."),
    (["tensorboard"],
     "tensorboard is not an override (key=value). Did you mean logger=tensorboard?"),
])
def test_bad_logger_overrides_are_one_line(overrides, message):
    with pytest.raises(UserError) as err:
        compose_config(overrides)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_sweep_sweeps_trackers_or_gives_every_job_the_same():
    swept = plan_sweep(["logger=tensorboard,mlflow", "seed=1,2"]).jobs
    assert [job.overrides for job in swept] == [["logger=tensorboard", "seed=1"],
                                                ["logger=tensorboard", "seed=2"],
                                                ["logger=mlflow", "seed=1"],
                                                ["logger=mlflow", "seed=2"]]
    shared = plan_sweep(["logger=[tensorboard,mlflow]", "seed=1,2"]).jobs
    assert [job.overrides for job in shared] == [["logger=[tensorboard,mlflow]", "seed=1"],
                                                 ["logger=[tensorboard,mlflow]", "seed=2"]]


# ---- a tracker that cannot run is one line -------------------------------------------------------

@pytest.mark.parametrize("tracker, library, package", [
    ("tensorboard", "torch.utils.tensorboard", "tensorboard"),
    ("mlflow", "mlflow", "mlflow-skinny"),
    ("wandb", "wandb", "wandb"),
])
def test_a_tracker_that_is_not_installed_is_one_line(monkeypatch, tracker, library, package):
    monkeypatch.setitem(sys.modules, library, None)  # importing it raises ImportError
    with pytest.raises(UserError) as err:
        backends.check(backends.chosen(compose_config([f"logger={tracker}"]).logger))
    message = str(err.value)
    assert message.startswith(f"logger={tracker} needs {package}") and "\n" not in message
    assert "pip install 'afa[tracking]'" in message


def test_an_unreachable_tracking_server_is_one_line():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logger = compose_config(["logger=mlflow",
                             f"logger.mlflow.tracking_uri=http://127.0.0.1:{port}"]).logger
    with pytest.raises(UserError, match=rf"^The MLflow server http://127.0.0.1:{port} is not "
                                        r"reachable \(.*\); start it, or set "):
        backends.check(backends.chosen(logger))


def test_an_event_becomes_its_numbers():
    metrics = {"accuracy": 0.75, "lexicon_precision@5": 0.2, "support": 40, "attn_entropy": None,
               "loss_pg": float("nan"), "per_class": {"negative": {"f1": 0.5}},
               "confusion": [[1, 2], [3, 4]], "improved": True}
    assert scalars(Event(10, 0, "validation", 0.0, metrics)) == {
        "validation/accuracy": 0.75, "validation/lexicon_precision_at_5": 0.2,
        "validation/support": 40.0}


class ServerGone(Tracker):
    """An MLflow run whose server went away during training."""

    NAME = "mlflow"
    start = where = None  # handed to the sink already started

    def __init__(self):
        self.logged: list[int] = []

    def log(self, step: int, scalars: dict[str, float], time: float) -> None:
        self.logged.append(step)
        raise ConnectionError("Connection refused")

    def finish(self, completed: bool) -> None:
        raise AssertionError("a tracker that failed is not called again")


def test_a_tracker_failing_during_training_is_left_out_with_a_warning(caplog):
    tracker = ServerGone()
    sink = TrackerSink(tracker)
    sink.train(5, 0, {"loss": 0.5})
    sink.validation(10, 0, {"accuracy": 0.5}, True)
    sink.close()
    assert tracker.logged == [5]
    assert caplog.messages == ["logger=mlflow failed and is left out from here on (Connection "
                               "refused); metrics.jsonl has every step."]


def test_afa_log_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(UserError, match=f"^{tmp_path} has no config.yaml: is it an afa run folder"):
        list(replay([tmp_path], "tensorboard", None, []))


# ---- a real training, stopped hard and resumed ---------------------------------------------------

@pytest.fixture(scope="module")
def resumed(tmp_path_factory) -> Path:
    """A run logged to every tracker, killed (kill -9) past a checkpoint and resumed: the resume
    repeats the steps logged since that checkpoint."""
    run_dir = tmp_path_factory.mktemp("tracked") / "run"
    training = start_training(run_dir, *STOPPABLE, EVERY_TRACKER, f"output_dir={run_dir.parent}")
    wait_for_step(training, run_dir, 14)  # past the checkpoint at step 10
    training.kill()
    training.communicate(timeout=60)
    assert set(Run(run_dir).trackers()) == {"tensorboard", "mlflow", "wandb"}
    run_afa("train", "--resume", str(run_dir))
    assert list(run_dir.glob("metrics.after-*.jsonl")), "the resume repeated no step"
    return run_dir


@needs_data
@pytest.mark.slow
def test_a_resumed_run_is_one_run_in_every_tracker_each_step_once(resumed):
    expected = from_metrics_jsonl(resumed)
    assert_same(from_tensorboard(resumed), expected)
    assert_same(from_mlflow(resumed), expected, values_may_differ=THROUGHPUT)

    client, run = mlflow_run(resumed)
    assert len(client.search_runs([run.info.experiment_id])) == 1  # the resume continued it
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["train.max_train_samples"] == "640"
    assert run.data.tags["afa.run_folder"] == str(resumed.resolve())
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"config.yaml",
                                                                        "metrics.jsonl"}
    assert (resumed.parent / "mlflow.db").is_file() and not (Path.cwd() / "mlruns").exists()

    # One offline folder per process, joined into one W&B run by wandb sync. W&B buffers its
    # file: what the killed process logged may not have reached it.
    killed, continued = wandb_segments(resumed)
    assert {s["run"]["run_id"] for s in (killed, continued) if s["run"]} == {
        Run(resumed).trackers()["wandb"]["run_id"]}
    assert continued["run"]["config"]["update"]["train"]["log_every"] == 2
    steps = [step for step, _ in from_wandb([continued])["train/loss"]]
    assert steps[0] == 12  # the first log after the checkpoint at step 10, and each one after it
    assert steps == [step for step, _ in expected["train/loss"] if step >= 12]


@needs_data
@pytest.mark.slow
def test_afa_log_replays_an_untracked_run_as_it_was_logged_live(resumed, tmp_path):
    run_dir = tmp_path / "untracked"
    shutil.copytree(resumed, run_dir, ignore=shutil.ignore_patterns(
        Run.CHECKPOINTS, Run.TRACKERS, "tensorboard", "wandb", ".lock"))

    logged = run_afa("log", str(run_dir), "--to", "[tensorboard,mlflow,wandb]",
                     "--experiment", "earlier", cwd=tmp_path)
    line, = logged.stdout.strip().splitlines()
    events = len(Run(run_dir).events())
    assert line.startswith(f"logged {run_dir}: {events} events to tensorboard --logdir ")
    assert from_tensorboard(run_dir) == from_tensorboard(resumed)  # one code path, live or not
    expected = from_metrics_jsonl(run_dir)
    assert_same(from_mlflow(run_dir), expected)
    assert_same(from_wandb(wandb_segments(run_dir)), expected)
    client, run = mlflow_run(run_dir)
    assert client.get_experiment(run.info.experiment_id).name == "earlier"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"summary.json",
                                                                        "metrics.jsonl"}

    assert list(replay([run_dir], "mlflow", None, [])) == [f"skipped {run_dir}: already in mlflow"]
