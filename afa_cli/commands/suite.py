"""`afa eval RUN... --suite NAME`: every probe of a suite on every run, a report per run in its
run folder, and across runs the variants' means and their paired comparisons."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from afa_cli import files, runs
from afa_cli.checkpoint import compose_for_run, load_composed
from afa_cli.data import Split, load_split, training_rows
from afa_cli.distributed import resolve_device
from afa_cli.errors import UserError
from afa_cli.evaluation.compare import (RunResults, SuiteReport, baseline_pairs,
                                        compare_variants, comparison_payload)
from afa_cli.evaluation.document import comparison_document
from afa_cli.evaluation.frequency import frequency_ranking
from afa_cli.evaluation.context import ProbeContext
from afa_cli.evaluation.kinds import probe_kind
from afa_cli.evaluation.probes import run_probe
from afa_cli.evaluation.results import ProbeResult
from afa_cli.evaluation.suites import ProbeConfig, Suite, load_suite
from afa_cli.metrics import EVAL_BATCH_SIZE
from afa_cli.paths import shown_path
from afa_cli.sweep.state import DONE, SweepState
from afa_cli.variants import group_by_variant, variant_overrides
from afa_cli.views.markdown import render_markdown


@dataclass
class SuiteRequest:
    paths: list[Path]             # runs, checkpoints inside runs, or sweep folders (their done jobs)
    suite: str
    overrides: list[str] = field(default_factory=list)
    config_dirs: list[Path] = field(default_factory=list)
    baseline: str | None = None   # the variant the others are compared with (e.g. afa=off)
    device: str = "auto"          # auto: the GPU when there is one
    batch_size: int = EVAL_BATCH_SIZE
    resume: list[Path] = field(default_factory=list)   # report folders to continue (--resume)


class SuiteInterrupted(Exception):
    """Ctrl-C during a suite: the message says what was finished and the command that
    continues it."""


@dataclass
class PlannedRun:
    """A run as checked before anything is scored."""

    checkpoint: Path
    run: runs.Run
    cfg: DictConfig
    datasets: dict[str, DictConfig]   # probe name -> the dataset it reads

    @cached_property  # read from the run's overrides file once
    def variant(self) -> list[str]:
        return variant_overrides(self.run, self.cfg.dataset.name)

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)


def run_suite(request: SuiteRequest, console: Console) -> SuiteReport:
    """Every probe on every run. Ctrl-C stops it as SuiteInterrupted: every report written so
    far says which probes it still misses, and the same command with --resume continues them."""
    started = _Started(request)
    try:
        return _run_suite(request, console, started)
    except KeyboardInterrupt:
        raise SuiteInterrupted(started.interrupted_line()) from None


def _run_suite(request: SuiteRequest, console: Console, started: "_Started") -> SuiteReport:
    suite = load_suite(request.suite, request.config_dirs)
    load_rows = _split_reader()
    planned = [_plan(path, suite, request, load_rows) for path in _run_paths(request.paths)]
    resumed = _resumed(request, planned, suite)
    started.runs = [plan.run.path for plan in planned]
    # what cannot be paired is refused here, before anything is scored
    pairing = baseline_pairs(group_by_variant(planned, lambda p: p.variant), request.baseline)
    results = []
    for index, plan in enumerate(planned, start=1):
        console.print(f"run {index}/{len(planned)}: {shown_path(plan.run.path)}",
                      highlight=False)
        results.append(_evaluate_run(plan, suite, request, console, load_rows,
                                     resumed.get(plan.run.path.resolve()), started))
    variants = group_by_variant(results, lambda r: r.variant)
    comparisons = compare_variants([probe.name for probe in suite.probes], variants,
                                   pairing.pairs)
    report = SuiteReport(suite=suite, runs=results, variants=variants, comparisons=comparisons,
                         pairing=pairing)
    if len(results) > 1:
        report.comparison_files = _write_comparison(report)
    return report


def _write_comparison(report: SuiteReport) -> list[Path]:
    """The comparison across runs as JSON and Markdown: in the sweep folder when every run is a
    job of one sweep (comparison_<suite>.json), else beside each run's report (comparison.json
    in its suites/<suite>[-N]/); never over an earlier file (then comparison-2.json, ...)."""
    payload = comparison_payload(report)
    markdown = render_markdown(comparison_document(report))
    parents = {r.run.path.resolve().parent for r in report.runs}
    if len(parents) == 1 and SweepState.is_sweep(sweep := next(iter(parents))):
        places = [(sweep, f"{runs.Run.SUITE_COMPARISON}_{report.suite.name}")]
    else:
        places = [(r.report.parent, runs.Run.SUITE_COMPARISON) for r in report.runs]
    written = []
    for folder, stem in places:
        path = runs.write_new_json(folder, stem, payload)
        files.write_text(path.with_suffix(".md"), markdown)
        written += [path, path.with_suffix(".md")]
    return written


def _run_paths(paths: list[Path]) -> list[Path]:
    """The paths given, a sweep folder standing for its finished jobs."""
    expanded = []
    for path in paths:
        if SweepState.is_sweep(path):
            state = SweepState.read(path)
            expanded += [state.job_dir(job) for job in state.jobs if job.status == DONE]
        else:
            expanded.append(path)
    return expanded


def _split_reader() -> Callable[[DictConfig, str], Split]:
    """load_split, each split of a dataset config read once: every run's plan checks the same
    splits, and every run's probes and frequency profile read them."""
    read: dict[tuple[str, str], Split] = {}

    def load_rows(dataset: DictConfig, split: str) -> Split:
        key = (OmegaConf.to_yaml(dataset), split)
        if key not in read:
            read[key] = load_split(dataset, split)
        return read[key]
    return load_rows


