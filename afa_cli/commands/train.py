"""`afa train`: a new run from a composed config, or the continuation of a stopped one. Under
torchrun every process calls `train`; rank 0 alone writes the run folder."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console

from afa_cli import distributed
from afa_cli.config import check_trainable
from afa_cli.errors import UserError
from afa_cli.runs import Run, release_locks
from afa_cli.tracking import backends as trackers
from afa_cli.training.loop import Interrupted
from afa_cli.training.setup import NewRun, build_trainer
from afa_cli.training.signals import stop_with_parent


def train(cfg: DictConfig | None, new: NewRun, console: Console,
          resume_dir: Path | None = None) -> Path:
    """Train one run (a new one from cfg, as `new` asks, or continue resume_dir); returns its
    folder."""
    stop_with_parent()
    resume = Run.open(resume_dir) if resume_dir is not None else None
    if resume is not None:
        cfg = resume.config()
    else:  # everything that can be refused before a folder is made or a model loaded
        check_trainable(cfg)
        Run.check_new(cfg, new.folder)
        trackers.check(trackers.chosen(cfg.logger))
    ctx = distributed.setup(cfg.train.device)
    try:
        resume_state = None
        if resume is not None:  # before any loading: a second writer or no state stops here
            ctx.on_main(resume.lock)
            resume_state = resume.training_state()
        trainer = build_trainer(cfg, new, console if ctx.is_main else Console(quiet=True),
                                resume, resume_state, ctx)
        run_dir = trainer.train()
    except (Interrupted, UserError):
        ctx.close()  # every process raises these together
        raise
    finally:
        release_locks()
    # Any other error leaves the process group to the launcher, which stops the other processes.
    ctx.close()
    return run_dir
