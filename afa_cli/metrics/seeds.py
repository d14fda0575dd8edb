"""A number over several seeds: mean ± sample standard deviation, as every summary reports it."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import NamedTuple


class SeedStats(NamedTuple):
    mean: float
    std: float   # sample std (ddof=1): the seeds are a sample of the seeds one could have run
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> "SeedStats":
        """Over the values there are (None: a run without the number); NaN where undefined:
        the mean of none, the std of fewer than two."""
        numbers = [value for value in values if value is not None]
        if not numbers:
            return cls(math.nan, math.nan, 0)
        std = statistics.stdev(numbers) if len(numbers) > 1 else math.nan
        return cls(statistics.mean(numbers), std, len(numbers))

    def format(self, digits: int) -> str:
        """e.g. 0.820 ± 0.020; one value alone; – for none."""
        if self.n == 0:
            return "–"
        if self.n == 1:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"
