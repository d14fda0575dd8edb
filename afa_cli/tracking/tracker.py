"""What every tracker is: a run in the tracker that stands for one afa run, started new or
continued (a resume, a run logged before), given scalars by step, then finished."""

from __future__ import annotations

import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass

from omegaconf import DictConfig

from afa_cli.errors import UserError
from afa_cli.runs import Event, Run
from afa_cli.tracking.scalars import scalars


@dataclass
class Target:
    """The afa run a tracker logs."""

    run: Run
    config: DictConfig  # the run's resolved config: the tracker's parameters
    experiment: str     # logger.experiment: the MLflow experiment, the W&B project
    start_step: int     # the step training continues from: 0 for a new run


class Tracker(ABC):
    NAME: str  # its key in the logger config and in trackers.json

    @staticmethod
    def check(settings: DictConfig) -> None:
        """One line (UserError) when the tracker cannot be reached: before anything is written."""

    @classmethod
    @abstractmethod
    def start(cls, settings: DictConfig, target: Target) -> "Tracker":
        """A new tracker run for target, or the one its trackers.json names (continued)."""

    @property
    @abstractmethod
    def where(self) -> str:
        """Where to look for the run, in words."""

    @abstractmethod
    def log(self, step: int, scalars: dict[str, float], time: float) -> None:
        """Scalars of one step, recorded at `time` (seconds since the epoch)."""

    @abstractmethod
    def finish(self, completed: bool) -> None:
        """End the tracker run: completed, or stopped before the training's end."""

    def log_event(self, event: Event) -> None:
        self.log(event.step, scalars(event), event.time)


def require_reachable(url: str, what: str, fix: str) -> None:
    """A server that does not answer `url` is one line now, rather than a hang or a traceback
    once training has begun."""
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except urllib.error.HTTPError:
        pass  # it answered
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(f"{what} is not reachable ({reason}); {fix}.") from None


def one_line(err: Exception) -> str:
    """A library's error as one line."""
    return (str(err).strip() or type(err).__name__).splitlines()[0]
