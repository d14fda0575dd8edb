"""Suite results across runs: each run's results (as measured, or read back from its report),
variants of runs, and every variant's paired comparison with its baseline variant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

from afa_cli import runs
from afa_cli.errors import UserError
from afa_cli.evaluation.kinds import PairedBy, probe_kind
from afa_cli.evaluation.results import ProbeResult
from afa_cli.evaluation.statistics import PairedComparison, compare_predictions, compare_seeds
from afa_cli.evaluation.suites import Suite
from afa_cli.metrics.seeds import SeedStats
from afa_cli.paths import shown_path
from afa_cli.variants import (as_values, differing_keys, matching_baseline, variant_overrides,
                              with_setting)

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

    @property
    def test(self) -> str:
        """The test behind the p-value: on the examples, or over the seeds."""
        return "McNemar" if self.paired.b is not None else "paired t"


@dataclass
class Pairing:
    """Which variant is compared with which, settled before anything is scored."""

    baseline: str | None = None                                   # KEY=VALUE; None: no baseline
    pairs: list[tuple[str, str]] = field(default_factory=list)    # (baseline variant, variant)
    unpaired: list[str] = field(default_factory=list)             # why a variant has no pair


@dataclass
class SuiteReport:
    suite: Suite
    runs: list[RunResults]
    variants: dict[str, list[RunResults]]
    comparisons: list[Comparison]
    pairing: Pairing = field(default_factory=Pairing)
    comparison_files: list[Path] = field(default_factory=list)   # where the comparison went


def read_run_results(run: runs.Run, suite: str) -> RunResults | None:
    """A run's latest report of a suite, as the comparison reads it (kept runs included)."""
    path = run.suite_reports().get(suite)
    if path is None:
        return None
    report = run.suite_report(path.parent)
    cfg = run.config()
    results = {probe.probe: ProbeResult.of(probe) for probe in report.probes}
    return RunResults(run, int(cfg.seed), variant_overrides(run, cfg.dataset.name), results,
                      report.skipped, path)


class Member(Protocol):
    """A run as pairing reads it (a planned run, or a run's results)."""

    run: runs.Run
    seed: int
    variant: list[str]


def baseline_pairs(variants: dict[str, Sequence[Member]], baseline: str | None) -> Pairing:
    """(baseline variant, variant) pairs from each variant's overrides. The baseline override
    (default afa=off when a variant has it) names the baseline variants; each other variant is
    paired with the one that differs from it in nothing else (variants.differing_keys; in a
    dataset × afa grid, each dataset with its own), over the seeds both have. A --baseline given
    that cannot pair every variant is refused, saying why; under the default, why a variant has
    no pair is in `unpaired`."""
    given = baseline is not None
    if not given:
        if len(variants) < 2:
            return Pairing()
        if not any(DEFAULT_BASELINE in members[0].variant for members in variants.values()):
            return Pairing(unpaired=[f"no variant has {DEFAULT_BASELINE}: --baseline KEY=VALUE "
                                     "names the variant the others are paired with"])
        baseline = DEFAULT_BASELINE
    key, _, value = baseline.partition("=")
    if not key or not value:
        raise UserError(f"--baseline {baseline}: give KEY=VALUE, an override of the baseline's "
                        "runs (e.g. afa=off).")
    if len(variants) < 2:
        members = [m for ms in variants.values() for m in ms]
        what = ("one run" if len(members) == 1 else f"{len(members)} runs of one variant")
        raise UserError(f"--baseline {baseline}: {what} ({_shown(members)}), nothing to pair; "
                        "give the baseline's runs and the runs to compare with them "
                        f"(afa eval RUN... --suite NAME --baseline {baseline}).")
    values = {label: with_setting(as_values(members[0].variant), members[0].run, key)
              for label, members in variants.items()}
    bases = [label for label in variants if values[label].get(key) == value]
    if not bases:
        raise UserError(f"--baseline {baseline}: no variant has it; the variants are "
                        f"{'; '.join(variants)}.")
    others = [label for label in variants if label not in bases]
    unpaired = [] if others else [f"every variant has {baseline} ({'; '.join(bases)}): "
                                  "nothing is compared with it"]
    pairs = []
    for label in others:
        index = matching_baseline(values[label], [values[b] for b in bases], key)
        if index is None:
            unpaired.append(_why_no_baseline(label, bases, values, key, variants))
            continue
        base = bases[index]
        seeds, base_seeds = (set(_by_seed(v, variants[v])) for v in (label, base))
        if seeds & base_seeds:
            pairs.append((base, label))
        else:
            unpaired.append(f"{label} (seeds {_listed(seeds)}; {_shown(variants[label])}) and "
                            f"its baseline {base} (seeds {_listed(base_seeds)}; "
                            f"{_shown(variants[base])}) share no seed; pairs are runs of one seed")
    if given and unpaired:
        raise UserError(f"--baseline {baseline}: {'; '.join(unpaired)}.")
    return Pairing(baseline, pairs, unpaired)


