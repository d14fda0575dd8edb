"""afa report: a study composed from hand-made run folders and sweeps and from the runs kept in
docs/results/runs/, its numbers those of the comparison code; its files (HTML, Markdown and
figures, never over a file); the HTML page in a real headless browser; bad input in one line."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image as PILImage
from typer.testing import CliRunner

from conftest import afa_here
from afa_cli.cli import app
from afa_cli.commands.report import ReportRequest, make_report
from afa_cli.config import compose_config
from afa_cli.evaluation.compare import (baseline_pairs, compare_variants, read_run_results,
                                        variant_stats)
from afa_cli.evaluation.document import comparison_cells
from afa_cli.evaluation.statistics import compare_predictions, compare_seeds
from afa_cli.metrics.registry import SCORES
from afa_cli.metrics.seeds import SeedStats
from afa_cli.report.document import study_document
from afa_cli.report.study import read_study
from afa_cli.runs import Run
from afa_cli.sweep.state import SweepState
from afa_cli.variants import group_by_variant, variant_overrides
from afa_cli.views.sections import Code, Table

ROOT = Path(__file__).resolve().parent.parent
KEPT = ROOT / "docs" / "results" / "runs"
SUITES_SECTION = KEPT / "suites_sst2_minilm_quick"
ROWS = ("100", "400")
SEEDS = (1, 2, 3)
VERSIONS = {"afa": "0.1.0", "torch": "2.13.0+cpu", "transformers": "5.24.0",
            "datasets": "5.2.0", "hydra-core": "1.3.8"}


def _accuracy(afa: str, rows: str, seed: int) -> float:
    """Known numbers: AFA +0.02 over plain fine-tuning, more rows +0.05, seeds apart."""
    return 0.70 + 0.02 * (afa == "default") + 0.05 * (rows == "400") + 0.01 * seed


def _correct(afa: str, seed: int) -> str:
    """A suite probe's 20 examples: AFA gets example `seed` right as well."""
    right = ["1"] * 12 + ["0"] * 8
    if afa == "default":
        right[12 + seed] = "1"
    return "".join(right)


def _run(folder: Path, overrides: list[str], accuracy: float, suite: dict | None = None) -> Path:
    """A finished run folder as afa train leaves it (checkpoints aside)."""
    folder.mkdir(parents=True)
    cfg = compose_config([o for o in overrides if not o.startswith(("run_dir", "output_dir"))])
    for legacy in (o for o in overrides if o.startswith("run_dir=")):
        OmegaConf.set_struct(cfg, False)  # runs made before --run-dir saved it in config.yaml
        cfg.run_dir = legacy.split("=", 1)[1]
    OmegaConf.save(cfg, folder / Run.CONFIG)
    OmegaConf.save(OmegaConf.create(overrides), folder / Run.OVERRIDES)
    metrics = {"accuracy": accuracy, "macro_f1": accuracy - 0.01,
               "lexicon_mass": 0.1 + accuracy / 10, "frequent_mass": 0.3,
               "lexicon_precision@5": 0.2, "attn_entropy": 0.8,
               "lexicon_mass_uniform": 0.1, "frequent_mass_uniform": 0.5}
    summary = {"dataset": cfg.dataset.name, "seed": int(cfg.seed), "steps": 20,
               "best": {"step": 10, "epoch": 0, "split": "validation", "time": 0.0,
                        "metrics": metrics},
               "train_seconds": 120.0, "train_examples_per_s": 50.0, "device": "cpu",
               "versions": VERSIONS, "git_commit": "0123456789abcdef"}
    (folder / Run.SUMMARY).write_text(json.dumps(summary))
    if suite is not None:
        report = folder / Run.SUITES / "transfer" / Run.SUITE_REPORT
        report.parent.mkdir(parents=True)
        report.write_text(json.dumps(suite))
    return folder


