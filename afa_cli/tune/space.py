"""A search space: conf/tune/<name>.yaml (or the same file in a --config-dir folder), one
distribution per config key, selected as +tune=<name>; and a trial's sampled values as the
`afa train` overrides that set them.

    params:
      afa.mask_ratio: {type: float, low: 0.05, high: 0.4}          # log: true, step: 0.05
      afa.warmup_steps: {type: int, low: 0, high: 200, step: 10}   # log: true
      afa.policy: {type: categorical, choices: [complement, attention]}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, ValidationError
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)

from afa_cli.config import compose_config
from afa_cli.errors import UserError
from afa_cli.sweep.grid import check_composed

PRESET_GROUP = "tune"
# What Optuna stores of a categorical choice (and what an override can write).
PLAIN_TYPES = (type(None), bool, int, float, str)
# A text value Hydra reads as that text without quotes.
BARE_TEXT = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
HYDRA_WORDS = {"true", "false", "null", "nan", "inf"}
GIVE_A_TYPE = "give {type: float|int|categorical, ...}"
FIELDS = ("low", "high", "log", "step", "choices")  # a parameter's fields besides its type


class ParamType(StrEnum):
    float = "float"
    int = "int"
    categorical = "categorical"


@dataclass
class ParamSpec:
    """One parameter's distribution, as a preset writes it; typed like a run's config."""
    type: ParamType = MISSING
    low: Optional[float] = None           # float and int: the range, both ends included
    high: Optional[float] = None
    log: bool = False                     # float and int: sampled on a log scale
    step: Optional[float] = None          # float and int: a grid; null: continuous, or 1 (int)
    choices: Optional[list[Any]] = None   # categorical: the values

    # The fields each type needs, and all it takes.
    NEEDS = {ParamType.float: ("low", "high"), ParamType.int: ("low", "high"),
             ParamType.categorical: ("choices",)}
    TAKES = {ParamType.float: ("low", "high", "log", "step"),
             ParamType.int: ("low", "high", "log", "step"),
             ParamType.categorical: ("choices",)}

    @classmethod
    def read(cls, raw) -> ParamSpec:
        """The spec of a preset's (or a saved tune.yaml's) mapping; anything the types or
        Optuna would refuse is one line naming the field."""
        if not (OmegaConf.is_dict(raw) or isinstance(raw, dict)):
            raise UserError(GIVE_A_TYPE)
        try:
            spec = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), raw))
        except MissingMandatoryValue:
            raise UserError(GIVE_A_TYPE) from None
        except ConfigKeyError as err:
            raise UserError(f"unknown field '{err.key}'; a parameter takes type, "
                            f"{', '.join(FIELDS)}") from None
        except ValidationError as err:
            raise UserError(f"{err.key}: {str(err).splitlines()[0]}") from None
        spec.check()
        return spec

    def given(self) -> dict:
        """The fields set, as a preset would write them (what tune.yaml keeps)."""
        return {"type": str(self.type),
                **{name: getattr(self, name) for name in self._set_fields()}}

    def _set_fields(self) -> list[str]:
        """The fields given a value (log: given true)."""
        return [name for name in FIELDS
                if (self.log if name == "log" else getattr(self, name) is not None)]

    def check(self) -> None:
        unknown = [name for name in self._set_fields() if name not in self.TAKES[self.type]]
        missing = [name for name in self.NEEDS[self.type] if getattr(self, name) is None]
        if unknown or missing:
            raise UserError(f"{'unknown' if unknown else 'missing'} field "
                            f"'{(unknown or missing)[0]}'; a {self.type} parameter takes "
                            f"{', '.join(self.TAKES[self.type])}")
        if self.type == ParamType.categorical:
            if not all(isinstance(c, PLAIN_TYPES) for c in self.choices):
                raise UserError("choices must be a list of plain values (text, numbers, "
                                "true/false, null)")
        elif self.type == ParamType.int:
            for name in ("low", "high", "step"):
                value = getattr(self, name)
                if value is not None and not float(value).is_integer():
                    raise UserError(f"{name} must be an integer, got {value!r}")
                if value is not None:
                    setattr(self, name, int(value))
        self.distribution  # Optuna's own checks: low <= high, log with low > 0, step > 0, ...

    @property
    def distribution(self) -> BaseDistribution:
        if self.type == ParamType.categorical:
            return CategoricalDistribution(self.choices)
        if self.type == ParamType.float:
            return FloatDistribution(self.low, self.high, log=self.log, step=self.step)
        return IntDistribution(self.low, self.high, log=self.log, step=self.step or 1)

    def probe_values(self) -> list:
        """The values composed before a search starts: both ends of a range, every choice."""
        return (list(self.choices) if self.type == ParamType.categorical
                else [self.low, self.high])


@dataclass(frozen=True)
class Param:
    key: str         # the config key (or group) a trial sets, and the parameter's name in the study
    spec: ParamSpec


def load_space(preset: str, config_dirs: Sequence[Path]) -> list[Param]:
    """The parameters of tune/<preset>.yaml, in conf/ or a config_dirs folder as Hydra's search
    path finds it; anything Optuna would refuse is one line naming the parameter."""
    node = compose_config([f"+{PRESET_GROUP}={preset}"], config_dirs)[PRESET_GROUP]
    params = node.get("params") if OmegaConf.is_dict(node) else None
    if not OmegaConf.is_dict(params) or not params:
        raise UserError(f"Search space '{preset}' needs 'params': a mapping of config keys to "
                        "distributions, e.g. afa.mask_ratio: {type: float, low: 0.05, high: 0.4}")
    space = []
    for key in params:
        try:
            space.append(Param(str(key), ParamSpec.read(params[key])))
        except (UserError, ValueError, TypeError) as err:
            raise UserError(f"Search space '{preset}', {key}: {err}") from None
    return space


def override(key: str, value) -> str:
    """key=value in Hydra's grammar, the value read back exactly as Optuna sampled it."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif BARE_TEXT.fullmatch(value) and value.lower() not in HYDRA_WORDS:
        text = value
    else:  # quoted, so that '1' stays text and a comma or a space is no grammar; Hydra reads
        # a backslash as an escape only before a quote (or the closing one)
        text = "'" + re.sub(r"(\\*)('|$)", lambda m: m[1] * 2 + ("\\'" if m[2] else ""),
                            value) + "'"
    return f"{key}={text}"


def check_space(preset: str, space: list[Param], fixed: list[str],
                config_dirs: Sequence[Path]) -> Path:
    """Compose and check the fixed overrides (as a sweep checks a job), then them with both ends
    of every range and every choice, so that an unknown key, a value of the wrong type or out of
    range, or one that cannot be trained stops the search before anything is written; returns
    the output_dir under which the tune folder goes. All
    parameters' i-th probe values go into one composition (a parameter with fewer repeats its
    last): Hydra names the key at fault, and the space takes as many compositions as its longest
    list of probe values."""
    cfg = check_composed(fixed, config_dirs)
    probes = [param.spec.probe_values() for param in space]
    for i in range(max(len(values) for values in probes)):
        overrides = [override(p.key, values[min(i, len(values) - 1)])
                     for p, values in zip(space, probes)]
        try:
            check_composed([*fixed, *overrides], config_dirs)
        except UserError as err:
            raise UserError(f"Search space '{preset}': {err}") from None
    return Path(cfg.output_dir)
