"""Turn finished runs into docs/RESULTS.md: no number in it is typed by hand.

    python -m benchmarks.results collect SECTION RUN_OR_SWEEP_DIR...  # keep runs' small files
    python -m benchmarks.results render                               # -> docs/RESULTS.md

`collect` copies config.yaml, overrides.yaml and summary.json (no checkpoints) of each run, or of
each finished job of a sweep folder, into docs/results/runs/<SECTION>/<run>/. `render` groups a
section's runs by the overrides that tell them apart (seed aside), reports mean ± sample std over
seeds and plots accuracy and lexicon mass per group (docs/results/<SECTION>_*.png). A section's
NOTES.md precedes its table; its plot.yaml may name a config key for the plots' x axis
(`x: afa.mask_ratio`), on which runs without AFA become reference lines."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from afa_cli.sweep.plot import draw_metric
from afa_cli.sweep.summary import Group

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "docs" / "results" / "runs"
KEPT_FILES = ("config.yaml", "overrides.yaml", "summary.json")
# Overrides that never tell variants apart: where a run went and how many threads it had.
IGNORED_OVERRIDES = ("seed", "run_dir", "output_dir", "name", "train.num_threads")
PLOTTED = ("accuracy", "lexicon_mass")
COLUMNS = [("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("lexicon_mass", "lexicon mass"),
           ("frequent_mass", "frequent mass"), ("lexicon_precision@5", "lexicon P@5"),
           ("attn_entropy", "attn entropy")]


def collect(section: str, folders: list[str], store: Path = STORE) -> None:
    runs = []  # (run folder, the name it is kept under)
    for folder in map(Path, folders):
        if (folder / "sweep.yaml").is_file():  # job names repeat across sweeps: prefix the sweep's
            runs += [(job, f"{folder.name}__{job.name}") for job in sorted(folder.iterdir())
                     if (job / "config.yaml").is_file()]
        else:
            runs.append((folder, folder.name))
    for run, name in runs:
        if not (run / "summary.json").is_file():
            print(f"skipped {run}: no summary.json (unfinished run)")
            continue
        target = store / section / name
        if (target / "summary.json").is_file():
            if (target / "summary.json").read_bytes() != (run / "summary.json").read_bytes():
                raise SystemExit(f"{target} already holds another run; remove it or collect "
                                 "into another section.")
            continue
        target.mkdir(parents=True, exist_ok=True)
        for name in KEPT_FILES:
            shutil.copy2(run / name, target / name)


@dataclass
class Run:
    """One kept run, read once."""

    folder: Path
    summary: dict
    overrides: list[str]  # those that can tell variants apart: dataset first, the rest sorted

    @property
    def best(self) -> dict:
        return self.summary["best"]["metrics"]


def read_run(folder: Path) -> Run:
    summary = json.loads((folder / "summary.json").read_text())
    overrides = [o for o in OmegaConf.load(folder / "overrides.yaml")
                 if o.split("=", 1)[0].lstrip("+") not in IGNORED_OVERRIDES + ("dataset",)]
    return Run(folder, summary, [f"dataset={summary['dataset']}", *sorted(overrides)])


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def section_runs(section: Path) -> dict[str, list[Run]]:
    """Runs by variant, in the order the variants first appear. A variant is named by its
    overrides less those every run of the section shares."""
    runs = [read_run(p) for p in sorted(section.iterdir()) if (p / "summary.json").is_file()]
    shared = set.intersection(*(set(run.overrides) for run in runs)) if runs else set()
    groups: dict[str, list[Run]] = {}
    for run in runs:
        label = " ".join(o for o in run.overrides if o not in shared) or "(shared settings)"
        groups.setdefault(label, []).append(run)
    return groups


def section_table(groups: dict[str, list[Run]]) -> list[str]:
    header = ["variant", "n", *[title for _, title in COLUMNS], "train min/run", "train ex/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, runs in groups.items():
        cells = [f"`{name}`", str(len(runs))]
        cells += [mean_std([run.best[key] for run in runs if run.best.get(key) is not None])
                  for key, _ in COLUMNS]
        cells.append(f"{statistics.mean(run.summary['train_seconds'] for run in runs) / 60:.1f}")
        cells.append(f"{statistics.mean(run.summary['train_examples_per_s'] for run in runs):.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    by_dataset: dict[str, list[dict]] = {}
    for runs in groups.values():
        for run in runs:
            by_dataset.setdefault(run.summary["dataset"], []).append(run.best)
    lines.append("")
    for dataset, metrics in by_dataset.items():
        lex = statistics.mean(m["lexicon_mass_uniform"] for m in metrics)
        freq = statistics.mean(m["frequent_mass_uniform"] for m in metrics)
        lines.append(f"Under uniform attention, {dataset}: lexicon mass {lex:.4f}, "
                     f"frequent mass {freq:.4f}.  ")
    return lines


def section_plots(section: Path, groups: dict[str, list[Run]]) -> list[Path]:
    """docs/results/<section>_<metric>.png for the accuracy and the lexicon mass."""
    plot = section / "plot.yaml"
    x_key = OmegaConf.load(plot).x if plot.is_file() else None
    plotted = []
    for label, runs in groups.items():
        config = OmegaConf.load(runs[0].folder / "config.yaml")
        x = OmegaConf.select(config, x_key) if x_key and config.afa.enabled else None
        # on an x axis, the points form one line named by the key; the rest are reference lines
        values = ({x_key: str(x), "variant": ""} if x is not None else
                  {x_key: "", "variant": label} if x_key else {"variant": label})
        plotted.append(Group(values, [{metric: run.best[metric] for metric in PLOTTED}
                                      for run in runs]))
    paths = []
    for metric in PLOTTED:
        figure = draw_metric(plotted, x_key or "variant", metric,
                             "best checkpoint; mean ± sample std over seeds")
        if figure is not None:
            path = section.parent.parent / f"{section.name}_{metric}.png"
            figure.savefig(path, dpi=110)
            paths.append(path)
    return paths


def render(store: Path = STORE, out_path: Path = ROOT / "docs" / "RESULTS.md") -> None:
    out = [
        "# Results", "",
        "Generated by `python -m benchmarks.results render` from the run summaries kept in",
        "`docs/results/runs/` (each run's config.yaml, overrides.yaml and summary.json). Metrics are",
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
