"""`afa eval RUN... --suite NAME`: every probe of a suite on every run, a report per run in its
run folder, and across runs the variants' means and their paired comparisons."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from afa_cli import runs
from afa_cli.commands import EVAL_BATCH_SIZE
from afa_cli.commands.checkpoint import load_composed
from afa_cli.config import compose_for_run
from afa_cli.data import Split, load_split, training_rows
from afa_cli.distributed import resolve_device
from afa_cli.errors import UserError
from afa_cli.evaluation.compare import (RunResults, SuiteReport, baseline_pairs,
                                        compare_variants)
from afa_cli.evaluation.frequency import frequency_ranking
from afa_cli.evaluation.probes import ProbeContext, ProbeResult, run_probe
from afa_cli.evaluation.suites import ProbeKind, Suite, load_suite
from afa_cli.paths import shown_path
from afa_cli.sweep.state import DONE, SweepState
from afa_cli.variants import group_by_variant, variant_overrides


@dataclass
class SuiteRequest:
    paths: list[Path]             # runs, checkpoints inside runs, or sweep folders (their done jobs)
    suite: str
    overrides: list[str] = field(default_factory=list)
    config_dirs: list[Path] = field(default_factory=list)
    baseline: str | None = None   # the variant the others are compared with (e.g. afa=off)
    device: str = "auto"          # auto: the GPU when there is one
    batch_size: int = EVAL_BATCH_SIZE


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


def run_suite(request: SuiteRequest, console: Console) -> SuiteReport:
    suite = load_suite(request.suite, request.config_dirs)
    load_rows = _split_reader()
    planned = [_plan(path, suite, request, load_rows) for path in _run_paths(request.paths)]
    labels = group_by_variant(planned, lambda p: p.variant)
    pairs = baseline_pairs({label: members[0].variant for label, members in labels.items()},
                           request.baseline)
    results = []
    for index, plan in enumerate(planned, start=1):
        console.print(f"run {index}/{len(planned)}: {shown_path(plan.run.path)}",
                      highlight=False)
        results.append(_evaluate_run(plan, suite, request, console, load_rows))
    variants = group_by_variant(results, lambda r: r.variant)
    return SuiteReport(suite, results, variants,
                       compare_variants([probe.name for probe in suite.probes], variants, pairs))


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
    return PlannedRun(checkpoint, run, cfg, datasets)


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


def _evaluate_run(plan: PlannedRun, suite: Suite, request: SuiteRequest, console: Console,
                  load_rows: Callable[[DictConfig, str], Split]) -> RunResults:
    loaded = load_composed(plan.checkpoint, plan.run, plan.cfg, require_trained_head=True,
                           device=resolve_device(request.device, option="--device "))
    folder = plan.run.new_suite_folder(suite.name)
    context = ProbeContext(loaded, _train_ranking(plan.cfg, load_rows), folder, console,
                           request.batch_size, load_rows)
    report = {"suite": suite.name, "description": suite.description,
              # absolute: Run.keep makes them relative to the run, whatever folder scored it
              "run": str(plan.run.path.resolve()), "checkpoint": str(plan.checkpoint.resolve()),
              "overrides": list(request.overrides), "probes": [], "skipped": {}}
    path = folder / runs.Run.SUITE_REPORT
    results: dict[str, ProbeResult] = {}
    measured: dict[tuple, ProbeResult] = {}  # the same measurement under two names runs once
    for index, probe in enumerate(suite.probes, start=1):
        console.print(f"  probe {index}/{len(suite.probes)}: {probe.name}", highlight=False)
        start = time.perf_counter()
        same = (plan.datasets[probe.name].name,
                *(v for k, v in vars(probe).items() if k not in ("name", "dataset")))
        try:
            if same not in measured:
                measured[same] = run_probe(probe, plan.datasets[probe.name], context)
        except UserError as err:
            if ProbeKind(probe.kind) != ProbeKind.attack:
                raise
            report["skipped"][probe.name] = str(err)  # e.g. no WordNet: the rest runs
            console.print(f"  skipped {probe.name}: {err}", highlight=False)
        else:
            results[probe.name] = replace(measured[same], probe=probe.name)
            report["probes"].append(results[probe.name].to_dict()
                                    | {"seconds": round(time.perf_counter() - start, 2)})
        runs.write_json(path, report)  # after every probe: a stop keeps what was measured
    return RunResults(plan.run, int(plan.cfg.seed), plan.variant, results, report["skipped"],
                      path)
