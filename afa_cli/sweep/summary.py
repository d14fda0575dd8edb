"""What a sweep found: summary.csv (one row per job), groups of jobs that differ only in their seed
with mean ± sample std, summary.md and summary.png."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from afa_cli.errors import UserError
from afa_cli.evaluation.statistics import compare_seeds
from afa_cli.files import open_new
from afa_cli.metrics.registry import (ACCURACY, ATTENTION, BEST, CLASSIFICATION,
                                     DEFAULT_RUN_METRIC, FINAL, FREQUENT_MASS, LEXICON_MASS,
                                     MACRO_F1, WALL_SECONDS, at, get)
from afa_cli.metrics.seeds import SeedStats
from afa_cli.runs import Run
from afa_cli.sweep.plot import draw_metric
from afa_cli.sweep.state import DONE, PENDING, RUNNING, JobState, SweepState
from afa_cli.variants import matching_baseline

SEED = "seed"
# Attention quality of the kept model (the best checkpoint), under the metrics' own names.
ATTENTION_METRICS = tuple(metric.key for metric in ATTENTION)
# The numbers of a job that are averaged over seeds, by table.
TABLES = {
    "validation scores": (*(at(evaluation, metric) for evaluation in (BEST, FINAL)
                            for metric in CLASSIFICATION), WALL_SECONDS.key),
    "attention quality at the best checkpoint": ATTENTION_METRICS,
}
METRICS = tuple(metric for metrics in TABLES.values() for metric in metrics)
TABLE_DIGITS = 3  # at most, so that a row of mean ± std cells stays readable
STD_NOTE = "mean ± sample std (ddof=1) over seeds; n = finished jobs"
# The numbers a group is paired with its baseline group on.
COMPARED = (at(BEST, ACCURACY), at(BEST, MACRO_F1), LEXICON_MASS.key, FREQUENT_MASS.key)
PAIRED_NOTE = ("difference = group − baseline; 95% CI: Student's t interval over seeds (no "
               "spread: every seed's difference is the same); p: paired t-test over seeds; a CI "
               "that includes 0 is no difference")


def check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise UserError(f"--metric {metric}: choose one of {', '.join(METRICS)}.")


@dataclass
class Group:
    """Jobs with the same swept values apart from the seed."""

    values: dict[str, str]  # swept key -> value ("" where these jobs do not set the key)
    rows: list[dict]

    def stats(self, metric: str) -> SeedStats:
        """Over the jobs that have the metric."""
        return SeedStats.of(row[metric] for row in self.rows)


@dataclass
class SweepReport:
    sweep_dir: Path
    command: str
    rows: list[dict]
    groups: list[Group]
    group_keys: list[str]
    metric: str
    failed: list[str]     # jobs not done (failed, or never finished)
    files: list[Path]
    live_pid: int | None = None           # the process still running the sweep
    in_progress: dict[str, int] = field(default_factory=dict)  # its running/pending job counts
    baseline: str | None = None           # key=value naming the groups the others are paired with
    comparisons: list[list[str]] = field(default_factory=list)   # rows of that table

    def not_done_line(self) -> str:
        """What to do about the jobs that are not done, in one line."""
        return (f"{len(self.failed)} of {len(self.rows)} jobs not done: {', '.join(self.failed)}. "
                f"Logs: <job>/{Run.JOB_LOG}; run them again with afa sweep --resume "
                f"{self.sweep_dir}")

    def in_progress_line(self) -> str:
        """How far a sweep still running is, in one line."""
        done = sum(row["status"] == DONE for row in self.rows)
        counts = ", ".join(f"{n} {status}" for status, n in self.in_progress.items())
        return (f"the sweep is still running (process {self.live_pid}): {done} of "
                f"{len(self.rows)} jobs done, {counts}; the summary holds the done ones "
                f"(a running job's output: {self.sweep_dir}/<job>.log)")

    def tables(self) -> list[tuple[str, list[str], list[list[str]]]]:
        """(title, header, rows) of the grouped tables: scores, and attention quality; the chosen
        metric comes first in its table."""
        tables = []
        for title, metrics in TABLES.items():
            metrics = sorted(metrics, key=lambda m: m != self.metric)
            rows = []
            for group in self.groups:
                n = sum(row["status"] == DONE for row in group.rows)
                shown_n = str(n) if n == len(group.rows) else f"{n} of {len(group.rows)}"
                rows.append([*(group.values[k] or "–" for k in self.group_keys), shown_n,
                             *(group.stats(m).format(table_digits(m)) for m in metrics)])
            tables.append((title, [*self.group_keys, "n", *metrics], rows))
        if self.baseline:
            tables.append((f"paired with the baseline {self.baseline} (same seeds; {PAIRED_NOTE})",
                           [*self.group_keys, "metric", "difference", "95% CI", "p", "seeds"],
                           self.comparisons))
        return tables


def table_digits(metric: str) -> int:
    return min(get(metric).digits, TABLE_DIGITS)


def summarize(sweep_dir: Path, metric: str = DEFAULT_RUN_METRIC,
              baseline: str | None = None) -> SweepReport:
    """Read every finished job's run summary and write summary.csv, summary.md and summary.png;
    with a baseline (key=value), each group's paired difference to its baseline group."""
    check_metric(metric)
    sweep_dir = Path(sweep_dir)
    state = SweepState.read(sweep_dir)
    swept = state.swept_keys
    rows = [job_row(state, job) for job in state.jobs]
    group_keys = [key for key in swept if key != SEED]
    groups: dict[tuple, Group] = {}
    for row in rows:
        values = {key: row[key] for key in group_keys}
        groups.setdefault(tuple(values.values()), Group(values, [])).rows.append(row)
    live_pid = state.live_pid()
    # while the sweep runs, its running and pending jobs are on their way, not failures
    on_their_way = {RUNNING, PENDING} if live_pid else set()
    report = SweepReport(sweep_dir, state.command, rows, list(groups.values()), group_keys,
                         metric, [row["job"] for row in rows
                                  if row["status"] not in {DONE, *on_their_way}], [], live_pid,
                         {status: n for status in (RUNNING, PENDING)
                          if status in on_their_way
                          and (n := sum(row["status"] == status for row in rows))})
    if baseline is not None:
        report.baseline = baseline
        report.comparisons = paired_rows(report.groups, group_keys, *parse_baseline(baseline,
                                                                                    group_keys))
    report.files.append(write_csv(sweep_dir / "summary.csv", rows))
    png = sweep_dir / "summary.png"
    png.unlink(missing_ok=True)  # never leave a plot of an earlier summary behind
    figure = draw_metric(*plotted_groups(report), metric, STD_NOTE)
    if figure is not None:
        figure.savefig(png, dpi=120)
        report.files.append(png)
    report.files.append(write_markdown(sweep_dir / "summary.md", report, figure is not None))
    return report