def _suite(afa: str, seed: int) -> dict:
    correct = _correct(afa, seed)
    return {"suite": "transfer", "description": "in and out of domain", "complete": True,
            "probes": [{"probe": "yelp", "kind": "scores", "dataset": "yelp", "split": "test",
                        "num_examples": len(correct),
                        "metrics": {"accuracy": correct.count("1") / len(correct)},
                        "files": [], "correct": correct},
                       {"probe": "imdb_cad", "kind": "pairs", "dataset": "imdb_cad",
                        "split": "validation", "num_examples": 10,
                        "metrics": {"pair_consistency": 0.5 + 0.02 * seed + 0.01 * (afa == "off")},
                        "files": [], "correct": None}],
            "skipped": {"attack_synonyms": "no WordNet here"}}


@pytest.fixture(scope="module")
def learning_curve(tmp_path_factory) -> Path:
    """A folder of runs: afa=off/default × 100/400 training rows × seeds 1-3, the 400-row ones
    evaluated with a suite; the afa=off ones made before --run-dir (run_dir= among their
    overrides and in their config.yaml)."""
    folder = tmp_path_factory.mktemp("study") / "learning_curve"
    for order, afa in enumerate(("off", "default")):
        for rows in ROWS:
            for seed in SEEDS:
                _run(folder / f"{order}_{afa}_{rows}_s{seed}",
                     [f"afa={afa}", f"train.max_train_samples={rows}", f"seed={seed}",
                      "train.num_threads=1",
                      *([f"run_dir=/elsewhere/{afa}_{rows}_{seed}"] if afa == "off" else [])],
                     _accuracy(afa, rows, seed), _suite(afa, seed) if rows == "400" else None)
    (folder / "NOTES.md").write_text("How these runs were *made*:\n\n    afa sweep ...\n")
    (folder / "not_a_run").mkdir()
    return folder


def _table(section, title: str | None = None) -> Table:
    return next(b for b in section.blocks if isinstance(b, Table)
                and (title is None or b.title.startswith(title)))


def _section(document, title: str):
    return next(s for s in document.sections if s.title == title)


