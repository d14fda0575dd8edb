"""TensorBoard: event files in <run>/<logger.tensorboard.dir>/, so that `tensorboard --logdir
outputs/` shows every run, sweeps included; the config as hparams beside the validation scores."""

from __future__ import annotations

from omegaconf import DictConfig
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from afa_cli.metrics import registry
from afa_cli.runs import VALIDATION
from afa_cli.tracking.scalars import flat_config, metric_name
from afa_cli.tracking.tracker import Target, Tracker


class TensorBoardTracker(Tracker):
    NAME = "tensorboard"

    def __init__(self, writer: SummaryWriter):
        self.writer = writer

    @classmethod
    def start(cls, settings: DictConfig, target: Target) -> "TensorBoardTracker":
        log_dir = target.run.path / settings.dir
        continued = cls.NAME in target.run.trackers()
        # A resume repeats the steps after its checkpoint: TensorBoard hides what this log dir
        # already holds from purge_step on, so that no step is shown twice.
        writer = SummaryWriter(str(log_dir),
                               purge_step=target.start_step + 1 if continued else None)
        if not continued:
            write_hparams(writer, target.config)
            target.run.write_tracker(cls.NAME, {"dir": settings.dir})
        return cls(writer)

    @property
    def where(self) -> str:
        return f"tensorboard --logdir {self.writer.log_dir}"

    def log(self, step: int, scalars: dict[str, float], time: float) -> None:
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step, walltime=time)
        # Written through, as metrics.jsonl is: a hard stop (kill -9) loses no logged step.
        self.writer.flush()

    def finish(self, completed: bool) -> None:
        self.writer.close()


def write_hparams(writer: SummaryWriter, config: DictConfig) -> None:
    """The config in the HPARAMS tab, one row per run beside its validation scores. Written into
    the run's own log dir: SummaryWriter.add_hparams would make a sub-folder, a run of its own."""
    scores = {metric_name(VALIDATION, metric.key): 0.0 for metric in registry.SCORES}
    file_writer = writer._get_file_writer()
    for summary in hparams(flat_config(config), scores):
        file_writer.add_summary(summary)


TRACKER = TensorBoardTracker
