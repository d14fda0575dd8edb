"""Suite results across runs: each run's results (as measured, or read back from its report),
variants of runs, and every variant's paired comparison with its baseline variant."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from afa_cli import runs
from afa_cli.errors import UserError
from afa_cli.evaluation.probes import ProbeResult
from afa_cli.evaluation.statistics import PairedComparison, compare_predictions, compare_seeds
from afa_cli.evaluation.suites import ProbeKind, Suite
from afa_cli.metrics.seeds import SeedStats
from afa_cli.variants import as_values, matching_baseline, variant_overrides

DEFAULT_BASELINE = "afa=off"


@dataclass
class RunResults:
    run: runs.Run
    seed: int
    variant: list[str]                 # the overrides that tell its variant apart
    results: dict[str, ProbeResult]    # probe name -> result
    skipped: dict[str, str]            # probe name -> why (e.g. WordNet missing)
    report: Path


@dataclass
class Comparison:
    probe: str
    metric: str
    paired: PairedComparison
    baseline: str
    variant: str


@dataclass
class SuiteReport:
    suite: Suite
    runs: list[RunResults]
    variants: dict[str, list[RunResults]]
    comparisons: list[Comparison]


def read_run_results(run: runs.Run, suite: str) -> RunResults | None:
    """A run's latest report of a suite, as the comparison reads it (kept runs included)."""
    report = run.suite_reports().get(suite)
    if report is None:
        return None
    payload = json.loads(report.read_text(encoding="utf-8"))
    cfg = run.config()
    results = {p["probe"]: ProbeResult.from_dict(p) for p in payload["probes"]}
    return RunResults(run, int(cfg.seed), variant_overrides(run, cfg.dataset.name), results,
                      payload.get("skipped", {}), report)


def baseline_pairs(variants: dict[str, list[str]], baseline: str | None) -> list[tuple[str, str]]:
    """(baseline variant, variant) pairs from each variant's overrides. The baseline override
    (default afa=off when a variant has it) names the baseline variants; each other variant is
    paired with the one that agrees with it on everything else (in a dataset × afa grid, each
    dataset with its own). Checked before anything is scored."""
    if len(variants) < 2:
        return []
    values = {label: as_values(overrides) for label, overrides in variants.items()}
    if baseline is None:
        if not any(DEFAULT_BASELINE in overrides for overrides in variants.values()):
            return []
        baseline = DEFAULT_BASELINE
    key, _, value = baseline.partition("=")
    bases = [label for label in variants if values[label].get(key) == value]
    if not value or not bases:
        raise UserError(f"--baseline {baseline}: no variant has it; the variants are "
                        f"{'; '.join(variants)}.")
    pairs = []
    for label in variants:
        index = matching_baseline(values[label], [values[b] for b in bases], key)
        if label not in bases and index is not None:
            pairs.append((bases[index], label))
    return pairs


def compare_variants(probes: list[str], variants: dict[str, list[RunResults]],
                     pairs: list[tuple[str, str]]) -> list[Comparison]:
    """Per pair of variants and probe, the comparison over the seeds both have."""
    comparisons = []
    for base, label in pairs:
        by_seed = _by_seed(label, variants[label])
        matched = [(a, by_seed[a.seed]) for a in _by_seed(base, variants[base]).values()
                   if a.seed in by_seed]
        for probe in probes:
            if matched and all(probe in a.results and probe in b.results for a, b in matched):
                comparisons.append(Comparison(probe, *_paired(probe, matched), base, label))
    return comparisons


def _by_seed(label: str, members: list[RunResults]) -> dict[int, RunResults]:
    by_seed = {r.seed: r for r in members}
    if len(by_seed) < len(members):
        seed = next(r.seed for r in members if sum(m.seed == r.seed for m in members) > 1)
        raise UserError(f"variant {label} has two runs of seed {seed}: pairing needs one run per "
                        "seed (give each run once).")
    return by_seed


def _paired(probe: str, pairs: list[tuple[RunResults, RunResults]]) -> tuple[str, PairedComparison]:
    """The metric compared and the comparison: accuracy (under attack, for attacks; in percent
    as attack summaries are) from the per-example predictions where the probe has them, else
    the probe's headline metric per seed."""
    first = pairs[0][0].results[probe]
    if first.correct is not None and first.kind != ProbeKind.pairs.value:
        paired = compare_predictions([a.results[probe].correct for a, _ in pairs],
                                     [b.results[probe].correct for _, b in pairs])
        if first.kind == ProbeKind.attack.value:
            return first.headline_metric, replace(
                paired, difference=100 * paired.difference, ci_low=100 * paired.ci_low,
                ci_high=100 * paired.ci_high)
        return "accuracy", paired
    return first.headline_metric, compare_seeds([a.results[probe].headline for a, _ in pairs],
                                                [b.results[probe].headline for _, b in pairs])


def variant_stats(members: list[RunResults], probe: str) -> SeedStats:
    return SeedStats.of(r.results[probe].headline for r in members if probe in r.results)