def test_a_study_of_hand_made_runs_has_the_numbers_of_the_comparison_code(learning_curve):
    study = read_study([learning_curve], None)
    assert list(study.variants) == [f"afa={afa} train.max_train_samples={rows}"
                                    for afa in ("off", "default") for rows in ROWS]
    assert study.axes == ["train.max_train_samples"]
    document = study_document(study)
    assert document.title == "Study learning_curve"

    # the variants: mean ± sample std over the seeds
    table = _table(_section(document, "variants"))
    assert table.header[:2 + len(SCORES)] == ("variant", "n", *(m.label for m in SCORES))
    rows = {row[0]: row for row in table.rows}
    values = [_accuracy("default", "400", seed) for seed in SEEDS]
    row = rows["afa=default train.max_train_samples=400"]
    assert row[1].text == "3"
    assert row[2].text == f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"

    # each variant paired with the afa=off of its own training rows: paired t over seeds
    paired = _table(_section(document, "paired with the baseline"))
    accuracy = [r for r in paired.rows if r[3] == "accuracy"]
    assert [(r[0], r[1]) for r in accuracy] == [
        (f"afa=default train.max_train_samples={rows}", f"afa=off train.max_train_samples={rows}")
        for rows in ROWS]
    expected = compare_seeds([_accuracy("off", "400", s) for s in SEEDS],
                             [_accuracy("default", "400", s) for s in SEEDS])
    assert accuracy[1][4:8] == (f"{expected.difference:+.4f}", expected.interval_text(4),
                                expected.p_text(), "paired t")
    assert accuracy[1][4] == "+0.0200"

    # the suite: its probes per variant and its paired tests, as afa eval --suite has them
    suite = _section(document, "suite transfer")
    probes = _table(suite, "each probe")
    assert probes.header == ("probe", "metric", "afa=off (n=3)", "afa=default (n=3)")
    assert probes.rows[0][:2] == ("yelp", "accuracy")
    assert probes.rows[0][3] == SeedStats.of([13 / 20] * 3).format(3)
    tests = {row[2]: row for row in _table(suite, "each variant paired").rows}
    mcnemar = compare_predictions([np.array([c == "1" for c in _correct("off", s)]) for s in SEEDS],
                                  [np.array([c == "1" for c in _correct("default", s)])
                                   for s in SEEDS])
    assert tests["yelp"][4:8] == (f"{mcnemar.difference:+.4f}", mcnemar.interval_text(4),
                                  mcnemar.p_text(), "McNemar")
    assert tests["imdb_cad"][7] == "paired t"
    notes = " ".join(getattr(b, "text", "") for b in suite.blocks)
    assert "skipped attack_synonyms: no WordNet here" in notes

    # figures: the variants, the learning curves, the suite's probes
    names = [image.name for image in document.images()]
    assert names == ["variants", "accuracy_by_train.max_train_samples",
                     "lexicon_mass_by_train.max_train_samples", "suite_transfer"]
    assert all(image.png.startswith(b"\x89PNG") for image in document.images())

    # how each variant was made: the command of its runs, the config keys that differ
    made = _section(document, "how each variant was made")
    commands = [b.text for b in made.blocks if isinstance(b, Code)]
    assert "afa sweep afa=off train.max_train_samples=100 train.num_threads=1 seed=1,2,3" in commands
    differences = {row[0]: row[1:] for row in _table(made).rows}
    assert differences["train.max_train_samples"] == ("100", "400", "100", "400")
    assert differences["afa.enabled"] == ("False", "False", "True", "True")
    assert "seed" not in differences and "run_dir" not in differences

    environment = _table(_section(document, "environment"))
    assert environment.rows[0][0].text == "12" and "cpu" in environment.rows[0]
    about = _section(document, "about")
    assert about.blocks[0].text.startswith("How these runs were *made*")


def test_the_kept_runs_report_what_the_comparison_code_computes():
    """docs/results/runs/suites_sst2_minilm_quick: real runs and real suite reports."""
    document, written = make_report(ReportRequest([SUITES_SECTION]))
    assert written == []
    runs = [Run(p) for p in sorted(SUITES_SECTION.iterdir()) if Run.is_run(p)]
    by_variant = group_by_variant(runs, lambda r: variant_overrides(r, "sst2"))
    rows = {row[0]: row for row in _table(_section(document, "variants")).rows}
    for label, members in by_variant.items():
        stats = SeedStats.of(r.summary().best_metrics["accuracy"] for r in members)
        assert rows[label][2].text == stats.format(4)
    assert rows["afa=default"][2].text == "0.8524 ± 0.0074"   # as docs/RESULTS.md had it
    for suite in ("all", "transfer"):
        results = [read_run_results(run, suite) for run in runs]
        variants = group_by_variant(results, lambda r: r.variant)
        probes = list(dict.fromkeys(p for r in results for p in r.results))
        comparisons = compare_variants(probes, variants, baseline_pairs(variants, None).pairs)
        section = _section(document, f"suite {suite}")
        assert _table(section, "each variant paired").rows == tuple(map(comparison_cells,
                                                                        comparisons))
        table = _table(section, "each probe")
        assert [row[2:] for row in table.rows] == [
            tuple(variant_stats(members, p).format(3) for members in variants.values())
            for p in probes]
    transfer = _table(_section(document, "suite transfer"), "each variant paired").rows
    assert transfer[0][2:8] == ("own", "accuracy", "+0.0027", "[-0.0015, +0.0073]", "0.311",
                                "McNemar")


