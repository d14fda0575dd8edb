"""Which trackers exist, and starting the ones a config chooses: each is imported only when chosen,
and one that is not installed or not reachable is one line before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from omegaconf import DictConfig

from afa_cli.errors import UserError
from afa_cli.tracking.tracker import Target, Tracker, one_line


@dataclass(frozen=True)
class Backend:
    libraries: tuple[str, ...]   # what its module, afa_cli.tracking.<name>, needs importable
    packages: str                # what pip installs for them


# Keyed by the logger config's fields (config.schema.LoggerConfig); afa_cli.tracking.<name>
# holds each one's Tracker as TRACKER.
BACKENDS = {
    "tensorboard": Backend(("torch.utils.tensorboard",), "tensorboard"),
    # mlflow-skinny's SQLite store needs sqlalchemy and alembic
    "mlflow": Backend(("mlflow", "sqlalchemy", "alembic"), "mlflow-skinny, sqlalchemy and alembic"),
    "wandb": Backend(("wandb",), "wandb"),
}
EXTRA = "pip install 'afa[tracking]'"


def chosen(logger: DictConfig) -> dict[str, DictConfig]:
    """The settings of each tracker a logger config chooses."""
    return {name: logger[name] for name in BACKENDS if logger.get(name) is not None}


def load(name: str) -> type[Tracker]:
    backend = BACKENDS[name]
    try:
        for library in backend.libraries:
            import_module(library)
    except ImportError as err:
        raise UserError(f"logger={name} needs {backend.packages}: {EXTRA} ({err}).") from None
    return import_module(f"afa_cli.tracking.{name}").TRACKER


def check(trackers: dict[str, DictConfig]) -> dict[str, type[Tracker]]:
    """These trackers (name -> settings), installed and reachable; else one line naming the one
    that is not."""
    loaded = {}
    for name, settings in trackers.items():
        loaded[name] = load(name)
        loaded[name].check(settings)
    return loaded


def start(trackers: dict[str, DictConfig], target: Target) -> list[Tracker]:
    """These trackers' runs (name -> settings) for target, started or continued."""
    started = []
    for name, tracker in check(trackers).items():
        try:
            started.append(tracker.start(trackers[name], target))
        except UserError:
            raise
        except Exception as err:  # each library raises its own types
            raise UserError(f"logger={name} could not start: {one_line(err)}") from None
    return started