def parse_baseline(baseline: str, group_keys: list[str]) -> tuple[str, str]:
    key, _, value = baseline.partition("=")
    if not value or key not in group_keys:
        raise UserError(f"--baseline {baseline}: give KEY=VALUE with a swept key other than "
                        f"the seed ({', '.join(group_keys) or 'none is swept'}).")
    return key, value


def check_baseline(baseline: str, swept_keys: list[str], job_values: list[dict[str, str]]) -> None:
    """A --baseline that names a swept key and a value some job has, before any job runs."""
    key, value = parse_baseline(baseline, [k for k in swept_keys if k != SEED])
    if not any(values.get(key) == value for values in job_values):
        found = sorted({values.get(key, "") for values in job_values} - {""})
        raise UserError(f"--baseline {key}={value}: no job has it; the values of {key} are "
                        f"{', '.join(found)}.")


def paired_rows(groups: list[Group], group_keys: list[str], key: str,
                value: str) -> list[list[str]]:
    """For every group but the baseline ones: per compared metric, the mean difference to its
    baseline group (variants.matching_baseline), over the seeds both finished; a group with no
    single baseline group is left out."""
    bases = [g for g in groups if g.values[key] == value]
    if not bases:
        raise UserError(f"--baseline {key}={value}: no group has it; the values of {key} are "
                        f"{', '.join(sorted({g.values[key] for g in groups}))}.")
    rows = []
    for group in groups:
        index = matching_baseline(group.values, [b.values for b in bases], key)
        if group.values[key] == value or index is None:
            continue
        base = bases[index]
        for metric in COMPARED:
            pairs = _seed_pairs(base, group, metric)
            if not pairs:
                continue
            paired = compare_seeds([a for a, _ in pairs], [b for _, b in pairs])
            digits = table_digits(metric) + 1
            rows.append([*(group.values[k] or "–" for k in group_keys), metric,
                         f"{paired.difference:+.{digits}f}", paired.interval_text(digits),
                         paired.p_text(), str(paired.n_seeds)])
    return rows