def test_a_sweep_is_reported_with_its_command_and_the_jobs_not_done(learning_curve, tmp_path):
    sweep = tmp_path / "sweep"
    jobs = []
    for index, run in enumerate(sorted(p for p in learning_curve.iterdir() if Run.is_run(p))):
        shutil.copytree(run, sweep / run.name)
        jobs.append({"name": run.name, "overrides": [], "values": {}, "status": "done"})
    jobs.append({"name": "unfinished", "overrides": [], "values": {}, "status": "failed"})
    SweepState.from_dict(sweep, {"command": "afa sweep afa=off,default seed=1,2,3",
                                 "swept_keys": ["afa", "seed"], "jobs": jobs}).save()
    document, _ = make_report(ReportRequest([sweep], baseline="afa=off"))
    about = _table(_section(document, "about"))
    assert about.rows[0][1:] == ("sweep", about.rows[0][2], "1 of 13 jobs not done")
    assert about.rows[0][2].text == "12"
    made = _section(document, "how each variant was made")
    assert Code("afa sweep afa=off,default seed=1,2,3") in made.blocks


def test_report_files_html_markdown_and_figures_never_over_a_file(learning_curve, tmp_path):
    html, md = tmp_path / "out" / "study.html", tmp_path / "out" / "study.md"
    result = CliRunner().invoke(app, ["report", str(learning_curve), "--html", str(html),
                                      "--md", str(md)])
    assert result.exit_code == 0, result.output
    assert "variants" in result.stdout and f"written: {md}" in result.stdout
    text = md.read_text()
    assert text.startswith("# Study learning_curve\n")
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert links == ["study_variants.png", "study_accuracy_by_train.max_train_samples.png",
                     "study_lexicon_mass_by_train.max_train_samples.png",
                     "study_suite_transfer.png"]
    assert all((md.parent / link).read_bytes().startswith(b"\x89PNG") for link in links)
    assert "```\nafa sweep afa=off train.max_train_samples=100" in text
    page = html.read_text()
    _assert_self_contained(page)
    assert page.count('src="data:image/png;base64,') == 4

    # nothing is written over a file: the page, the Markdown, one of its figures
    before = {p: p.stat().st_mtime_ns for p in md.parent.iterdir()}
    again = CliRunner().invoke(app, ["report", str(learning_curve), "--html", str(html)])
    assert again.exit_code == 2 and f"--html {html} already exists" in again.stderr
    other = tmp_path / "out" / "other.md"
    (tmp_path / "out" / "other_suite_transfer.png").write_bytes(b"mine")
    clash = CliRunner().invoke(app, ["report", str(learning_curve), "--md", str(other)])
    assert clash.exit_code == 2 and "other_suite_transfer.png already exists" in clash.stderr
    assert not other.exists() and not (tmp_path / "out" / "other_variants.png").exists()
    assert (tmp_path / "out" / "other_suite_transfer.png").read_bytes() == b"mine"
    assert {p: p.stat().st_mtime_ns for p in md.parent.iterdir() if p in before} == before


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "does not exist; give run folders, sweep folders or folders of runs"),
    (["{empty}"], "is not a run folder (config.yaml), a sweep folder (sweep.yaml) or a folder"),
    (["{study}", "--baseline", "afa=uniform"], "--baseline afa=uniform: no variant has it"),
    (["{study}", "--baseline", "afa"], "--baseline afa: give KEY=VALUE"),
    (["{study}", "--html", "{file}/report.html"], "is a file, not a folder"),
    (["{study}", "--html", "{out}/same", "--md", "{out}/same"], "already exists"),
    (["{study}", "--html", "{out}/r.x", "--md", "{out}/r.x"], "--html and --md must name "
                                                              "different files"),
    (["{study}", "--htm", "x"], "no such option --htm; did you mean --html?"),
])
def test_bad_input_is_one_line_and_writes_nothing(learning_curve, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "same").write_text("")
    names = {"missing": tmp_path / "missing", "empty": tmp_path / "empty",
             "study": learning_curve, "file": tmp_path / "file", "out": tmp_path / "out"}
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = CliRunner().invoke(app, ["report", *(a.format(**names) for a in args)])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_unfinished_runs_are_refused_or_left_out(learning_curve, tmp_path):
    run = tmp_path / "unfinished"
    shutil.copytree(learning_curve / "0_off_100_s1", run)
    (run / Run.SUMMARY).unlink()
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 2 and "the run has not finished (no summary.json)" in result.stderr
    folder = tmp_path / "folder"
    shutil.copytree(learning_curve / "0_off_100_s2", folder / "done")
    shutil.copytree(run, folder / "unfinished")
    document, _ = make_report(ReportRequest([folder]))
    assert _table(_section(document, "about")).rows[0][3] == "unfinished: unfinished"


