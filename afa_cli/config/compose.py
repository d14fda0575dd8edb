"""Compose the run configuration with Hydra from the config groups in afa_cli.conf (the repo's
conf/) and the user's --config-dir folders, onto the schema; anything invalid is one line."""

from __future__ import annotations

import re
import typing
from dataclasses import is_dataclass
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import Sequence

from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from afa_cli.config.schema import GROUPS, LORA_SCHEMA, invalid_values, register
from afa_cli.errors import UserError
from afa_cli.metrics import registry

CONF_PACKAGE = "afa_cli.conf"
register()


def group_options(group: str, config_dirs: Sequence[Path] = ()) -> list[str]:
    """Names of the yaml files of a config group, in ours and the user's config dirs."""
    names = set()
    for root in (files(CONF_PACKAGE), *map(Path, config_dirs)):
        folder = root / group
        if folder.is_dir():
            names.update(p.name.removesuffix(".yaml") for p in folder.iterdir()
                         if p.name.endswith(".yaml"))
    return sorted(names)


def compose_config(overrides: list[str], config_dirs: Sequence[Path] = ()) -> DictConfig:
    """The resolved config for these command-line overrides; UserError on anything invalid."""
    config_dirs = [Path(d).resolve() for d in config_dirs]
    for folder in config_dirs:
        if not folder.is_dir():
            raise UserError(f"--config-dir {folder} is not a folder.")
    search_path = ([f"hydra.searchpath=[{','.join(repr(f'file://{d}') for d in config_dirs)}]"]
                   if config_dirs else [])
    try:
        with initialize_config_module(CONF_PACKAGE, version_base="1.3"):
            cfg = compose(config_name="config", overrides=[*overrides, *search_path])
        OmegaConf.resolve(cfg)
    except Exception as err:  # Hydra, OmegaConf and the override grammar raise their own types
        raise UserError(explain(err, config_dirs)) from None
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise UserError(f"Invalid config: {', '.join(missing)} not set; give a value in the "
                        f"option's yaml or as {missing[0]}=VALUE.")
    problems = invalid_values(cfg)
    if problems:
        raise UserError(f"Invalid config: {problems[0]}.")
    return cfg


def check_trainable(cfg: DictConfig) -> None:
    """What afa train refuses in a composed config that is valid for evaluation."""
    chosen = cfg.train.best_metric
    ranked = [m.key for m in registry.SCORES if m.higher_is_better is not None]
    if chosen not in ranked:
        raise UserError(f"train.best_metric={chosen}: choose one of {', '.join(ranked)}.")
    layers, layer = cfg.model.num_layers, cfg.afa.layer
    if layers is not None and layer is not None and not -layers <= layer < layers:
        # the model's own depth is known only once it loads; a cut one is known now
        raise UserError(f"afa.layer={layer} is out of range: model.num_layers={layers} keeps "
                        f"layers {-layers} to {layers - 1}.")
    if cfg.dataset.eval_only:
        raise UserError(f"dataset={cfg.dataset.name} is for evaluation only: train on another "
                        f"dataset, then score this one with afa eval RUN dataset="
                        f"{cfg.dataset.name} (or afa eval RUN --suite transfer).")


def _bare_word_hint(word: str, config_dirs: Sequence[Path]) -> str:
    """What a bare word on the command line was most likely meant as."""
    if Path(word).is_dir():
        return f"To continue a stopped run: afa train --resume {word}"
    groups = [g for g in GROUPS if word in group_options(g, config_dirs)]
    if groups:
        return f"Did you mean {groups[0]}={word}?"
    return "Write key=value, +key=value or group=option."


def explain(err: Exception, config_dirs: Sequence[Path]) -> str:
    """Hydra's or OmegaConf's error as one actionable line."""
    text = str(err).strip()
    missing_option = re.search(r"Could not find '(\w+)/([^']+)'", text)
    if missing_option:
        group, option = missing_option.groups()
        choices = ", ".join(group_options(group, config_dirs))
        return f"Unknown {group} '{option}'. Valid choices: {choices}."
    option_file = re.match(r"In '([^']+)'", text)  # the error is in a group option's file
    where = f" (in {option_file.group(1)}.yaml)" if option_file else ""
    chain = list(causes(err))
    invalid = next((e for e in chain if isinstance(e, ValidationError)), None)
    if invalid is not None and is_dataclass(invalid.object_type):
        field_type = typing.get_type_hints(invalid.object_type)[invalid.key]
        got = "null" if invalid.value is None else repr(invalid.value)
        return (f"Invalid config: {invalid.full_key} must be {expected(field_type)}, "
                f"got {got}{where}.")
    override = re.search(r"Could not override '([^']+)'", text)
    unknown = next((e for e in chain if isinstance(e, ConfigKeyError)), None)
    if override or unknown is not None:
        key = override.group(1) if override else unknown.full_key
        fix = (f"A model option has LoRA settings when its defaults list {LORA_SCHEMA} "
               f"(defaults: [{LORA_SCHEMA}, _self_])." if key.split(".")[:2] == ["model", "lora"]
               else "Use +key=value to add a new key.")
        return f"Unknown config key '{key}'{where}. {valid_keys_hint(key)} {fix}"
    grid = re.search(r"Ambiguous value for argument '([^']+)'", text)
    if grid:
        return (f"{grid.group(1)} lists several values: one run takes one value; run each with "
                f"afa sweep {grid.group(1)} (or quote a list: key='[a,b]').")
    bare = re.search(r"Error parsing override '([^'=]+)'", text)
    if bare:
        return f"{bare.group(1)} is not an override (key=value). {_bare_word_hint(bare.group(1), config_dirs)}"
    unreadable = re.search(r"Error parsing override '([^']+)'\n(.*)", text)
    if unreadable:
        return (f"{unreadable.group(1)} cannot be read ({unreadable.group(2)}): write key=value, "
                "and quote a value with brackets, commas or spaces for the shell and for afa "
                "(\"key='a value'\").")
    added = re.search(r"Could not append to config. An item is already at '([^']+)'", text)
    if added:
        return (f"+{added.group(1)}=... adds a key, and {added.group(1)} is already in the "
                f"config: set it with {added.group(1)}=VALUE (no +).")
    return f"Invalid overrides: {text.splitlines()[0]}"


def causes(err: BaseException):
    """err and the exceptions it was raised from or while handling."""
    while err is not None:
        yield err
        err = err.__cause__ or err.__context__


def expected(field_type) -> str:
    """What a schema field's type accepts, in words."""
    optional = type(None) in typing.get_args(field_type)
    if optional:
        field_type = next(t for t in typing.get_args(field_type) if t is not type(None))
    if isinstance(field_type, type) and issubclass(field_type, Enum):
        words = "one of " + ", ".join(field_type)
    else:
        base = typing.get_origin(field_type) or field_type
        words = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
                 list: "a list", dict: "a mapping"}.get(base, f"of type {base}")
    return f"{words} (or null)" if optional else words


def valid_keys_hint(dotted_key: str) -> str:
    """The keys of the closest existing parent of dotted_key in the default config."""
    with initialize_config_module(CONF_PACKAGE, version_base="1.3"):
        base = compose(config_name="config")
    parent = dotted_key
    while "." in parent:
        parent = parent.rsplit(".", 1)[0]
        node = OmegaConf.select(base, parent)
        if isinstance(node, DictConfig):
            return f"Valid keys under '{parent}': {', '.join(node.keys())}."
    return f"Valid keys at the top level: {', '.join(base.keys())}."
