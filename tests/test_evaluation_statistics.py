"""Paired statistics against worked examples."""

from math import comb

import numpy as np
import pytest
from scipy import stats as scipy_stats

from afa_cli.errors import UserError
from afa_cli.evaluation.statistics import compare_predictions, compare_seeds, mcnemar_exact


def _pair(only_a: int, only_b: int, both: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of A and B with the given counts of each agreement cell."""
    a = np.array([True] * only_a + [False] * only_b + [True] * both + [False] * neither)
    b = np.array([False] * only_a + [True] * only_b + [True] * both + [False] * neither)
    return a, b


@pytest.mark.parametrize(("only_a", "only_b"), [(1, 7), (0, 5), (6, 6), (3, 0)])
def test_mcnemar_is_the_exact_binomial_by_hand(only_a, only_b):
    n, low = only_a + only_b, min(only_a, only_b)
    tail = sum(comb(n, k) for k in range(low + 1)) / 2 ** n
    expected = min(1.0, 2 * tail)       # symmetric at 1/2: twice the smaller tail
    assert mcnemar_exact(*_pair(only_a, only_b, 10, 4)) == (only_a, only_b, pytest.approx(expected))
    assert mcnemar_exact(*_pair(1, 7, 0, 0))[2] == pytest.approx(18 / 256)


def test_mcnemar_without_discordant_examples_is_one():
    assert mcnemar_exact(*_pair(0, 0, 5, 5)) == (0, 0, 1.0)


def test_identical_variants_differ_by_nothing():
    seeds = [np.random.default_rng(s).random(200) < 0.8 for s in range(3)]
    result = compare_predictions(seeds, [x.copy() for x in seeds])
    assert (result.difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert (result.b, result.c, result.p_value) == (0, 0, 1.0)
    assert (result.n_seeds, result.n_examples) == (3, 600) and not result.significant
    assert compare_seeds([0.8, 0.7], [0.8, 0.7]).difference == 0.0


def _variants(seeds: int = 5, n: int = 2000) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """B fixes half of A's errors and breaks 1/16 of its successes: with A at 0.8 the true
    difference is 0.2 x 0.5 - 0.8 x 0.0625 = 0.05."""
    rng = np.random.default_rng(42)
    correct_a, correct_b = [], []
    for _ in range(seeds):
        a = rng.random(n) < 0.8
        flip = rng.random(n)
        correct_a.append(a)
        correct_b.append(np.where(a, flip >= 0.0625, flip < 0.5))
    return correct_a, correct_b


def test_hierarchical_ci_contains_the_true_difference_and_is_seeded():
    correct_a, correct_b = _variants()
    result = compare_predictions(correct_a, correct_b, seed=1)
    assert result.ci_low < 0.05 < result.ci_high and result.significant
    assert result.ci_low < result.difference < result.ci_high
    assert result.difference == pytest.approx(
        np.mean([b.mean() - a.mean() for a, b in zip(correct_a, correct_b)]))
    assert result.p_value < 1e-6 and result.c > result.b
    assert compare_predictions(correct_a, correct_b, seed=1) == result
    assert compare_predictions(correct_a, correct_b, seed=2) != result


def test_multinomial_draws_match_resampling_examples():
    correct_a, correct_b = _variants(seeds=3, n=300)
    fast = compare_predictions(correct_a, correct_b, seed=3)
    # The same hierarchical bootstrap with explicit example indices.
    rng = np.random.default_rng(4)
    diffs = [b.astype(float) - a for a, b in zip(correct_a, correct_b)]
    estimates = [np.mean([diffs[s][rng.integers(300, size=300)].mean()
                          for s in rng.integers(3, size=3)]) for _ in range(4000)]
    low, high = np.quantile(estimates, [0.025, 0.975])
    assert fast.ci_low == pytest.approx(low, abs=0.006)
    assert fast.ci_high == pytest.approx(high, abs=0.006)


def test_seed_comparison_by_hand():
    a = [0.80, 0.82, 0.81, 0.79]
    b = [0.82, 0.85, 0.82, 0.81]        # differences 0.02, 0.03, 0.01, 0.02
    result = compare_seeds(a, b)
    assert result.difference == pytest.approx(0.02)
    # paired t: mean 0.02, sample std of the differences 0.00816, t = 0.02 / (0.00816 / 2) = 4.90
    sem = np.std([0.02, 0.03, 0.01, 0.02], ddof=1) / 2
    assert result.p_value == pytest.approx(2 * scipy_stats.t.sf(0.02 / sem, df=3))
    assert 0.01 < result.p_value < 0.02
    half = scipy_stats.t.ppf(0.975, df=3) * sem              # 3.182 × 0.00408 = 0.0130
    assert (result.ci_low, result.ci_high) == (pytest.approx(0.02 - half), pytest.approx(0.02 + half))
    assert result.significant and result.b is None and result.n_seeds == 4


def test_seed_interval_excludes_zero_about_5_percent_of_the_time_under_the_null():
    rng = np.random.default_rng(0)
    for seeds in (3, 5):
        excluded = [compare_seeds(np.zeros(seeds), rng.normal(size=seeds)).significant
                    for _ in range(1000)]
        assert 0.03 <= np.mean(excluded) <= 0.07


def test_identical_differences_have_no_interval_and_no_test():
    result = compare_seeds([0.80, 0.70, 0.60], [0.81, 0.71, 0.61])
    assert result.difference == pytest.approx(0.01)
    assert np.isnan(result.ci_low) and np.isnan(result.p_value) and not result.significant


def test_one_seed_has_no_seed_interval():
    result = compare_seeds([0.8], [0.9])
    assert result.difference == pytest.approx(0.1)
    assert np.isnan(result.ci_low) and not result.significant


def test_an_undefined_interval_prints_why_never_nan():
    assert compare_seeds([0.80, 0.70, 0.60], [0.81, 0.71, 0.61]).interval_text(4) == "no spread"
    assert compare_seeds([0.8], [0.9]).interval_text(4) == "one seed"
    tied = compare_seeds([0.80, 0.70, 0.60], [0.81, 0.71, 0.61])
    assert tied.p_text() == "–"
    spread = compare_seeds([0.80, 0.70, 0.60], [0.82, 0.71, 0.64])
    assert spread.interval_text(3) == f"[{spread.ci_low:+.3f}, {spread.ci_high:+.3f}]"
    assert spread.p_text() == f"{spread.p_value:.3g}"


@pytest.mark.parametrize("call", [
    lambda: compare_seeds([0.8, 0.7], [0.9]),
    lambda: compare_predictions([np.ones(3, bool)], [np.ones(4, bool)]),
    lambda: compare_seeds([], []),
])
def test_mismatched_inputs_are_one_line(call):
    with pytest.raises(UserError) as err:
        call()
    assert "\n" not in str(err.value)
