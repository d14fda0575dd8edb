"""Which jobs a sweep runs: command-line overrides (and an optional conf/sweep/ preset) in Hydra's
override grammar, expanded into one override list per job."""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob, Override
from hydra.errors import HydraException
from omegaconf import DictConfig

from afa_cli.config import check_trainable, compose_config, group_options
from afa_cli.errors import UserError
from afa_cli.tracking import backends as trackers

PRESET_GROUP = "sweep"
# Keys the sweep sets itself for every job.
RESERVED_KEYS = ("run_dir",)
GRAMMAR_HINT = ("write key=value; sweep values as a=1,2,3, range(1,4), choice(x,y) "
                "or glob(*) for a config group")


@dataclass
class Job:
    name: str               # its folder inside the sweep folder
    overrides: list[str]    # what `afa train` gets, besides --run-dir and train.num_threads
    values: dict[str, str]  # key -> value of each of those overrides


@dataclass
class Plan:
    preset: str | None
    grids: list[list[str]]  # each grid's overrides after merging the command line into the preset
    jobs: list[Job]
    swept_keys: list[str]   # keys whose value differs between jobs, in order of appearance


def parse(overrides: list[str]) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as err:
        lines = str(err).splitlines()
        reason = f": {lines[1]}" if len(lines) > 1 else ""
        raise UserError(f"{lines[0]}{reason}; {GRAMMAR_HINT}.") from None


def key_of(override: Override) -> str:
    """The config key or group an override sets (without its +/~ prefix)."""
    return f"{override.key_or_group}@{override.package}" if override.package else override.key_or_group


def plan_sweep(args: list[str], config_dirs: Sequence[Path] = ()) -> Plan:
    """Grids from the preset (if any) with the command line merged in, expanded into jobs."""
    parsed = parse(args)
    presets = [o for o in parsed if key_of(o) == PRESET_GROUP]
    command_line = [o for o in parsed if key_of(o) != PRESET_GROUP]
    for override in command_line:
        if key_of(override) in RESERVED_KEYS:
            raise UserError(f"{override.input_line}: a sweep gives every job its own folder; "
                            "use output_dir=DIR to choose where the sweep folder goes.")
    if len(presets) > 1 or any(o.is_sweep_override() for o in presets):
        raise UserError("Give one sweep preset (+sweep=NAME); run several presets as separate sweeps.")
    refuse_repeated_keys(command_line)
    preset = presets[0].get_value_element_as_str() if presets else None
    if preset is None and not any(o.is_sweep_override() for o in command_line):
        raise UserError("Nothing to sweep: give an override with several values (e.g. seed=1,2,3) "
                        "or a preset (+sweep=mask_ratio); for a single run use afa train.")
    preset_grids = [parse(line) for line in load_preset(preset, config_dirs)] if preset else [[]]
    for grid in preset_grids:
        refuse_repeated_keys(grid, f"sweep preset '{preset}': ")
    grids = [merge(grid, command_line) for grid in preset_grids]
    job_overrides: list[list[str]] = []
    for grid in grids:
        for combination in itertools.product(*(expand(o, config_dirs) for o in grid)):
            if list(combination) not in job_overrides:  # grids may overlap
                job_overrides.append(list(combination))
    values = [job_values(overrides) for overrides in job_overrides]
    swept = swept_keys(values)
    width = max(3, len(str(len(job_overrides) - 1)))
    jobs = [Job(job_name(i, width, v, swept), overrides, v)
            for i, (overrides, v) in enumerate(zip(job_overrides, values))]
    return Plan(preset, [[o.input_line for o in grid] for grid in grids], jobs, swept)


def refuse_repeated_keys(overrides: list[Override], where: str = "") -> None:
    """A key given twice would make Hydra keep its last value in every job: seed=1,2 beside
    seed=7 runs identical jobs, whose spread is then no spread."""
    seen: dict[str, str] = {}
    for override in overrides:
        key = key_of(override)
        if key in seen:
            raise UserError(f"{where}{key} is given twice ({seen[key]} and {override.input_line}); "
                            f"give each key once, with all its values (e.g. {key}=a,b,c).")
        seen[key] = override.input_line