def _plan(path: Path, suite: Suite, request: SuiteRequest,
          load_rows: Callable[[DictConfig, str], Split]) -> PlannedRun:
    """The run, its config and each probe's dataset config; refused in one line when a probe's
    labels are not the checkpoint's or its data is not there."""
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
            run, request.overrides, request.config_dirs, dataset=name).dataset
        if [str(n).lower() for n in dataset.label_names] != [n.lower() for n in labels]:
            raise UserError(f"probe {probe.name}: dataset={name} has the labels "
                            f"{', '.join(map(str, dataset.label_names))} but {checkpoint} predicts "
                            f"{', '.join(labels)}; remove the probe or use a matching dataset.")
        try:
            load_rows(dataset, probe.split)
        except UserError as err:
            raise UserError(f"probe {probe.name}: {err}") from None
        datasets[probe.name] = dataset
    return PlannedRun(checkpoint=checkpoint, run=run, cfg=cfg, datasets=datasets)


def _checkpoint_labels(checkpoint: Path) -> list[str]:
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    id2label = config.get("id2label", {})
    return [str(id2label[key]) for key in sorted(id2label, key=int)]


def _train_ranking(cfg: DictConfig,
                   load_rows: Callable[[DictConfig, str], Split]) -> list[str] | None:
    """The run's training words by frequency; None when its training data is not here."""
    try:
        return frequency_ranking(training_rows(cfg, load_rows).texts)
    except UserError:
        return None


def _resumed(request: SuiteRequest, planned: list[PlannedRun], suite: Suite) -> dict[Path, Path]:
    """run folder (resolved) -> the report folder --resume continues for it, each checked to be
    a report of this suite, on one of the runs, with these overrides, before anything is
    scored."""
    runs_given = {plan.run.path.resolve(): plan for plan in planned}
    resumed: dict[Path, Path] = {}
    for folder in request.resume:
        report = runs.Run.suite_report(folder)
        if report is None:
            raise UserError(f"--resume {folder}: no suite report there; give the report folder "
                            f"an interrupted evaluation printed (RUN/{runs.Run.SUITES}/"
                            f"{suite.name}[-N]).")
        if report.suite != suite.name:
            raise UserError(f"--resume {folder} is a report of suite {report.suite}, not "
                            f"{suite.name}; give --suite {report.suite}.")
        run = Path(folder).resolve().parent.parent
        if run not in runs_given:
            raise UserError(f"--resume {folder} belongs to the run {shown_path(run)}, which is "
                            "not among the runs given; add it, or drop this --resume.")
        if run in resumed:
            raise UserError(f"--resume {folder}: {shown_path(resumed[run])} continues the same "
                            "run; give one report folder per run.")
        scored = Path(report.checkpoint or "").name
        if scored != runs_given[run].checkpoint.resolve().name:
            raise UserError(f"--resume {folder} scored the checkpoint {scored} of its run, not "
                            f"{runs_given[run].checkpoint.name}; give the same run or checkpoint "
                            "folder as then.")
        if report.overrides != list(request.overrides):
            given = " ".join(report.overrides) or "none"
            raise UserError(f"--resume {folder} was scored with the overrides {given}; give the "
                            "same overrides, or drop --resume to evaluate anew.")
        measured = [name for name in report.finished
                    if name not in {probe.name for probe in suite.probes}]
        if measured:
            raise UserError(f"--resume {folder}: suite {suite.name} has no probe {measured[0]} "
                            "any more; it changed since that report was written. Drop --resume "
                            "to evaluate anew.")
        resumed[run] = Path(folder)
    return resumed


