"""A run's checkpoints: Hugging Face folders in checkpoints/{best,last}/, each swapped in whole,
and the training state in last/ that a resume continues from."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

from afa_cli import files
from afa_cli.errors import UserError, no_room

BEST, LAST = "best", "last"


class Checkpoints:
    """Run's checkpoints/ folder."""

    CHECKPOINTS = "checkpoints"
    TRAINING_STATE = "training_state.pt"
    path: Path  # the run folder
    finished: bool  # whether the run wrote its summary

    def checkpoint(self, which: str) -> Path:
        return self.path / self.CHECKPOINTS / which

    def save_checkpoint(self, which: str, model, tokenizer, state: dict | None = None) -> Path:
        """Write a Hugging Face folder (plus the training state) and swap it in atomically."""
        target = self.checkpoint(which)
        tmp = target.with_name(f".{which}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            if not (tmp / "config.json").is_file():
                # A LoRA model saves only its adapter; the config (labels, layers) rebuilds the rest.
                model.config.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            if state is not None:
                files.torch_save(state, tmp / self.TRAINING_STATE)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)  # a failed save (a full disk) leaves nothing
            if why := no_room(err):
                then = (f"continue with afa train --resume {self.path}" if self.resumable
                        else "train again")
                raise UserError(f"Cannot save {target}: {why}. Free some space, then {then}.") from None
            raise
        old = target.with_name(f".{which}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
        return target

    @property
    def resumable(self) -> bool:
        """Stopped mid-training: a training state to continue from, and no summary yet."""
        return (self.checkpoint(LAST) / self.TRAINING_STATE).is_file() and not self.finished

    def training_state(self) -> dict:
        path = self.checkpoint(LAST) / self.TRAINING_STATE
        if not path.is_file():
            raise UserError(f"{self.path} has no {LAST} checkpoint with a training state to "
                            "resume from.")
        try:
            return _torch().load(path, weights_only=False)
        except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as err:
            raise UserError(f"{path} is damaged ({str(err).split('. ')[0]}); the run cannot "
                            f"continue from it. Its best weights are in {self.CHECKPOINTS}/{BEST}; "
                            "train a new run to go on.") from None


def _torch():
    """torch, imported when a training state is read or written: the commands that only read a
    run's config (afa train --cfg, every config error) start 2 s sooner without it."""
    import torch

    return torch