def _seed_pairs(base: Group, group: Group, metric: str) -> list[tuple[float, float]]:
    values = {row.get(SEED): row[metric] for row in base.rows if row[metric] is not None}
    return [(values[row.get(SEED)], row[metric]) for row in group.rows
            if row[metric] is not None and row.get(SEED) in values]


def plotted_groups(report: SweepReport) -> tuple[list[Group], str | None]:
    """The groups to plot and the key on the x axis: the first swept key other than the seed;
    when only the seed is swept, each seed on its own with the mean over all of them."""
    if report.group_keys or SEED not in report.rows[0]:
        return report.groups, report.group_keys[0] if report.group_keys else None
    per_seed = [Group({SEED: row[SEED]}, [row]) for row in report.rows]
    return per_seed + [Group({}, report.rows)], SEED


def job_row(state: SweepState, job: JobState) -> dict:
    """A job's swept values, status and numbers (None where it has none)."""
    summary = Run(state.job_dir(job)).summary() if job.status == DONE else None
    metrics = {BEST: summary.best_metrics if summary else {},
               FINAL: summary.final_metrics if summary else {}}
    return {
        "job": job.name,
        **{key: job.values.get(key, "") for key in state.swept_keys},
        "status": job.status,
        **{at(evaluation, metric): metrics[evaluation].get(metric.key)
           for evaluation in (BEST, FINAL) for metric in CLASSIFICATION},
        **{key: metrics[BEST].get(key) for key in ATTENTION_METRICS},
        "best_step": summary.best.step if summary and summary.best else None,
        "steps": summary.steps if summary else None,
        WALL_SECONDS.key: job.wall_seconds,
        "error": job.error or "",
    }


def write_csv(path: Path, rows: list[dict]) -> Path:
    """Published whole: a reader, or another process writing it too, never sees half of it."""
    with open_new(path, newline="", replace=True) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return path


def write_markdown(path: Path, report: SweepReport, with_plot: bool) -> Path:
    lines = [f"# Sweep {report.sweep_dir.name}", "", f"Command: `{report.command}`", "",
             f"{len(report.rows)} jobs, {len(report.rows) - len(report.failed)} done. "
             f"Cells: {STD_NOTE}. Scores on the validation split: best = at the checkpoint with the "
             "best validation train.best_metric (default accuracy), final = at the last evaluation; "
             "wall_seconds = whole job. "
             "One row per job: summary.csv."]
    for title, header, rows in report.tables():
        lines += ["", f"## {title[0].upper()}{title[1:]}", "",
                  "| " + " | ".join(map(_md_cell, header)) + " |",
                  "|" + "|".join("---" for _ in header) + "|",
                  *("| " + " | ".join(map(_md_cell, row)) + " |" for row in rows)]
    if with_plot:
        lines += ["", f"![{report.metric}](summary.png)"]
    if report.failed:
        lines += ["", "Not done:", ""]
        lines += [f"- `{row['job']}` ({row['status']}): {row['error']}" for row in report.rows
                  if row["status"] != DONE]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|")