def _why_no_baseline(label: str, bases: list[str], values: dict[str, dict[str, str]], key: str,
                     variants: dict[str, Sequence[Member]]) -> str:
    """Which keys tell a variant apart from each baseline, with both values."""
    differing = {base: differing_keys(values[label], values[base], key) for base in bases}
    agreeing = [base for base in bases if not differing[base]]
    name = f"{label} ({_shown(variants[label])})"
    if agreeing:
        return (f"{name} could be paired with several baselines ({'; '.join(agreeing)}); "
                "compare them in separate commands")
    return f"{name} has no baseline: " + "; ".join(
        f"{base} ({_shown(variants[base])}) differs in " + ", ".join(
            f"{k} ({values[base].get(k) or 'not set'} there, {values[label].get(k) or 'not set'} "
            "here)" for k in differing[base]) for base in bases) + \
        f"; give runs that differ only in {key}"


def _shown(members: Sequence[Member]) -> str:
    """A variant's runs as a person finds them: the first, and how many more."""
    first = shown_path(members[0].run.path)
    return first if len(members) == 1 else f"{first} and {len(members) - 1} more"


def _listed(seeds: set[int]) -> str:
    return ", ".join(map(str, sorted(seeds)))


def _same_seeds(variants: dict, base: str, label: str) -> list[tuple]:
    """(baseline run, variant run) for each seed both variants have."""
    by_seed = _by_seed(label, variants[label])
    return [(a, by_seed[a.seed]) for a in _by_seed(base, variants[base]).values()
            if a.seed in by_seed]


def compare_variants(probes: list[str], variants: dict[str, list[RunResults]],
                     pairs: list[tuple[str, str]]) -> list[Comparison]:
    """Per pair of variants and probe, the comparison over the seeds both have that probe for
    (a probe skipped or not yet scored at some seeds is compared over the others)."""
    comparisons = []
    for base, label in pairs:
        matched = _same_seeds(variants, base, label)
        for probe in probes:
            scored = [(a, b) for a, b in matched if probe in a.results and probe in b.results]
            if scored:
                comparisons.append(Comparison(probe, *_paired(probe, scored), base, label))
    return comparisons


def compare_values(variants: dict[str, Sequence[Member]], pairs: list[tuple[str, str]],
                   metrics: Sequence[str], value: Callable[[Member, str], float | None],
                   probe: str) -> list[Comparison]:
    """Per pair of variants and metric, a number each run has (`value(run, metric)`, e.g. from
    its summary.json) compared over the seeds both have: paired t over seeds. A seed either run
    lacks the number of is left out of that metric's comparison."""
    comparisons = []
    for base, label in pairs:
        matched = _same_seeds(variants, base, label)
        for metric in metrics:
            values = [(value(a, metric), value(b, metric)) for a, b in matched]
            values = [(x, y) for x, y in values if x is not None and y is not None]
            if values:
                comparisons.append(Comparison(probe, metric, compare_seeds(
                    [x for x, _ in values], [y for _, y in values]), base, label))
    return comparisons


def _by_seed(label: str, members: Sequence[Member]) -> dict[int, Member]:
    by_seed = {r.seed: r for r in members}
    if len(by_seed) < len(members):
        seed = next(r.seed for r in members if sum(m.seed == r.seed for m in members) > 1)
        twins = [m for m in members if m.seed == seed]
        raise UserError(f"variant {label} has two runs of seed {seed} "
                        f"({', '.join(shown_path(m.run.path) for m in twins[:2])}): pairing "
                        "needs one run per seed (give each run once).")
    return by_seed


def _paired(probe: str, pairs: list[tuple[RunResults, RunResults]]) -> tuple[str, PairedComparison]:
    """The probe's headline metric and its comparison: from the per-example predictions where
    the probe's kind is paired so and the results have them (in percent where the headline is),
    else per seed."""
    first = pairs[0][0].results[probe]
    kind = probe_kind(first.kind)
    if kind.paired_by == PairedBy.PREDICTIONS and first.correct is not None:
        paired = compare_predictions([a.results[probe].correct for a, _ in pairs],
                                     [b.results[probe].correct for _, b in pairs])
        if kind.headline.percent:
            paired = replace(paired, difference=100 * paired.difference,
                             ci_low=100 * paired.ci_low, ci_high=100 * paired.ci_high)
        return kind.headline.key, paired
    return kind.headline.key, compare_seeds([a.results[probe].headline for a, _ in pairs],
                                            [b.results[probe].headline for _, b in pairs])


def variant_stats(members: list[RunResults], probe: str) -> SeedStats:
    return SeedStats.of(r.results[probe].headline for r in members if probe in r.results)


def comparison_payload(report: SuiteReport) -> dict:
    """The comparison across runs as data: the runs, each variant's mean ± std per probe, each
    paired comparison and why a variant has none (numbers in full; undefined ones null)."""
    probes = [probe.name for probe in report.suite.probes]
    return {
        "suite": report.suite.name, "baseline": report.pairing.baseline,
        "runs": [{"run": str(r.run.path.resolve()), "variant": label, "seed": r.seed,
                  "report": str(r.report.resolve())}
                 for label, members in report.variants.items() for r in members],
        "variants": {label: {probe: variant_stats(members, probe)._asdict() for probe in probes}
                     for label, members in report.variants.items()},
        "comparisons": [{"variant": c.variant, "baseline": c.baseline, "probe": c.probe,
                         "metric": c.metric, "test": c.test, **asdict(c.paired)}
                        for c in report.comparisons],
        "unpaired": report.pairing.unpaired,
    }
