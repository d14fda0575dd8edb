"""Turn finished runs into docs/RESULTS.md: no number in it is typed by hand.

    python -m benchmarks.results collect SECTION RUN_OR_SWEEP_DIR...  # keep runs' small files
    python -m benchmarks.results render                               # -> docs/RESULTS.md

`collect` copies what docs/results keeps of each run, or of each finished job of a sweep folder
(Run.KEPT: its config, overrides and summary, and the latest report of each suite it was
evaluated with; no checkpoints), into docs/results/runs/<SECTION>/<run>/. `render` groups a
section's runs by the overrides that tell them apart (seed aside), reports mean ± sample std over
seeds, plots accuracy and lexicon mass per group (docs/results/<SECTION>_*.png) and, per suite,
each probe per variant with the variants' paired differences to afa=off. A section's NOTES.md precedes its table; its plot.yaml
may name a config key for the plots' x axis (`x: afa.mask_ratio`), on which runs without AFA
become reference lines."""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from afa_cli.metrics.registry import (ACCURACY, FREQUENT_MASS, LEXICON_MASS, SCORES,
                                     uniform_value)
from afa_cli.metrics.seeds import SeedStats
from afa_cli.runs import Run, RunSummary
from afa_cli.sweep.plot import draw_metric
from afa_cli.sweep.state import SweepState
from afa_cli.sweep.summary import Group
from afa_cli.evaluation.compare import (baseline_pairs, compare_variants, read_run_results,
                                        variant_stats)
from afa_cli.evaluation.document import COMPARISON_HEADER, PAIRED_NOTE, comparison_cells
from afa_cli.variants import group_by_variant, variant_overrides

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "docs" / "results" / "runs"
PLOTTED = (ACCURACY, LEXICON_MASS)
# The metrics whose value under uniform attention a section reports, per dataset.
UNIFORM_REPORTED = (LEXICON_MASS, FREQUENT_MASS)


def collect(section: str, folders: list[str], store: Path = STORE) -> None:
    runs = []  # (run folder, the name it is kept under)
    for folder in map(Path, folders):
        if SweepState.is_sweep(folder):  # job names repeat across sweeps: prefix the sweep's
            runs += [(Run(job), f"{folder.name}__{job.name}") for job in sorted(folder.iterdir())
                     if Run.is_run(job)]
        else:
            runs.append((Run(folder), folder.name))
    for run, name in runs:
        if not run.finished:
            print(f"skipped {run.path}: unfinished run")
            continue
        target = store / section / name
        if Run(target).finished:
            if Run(target).summary() != run.summary():
                raise SystemExit(f"{target} already holds another run; remove it or collect "
                                 "into another section.")
            continue
        run.keep(target)


@dataclass
class KeptRun:
    """One kept run, read once."""

    run: Run
    summary: RunSummary
    overrides: list[str]  # those that can tell variants apart: dataset first, the rest sorted

    @property
    def best(self) -> dict:
        return self.summary.best_metrics


def read_run(folder: Path) -> KeptRun:
    run = Run(folder)
    summary = run.summary()
    return KeptRun(run, summary, variant_overrides(run, summary.dataset))


def section_runs(section: Path) -> dict[str, list[KeptRun]]:
    """Runs by variant, in the order the variants first appear. A variant is named by its
    overrides less those every run of the section shares."""
    runs = [read_run(p) for p in sorted(section.iterdir()) if Run(p).finished]
    return group_by_variant(runs, lambda run: run.overrides)


