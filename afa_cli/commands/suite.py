"""`afa eval RUN... --suite NAME`: every probe of a suite on every run, a report per run in its
run folder, and across runs the variants' means and their paired comparisons."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console

from afa_cli import runs
from afa_cli.commands.checkpoint import load_for_scoring
from afa_cli.config import compose_for_run
from afa_cli.data import load_split, subsample
from afa_cli.errors import UserError
from afa_cli.evaluation.frequency import frequency_ranking
from afa_cli.evaluation.probes import ProbeContext, ProbeResult, run_probe
from afa_cli.evaluation.statistics import PairedComparison, compare_predictions, compare_seeds
from afa_cli.evaluation.suites import ProbeKind, Suite, load_suite
from afa_cli.metrics.seeds import SeedStats
from afa_cli.variants import group_by_variant, variant_overrides


@dataclass
class SuiteRequest:
    paths: list[Path]
    suite: str
    overrides: list[str] = field(default_factory=list)
    config_dirs: list[Path] = field(default_factory=list)
    baseline: str | None = None   # the variant the others are compared with (e.g. afa=off)


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


def run_suite(request: SuiteRequest, console: Console) -> SuiteReport:
    suite = load_suite(request.suite, request.config_dirs)
    planned = [_plan(path, suite, request) for path in request.paths]  # every check first
    results = []
    for index, (run, cfg, datasets) in enumerate(planned, start=1):
        console.print(f"run {index}/{len(planned)}: {run.path}", highlight=False)
        results.append(_evaluate_run(run, cfg, datasets, suite, request, console))
    variants = group_by_variant(results, lambda r: r.variant)
    return SuiteReport(suite, results, variants, compare_variants(
        [probe.name for probe in suite.probes], variants, request.baseline))


def _plan(path: Path, suite: Suite, request: SuiteRequest) -> tuple[runs.Run, DictConfig, dict]:
    """The run, its config and each probe's dataset config, refused in one line when a probe's
    labels are not the checkpoint's."""
    checkpoint, run = runs.resolve(path)
    if run is None:
        raise UserError(f"{path}: a suite writes its report into a run folder; give a run "
                        "(or a checkpoint inside one), or use afa eval --out for one checkpoint.")
    cfg = compose_for_run(run, request.overrides, request.config_dirs)
    labels = _checkpoint_labels(checkpoint)
    datasets = {}
    for probe in suite.probes:
        name = probe.dataset or cfg.dataset.name
        dataset = cfg.dataset if name == cfg.dataset.name else compose_for_run(
            run, [*request.overrides, f"dataset={name}"], request.config_dirs).dataset
        if [str(n).lower() for n in dataset.label_names] != [n.lower() for n in labels]:
            raise UserError(f"probe {probe.name}: dataset={name} has the labels "
                            f"{', '.join(map(str, dataset.label_names))} but {checkpoint} predicts "
                            f"{', '.join(labels)}; remove the probe or use a matching dataset.")
        datasets[probe.name] = dataset
    return run, cfg, datasets


def _checkpoint_labels(checkpoint: Path) -> list[str]:
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    id2label = config.get("id2label", {})
    return [str(id2label[key]) for key in sorted(id2label, key=int)]


def _train_ranking(cfg: DictConfig) -> list[str]:
    """The run's training words by frequency (its training rows as it sampled them)."""
    try:
        rows = load_split(cfg.dataset, "train")
    except UserError:
        return []  # the training data is not here: every word counts as unseen
    return frequency_ranking(subsample(rows, cfg.train.max_train_samples,
                                       cfg.dataset.split_seed).texts)


def _evaluate_run(run: runs.Run, cfg: DictConfig, datasets: dict, suite: Suite,
                  request: SuiteRequest, console: Console) -> RunResults:
    loaded = load_for_scoring(run.path, request.overrides, request.config_dirs,
                              require_trained_head=True)
    folder = run.new_suite_folder(suite.name)
    context = ProbeContext(loaded, _train_ranking(cfg), folder, console)
    results, skipped, timings = {}, {}, {}
    measured: dict[tuple, ProbeResult] = {}  # the same measurement under two names runs once
    for index, probe in enumerate(suite.probes, start=1):
        console.print(f"  probe {index}/{len(suite.probes)}: {probe.name}", highlight=False)
        start = time.perf_counter()
        same = (datasets[probe.name].name, *(v for k, v in vars(probe).items() if k != "name"
                                             and k != "dataset"))
        try:
            if same not in measured:
                measured[same] = run_probe(probe, datasets[probe.name], context)
            results[probe.name] = replace(measured[same], probe=probe.name)
        except UserError as err:
            if ProbeKind(probe.kind) != ProbeKind.attack:
                raise
            skipped[probe.name] = str(err)  # e.g. no WordNet: the rest of the suite runs
            console.print(f"  skipped {probe.name}: {err}", highlight=False)
        timings[probe.name] = round(time.perf_counter() - start, 2)
    report = {"suite": suite.name, "description": suite.description,
              "run": str(run.path), "overrides": list(request.overrides),
              "probes": [r.to_dict() | {"seconds": timings[name]} for name, r in results.items()],
              "skipped": skipped}
    path = folder / runs.Run.SUITE_REPORT
    runs.write_json(path, report)
    return RunResults(run, int(cfg.seed), variant_overrides(run, cfg.dataset.name), results,
                      skipped, path)


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


def compare_variants(probes: list[str], variants: dict[str, list[RunResults]],
                     baseline: str | None) -> list[Comparison]:
    """Every variant against the baseline variant, per probe, over the seeds both have."""
    if len(variants) < 2:
        return []
    base = _baseline(variants, baseline)
    comparisons = []
    for label, members in variants.items():
        if label == base:
            continue
        by_seed = {r.seed: r for r in members}
        pairs = [(a, by_seed[a.seed]) for a in variants[base] if a.seed in by_seed]
        if not pairs:
            continue
        for probe in probes:
            if not all(probe in a.results and probe in b.results for a, b in pairs):
                continue
            comparisons.append(Comparison(probe, *_paired(probe, pairs), base, label))
    return comparisons


def _baseline(variants: dict[str, list[RunResults]], baseline: str | None) -> str:
    if baseline is None:
        return next(iter(variants))
    chosen = [label for label in variants if baseline in label.split()]
    if len(chosen) != 1:
        raise UserError(f"--baseline {baseline}: the variants are {'; '.join(variants)}; name an "
                        "override that only one of them has.")
    return chosen[0]


def _paired(probe: str, pairs: list[tuple[RunResults, RunResults]]) -> tuple[str, PairedComparison]:
    """The metric compared and the comparison: accuracy (under attack, for attacks) from the
    per-example predictions where the probe has them, else the probe's headline per seed."""
    first = pairs[0][0].results[probe]
    if first.correct is not None and first.kind != ProbeKind.pairs.value:
        metric = "accuracy under attack" if first.kind == ProbeKind.attack.value else "accuracy"
        return metric, compare_predictions([a.results[probe].correct for a, _ in pairs],
                                           [b.results[probe].correct for _, b in pairs])
    return first.headline_metric, compare_seeds([a.results[probe].headline for a, _ in pairs],
                                                [b.results[probe].headline for _, b in pairs])


def variant_stats(members: list[RunResults], probe: str) -> SeedStats:
    return SeedStats.of(r.results[probe].headline for r in members if probe in r.results)
