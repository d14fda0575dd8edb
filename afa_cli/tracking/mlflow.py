"""MLflow: one MLflow run per afa run, in the experiment logger.experiment, with the flattened
config as params, metrics by step, the run folder as a tag and its reports as artifacts. The
store is a SQLite file under output_dir unless a tracking URI names another (a server)."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from omegaconf import DictConfig

from afa_cli.runs import Run
from afa_cli.tracking.scalars import flat_config
from afa_cli.tracking.tracker import Target, Tracker, require_reachable

STORE = "mlflow.db"          # <output_dir>/mlflow.db: the default store
ARTIFACTS = "mlartifacts"    # beside a SQLite store (MLflow's own default is ./mlruns)
RUN_FOLDER_TAG = "afa.run_folder"
SQLITE = "sqlite:///"


class MLflowTracker(Tracker):
    NAME = "mlflow"

    def __init__(self, client: MlflowClient, run_id: str, run: Run, experiment: str,
                 logged_through: dict[str, int]):
        self.client, self.run_id, self.run, self.experiment = client, run_id, run, experiment
        self.logged_through = logged_through  # metric -> the last step the store holds

    @staticmethod
    def check(settings: DictConfig) -> None:
        uri = settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        if uri.startswith(("http://", "https://")):
            require_reachable(f"{uri.rstrip('/')}/health", f"The MLflow server {uri}",
                              "start it, or set logger.mlflow.tracking_uri "
                              "(or $MLFLOW_TRACKING_URI)")

    @classmethod
    def start(cls, settings: DictConfig, target: Target) -> "MLflowTracker":
        # its INFO lines (creating a store's tables) would cut through the training display
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        known = target.run.trackers().get(cls.NAME)
        if known is not None:  # a resume: the same MLflow run, in the store it was made in
            client = MlflowClient(known["tracking_uri"])
            client.update_run(known["run_id"], status=RunStatus.to_string(RunStatus.RUNNING))
            return cls(client, known["run_id"], target.run, known["experiment"],
                       logged_steps(client, known["run_id"]))
        uri = tracking_uri(settings, target.config)
        with creating_store(uri):
            client = MlflowClient(uri)
            experiment = experiment_id(client, uri, target.experiment)
        mlflow_run = client.create_run(experiment, run_name=target.run.path.name,
                                       tags={RUN_FOLDER_TAG: str(target.run.path.resolve())})
        run_id = mlflow_run.info.run_id
        client.log_batch(run_id, params=[Param(key, str(value)) for key, value in
                                         flat_config(target.config).items()])
        target.run.write_tracker(cls.NAME, {"run_id": run_id, "tracking_uri": uri,
                                            "experiment": target.experiment})
        return cls(client, run_id, target.run, target.experiment, {})

    @property
    def where(self) -> str:
        return (f"MLflow {self.client.tracking_uri}, experiment {self.experiment}, "
                f"run {self.run_id}")

    def log(self, step: int, scalars: dict[str, float], time: float) -> None:
        # A resume repeats the steps after its checkpoint; after a hard stop the store already
        # holds some of them, and MLflow would keep both values.
        metrics = [Metric(name, value, int(time * 1000), step) for name, value in scalars.items()
                   if step > self.logged_through.get(name, -1)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, completed: bool) -> None:
        for path in artifacts(self.run):
            if path.is_dir():
                self.client.log_artifacts(self.run_id, str(path), artifact_path=path.name)
            else:
                self.client.log_artifact(self.run_id, str(path))
        status = RunStatus.FINISHED if completed else RunStatus.KILLED
        self.client.set_terminated(self.run_id, RunStatus.to_string(status))


def tracking_uri(settings: DictConfig, config: DictConfig) -> str:
    """logger.mlflow.tracking_uri, else $MLFLOW_TRACKING_URI, else sqlite:///<output_dir>/mlflow.db
    (absolute: a resume or afa log from another folder finds the same store)."""
    uri = settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    return uri or f"{SQLITE}{Path(config.output_dir).resolve() / STORE}"


@contextmanager
def creating_store(uri: str) -> Iterator[None]:
    """One process at a time may be the first to open a SQLite store: the jobs of a sweep that
    start together would each create its tables, and all but one fail."""
    if not uri.startswith(SQLITE):
        yield
        return
    store = Path(uri.removeprefix(SQLITE))
    store.parent.mkdir(parents=True, exist_ok=True)
    with open(store.with_name(f"{store.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def experiment_id(client: MlflowClient, uri: str, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    # A SQLite store keeps artifacts beside it, not in ./mlruns of whatever folder afa runs in.
    artifacts = (Path(uri.removeprefix(SQLITE)).parent / ARTIFACTS).as_uri() \
        if uri.startswith(SQLITE) else None
    try:
        return client.create_experiment(name, artifact_location=artifacts)
    except MlflowException:  # a sweep's parallel job created it meanwhile
        return client.get_experiment_by_name(name).experiment_id


def logged_steps(client: MlflowClient, run_id: str) -> dict[str, int]:
    """metric -> the last step an MLflow run holds."""
    return {key: max(m.step for m in client.get_metric_history(run_id, key))
            for key in client.get_run(run_id).data.metrics}


def artifacts(run: Run) -> list[Path]:
    """What the MLflow run keeps of the afa run: its files (config, metrics, summary, eval
    reports, logs) and suite reports; no checkpoints, no other tracker's files."""
    files = [p for p in sorted(run.path.iterdir()) if p.is_file() and not p.name.startswith(".")]
    suites = run.path / Run.SUITES
    return files + ([suites] if suites.is_dir() else [])


TRACKER = MLflowTracker