def section_table(groups: dict[str, list[KeptRun]]) -> list[str]:
    header = ["variant", "n", *[metric.label for metric in SCORES], "train min/run", "train ex/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, runs in groups.items():
        cells = [f"`{name}`", str(len(runs))]
        cells += [SeedStats.of(run.best.get(metric.key) for run in runs).format(metric.digits)
                  for metric in SCORES]
        cells.append(f"{statistics.mean(run.summary.train_seconds for run in runs) / 60:.1f}")
        cells.append(f"{statistics.mean(run.summary.train_examples_per_s for run in runs):.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    by_dataset: dict[str, list[dict]] = {}
    for runs in groups.values():
        for run in runs:
            by_dataset.setdefault(run.summary.dataset, []).append(run.best)
    lines.append("")
    for dataset, metrics in by_dataset.items():
        means = [(metric, statistics.mean(uniform_value(m, metric) for m in metrics))
                 for metric in UNIFORM_REPORTED]
        lines.append(f"Under uniform attention, {dataset}: "
                     + ", ".join(f"{metric.label} {metric.format(mean)}" for metric, mean in means)
                     + ".  ")
    return lines


def section_suites(runs: list[KeptRun]) -> list[str]:
    """Per suite the runs were evaluated with: each probe's headline number per variant, and
    every variant's paired difference to its afa=off variant."""
    lines = []
    for suite in sorted({name for run in runs for name in run.run.suite_reports()}):
        results = [r for r in (read_run_results(run.run, suite) for run in runs) if r is not None]
        variants = group_by_variant(results, lambda r: r.variant)
        probes = list(dict.fromkeys(p for r in results for p in r.results))
        lines += [f"### Suite `{suite}`", "",
                  "| probe | metric | " + " | ".join(f"{label} (n={len(members)})"
                                                    for label, members in variants.items()) + " |",
                  "|---|---|" + "---|" * len(variants)]
        for probe in probes:
            metric = next(r.results[probe].headline_metric for r in results if probe in r.results)
            lines.append(f"| {probe} | {metric} | " + " | ".join(
                variant_stats(members, probe).format(3) for members in variants.values()) + " |")
        comparisons = compare_variants(probes, variants, baseline_pairs(variants, None).pairs)
        if comparisons:
            lines += ["", PAIRED_NOTE, "", "| " + " | ".join(COMPARISON_HEADER) + " |",
                      "|" + "---|" * len(COMPARISON_HEADER)]
            lines += ["| " + " | ".join(comparison_cells(c)) + " |" for c in comparisons]
        lines.append("")
    return lines


def section_plots(section: Path, groups: dict[str, list[KeptRun]]) -> list[Path]:
    """docs/results/<section>_<metric>.png for the accuracy and the lexicon mass."""
    plot = section / "plot.yaml"
    x_key = OmegaConf.load(plot).x if plot.is_file() else None
    plotted = []
    for label, runs in groups.items():
        config = runs[0].run.config()
        x = OmegaConf.select(config, x_key) if x_key and config.afa.enabled else None
        # on an x axis, the points form one line named by the key; the rest are reference lines
        values = ({x_key: str(x), "variant": ""} if x is not None else
                  {x_key: "", "variant": label} if x_key else {"variant": label})
        plotted.append(Group(values, [{metric.key: run.best[metric.key] for metric in PLOTTED}
                                      for run in runs]))
    paths = []
    for metric in PLOTTED:
        figure = draw_metric(plotted, x_key or "variant", metric.key,
                             "best checkpoint; mean ± sample std over seeds")
        if figure is not None:
            path = section.parent.parent / f"{section.name}_{metric.key}.png"
            figure.savefig(path, dpi=110)
            paths.append(path)
    return paths


def render(store: Path = STORE, out_path: Path = ROOT / "docs" / "RESULTS.md") -> None:
    out = [
        "# Results", "",
        "Generated by `python -m benchmarks.results render` from the run summaries kept in",
        f"`docs/results/runs/` (each run's {', '.join(Run.KEPT[:-1])} and {Run.KEPT[-1]}). "
        "Metrics are",
        "those of each run's best validation checkpoint; mean ± sample standard deviation over seeds.",
        "Attention metrics: share of word attention on VADER-lexicon words (lexicon mass) and on the",
        "100 most frequent training words (frequent mass), lexicon precision of the top-5 attended",
        "words, and normalised attention entropy.", "",
    ]
    for section in sorted(p for p in store.iterdir() if p.is_dir()):
        groups = section_runs(section)
        if not groups:
            continue
        out += [f"## {section.name}", ""]
        notes = section / "NOTES.md"
        if notes.is_file():
            out += [notes.read_text().strip(), ""]
        out += section_table(groups) + [""]
        out += section_suites([run for runs in groups.values() for run in runs])
        out += [f"![{path.stem}]({path.relative_to(out_path.parent).as_posix()})"
                for path in section_plots(section, groups)] + [""]
    out_path.write_text("\n".join(out))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "collect":
        collect(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:] == ["render"]:
        render()
    else:
        raise SystemExit(__doc__)