def test_the_baseline_may_name_a_setting_its_runs_left_at_the_default(tmp_path):
    """afa=attention against afa=attention afa.schedule=alternate: the first variant states no
    afa.schedule, its runs have the default, always, and --baseline afa.schedule=always names it."""
    folder = tmp_path / "schedules"
    for seed in SEEDS:
        _run(folder / f"always_s{seed}", ["afa=attention", f"seed={seed}"], 0.80 + 0.01 * seed)
        _run(folder / f"alternate_s{seed}", ["afa=attention", "afa.schedule=alternate",
                                             f"seed={seed}"], 0.79 + 0.01 * seed)
    document, _ = make_report(ReportRequest([folder], baseline="afa.schedule=always"))
    paired = _table(_section(document, "paired with the baseline")).rows
    accuracy = next(row for row in paired if row[3] == "accuracy")
    assert accuracy[:2] == ("afa.schedule=alternate", "(shared settings)")
    assert accuracy[4] == "-0.0100"
    refused = CliRunner().invoke(app, ["report", str(folder), "--baseline", "afa.schedule=never"])
    assert refused.exit_code == 2 and "no variant has it" in refused.stderr


def _assert_self_contained(page: str) -> None:
    """No script, nothing fetched: every src is a data: URI, no link, import or url()."""
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    for fetch in ("<script", "<link", "href=", "url(", "@import", "<iframe", "<object"):
        assert fetch not in page
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', page))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, png: Path, profile: Path, height: int = 2000) -> None:
    """A real headless browser's screenshot of the page at a laptop's width."""
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    f"--screenshot={png}", f"--window-size=1280,{height}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)


@pytest.mark.slow  # starts a browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium to render the page in (Debian: "
                                             "apt-get install chromium)")
def test_the_html_page_renders_in_a_headless_browser(tmp_path):
    """The kept suites study in chromium at 1280 px: a screenshot that is not blank, of a page
    that fetches nothing."""
    page = tmp_path / "report.html"
    make_report(ReportRequest([SUITES_SECTION], html=page))
    _assert_self_contained(page.read_text())
    png = tmp_path / "shot.png"
    screenshot(page, png, tmp_path / "profile")
    with PILImage.open(png) as shot:
        assert shot.size == (1280, 2000)
        pixels = np.asarray(shot.convert("L"), dtype=float)
    assert pixels.std() > 10                               # not one colour
    assert (pixels < 100).mean() > 0.005                   # dark text and figures drawn
    assert len(np.unique(pixels)) > 50


def test_the_real_command_reports_two_tiny_runs(tiny_runs, tmp_path):
    """afa report as typed, on two real (tiny) trainings: their summaries record the device."""
    page = tmp_path / "tiny.html"
    result = afa_here("report", str(tiny_runs["off"]), str(tiny_runs["default"]), "--html",
                      str(page), check=True)
    assert f"written: {page}" in result.stdout
    for run in tiny_runs.values():
        assert Run(run).summary().device == "cpu"
    text = " ".join(result.stdout.split())
    assert "paired with the baseline" in text and "afa=default afa=off validation accuracy" in text
    _assert_self_contained(page.read_text())