def load_preset(name: str, config_dirs: Sequence[Path]) -> list[str]:
    """The grid lines of sweep/<name>.yaml, in conf/ or a config_dirs folder as Hydra's search
    path finds it (each line: overrides as typed after afa sweep)."""
    preset = compose_config([f"+{PRESET_GROUP}={name}"], config_dirs)[PRESET_GROUP]
    grids = preset.get("grids")
    if not grids or not all(isinstance(line, str) for line in grids):
        raise UserError(f"Sweep preset '{name}' needs 'grids': a list of override lines, "
                        "e.g. - afa.mask_ratio=0.1,0.2 seed=1,2,3")
    return [shlex.split(line) for line in grids]


def merge(grid: list[Override], command_line: list[Override]) -> list[Override]:
    """A command-line override takes the place of the grid's override of the same key (keeping
    the job order), else joins the grid at its end."""
    given = {key_of(o): o for o in command_line}
    in_grid = {key_of(o) for o in grid}
    added = [o for o in command_line if key_of(o) not in in_grid]
    return [given.get(key_of(o), o) for o in grid] + added


def expand(override: Override, config_dirs: Sequence[Path]) -> list[str]:
    """The job overrides one (sweep or plain) override stands for, in Hydra's order."""
    if not override.is_sweep_override():
        return [override.input_line]
    key = override.get_key_element()
    if isinstance(override.value(), Glob):
        options = group_options(override.key_or_group, config_dirs)
        if not options:
            raise UserError(f"{override.input_line}: '{override.key_or_group}' is not a config group; "
                            "glob(...) selects options of a group such as afa or dataset.")
        chosen = override.value().filter(options)
        if not chosen:
            raise UserError(f"{override.input_line} matches none of {', '.join(options)}.")
        return [f"{key}={option}" for option in chosen]
    if not override.is_discrete_sweep():
        raise UserError(f"{override.input_line}: an interval cannot be enumerated; "
                        "list the values or use range(start,stop,step).")
    return [f"{key}={value}" for value in override.sweep_string_iterator()]


def job_values(overrides: list[str]) -> dict[str, str]:
    return {key_of(o): "~" if o.is_delete() else o.get_value_element_as_str() for o in parse(overrides)}


def swept_keys(values: list[dict[str, str]]) -> list[str]:
    """Keys whose value (or absence) differs between jobs, in order of first appearance."""
    keys = list(dict.fromkeys(key for job in values for key in job))
    return [key for key in keys if len({job.get(key) for job in values}) > 1]


def job_name(index: int, width: int, values: dict[str, str], swept: list[str]) -> str:
    """e.g. 004_afa.mask_ratio=0.1_seed=2: readable in a file listing, safe in a path."""
    parts = [f"{index:0{width}d}"] + [f"{key}={values[key]}" for key in swept if key in values]
    return re.sub(r"[^A-Za-z0-9._=+@-]", "-", "_".join(parts))[:120]


def check_jobs(jobs: list[Job], config_dirs: Sequence[Path]) -> Path:
    """Compose every job's config now, so that a typo stops the sweep before anything runs;
    returns the output_dir under which the sweep folder goes."""
    output_dir = None
    for job in jobs:
        try:
            cfg = check_composed(job.overrides, config_dirs)
        except UserError as err:
            raise UserError(f"job {job.name}: {err}") from None
        output_dir = output_dir or Path(cfg.output_dir)
    return output_dir


def check_composed(overrides: list[str], config_dirs: Sequence[Path]) -> DictConfig:
    """One training's config, composed and checked as `afa train` would before it starts: the
    keys and values, what can be trained, the chosen trackers."""
    cfg = compose_config(overrides, config_dirs)
    check_trainable(cfg)
    trackers.check(trackers.chosen(cfg.logger))
    return cfg
