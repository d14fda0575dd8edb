"""A suite's report as a document (afa_cli/views renders it): per run, a table per kind of
probe; across runs, the variants' means and each variant's paired difference to the baseline."""

from __future__ import annotations

import math
from dataclasses import replace

from afa_cli.evaluation.compare import Comparison, RunResults, SuiteReport, variant_stats
from afa_cli.evaluation.suites import ProbeKind
from afa_cli.paths import shown_path
from afa_cli.views.sections import Document, Note, Section, Table

# The columns of each kind's table: (metric key, column title).
COLUMNS = {
    ProbeKind.scores: (("accuracy", "acc"), ("macro_f1", "F1"), ("lexicon_mass", "lex"),
                       ("attention_top_100", "top100"), ("attention_unseen", "unseen"),
                       ("truncated_rows", "cut")),
    ProbeKind.pairs: (("original_accuracy", "orig"), ("revised_accuracy", "revised"),
                      ("pair_consistency", "both"), ("num_pairs", "pairs"),
                      ("truncated_rows", "cut")),
    ProbeKind.attack: (("original_accuracy", "acc%"), ("accuracy_under_attack", "attacked%"),
                       ("attack_success_rate", "success%"),
                       ("average_perturbed_word_percent", "words%"), ("avg_num_queries", "queries")),
    ProbeKind.faithfulness: (("attention.comprehensiveness_aopc", "attn comp"),
                             ("attention.sufficiency_aopc", "attn suff"),
                             ("leave_one_out.comprehensiveness_aopc", "LOO comp"),
                             ("lexicon.comprehensiveness_aopc", "lex comp"),
                             ("random.comprehensiveness_aopc", "rand comp"),
                             ("kendall_tau_attention_leave_one_out", "tau")),
}
# What each kind's short column titles mean.
LEGENDS = {
    ProbeKind.scores: "acc: accuracy; F1: macro-F1; lex: attention mass on lexicon words; "
                      "top100 / unseen: on the 100 most frequent training words / on words "
                      "training never saw; cut: rows longer than max_length (truncated)",
    ProbeKind.pairs: "orig / revised: accuracy on the original reviews / their label-flipped "
                     "revisions; both: share of pairs with both right",
    ProbeKind.attack: "acc%: accuracy before the attack; attacked%: accuracy under attack; "
                      "success%: attacks that flipped a right prediction; words%: words edited "
                      "per successful attack; queries: model calls per attacked input",
    ProbeKind.faithfulness: "comp: comprehensiveness AOPC, the probability drop when the "
                            "top-ranked words are removed (higher: the ranking found what the "
                            "prediction rests on); suff: sufficiency AOPC, the drop when only "
                            "they are kept (lower is better); LOO: leave-one-out ranking; tau: "
                            "Kendall tau of attention and leave-one-out",
}


def fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"


def run_section(run: RunResults) -> Section:
    blocks = []
    for kind, columns in COLUMNS.items():
        rows = [(name, result.dataset, str(result.num_examples),
                 *(fmt(result.metrics.get(key)) for key, _ in columns))
                for name, result in run.results.items() if result.kind == kind.value]
        if rows:
            blocks.append(Table(("probe", "dataset", "n", *(title for _, title in columns)),
                                tuple(rows), title=kind.value, optional=("dataset",)))
            blocks.append(Note(LEGENDS[kind]))
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
