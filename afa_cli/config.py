"""Compose the run configuration from conf/ with Hydra, and turn Hydra's errors into one line."""

from __future__ import annotations

import os
import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from afa_cli.errors import UserError

CONF_DIR = Path(os.environ.get("AFA_CONF_DIR", Path(__file__).resolve().parent.parent / "conf"))


def group_options(group: str, extra_dirs: tuple[Path, ...] = ()) -> list[str]:
    """Names of the yaml files of a config group, in ours and the user's config dirs."""
    names = set()
    for root in (CONF_DIR, *extra_dirs):
        folder = Path(root) / group
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def compose_config(overrides: list[str], config_dir: str | Path | None = None) -> DictConfig:
    """The resolved config for these command-line overrides; UserError on anything invalid."""
    overrides = list(overrides)
    extra_dirs: tuple[Path, ...] = ()
    if config_dir is not None:
        config_dir = Path(config_dir).resolve()
        if not config_dir.is_dir():
            raise UserError(f"--config-dir {config_dir} is not a folder.")
        extra_dirs = (config_dir,)
        overrides.append(f"hydra.searchpath=[file://{config_dir}]")
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
    except HydraException as err:
        raise UserError(_explain(err, extra_dirs)) from None
    except Exception as err:  # OmegaConf / grammar errors surface with their own types
        raise UserError(_explain(err, extra_dirs)) from None
    OmegaConf.resolve(cfg)
    validate(cfg)
    return cfg


def _explain(err: Exception, extra_dirs: tuple[Path, ...]) -> str:
    """Rewrite a Hydra composition error as one actionable line."""
    text = str(err).strip()
    missing_option = re.search(r"Could not find '(\w+)/([^']+)'", text)
    if missing_option:
        group, option = missing_option.groups()
        choices = ", ".join(group_options(group, extra_dirs))
        return f"Unknown {group} '{option}'. Valid choices: {choices}."
    missing_key = re.search(r"Could not override '([^']+)'", text) or re.search(
        r"Key '([^']+)' is not in struct", text
    )
    if missing_key:
        key = missing_key.group(1)
        return (
            f"Unknown config key '{key}'. {_valid_keys_hint(key)}"
            " Use +key=value to add a new key."
        )
    return f"Invalid overrides: {text.splitlines()[0]}"


def _valid_keys_hint(dotted_key: str) -> str:
    parent = dotted_key.rsplit(".", 1)[0] if "." in dotted_key else ""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        base = compose(config_name="config")
    node = OmegaConf.select(base, parent) if parent else base
    if isinstance(node, DictConfig):
        where = f"under '{parent}'" if parent else "at the top level"
        return f"Valid keys {where}: {', '.join(sorted(node.keys()))}."
    return ""


def validate(cfg: DictConfig) -> None:
    """Checks Hydra cannot do: value ranges and choices of the keys we read."""
    checks = [
        (0.0 < cfg.afa.mask_ratio <= 1.0, "afa.mask_ratio must be in (0, 1]"),
        (cfg.afa.num_masks >= 1, "afa.num_masks must be >= 1"),
        (cfg.afa.policy in ("complement", "attention", "uniform"),
         "afa.policy must be one of complement, attention, uniform"),
        (cfg.afa.reward in ("discriminator", "divergence", "random"),
         "afa.reward must be one of discriminator, divergence, random"),
        (cfg.afa.reward_pass in ("train", "eval"), "afa.reward_pass must be train or eval"),
        (cfg.afa.mask_with in ("mask", "unk", "drop"), "afa.mask_with must be mask, unk or drop"),
        (cfg.afa.adv_eps > 0, "afa.adv_eps must be > 0"),
        (cfg.train.batch_size >= 1, "train.batch_size must be >= 1"),
        (cfg.train.epochs >= 1, "train.epochs must be >= 1"),
        (cfg.train.lr > 0, "train.lr must be > 0"),
        (cfg.train.eval_every >= 1, "train.eval_every must be >= 1"),
        (cfg.train.log_every >= 1, "train.log_every must be >= 1"),
        (cfg.train.num_threads >= 1, "train.num_threads must be >= 1"),
        (cfg.train.precision in ("fp32", "bf16"), "train.precision must be fp32 or bf16"),
        (cfg.train.device in ("auto", "cpu", "cuda"), "train.device must be auto, cpu or cuda"),
        (cfg.model.kind in ("encoder", "decoder"), "model.kind must be encoder or decoder"),
        (cfg.model.max_length >= 8, "model.max_length must be >= 8"),
        (cfg.model.num_layers is None or cfg.model.num_layers >= 1,
         "model.num_layers must be null or >= 1"),
        (cfg.dataset.num_labels >= 2, "dataset.num_labels must be >= 2"),
        (len(cfg.dataset.label_names) == cfg.dataset.num_labels,
         "dataset.label_names must have dataset.num_labels entries"),
        (0.0 < cfg.dataset.val_fraction < 1.0, "dataset.val_fraction must be in (0, 1)"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(f"Invalid config: {message}.")


def load_run_config(run_dir: Path) -> DictConfig:
    """The resolved config a run folder was trained with."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir} has no config.yaml: is it an afa run folder?")
    return OmegaConf.load(path)


def compose_for_run(run, overrides: list[str], config_dirs: list[Path] = ()) -> DictConfig:
    """The config a run's checkpoint is read with: the run's own config.yaml, or the run's
    overrides plus these, composed with the config folders the run was trained with (then
    config_dirs). `run` None: a checkpoint folder outside a run, composed from overrides alone."""
    if run is not None and not overrides:
        return run.config()
    dirs = [*(run.config_dirs() if run is not None else []), *config_dirs]
    base = run.overrides() if run is not None else []
    if len(dirs) > 1:
        raise UserError("Several config folders: give at most one --config-dir.")
    return compose_config(base + list(overrides), dirs[0] if dirs else None)
