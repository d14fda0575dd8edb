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
from pathlib import Path

from omegaconf import OmegaConf
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)

from afa_cli.config import compose_config
from afa_cli.errors import UserError
from afa_cli.sweep.grid import check_composed

PRESET_GROUP = "tune"
# The fields of each kind of parameter besides `type`: the ones it needs, and all it takes.
NEEDED = {"float": ("low", "high"), "int": ("low", "high"), "categorical": ("choices",)}
FIELDS = {"float": ("low", "high", "log", "step"), "int": ("low", "high", "log", "step"),
          "categorical": ("choices",)}
OPTIONAL = ("log", "step")  # null, or left out: Optuna's default
# What Optuna stores of a categorical choice (and what an override can write).
PLAIN_TYPES = (type(None), bool, int, float, str)
# A text value Hydra reads as that text without quotes.
BARE_TEXT = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
HYDRA_WORDS = {"true", "false", "null", "nan", "inf"}


@dataclass(frozen=True)
class Param:
    key: str    # the config key (or group) a trial sets, and the parameter's name in the study
    spec: dict  # as the preset writes it: type, and low/high/log/step or choices

    @property
    def distribution(self) -> BaseDistribution:
        kind = self.spec["type"]
        if kind == "categorical":
            return CategoricalDistribution(self.spec["choices"])
        options = {name: self.spec[name] for name in ("log", "step") if name in self.spec}
        if kind == "float":
            return FloatDistribution(self.spec["low"], self.spec["high"], **options)
        return IntDistribution(self.spec["low"], self.spec["high"], **options)

    def probe_values(self) -> list:
        """The values composed before a search starts: both ends of a range, every choice."""
        return (list(self.spec["choices"]) if self.spec["type"] == "categorical"
                else [self.spec["low"], self.spec["high"]])


def load_space(preset: str, config_dirs: Sequence[Path]) -> list[Param]:
    """The parameters of tune/<preset>.yaml, in conf/ or a config_dirs folder as Hydra's search
    path finds it; anything Optuna would refuse is one line naming the parameter."""
    node = compose_config([f"+{PRESET_GROUP}={preset}"], config_dirs)[PRESET_GROUP]
    content = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    params = content.get("params") if isinstance(content, dict) else None
    if not params or not isinstance(params, dict):
        raise UserError(f"Search space '{preset}' needs 'params': a mapping of config keys to "
                        "distributions, e.g. afa.mask_ratio: {type: float, low: 0.05, high: 0.4}")
    space = []
    for key, spec in params.items():
        try:
            space.append(_param(str(key), spec))
        except (UserError, ValueError, TypeError) as err:
            raise UserError(f"Search space '{preset}', {key}: {err}") from None
    return space


def _param(key: str, spec) -> Param:
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind not in FIELDS:
        raise UserError("give {type: float|int|categorical, ...}")
    spec = {name: value for name, value in spec.items()
            if name not in OPTIONAL or value is not None}
    unknown = [name for name in spec if name != "type" and name not in FIELDS[kind]]
    missing = [name for name in NEEDED[kind] if name not in spec]
    if unknown or missing:
        raise UserError(f"{'unknown' if unknown else 'missing'} field "
                        f"'{(unknown or missing)[0]}'; a {kind} parameter takes "
                        f"{', '.join(FIELDS[kind])}")
    if kind == "categorical":
        choices = spec["choices"]
        if not isinstance(choices, list) or not all(isinstance(c, PLAIN_TYPES) for c in choices):
            raise UserError("choices must be a list of plain values (text, numbers, true/false, "
                            "null)")
    else:
        number = int if kind == "int" else (int, float)
        for name in ("low", "high", "step"):
            value = spec.get(name)
            if name in spec and (isinstance(value, bool) or not isinstance(value, number)):
                raise UserError(f"{name} must be {'an integer' if kind == 'int' else 'a number'}, "
                                f"got {value!r}")
        if not isinstance(spec.get("log", False), bool):
            raise UserError(f"log must be true or false, got {spec['log']!r}")
    param = Param(key, spec)
    param.distribution  # Optuna's own checks: low <= high, log with low > 0, step > 0, ...
    return param


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
    probes = [param.probe_values() for param in space]
    for i in range(max(len(values) for values in probes)):
        overrides = [override(p.key, values[min(i, len(values) - 1)])
                     for p, values in zip(space, probes)]
        try:
            check_composed([*fixed, *overrides], config_dirs)
        except UserError as err:
            raise UserError(f"Search space '{preset}': {err}") from None
    return Path(cfg.output_dir)
