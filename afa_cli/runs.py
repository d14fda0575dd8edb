"""The run folder: created once and never overwritten; config snapshot, log, metrics.jsonl,
summary.json and checkpoints (ordinary Hugging Face folders plus one training-state dict)."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import time
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from afa_cli.errors import UserError

TRAINING_STATE = "training_state.pt"
FREQUENT_WORDS = "frequent_words.json"  # the 100 most frequent training words, for attention metrics
BEST, LAST = "best", "last"


def create_run_dir(cfg: DictConfig) -> Path:
    """outputs/<dataset>/<model>/<YYYY-MM-DD_HH-MM-SS>[_<name>]; a new folder every time."""
    if cfg.get("run_dir"):
        run_dir = Path(cfg.run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise UserError(f"run_dir={run_dir} already exists; choose a new folder.") from None
        return run_dir
    return new_timestamped_dir(Path(cfg.output_dir) / cfg.dataset.name / cfg.model.name, cfg.name)


def new_timestamped_dir(parent: Path, name: str | None) -> Path:
    """parent/<YYYY-MM-DD_HH-MM-SS>[_<name>], created now; never an existing folder."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    base = f"{stamp}_{name}" if name else stamp
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        folder = parent / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            folder.mkdir(exist_ok=False)  # atomic: two runs started at once get two folders
            return folder
        except FileExistsError:
            continue
    raise UserError(f"Could not create a new folder under {parent}.")


def write_config(run_dir: Path, cfg: DictConfig, overrides: list[str]) -> None:
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    OmegaConf.save(OmegaConf.create(list(overrides)), run_dir / "overrides.yaml")


def read_overrides(run_dir: Path) -> list[str]:
    path = Path(run_dir) / "overrides.yaml"
    return list(OmegaConf.load(path)) if path.is_file() else []


def open_log(run_dir: Path) -> logging.Logger:
    """A logger writing to <run>/train.log (appending, so a resumed run keeps its history)."""
    logger = logging.getLogger(f"afa.run.{run_dir.resolve()}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not logger.handlers:
        handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    return logger


def silent_log() -> logging.Logger:
    """The logger of a process that writes no log (every data-parallel rank but 0)."""
    logger = logging.getLogger("afa.run.silent")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


class MetricsWriter:
    """metrics.jsonl: one JSON object per event {step, epoch, split, time, metrics}."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "metrics.jsonl"

    def write(self, step: int, epoch: int, split: str, metrics: dict) -> None:
        event = {"step": step, "epoch": epoch, "split": split, "time": time.time(),
                 "metrics": _finite(metrics)}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _finite(value):
    """JSON has no NaN: undefined metrics are written as null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_finite(payload), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def environment() -> dict:
    """Package versions and git commit, for summary.json."""
    versions = {}
    for package in ("afa", "torch", "transformers", "datasets", "hydra-core"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"versions": versions, "git_commit": commit}


# ---------------------------------------------------------------------------------------------
# Checkpoints.
# ---------------------------------------------------------------------------------------------

def checkpoint_dir(run_dir: Path, which: str) -> Path:
    return Path(run_dir) / "checkpoints" / which


def save_checkpoint(run_dir: Path, which: str, model, tokenizer, state: dict | None = None) -> Path:
    """Write a Hugging Face folder (plus the training state) and swap it in atomically."""
    target = checkpoint_dir(run_dir, which)
    tmp = target.with_name(f".{which}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    if not (tmp / "config.json").is_file():
        # A LoRA model saves only its adapter; the config (labels, layers) rebuilds the rest.
        model.config.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if state is not None:
        torch.save(state, tmp / TRAINING_STATE)
    old = target.with_name(f".{which}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def load_training_state(run_dir: Path) -> dict:
    path = checkpoint_dir(run_dir, LAST) / TRAINING_STATE
    if not path.is_file():
        raise UserError(f"{run_dir} has no {LAST} checkpoint with a training state to resume from.")
    return torch.load(path, weights_only=False)


def resolve_checkpoint(path: str | Path) -> tuple[Path, Path | None]:
    """(checkpoint folder, run folder or None) for a run folder or a checkpoint folder."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"Checkpoint {path} does not exist.")
    if (path / "config.json").is_file():
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
        return path, run_dir if run_dir and (run_dir / "config.yaml").is_file() else None
    best = checkpoint_dir(path, BEST)
    if (best / "config.json").is_file():
        return best, path
    raise UserError(f"{path} is neither a checkpoint folder nor a run folder with checkpoints/best.")