@dataclass
class _Started:
    """The report folder of each run as soon as it has one, for the line that says how to
    continue an interrupted suite."""

    request: SuiteRequest
    folders: dict[Path, Path] = field(default_factory=dict)   # run folder -> report folder
    runs: list[Path] = field(default_factory=list)             # every run, once planned

    def continue_command(self) -> str:
        request = self.request
        words = ["afa", "eval", *map(str, request.paths), *request.overrides,
                 "--suite", request.suite]
        for folder in request.config_dirs:
            words += ["--config-dir", str(folder)]
        if request.baseline is not None:
            words += ["--baseline", request.baseline]
        if request.device != "auto":
            words += ["--device", request.device]
        if request.batch_size != EVAL_BATCH_SIZE:
            words += ["--batch-size", str(request.batch_size)]
        for folder in self.folders.values():
            words += ["--resume", str(folder)]
        return shlex.join(words)

    def interrupted_line(self) -> str:
        if not self.folders:
            return ("Interrupted before any probe was scored; nothing new was written: run the "
                    "same command again.")
        done = []
        for folder in self.folders.values():
            report = runs.Run.suite_report(folder)
            finished, missing = ((report.finished, report.missing) if report is not None
                                 else ([], []))
            done.append(f"{shown_path(folder)} " + (
                "complete" if not missing else f"{len(finished)} of "
                f"{len(finished) + len(missing)} probes done"
                + (f" ({', '.join(finished)})" if finished else "")))
        runs_left = len(self.runs) - len(self.folders)
        later = f"; {runs_left} more run{'s' if runs_left > 1 else ''} to go" if runs_left else ""
        return (f"Interrupted: {'; '.join(done)}{later}. Continue with: "
                f"{self.continue_command()}")


def _measurement(probe: ProbeConfig, dataset: DictConfig) -> tuple:
    """What a probe measures, its name aside: two probes alike measure once."""
    return (dataset.name, *(v for k, v in vars(probe).items() if k not in ("name", "dataset")))


def _evaluate_run(plan: PlannedRun, suite: Suite, request: SuiteRequest, console: Console,
                  load_rows: Callable[[DictConfig, str], Split], resume: Path | None,
                  started: _Started) -> RunResults:
    """The run's probes into a new report folder, or, resuming one, only the probes it misses.
    The report is written after every probe, saying which probes it still misses: a stopped
    suite keeps what it measured, and --resume continues it."""
    report = _report_to_continue(plan, suite, request, resume)
    results = {probe.probe: ProbeResult.of(probe) for probe in report.probes}
    order = {probe.name: index for index, probe in enumerate(suite.probes)}
    todo = [p for p in suite.probes if p.name not in report.finished]
    report.missing = [probe.name for probe in todo]
    folder = resume
    if todo:
        loaded = load_composed(plan.checkpoint, plan.run, plan.cfg, require_trained_head=True,
                               device=resolve_device(request.device, option="--device "))
        if folder is None:
            folder = plan.run.new_suite_report(report)
        else:
            console.print(f"  continuing {shown_path(folder)}: {len(todo)} of "
                          f"{len(suite.probes)} probes left", highlight=False)
    started.folders[plan.run.path] = folder
    if todo:
        context = ProbeContext(loaded=loaded, train_ranking=_train_ranking(plan.cfg, load_rows),
                               out_folder=folder, console=console,
                               batch_size=request.batch_size, load_rows=load_rows)
        # the same measurement under two names runs once
        measured = {_measurement(p, plan.datasets[p.name]): results[p.name]
                    for p in suite.probes if p.name in results}
        for probe in todo:
            console.print(f"  probe {order[probe.name] + 1}/{len(suite.probes)}: {probe.name}",
                          highlight=False)
            start = time.perf_counter()
            result = _measure(probe, plan.datasets[probe.name], context, measured, report)
            if result is not None:
                results[probe.name] = replace(result,
                                              seconds=round(time.perf_counter() - start, 2))
                report.probes = sorted([*report.probes, results[probe.name]],
                                       key=lambda p: order[p.probe])
            report.missing.remove(probe.name)
            # after every probe: a stop keeps what was measured
            runs.Run.write_suite_report(folder, report,
                                        then=f"continue with: {started.continue_command()}")
    results = {name: results[name] for name in sorted(results, key=order.__getitem__)}
    return RunResults(run=plan.run, seed=plan.seed, variant=plan.variant, results=results,
                      skipped=report.skipped, report=folder / runs.Run.SUITE_REPORT)


def _report_to_continue(plan: PlannedRun, suite: Suite, request: SuiteRequest,
                        resume: Path | None) -> runs.SuiteRunReport:
    """The run's suite report: the report folder's, resuming one, else a new report without
    any probe."""
    if resume is not None:
        return runs.Run.suite_report(resume)
    # absolute: kept results (benchmarks/results.py) make them relative to the run
    return runs.SuiteRunReport(suite=suite.name, description=suite.description,
                               run=str(plan.run.path.resolve()),
                               checkpoint=str(plan.checkpoint.resolve()),
                               overrides=list(request.overrides))


def _measure(probe: ProbeConfig, dataset: DictConfig, context: ProbeContext,
             measured: dict[tuple, ProbeResult],
             report: runs.SuiteRunReport) -> ProbeResult | None:
    """The probe's result under its name; a measurement in `measured` is not made again, a new
    one joins them. None when a probe of a kind a suite can go without cannot run here: the
    report's skipped says why."""
    same = _measurement(probe, dataset)
    try:
        if same not in measured:
            measured[same] = run_probe(probe, dataset, context)
    except UserError as err:
        if not probe_kind(probe.kind).skippable:
            raise
        report.skipped[probe.name] = str(err)  # e.g. no WordNet: the rest runs
        context.console.print(f"  skipped {probe.name}: {err}", highlight=False)
        return None
    return replace(measured[same], probe=probe.name)
