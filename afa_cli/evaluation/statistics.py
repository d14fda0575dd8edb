"""Is variant B better than variant A? Paired statistics over models trained with matching
seeds: the mean difference B - A with a 95% confidence interval, and a p-value.

Two comparisons, by what is known per seed:
- compare_seeds: one metric value per seed and variant (any metric): a paired t-test over
  seeds and its Student's t interval. It measures the spread between training runs, not the
  test set's.
- compare_predictions: per-example correctness per seed and variant; the metric is accuracy.
  The bootstrap is hierarchical: it resamples seeds and, within each resampled seed, examples,
  so both sources of variation count; and McNemar's test runs on the predictions of all seeds
  pooled (which treats the seeds' predictions on an example as independent)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.stats import binomtest

from afa_cli.errors import UserError

RESAMPLES = 10_000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairedComparison:
    difference: float           # mean over seeds of B - A
    ci_low: float               # 95% interval of that mean (nan: one seed only)
    ci_high: float
    n_seeds: int
    p_value: float | None = None    # exact McNemar (pooled predictions) or paired t (seeds)
    n_examples: int | None = None   # examples pooled over seeds
    b: int | None = None            # pooled examples A gets right and B wrong
    c: int | None = None            # pooled examples A gets wrong and B right

    @property
    def significant(self) -> bool:
        """The confidence interval excludes 0 (never, when it is undefined)."""
        return bool(self.ci_low > 0 or self.ci_high < 0)

    def interval_text(self, digits: int) -> str:
        """The interval as every table prints it, `[-0.0100, +0.0300]`; where it is undefined,
        why: one seed says nothing of the spread between seeds, and seeds whose differences tie
        have none."""
        if math.isnan(self.ci_low) or math.isnan(self.ci_high):
            return "one seed" if self.n_seeds < 2 else "no spread"
        return f"[{self.ci_low:+.{digits}f}, {self.ci_high:+.{digits}f}]"

    def p_text(self) -> str:
        """The p-value as every table prints it; – where there is no test."""
        return ("–" if self.p_value is None or math.isnan(self.p_value)
                else f"{self.p_value:.3g}")


def compare_seeds(values_a: Sequence[float], values_b: Sequence[float], *,
                  confidence: float = CONFIDENCE) -> PairedComparison:
    """Mean paired difference of a per-seed metric, its t interval and a paired t-test (both
    undefined for a single seed: one run says nothing about the spread between runs)."""
    _check_seeds(len(values_a), len(values_b))
    differences = np.asarray(values_b, dtype=np.float64) - np.asarray(values_a, dtype=np.float64)
    if len(differences) < 2:
        return PairedComparison(float(differences.mean()), np.nan, np.nan, len(differences))
    # Student's t, not a bootstrap: 3 to 5 seeds give a bootstrap a handful of distinct
    # resamples, and its interval then excludes 0 far more often than 5% of the time.
    mean, sem = float(differences.mean()), float(stats.sem(differences))
    if sem < 1e-12:  # every seed moved by the same amount: no spread to measure, so no test
        return PairedComparison(mean, np.nan, np.nan, len(differences), np.nan)
    low, high = stats.t.interval(confidence, len(differences) - 1, loc=mean, scale=sem)
    p_value = float(stats.ttest_rel(values_b, values_a).pvalue)
    return PairedComparison(mean, float(low), float(high), len(differences), p_value)


def compare_predictions(correct_a: Sequence[np.ndarray], correct_b: Sequence[np.ndarray], *,
                        resamples: int = RESAMPLES, seed: int = 0,
                        confidence: float = CONFIDENCE) -> PairedComparison:
    """Accuracy of B minus A from per-seed boolean correctness arrays (A's and B's seed s scored
    on the same examples, in the same order): mean over seeds, hierarchical bootstrap CI, and
    McNemar on the pooled predictions."""
    _check_seeds(len(correct_a), len(correct_b))
    a = [np.asarray(x, dtype=bool) for x in correct_a]
    b = [np.asarray(x, dtype=bool) for x in correct_b]
    for s, (x, y) in enumerate(zip(a, b)):
        if len(x) != len(y) or not len(x):
            raise UserError(f"seed #{s + 1}: variant A has {len(x)} scored examples and B "
                            f"{len(y)}; score both variants on the same, non-empty split.")
    sizes = np.array([len(x) for x in a])
    # Per seed, the examples only A gets right (B - A = -1) and only B gets right (+1).
    only_a = np.array([np.sum(x & ~y) for x, y in zip(a, b)])
    only_b = np.array([np.sum(~x & y) for x, y in zip(a, b)])
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(a), size=(resamples, len(a)))
    resampled = np.empty(picks.shape)
    for s in range(len(a)):
        # Resampling n examples with replacement and averaging their B - A in {-1, 0, +1} is a
        # multinomial draw of how many of each value: exact, and needs no resamples x examples
        # index array.
        slots = picks == s
        shares = np.array([only_b[s], only_a[s], sizes[s] - only_a[s] - only_b[s]]) / sizes[s]
        counts = rng.multinomial(sizes[s], shares, size=int(slots.sum()))
        resampled[slots] = (counts[:, 0] - counts[:, 1]) / sizes[s]
    low, high = _interval(resampled.mean(axis=1), confidence)
    pooled_a, pooled_b = np.concatenate(a), np.concatenate(b)
    disagree_a, disagree_b, p_value = mcnemar_exact(pooled_a, pooled_b)
    return PairedComparison(float(np.mean((only_b - only_a) / sizes)), low, high, len(a),
                            p_value, int(sizes.sum()), disagree_a, disagree_b)


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int, float]:
    """(b, c, p): b examples only A gets right, c only B; p the two-sided exact binomial test
    of b among the b + c discordant examples at 1/2 (1.0 when there are none)."""
    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    b, c = int(np.sum(correct_a & ~correct_b)), int(np.sum(~correct_a & correct_b))
    return b, c, float(binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0


def _check_seeds(seeds_a: int, seeds_b: int) -> None:
    if seeds_a != seeds_b:
        raise UserError(f"variant A has {seeds_a} seeds and B {seeds_b}; compare runs trained "
                        "with the same seeds.")
    if not seeds_a:
        raise UserError("no seeds to compare; give each variant at least one run.")


def _interval(estimates: np.ndarray, confidence: float) -> tuple[float, float]:
    low, high = np.quantile(estimates, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)
