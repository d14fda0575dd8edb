"""A suite's report as a document (afa_cli/views renders it): per run, a table per kind of
probe, in the order the suite first runs each kind; across runs, the variants' means and each
variant's paired difference to the baseline."""

from __future__ import annotations

import math
from dataclasses import replace

from afa_cli.evaluation.compare import Comparison, RunResults, SuiteReport, variant_stats
from afa_cli.evaluation.kinds import probe_kind
from afa_cli.paths import shown_path
from afa_cli.views.sections import Document, Note, Section, Table


def fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"


def run_section(run: RunResults) -> Section:
    blocks = []
    for kind in map(probe_kind, dict.fromkeys(r.kind for r in run.results.values())):
        rows = [(name, result.dataset, str(result.num_examples),
                 *(fmt(result.metrics.get(key)) for key, _ in kind.columns))
                for name, result in run.results.items() if result.kind == kind.name]
        blocks.append(Table(("probe", "dataset", "n", *(title for _, title in kind.columns)),
                            tuple(rows), title=kind.name, optional=("dataset",)))
        blocks.append(Note(kind.legend))
    blocks += [Note(f"skipped {name}: {why}") for name, why in run.skipped.items()]
    blocks.append(Note(f"written: {run.report}"))
    return Section(str(run.run.path.name), tuple(blocks))


COMPARISON_HEADER = ("variant", "baseline", "probe", "metric", "difference", "95% CI", "p",
                     "test", "seeds")
# What a narrow terminal leaves out first: a variant's baseline is the variant with the baseline
# override, the metric is the probe's (the means table names it), the test follows the metric.
COMPARISON_OPTIONAL = ("baseline", "test", "metric")
PAIRED_NOTE = ("difference = variant − baseline over the seeds both have. Accuracies from "
               "per-example predictions: CI by bootstrap over seeds and examples within seeds, p "
               "by an exact McNemar test on the pooled predictions; other metrics: Student's t "
               "interval and paired t-test over seeds. A CI that includes 0 is no difference.")


def comparison_cells(comparison: Comparison) -> tuple[str, ...]:
    paired = comparison.paired
    return (comparison.variant, comparison.baseline, comparison.probe, comparison.metric,
            f"{paired.difference:+.4f}", paired.interval_text(4), paired.p_text(),
            comparison.test, str(paired.n_seeds))


def variants_section(report: SuiteReport) -> Section:
    labels = list(report.variants)
    rows = [(probe.name, _headline(report, probe.name),
             *(variant_stats(report.variants[label], probe.name).format(3) for label in labels))
            for probe in report.suite.probes]
    blocks = [Table(("probe", "metric",
                     *(f"{label} (n={len(report.variants[label])})" for label in labels)),
                    tuple(rows), title="each probe's headline number, mean ± sample std over runs",
                    optional=("metric",))]
    if report.comparisons:
        blocks.append(Table(COMPARISON_HEADER,
                            tuple(comparison_cells(c) for c in report.comparisons),
                            title=f"each variant paired with its baseline "
                                  f"({report.pairing.baseline})",
                            optional=COMPARISON_OPTIONAL))
        blocks.append(Note(PAIRED_NOTE))
    blocks += [Note(f"not paired: {why}") for why in report.pairing.unpaired]
    return Section("variants", tuple(blocks))


def runs_section(report: SuiteReport) -> Section:
    """Which run is which variant and seed, and where its report is."""
    rows = tuple((shown_path(r.run.path), label, str(r.seed), shown_path(r.report))
                 for label, members in report.variants.items() for r in members)
    return Section("runs", (Table(("run", "variant", "seed", "report"), rows),))


def comparison_document(report: SuiteReport) -> Document:
    """What is written beside the reports when several runs are compared."""
    return Document(f"suite {report.suite.name}: {len(report.runs)} runs compared",
                    report.suite.description, (runs_section(report), variants_section(report)))


def _headline(report: SuiteReport, probe: str) -> str:
    return next((r.results[probe].headline_metric for r in report.runs if probe in r.results), "–")


def suite_document(report: SuiteReport) -> Document:
    sections = [run_section(run) for run in report.runs]
    if len(report.runs) > 1:
        variants = variants_section(report)
        if report.comparison_files:
            written = ", ".join(map(shown_path, report.comparison_files))
            variants = replace(variants, blocks=(*variants.blocks, Note(f"written: {written}")))
        sections.append(variants)
    return Document(f"suite {report.suite.name}", report.suite.description, tuple(sections))
