"""A study as a document (afa_cli/views renders it): the notes, the variants' validation scores
and figures, their paired comparisons, every suite's probes, how each variant was made (commands
and config differences), the runs and their environment."""

from __future__ import annotations

import shlex
import statistics
from collections.abc import Iterable

from omegaconf import OmegaConf

from afa_cli.evaluation.document import (COMPARISON_HEADER, COMPARISON_OPTIONAL,
                                         comparison_cells, variants_section)
from afa_cli.evaluation.compare import SuiteReport, variant_stats
from afa_cli.metrics.registry import ACCURACY, FREQUENT_MASS, LEXICON_MASS, SCORES, uniform_value
from afa_cli.metrics.seeds import SeedStats
from afa_cli.paths import shown_path
from afa_cli.report import figures
from afa_cli.report.study import Study, StudyRun
from afa_cli.sweep.summary import Group
from afa_cli.variants import IGNORED_OVERRIDES
from afa_cli.views.sections import (Code, Document, Image, Note, Number, Prose, Reference,
                                    Section, Table)

PLOTTED = (ACCURACY, LEXICON_MASS)
UNIFORM_REPORTED = (LEXICON_MASS, FREQUENT_MASS)
STD_NOTE = "best checkpoint's validation scores; mean ± sample std (ddof=1) over seeds"
PAIRED_NOTE = ("difference = variant − baseline over the seeds both have, of each run's "
               "best-checkpoint validation score (summary.json): Student's t 95% interval and "
               "paired t-test over seeds (no spread: every seed moved by the same amount). A CI "
               "that includes 0 is no difference. Tests on each example (McNemar) come with a "
               "suite: afa eval RUNS --suite NAME, then report again.")
# Where a run was written (and its folder's name), never how it was made: left out of the
# commands shown.
WHERE = ("run_dir", "output_dir", "name")
PACKAGES = ("afa", "torch", "transformers", "datasets", "hydra-core")   # summary.json has them


def study_document(study: Study) -> Document:
    sections = [about_section(study), variants_scores_section(study)]
    if study.comparisons or study.pairing.unpaired:
        sections.append(paired_section(study))
    sections += [suite_section(suite) for suite in study.suites]
    sections += [made_section(study), runs_section(study), environment_section(study)]
    labels = list(study.variants)
    shown = ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "")
    return Document(_title(study),
                    f"{len(study.runs)} runs in {len(labels)} variant"
                    f"{'s' if len(labels) != 1 else ''} ({shown}); {STD_NOTE}.",
                    tuple(sections))


def _title(study: Study) -> str:
    if len(study.sources) == 1:
        return f"Study {study.sources[0].path.resolve().name}"
    return f"Study of {len(study.sources)} folders"


# ---- what was given ----------------------------------------------------------------------------

def about_section(study: Study) -> Section:
    blocks: list = []
    for source in study.sources:
        if source.notes:
            if len(study.sources) > 1:
                blocks.append(Note(f"{shown_path(source.path)}:"))
            blocks.append(Prose(source.notes))
    rows = tuple((shown_path(s.path), s.kind, Number(len(s.runs), str(len(s.runs))),
                  "; ".join(s.left_out) or "–") for s in study.sources)
    blocks.append(Table(("given", "kind", "finished runs", "left out"), rows))
    return Section("about", tuple(blocks))


# ---- the variants' validation scores -----------------------------------------------------------

def _stats(runs: list[StudyRun], key: str) -> SeedStats:
    return SeedStats.of(run.best(key) for run in runs)


def _mean(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


def _number(value: float | None, digits: int) -> Number:
    return Number(value, "–" if value is None else f"{value:.{digits}f}")


def variants_scores_section(study: Study) -> Section:
    header = ("variant", "n", *(metric.label for metric in SCORES), "train min/run",
              "train ex/s")
    rows = []
    for label, runs in study.variants.items():
        stats = [_stats(runs, metric.key) for metric in SCORES]
        minutes = _mean(r.summary.train_seconds for r in runs)
        rows.append((label, Number(len(runs), str(len(runs))),
                     *(Number(s.mean, s.format(metric.digits)) for s, metric in zip(stats, SCORES)),
                     _number(None if minutes is None else minutes / 60, 1),
                     _number(_mean(r.summary.train_examples_per_s for r in runs), 1)))
    blocks: list = [Table(header, tuple(rows), title=STD_NOTE), _uniform_table(study)]
    blocks.append(Note("; ".join(f"{metric.label}: {metric.description}" for metric in SCORES)
                       + ". train min/run, train ex/s: training time and speed, means over runs "
                         "(only comparable between runs that had the machine to themselves)."))
    blocks.append(Image("variants", figures.png(figures.panels(
        [figures.Panel(metric.label, [(label, _stats(runs, metric.key))
                                      for label, runs in study.variants.items()])
         for metric in PLOTTED], STD_NOTE)),
        f"{' and '.join(m.label for m in PLOTTED)} per variant, mean ± sample std over seeds"))
    for key in study.axes:
        groups = [Group(study.shown_overrides(label),
                        [{metric.key: run.best(metric.key) for metric in PLOTTED} for run in runs])
                  for label, runs in study.variants.items()]
        for metric in PLOTTED:
            figure = figures.curve(groups, key, metric.key, STD_NOTE)
            if figure is not None:
                what = ("learning curve" if key == "train.max_train_samples"
                        else f"{metric.label} against {key}")
                blocks.append(Image(f"{metric.key}_by_{key}", figures.png(figure),
                                    f"{what}: {metric.label} against {key}, one line per "
                                    "variant, mean ± sample std over seeds"))
    return Section("variants", tuple(blocks))


def _uniform_table(study: Study) -> Table:
    """Per dataset, what uniform attention would score: the reference of the attention metrics."""
    by_dataset: dict[str, list[StudyRun]] = {}
    for run in study.runs:
        by_dataset.setdefault(run.summary.dataset, []).append(run)
    rows = []
    for dataset, runs in by_dataset.items():
        means = [_mean(uniform_value(r.summary.best_metrics, metric) for r in runs)
                 for metric in UNIFORM_REPORTED]
        rows.append((dataset, *(Reference(m, "–" if m is None else metric.format(m))
                                for m, metric in zip(means, UNIFORM_REPORTED))))
    return Table(("dataset", *(metric.label for metric in UNIFORM_REPORTED)), tuple(rows),
                 title="under uniform attention (the same score if attention were spread evenly "
                       "over the words), mean over runs")


def paired_section(study: Study) -> Section:
    blocks: list = []
    if study.comparisons:
        blocks.append(Table(COMPARISON_HEADER, tuple(map(comparison_cells, study.comparisons)),
                            title=f"each variant paired with its baseline "
                                  f"({study.pairing.baseline})", optional=COMPARISON_OPTIONAL))
        blocks.append(Note(PAIRED_NOTE))
    blocks += [Note(f"not paired: {why}") for why in study.pairing.unpaired]
    return Section("paired with the baseline", tuple(blocks))


# ---- suites ------------------------------------------------------------------------------------

def suite_section(report: SuiteReport) -> Section:
    """The probes per variant and the paired comparisons, as afa eval --suite shows them, with
    a plot per probe."""
    name = report.suite.name
    blocks: list = [Note(f"{report.suite.description} ({len(report.runs)} runs evaluated; each "
                         f"run's latest complete report suites/{name}[-N]/report.json).")]
    blocks += variants_section(report).blocks
    skipped = dict.fromkeys(f"skipped {probe}: {why}" for r in report.runs
                            for probe, why in r.skipped.items())
    blocks += [Note(line) for line in skipped]
    probes = [probe.name for probe in report.suite.probes]
    headline = {probe: next(r.results[probe].headline_metric for r in report.runs
                            if probe in r.results) for probe in probes}
    blocks.append(Image(f"suite_{name}", figures.png(figures.panels(
        [figures.Panel(f"{probe}: {headline[probe]}",
                       [(label, variant_stats(members, probe))
                        for label, members in report.variants.items()]) for probe in probes],
        f"suite {name}: each probe's headline number, mean ± sample std over runs")),
        f"suite {name}: each probe's headline number per variant, mean ± sample std over runs"))
    return Section(f"suite {name}", tuple(blocks))


# ---- how each variant was made -----------------------------------------------------------------

def made_section(study: Study) -> Section:
    blocks: list = []
    for source in study.sources:
        if source.command:
            blocks += [Note(f"the sweep {shown_path(source.path)} (sweep.yaml):"),
                       Code(source.command)]
    for label, runs in study.variants.items():
        blocks += [Note(f"{label}:"), Code("\n".join(_commands(runs)))]
    blocks.append(Note("Each variant's runs, by the overrides in their overrides.yaml (where "
                       "they were written aside): one afa sweep over the seeds makes them again "
                       "(afa train for one seed)."))
    blocks.append(_config_differences(study))
    return Section("how each variant was made", tuple(blocks))


def _commands(runs: list[StudyRun]) -> list[str]:
    """The command that makes the runs again: their overrides less the seed and where they were
    written, the seeds as one sweep's list; runs made differently get a command each."""
    by_command: dict[tuple, list[int]] = {}
    for run in runs:
        overrides = tuple(o for o in run.run.overrides()
                          if o.split("=", 1)[0].lstrip("+~") not in ("seed", *WHERE))
        dirs = tuple(str(d) for d in run.run.config_dirs())
        by_command.setdefault((overrides, dirs), []).append(run.seed)
    lines = []
    for (overrides, dirs), seeds in by_command.items():
        seeds = sorted(seeds)
        words = ["afa", "train" if len(seeds) == 1 else "sweep", *overrides,
                 f"seed={','.join(map(str, seeds))}"]
        for folder in dirs:
            words += ["--config-dir", folder]
        lines.append(shlex.join(words))
    return lines


def _flat(config, prefix: str = "") -> dict[str, str]:
    values = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            values.update(_flat(value, f"{name}."))
        else:
            values[name] = str(value)
    return values


def _config_differences(study: Study) -> Table | Note:
    """The resolved config keys (config.yaml) whose values differ between the variants, or
    between runs of one variant; the seed and where and how fast a run was written aside."""
    flat = {label: [_flat(OmegaConf.to_container(r.config)) for r in runs]
            for label, runs in study.variants.items()}
    keys = list(dict.fromkeys(k for configs in flat.values() for c in configs for k in c))
    rows = []
    for key in keys:
        if key in IGNORED_OVERRIDES:
            continue
        cells = [" | ".join(dict.fromkeys(c.get(key, "(not set)") for c in configs))
                 for configs in flat.values()]
        if len(set(cells)) > 1 or any(" | " in cell for cell in cells):
            rows.append((key, *cells))
    if not rows:
        return Note("Every run has the same config (config.yaml), the seed aside.")
    return Table(("config key", *study.variants), tuple(rows),
                 title="config keys whose values differ (config.yaml; a | b: the runs of one "
                       "variant differ)")


# ---- the runs ----------------------------------------------------------------------------------

def runs_section(study: Study) -> Section:
    rows = []
    for label, runs in study.variants.items():
        for run in runs:
            summary = run.summary
            best = summary.best.step if summary.best else None
            minutes = None if summary.train_seconds is None else summary.train_seconds / 60
            rows.append((run.name, label, Number(run.seed, str(run.seed)),
                         _number(best, 0), _number(summary.steps, 0), _number(minutes, 1),
                         "early" if summary.stopped_early else "",
                         ", ".join(run.run.suite_reports()) or "–"))
    return Section("runs", (Table(("run", "variant", "seed", "best step", "steps", "train min",
                                   "stopped", "suites"), tuple(rows)),))


def environment_section(study: Study) -> Section:
    """The versions, commit and device of the runs, one row per combination."""
    groups: dict[tuple, list[StudyRun]] = {}
    for run in study.runs:
        summary = run.summary
        device = summary.device or f"train.device={run.config.train.device}"
        versions = ", ".join(f"{p} {summary.versions.get(p) or '–'}" for p in PACKAGES)
        key = (versions, (summary.git_commit or "–")[:12], str(summary.processes), device,
               str(run.config.train.precision))
        groups.setdefault(key, []).append(run)
    rows = []
    for key, runs in groups.items():
        ids = {id(run) for run in runs}
        variants = dict.fromkeys(label for label, members in study.variants.items()
                                 for r in members if id(r) in ids)
        rows.append((Number(len(runs), str(len(runs))), "; ".join(variants), *key))
    return Section("environment", (
        Table(("runs", "variants", "versions", "git commit", "processes", "device", "precision"),
              tuple(rows)),
        Note("From each run's summary.json (versions, commit, processes, device) and config.yaml "
             "(train.precision); runs trained before afa recorded the device show their "
             "train.device setting.")))
