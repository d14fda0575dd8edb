"""A study: the finished runs given (run folders, a sweep folder's done jobs, a folder of runs
such as a docs/results section), grouped into variants, each variant paired with its baseline on
its validation scores, and every suite the runs were evaluated with, compared the way
`afa eval --suite` compares them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from afa_cli.errors import UserError
from afa_cli.evaluation.compare import (Comparison, Pairing, RunResults, SuiteReport,
                                        baseline_pairs, compare_values, compare_variants,
                                        read_run_results)
from afa_cli.evaluation.suites import ProbeConfig, Suite
from afa_cli.metrics.registry import ACCURACY, FREQUENT_MASS, LEXICON_MASS, MACRO_F1
from afa_cli.runs import Run, RunSummary
from afa_cli.sweep.state import DONE, SweepState
from afa_cli.variants import as_values, group_by_variant, variant_overrides

# The validation scores each variant is paired with its baseline on (as afa sweep --baseline).
PAIRED = (ACCURACY, MACRO_F1, LEXICON_MASS, FREQUENT_MASS)
VALIDATION = "validation"   # the "probe" of those comparisons: each run's own validation split
NOTES = "NOTES.md"          # a folder's notes: the report's preamble


@dataclass
class StudyRun:
    """A finished run as the study reads it (a pairing Member)."""

    run: Run
    summary: RunSummary
    config: DictConfig
    variant: list[str]   # the overrides that can tell its variant apart
    name: str            # as tables show it: its folder, inside the sweep or folder given

    @property
    def seed(self) -> int:
        return int(self.config.seed)

    def best(self, key: str) -> float | None:
        """A validation score of its best checkpoint."""
        return self.summary.best_metrics.get(key)


@dataclass
class Source:
    """One path given."""

    path: Path
    kind: str                   # "run", "sweep" or "folder of runs"
    runs: list[Path]            # its finished runs
    command: str | None = None  # a sweep's command, as typed
    notes: str | None = None    # its NOTES.md
    left_out: list[str] = field(default_factory=list)   # what was not read, and why


@dataclass
class Study:
    sources: list[Source]
    runs: list[StudyRun]
    variants: dict[str, list[StudyRun]]
    pairing: Pairing
    comparisons: list[Comparison]   # each variant's validation scores against its baseline's
    suites: list[SuiteReport]
    axes: list[str]                 # numeric keys the variants differ in: drawn as curves

    def shown_overrides(self, label: str) -> dict[str, str]:
        """key -> value of a variant's overrides less those every run shares."""
        shared = set.intersection(*(set(r.variant) for r in self.runs))
        return as_values([o for o in self.variants[label][0].variant if o not in shared])


def read_study(paths: list[Path], baseline: str | None) -> Study:
    """The study of the runs under `paths`; a --baseline that cannot pair every variant is one
    line (evaluation.compare.baseline_pairs), as is a path that holds no finished run."""
    if not paths:
        raise UserError("Give the runs to report: run folders, sweep folders or folders of runs.")
    sources = [_source(Path(path)) for path in paths]
    seen: set[Path] = set()
    runs = []
    for source in sources:
        for path in source.runs:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                run = Run(path)
                # on today's schema: a key added since the run reads its default, as the run
                # behaved, and does not count as a difference between variants
                config = run.config()
                name = path.name if source.kind == "run" else f"{source.path.name}/{path.name}"
                runs.append(StudyRun(run, run.summary(), config,
                                     variant_overrides(run, config.dataset.name), name))
    variants = group_by_variant(runs, lambda r: r.variant)
    pairing = baseline_pairs(variants, baseline)
    comparisons = compare_values(variants, pairing.pairs, [m.key for m in PAIRED],
                                 StudyRun.best, VALIDATION)
    study = Study(sources, runs, variants, pairing, comparisons, [], [])
    study.suites = [_suite(name, runs, baseline) for name in
                    sorted({name for r in runs for name in r.run.suite_reports()})]
    study.axes = _axes(study)
    return study


def _source(path: Path) -> Source:
    if not path.exists():
        raise UserError(f"{path} does not exist; give run folders, sweep folders or folders of "
                        "runs.")
    notes = path / NOTES
    notes = notes.read_text(encoding="utf-8").strip() if notes.is_file() else None
    if Run.is_run(path):
        if not Run(path).finished:
            raise UserError(f"{path}: the run has not finished (no {Run.SUMMARY}); continue it "
                            f"(afa train --resume {path}) or leave it out.")
        return Source(path, "run", [path], notes=notes)
    if SweepState.is_sweep(path):
        state = SweepState.read(path)
        done = [state.job_dir(job) for job in state.jobs
                if job.status == DONE and Run(state.job_dir(job)).finished]
        left_out = len(state.jobs) - len(done)
        source = Source(path, "sweep", done, state.command, notes,
                        [f"{left_out} of {len(state.jobs)} jobs not done"] if left_out else [])
        if not done:
            raise UserError(f"{path}: none of the sweep's {len(state.jobs)} jobs is done yet; "
                            "report it when some are (afa sweep --resume finishes them).")
        return source
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if Run.is_run(p))
        done = [p for p in candidates if Run(p).finished]
        if done:
            unfinished = [p.name for p in candidates if p not in done]
            return Source(path, "folder of runs", done, notes=notes, left_out=(
                [f"unfinished: {', '.join(unfinished)}"] if unfinished else []))
        if candidates:
            raise UserError(f"{path}: none of its {len(candidates)} runs has finished (no "
                            f"{Run.SUMMARY}).")
    raise UserError(f"{path} is not a run folder ({Run.CONFIG}), a sweep folder "
                    f"({SweepState.FILE}) or a folder of run folders; give one of those.")


def _suite(name: str, runs: list[StudyRun], baseline: str | None) -> SuiteReport:
    """The suite's latest complete report of every run evaluated with it, compared as afa eval
    --suite compares them. A --baseline the study pairs with but this suite's runs cannot (a
    suite scored on one variant) is a note here, not an error."""
    results: list[RunResults] = [r for r in (read_run_results(run.run, name) for run in runs)
                                 if r is not None]
    variants = group_by_variant(results, lambda r: r.variant)
    probes = list(dict.fromkeys(probe for r in results for probe in r.results))
    try:
        pairing = baseline_pairs(variants, baseline)
    except UserError as err:
        pairing = Pairing(baseline, [], [str(err).rstrip(".")])
    description = Run.suite_report(results[0].report.parent).description
    suite = Suite(name, description, [ProbeConfig(probe) for probe in probes])
    return SuiteReport(suite, results, variants, compare_variants(probes, variants, pairing.pairs),
                       pairing)


def _axes(study: Study) -> list[str]:
    """The override keys two or more variants set to different numbers (train.max_train_samples
    of a learning curve, afa.mask_ratio of a mask-ratio study): each is an x axis."""
    numbers: dict[str, set[float]] = {}
    for label in study.variants:
        for key, value in study.shown_overrides(label).items():
            number = as_number(value)
            if number is not None:
                numbers.setdefault(key, set()).add(number)
    return [key for key, values in numbers.items() if len(values) > 1]


def as_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None

