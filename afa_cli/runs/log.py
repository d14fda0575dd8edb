"""train.log: the run's log, and the silent log of a process that writes none."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from afa_cli import files


class TrainLog:
    """Run's train.log."""

    LOG = "train.log"
    path: Path  # the run folder

    def open_log(self) -> logging.Logger:
        """A logger writing to train.log (appending, so a resumed run keeps its history)."""
        logger = logging.getLogger(f"afa.run.{self.path.resolve()}")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        if not logger.handlers:
            handler = _LogFile(self.path / self.LOG, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(handler)
        return logger


class _LogFile(logging.FileHandler):
    """train.log: a line that cannot be written for want of room stops the command with one line
    naming the file, instead of logging's traceback on stderr and a training that goes on."""

    def handleError(self, record: logging.LogRecord) -> None:
        if (failure := files.room_error(self.baseFilename, sys.exc_info()[1])) is not None:
            raise failure from None
        super().handleError(record)


def silent_log() -> logging.Logger:
    """The logger of a process that writes no log (every data-parallel rank but 0)."""
    logger = logging.getLogger("afa.run.silent")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger
