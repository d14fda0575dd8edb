"""afa eval --suite: suites as config files, evaluation-only datasets, and a real suite over two
tiny runs through the command line."""

import csv
import io
import json
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from afa_cli import display
from afa_cli.cli import app
from afa_cli.checkpoint import compose_for_run
from afa_cli.config import check_trainable, compose_config
from afa_cli.data import load_split, subsample
from afa_cli.errors import UserError
from afa_cli.evaluation.attacks import STOPWORDS, wordnet_synonyms
from afa_cli.evaluation.compare import (RunResults, SuiteReport, baseline_pairs,
                                        compare_variants, comparison_payload)
from afa_cli.evaluation.document import comparison_document, suite_document
from afa_cli.evaluation.kinds import kind_names, probe_kind
from afa_cli.evaluation.results import ProbeResult
from afa_cli.evaluation.suites import load_suite, suite_names
from afa_cli.lexicon import normalize_word
from afa_cli.runs import ProbeRecord, Run, SuiteRunReport
from afa_cli.variants import group_by_variant, variant_overrides
from afa_cli.views.markdown import render_markdown
from afa_cli.views.sections import Table
from afa_cli.views.terminal import render_terminal
from benchmarks.results import keep
from conftest import (ROOT, afa_here, needs_data, needs_wordnet,
                      run_afa_past_a_file_size_limit)


def test_presets_and_all_includes_the_others():
    assert {"transfer", "robustness", "faithfulness", "all"} <= set(suite_names())
    every = [p.name for p in load_suite("all").probes]
    assert every == [p.name for name in ("transfer", "robustness", "faithfulness")
                     for p in load_suite(name).probes]
    assert {p.kind for p in load_suite("all").probes} == set(kind_names())


def test_a_users_suite_and_bad_suites_are_one_line(tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "mine.yaml").write_text(
        "include: [faithfulness]\nprobes:\n  - {name: yelp, dataset: yelp, split: test}\n")
    mine = load_suite("mine", [tmp_path])
    assert [p.name for p in mine.probes] == ["faithfulness", "yelp"]
    (tmp_path / "suite" / "typo.yaml").write_text("probes:\n  - {name: x, kind: scorez}\n")
    (tmp_path / "suite" / "twice.yaml").write_text("include: [faithfulness, faithfulness]\n")
    (tmp_path / "suite" / "negative.yaml").write_text("probes:\n  - {name: few, limit: -3}\n")
    (tmp_path / "suite" / "budget.yaml").write_text(
        "probes:\n  - {name: a, kind: attack, max_edit_fraction: 1.5}\n")
    for name, message in (("nope", "--suite nope: no such suite; the suites are all, "),
                          ("typo", "typo.yaml: "), ("twice", "probe name faithfulness appears twice"),
                          ("negative", "negative.yaml: probe few, limit: -3 must be at least 1"),
                          ("budget", "budget.yaml: probe a, max_edit_fraction: 1.5 must be in")):
        with pytest.raises(UserError, match=message) as err:
            load_suite(name, [tmp_path])
        assert "\n" not in str(err.value)


def test_evaluation_only_datasets_compose_but_do_not_train():
    for name in ("yelp", "imdb_cad", "advglue_sst2"):
        cfg = compose_config([f"dataset={name}"])
        with pytest.raises(UserError, match=f"dataset={name} is for evaluation only"):
            check_trainable(cfg)
    check_trainable(compose_config([]))


@needs_data
def test_counterfactual_pairs_are_read_and_sampled_whole():
    dataset = compose_config(["dataset=imdb_cad"]).dataset
    rows = load_split(dataset, "validation")
    assert len(rows.texts) == 490 and len(set(rows.pair_ids)) == 245
    assert rows.labels[0] != rows.labels[1] and rows.pair_ids[0] == rows.pair_ids[1]
    sample = subsample(rows, 20, dataset.split_seed)
    assert len(sample.texts) == 20 and all(sample.pair_ids.count(p) == 2 for p in sample.pair_ids)


SMALL_SUITE = """\
description: every kind of probe, small
probes:
  - {name: own, kind: scores, limit: 40}
  - {name: again, kind: scores, limit: 40}
  - {name: imdb_cad, kind: pairs, dataset: imdb_cad, limit: 16, max_length: 64}
  - {name: deletion, kind: attack, perturbation: deletion, limit: 12}
  - {name: synonyms, kind: attack, perturbation: synonyms, limit: 12}
  - {name: faithfulness, kind: faithfulness, limit: 8}
"""


@pytest.mark.slow
def test_a_suite_over_two_runs_reports_each_and_compares_the_variants(tiny_runs, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("AFA_WORDNET_DIR", str(tmp_path))    # no WordNet: the synonyms are skipped
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "small.yaml").write_text(SMALL_SUITE)
    args = ["eval", str(tiny_runs["off"]), str(tiny_runs["default"]), "--suite", "small",
            "--config-dir", str(tmp_path), "--baseline", "afa=off"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    reports = []
    for run in tiny_runs.values():
        folders = sorted((run / "suites").glob("small*"))
        report = json.loads((folders[-1] / "report.json").read_text())
        reports.append(report)
        probes = {p["probe"]: p for p in report["probes"]}
        assert set(probes) == {"own", "again", "imdb_cad", "deletion", "faithfulness"}
        assert probes["own"]["metrics"] == probes["again"]["metrics"]   # measured once
        # each example's correctness, kept for per-example comparisons of kept reports
        right = probes["own"]["correct"]
        assert len(right) == 40 and set(right) <= {"0", "1"}
        assert right.count("1") / 40 == pytest.approx(probes["own"]["metrics"]["accuracy"])
        assert probes["faithfulness"]["correct"] is None
        assert probes["imdb_cad"]["metrics"]["num_pairs"] == 8
        attack = probes["deletion"]["metrics"]
        assert attack["number_of_successful_attacks"] + attack["number_of_failed_attacks"] + \
            attack["number_of_skipped_attacks"] == 12
        assert (folders[-1] / "deletion.csv").is_file()
        assert "comprehensiveness_aopc" in " ".join(probes["faithfulness"]["metrics"])
        assert "apt-get install wordnet-base" in report["skipped"]["synonyms"]  # the rest ran
        # where it was scored, whatever folder ran the command; kept relative to the run
        assert report["run"] == str(run.resolve()) and Path(report["checkpoint"]).is_absolute()
        keep(Run(run), tmp_path / "kept" / run.name)
        kept = json.loads((tmp_path / "kept" / run.name / "suites" / "small"
                           / "report.json").read_text())
        assert kept["run"] == "." and kept["checkpoint"] == str(Path("checkpoints") / "best")
    shown = result.stdout
    assert "each variant paired with its baseline" in shown and "95% CI" in shown
    assert "afa=default" in shown and "McNemar" in shown
    # off a terminal a paired row is one line, its baseline column included
    assert any("McNemar" in line and "afa=off" in line for line in shown.splitlines())
    # the comparison is written beside each run's report, as data and as Markdown, and named
    flat = "".join(shown.split())
    for run in tiny_runs.values():
        folder = sorted((run / "suites").glob("small*"))[-1]
        comparison = json.loads((folder / "comparison.json").read_text())
        assert comparison["baseline"] == "afa=off" and comparison["unpaired"] == []
        assert {c["probe"] for c in comparison["comparisons"]} == {
            "own", "again", "imdb_cad", "deletion", "faithfulness"}
        assert "| variant | baseline |" in (folder / "comparison.md").read_text()
        assert str(folder / "comparison.json") in flat and str(folder / "comparison.md") in flat
    # a second evaluation writes beside the first, never over it
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len(list((tiny_runs["off"] / "suites").glob("small*"))) >= 2


@pytest.mark.slow
@needs_wordnet
def test_synonym_attack_on_a_tiny_run_swaps_in_wordnet_synonyms(tiny_runs, tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "syn.yaml").write_text(
        "probes:\n  - {name: synonyms, kind: attack, perturbation: synonyms, limit: 24}\n")
    run = tiny_runs["default"]
    args = ["eval", str(run), "--suite", "syn", "--config-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    folder = sorted((run / "suites").glob("syn*"))[-1]
    report = json.loads((folder / "report.json").read_text())
    assert report["skipped"] == {}
    [probe] = report["probes"]
    metrics = probe["metrics"]
    assert {"number_of_successful_attacks", "number_of_failed_attacks",
            "number_of_skipped_attacks", "original_accuracy", "accuracy_under_attack",
            "attack_success_rate", "average_perturbed_word_percent",
            "average_num_words_per_input", "avg_num_queries"} <= set(metrics)
    with (folder / "synonyms.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 24 == sum(metrics[f"number_of_{o}_attacks"]
                                  for o in ("successful", "failed", "skipped"))
    synonyms, swapped = wordnet_synonyms(), 0
    for row in rows:
        old, new = row["original_text"].split(), row["perturbed_text"].split()
        assert len(old) == len(new)         # a synonym replaces one word by one word
        for before, after in zip(old, new):
            if after.startswith("[["):
                after = after[2:-2]
                assert normalize_word(after) in synonyms(normalize_word(before)), (before, after)
                assert normalize_word(before) not in STOPWORDS
                assert after[:1].isupper() == before[:1].isupper()
                swapped += 1
        assert swapped or row["outcome"] != "successful"
    assert swapped > 0
    # the same seed, the same attack
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    folder2 = sorted((run / "suites").glob("syn*"))[-1]
    assert folder2 != folder
    assert (folder2 / "synonyms.csv").read_text() == (folder / "synonyms.csv").read_text()


@pytest.mark.slow
def test_a_probe_whose_labels_differ_from_the_checkpoints_is_one_line(tiny_runs, tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "five.yaml").write_text("probes:\n  - {name: sst5, dataset: sst5}\n")
    result = CliRunner().invoke(app, ["eval", str(tiny_runs["off"]), "--suite", "five",
                                      "--config-dir", str(tmp_path)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "dataset=sst5 has the labels" in line and "negative, positive" in line
    assert not (tiny_runs["off"] / "suites" / "five").exists()


@pytest.mark.parametrize("args, message", [
    (["--suite", "transfer", "--limit", "5"], "--limit does not combine with --suite"),
    (["--suite", "transfer", "--split", "test"], "--split does not combine with --suite"),
    (["--baseline", "afa=off"], "--baseline compares the variants of a suite"),
    (["--resume", "somewhere"], "--resume continues an interrupted suite's report: add --suite"),
    (["--suite", "nope"], "--suite nope: no such suite"),
])
def test_suite_options_that_cannot_work_are_one_line(tmp_path, args, message):
    result = CliRunner().invoke(app, ["eval", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def members(variants: dict[str, list[str]],
            seeds: dict[str, tuple[int, ...]] | None = None) -> dict[str, list]:
    """Variants as pairing reads them: each a run per seed (1 unless `seeds` says otherwise),
    in runs/<label>-<seed>."""
    return {label: [SimpleNamespace(run=Run(Path("runs") / f"{label}-{seed}"), seed=seed,
                                    variant=overrides)
                    for seed in (seeds or {}).get(label, (1,))]
            for label, overrides in variants.items()}


def test_each_variant_is_paired_with_the_baseline_that_agrees_on_everything_else():
    variants = members({f"dataset={d} afa={a}": [f"dataset={d}", f"afa={a}"]
                        for d in ("sst2", "mr") for a in ("off", "default")})
    assert baseline_pairs(variants, "afa=off").pairs == [
        ("dataset=sst2 afa=off", "dataset=sst2 afa=default"),
        ("dataset=mr afa=off", "dataset=mr afa=default")]
    assert baseline_pairs(variants, None) == baseline_pairs(variants, "afa=off")  # the default
    with pytest.raises(UserError, match="--baseline afa=of: no variant has it"):
        baseline_pairs(variants, "afa=of")
    # beside a mask-ratio grid, afa=off is every ratio's baseline
    ratios = members({"afa=off": ["afa=off"], "r=0.1": ["afa.mask_ratio=0.1"],
                      "r=0.2": ["afa.mask_ratio=0.2"]})
    assert baseline_pairs(ratios, "afa=off").pairs == [("afa=off", "r=0.1"),
                                                        ("afa=off", "r=0.2")]


@pytest.mark.parametrize("variants, seeds, fragments", [
    # a key one variant sets and the other not tells them apart: 300 rows against all of them
    ({"afa=off train.max_train_samples=300": ["afa=off", "train.max_train_samples=300"],
      "afa=default": ["afa=default"]}, None,
     ["afa=default (runs/afa=default-1) has no baseline: afa=off train.max_train_samples=300 "
      "(runs/afa=off train.max_train_samples=300-1) differs in train.max_train_samples (300 "
      "there, not set here); give runs that differ only in afa"]),
    ({"afa=off": ["afa=off", "model.num_layers=1"], "afa=default": ["afa=default",
                                                                    "model.num_layers=2"]}, None,
     ["differs in model.num_layers (1 there, 2 here)"]),
    ({"afa=off": ["afa=off"], "afa=default": ["afa=default"]}, {"afa=off": (1, 2),
                                                                "afa=default": (3,)},
     ["afa=default (seeds 3; runs/afa=default-3) and its baseline afa=off (seeds 1, 2; "
      "runs/afa=off-1 and 1 more) share no seed"]),
    ({"afa=off": ["afa=off"], "afa=default": ["afa=default"]}, {"afa=off": (1, 1)},
     ["variant afa=off has two runs of seed 1 (runs/afa=off-1, runs/afa=off-1)"]),
    ({"one": ["afa=off"]}, None, ["--baseline afa=off: one run (runs/one-1), nothing to pair"]),
    ({"one": ["afa=off"]}, {"one": (1, 2)}, ["2 runs of one variant (runs/one-1 and 1 more)"]),
    ({"a": ["afa=off", "dataset=mr"], "b": ["afa=off", "dataset=cr"]}, None,
     ["every variant has afa=off (a; b): nothing is compared with it"]),
])
def test_a_baseline_that_pairs_nothing_says_why(variants, seeds, fragments):
    with pytest.raises(UserError) as err:
        baseline_pairs(members(variants, seeds), "afa=off")
    assert "\n" not in str(err.value)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_under_the_default_baseline_what_cannot_pair_is_a_note():
    rows = "train.max_train_samples=300"
    variants = members({f"afa=off {rows}": ["afa=off", rows], "afa=default": ["afa=default"],
                        "afa=attention": ["afa=attention", rows]})
    pairing = baseline_pairs(variants, None)
    assert pairing.baseline == "afa=off"
    assert pairing.pairs == [("afa=off train.max_train_samples=300", "afa=attention")]
    assert len(pairing.unpaired) == 1 and "afa=default" in pairing.unpaired[0]
    assert "train.max_train_samples (300 there, not set here)" in pairing.unpaired[0]
    without = baseline_pairs(members({"a": ["afa=default"], "b": ["afa=attention"]}), None)
    assert without.pairs == [] and "no variant has afa=off" in without.unpaired[0]


def fake_run(path: Path, overrides: list[str]) -> Path:
    """A run folder as a suite's plan reads it (config, overrides, the best checkpoint's labels):
    enough to be refused before anything is scored."""
    path.mkdir(parents=True)
    Run(path).write_config(compose_config(overrides), overrides)
    (path / "checkpoints" / "best").mkdir(parents=True)
    (path / "checkpoints" / "best" / "config.json").write_text(
        json.dumps({"id2label": {"0": "negative", "1": "positive"}}))
    return path


@needs_data
@pytest.mark.parametrize("baseline_overrides, variant_overrides_, given, message", [
    (["afa=off", "train.max_train_samples=300"], ["afa=default"], ("off", "afa"),
     "differs in train.max_train_samples (300 there, not set here)"),
    (["afa=off", "seed=1"], ["afa=default", "seed=2"], ("off", "afa"), "share no seed"),
    (["afa=off"], ["afa=default"], ("afa",), "one run ("),
])
def test_a_suite_comparison_that_cannot_pair_is_refused_before_scoring(
        tmp_path, baseline_overrides, variant_overrides_, given, message):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "one.yaml").write_text("probes:\n  - {name: own, limit: 10}\n")
    runs = {"off": fake_run(tmp_path / "off", baseline_overrides),
            "afa": fake_run(tmp_path / "afa", variant_overrides_)}
    result = CliRunner().invoke(app, ["eval", *(str(runs[r]) for r in given), "--suite", "one",
                                      "--config-dir", str(tmp_path), "--baseline", "afa=off"])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert "--baseline afa=off" in result.stderr and str(runs[given[-1]]) in result.stderr
    assert not any((run / "suites").exists() for run in runs.values())  # nothing scored


def test_a_suite_report_reads_back_as_it_was_written(tmp_path):
    run = Run(tmp_path / "run")
    report = SuiteRunReport(
        suite="transfer", description="in and out of domain", run=str(run.path),
        checkpoint=str(run.checkpoint("best")), overrides=["afa=off"],
        probes=[ProbeRecord("yelp", "scores", "yelp", "test", 4, {"accuracy": 0.75},
                            np.array([True, False, True, True]), ["yelp.csv"], 1.5)],
        skipped={"attack_synonyms": "no WordNet here"}, missing=["imdb_cad"])
    folder = run.new_suite_report(report)
    written = (folder / Run.SUITE_REPORT).read_text()
    assert list(json.loads(written)) == ["suite", "description", "run", "checkpoint", "overrides",
                                         "probes", "skipped", "missing", "complete"]
    assert json.loads(written)["probes"] == [{
        "probe": "yelp", "kind": "scores", "dataset": "yelp", "split": "test",
        "num_examples": 4, "metrics": {"accuracy": 0.75}, "files": ["yelp.csv"],
        "correct": "1011", "seconds": 1.5}]
    read = Run.suite_report(folder)
    assert read.to_dict() == report.to_dict() and not read.complete
    assert read.probes[0].correct.tolist() == [True, False, True, True]
    assert "transfer" not in run.suite_reports()   # it still misses a probe
    Run.write_suite_report(folder, read)
    assert (folder / Run.SUITE_REPORT).read_text() == written   # byte for byte
    read.missing.clear()
    Run.write_suite_report(folder, read)
    assert json.loads((folder / Run.SUITE_REPORT).read_text())["complete"] is True
    assert run.suite_reports() == {"transfer": folder / Run.SUITE_REPORT}


def test_an_older_suite_report_reads_without_the_keys_it_lacks(tmp_path):
    run = Run(tmp_path / "run")
    folder = run.path / Run.SUITES / "transfer"
    folder.mkdir(parents=True)
    (folder / Run.SUITE_REPORT).write_text(json.dumps({"suite": "transfer", "probes": [{
        "probe": "yelp", "kind": "scores", "dataset": "yelp", "split": "test",
        "num_examples": 2, "metrics": {"accuracy": 0.5}}]}))
    report = Run.suite_report(folder)
    assert (report.description, report.run, report.checkpoint, report.overrides,
            report.skipped, report.missing) == ("", None, None, [], {}, [])
    assert report.complete and run.suite_reports() == {"transfer": folder / Run.SUITE_REPORT}
    probe = report.probes[0]
    assert (probe.correct, probe.files, probe.seconds) == (None, [], None)
    assert ProbeResult.of(probe).headline == 0.5
    (folder / Run.SUITE_REPORT).write_text(json.dumps({"probes": []}))   # not a suite report
    assert Run.suite_report(folder) is None and run.suite_reports() == {}


def synthetic_report(tmp_path: Path, datasets=("sst2", "mr"), seeds=(1, 2, 3)) -> SuiteReport:
    """Suite `all` over a dataset × afa grid as its runs would report it, with made-up numbers,
    compared by the real pairing and statistics."""
    suite = load_suite("all")
    rng = np.random.default_rng(0)
    results = []
    for dataset in datasets:
        for afa in ("off", "default"):
            for seed in seeds:
                run = Run(tmp_path / f"{dataset}_{afa}_{seed}")
                probes = {}
                for probe in suite.probes:
                    kind = probe_kind(probe.kind)
                    headline = float(rng.uniform(0.5, 0.9)) * (
                        100 if kind.headline.percent else 1)
                    probes[probe.name] = ProbeResult(
                        probe.name, probe.kind, probe.dataset or dataset, probe.split, 60,
                        {kind.headline.key: headline, "macro_f1": float(rng.uniform(0.5, 0.9))},
                        None if kind.name == "faithfulness" else rng.random(60) < 0.8)
                results.append(RunResults(run, seed, [f"dataset={dataset}", f"afa={afa}"],
                                          probes, {}, run.path / "suites" / "all" / "report.json"))
    variants = group_by_variant(results, lambda r: r.variant)
    pairing = baseline_pairs(variants, "afa=off")
    return SuiteReport(suite, results, variants, compare_variants(
        [probe.name for probe in suite.probes], variants, pairing.pairs), pairing)


def test_a_probe_some_seeds_lack_is_compared_over_the_seeds_that_have_it(tmp_path):
    report = synthetic_report(tmp_path, datasets=("sst2",), seeds=(1, 2, 3, 4))
    probe = report.suite.probes[0].name
    for run in report.runs:  # as a skipped probe: seed 1's baseline and seed 2's variant lack it
        if run.run.path.name in ("sst2_off_1", "sst2_default_2"):
            del run.results[probe]
    comparisons = compare_variants([p.name for p in report.suite.probes], report.variants,
                                   report.pairing.pairs)
    seeds = {c.probe: c.paired.n_seeds for c in comparisons}
    assert len(seeds) == len(report.suite.probes)
    assert seeds.pop(probe) == 2 and set(seeds.values()) == {4}


def tables_of(document) -> list[Table]:
    return [block for section in document.sections for block in section.blocks
            if isinstance(block, Table)]


def printed(document, terminal: bool) -> list[str]:
    """What afa eval prints at 80 columns, on a terminal or into a file (as the CLI prints it)."""
    console = Console(file=io.StringIO(), width=80, force_terminal=terminal, color_system=None)
    console.print(render_terminal(document), crop=False)
    return console.file.getvalue().splitlines()


def test_at_80_columns_no_number_is_split_and_off_a_terminal_rows_are_whole(tmp_path):
    report = synthetic_report(tmp_path)
    assert len(report.comparisons) == 2 * len(report.suite.probes)
    document = suite_document(report)
    lines = printed(document, terminal=True)
    assert max(map(len, lines)) <= 80
    shown = {word for line in lines for word in line.split()}
    for table in tables_of(document):
        kept = [c for c, title in enumerate(table.header) if title not in table.optional]
        for row in table.rows:
            for c in kept:  # every word of a cell whole: a number is never cut across lines
                text = row[c] if isinstance(row[c], str) else row[c].text
                assert set(text.split()) <= shown, (table.title, text)
    assert "left out at 80 columns: baseline, test, metric" in "\n".join(lines)
    # into a file, every row is one line, every column included, however wide
    lines = printed(document, terminal=False)
    assert max(map(len, lines)) > 80
    for table in tables_of(document):
        for row in table.rows:
            cells = [c if isinstance(c, str) else c.text for c in row]
            assert any(all(cell in line for cell in cells) for line in lines), cells
    assert not any(line.startswith("left out") for line in lines)


def test_the_comparison_goes_into_the_sweep_folder_or_beside_each_report_never_over_one(
        tmp_path):
    from afa_cli.commands.suite import _write_comparison
    from afa_cli.sweep.state import SweepState

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / SweepState.FILE).write_text("")
    report = synthetic_report(sweep, datasets=("sst2",))
    first, again = _write_comparison(report), _write_comparison(report)
    assert [p.name for p in first] == ["comparison_all.json", "comparison_all.md"]
    assert [p.name for p in again] == ["comparison_all-2.json", "comparison_all-2.md"]
    assert all(p.parent == sweep.resolve() for p in first + again)
    assert json.loads(first[0].read_text())["baseline"] == "afa=off"
    assert first[1].read_text().startswith("# suite all: 6 runs compared")
    report = synthetic_report(tmp_path / "runs", datasets=("sst2",))  # runs of no sweep
    written = _write_comparison(report)
    assert written == [path for r in report.runs for path in
                       (r.report.parent / "comparison.json", r.report.parent / "comparison.md")]
    assert all(path.is_file() for path in written)


def test_the_comparison_is_data_and_markdown_as_printed(tmp_path):
    report = synthetic_report(tmp_path, datasets=("sst2",))
    payload = comparison_payload(report)
    assert payload["baseline"] == "afa=off" and len(payload["runs"]) == 6
    first = payload["comparisons"][0]
    assert {first["variant"], first["baseline"]} == {"afa=default", "afa=off"}
    assert first["test"] == "McNemar" and first["n_seeds"] == 3
    assert set(payload["variants"]["afa=off"]["own"]) == {"mean", "std", "n"}
    markdown = render_markdown(comparison_document(report))
    assert "| variant | baseline | probe | metric | difference | 95% CI | p | test | seeds |" \
        in markdown
    assert f"| {first['probe']} |" in markdown and "## runs" in markdown


def test_a_suite_that_includes_itself_through_another_is_one_line(tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "a.yaml").write_text("include: [b]\n")
    (tmp_path / "suite" / "b.yaml").write_text("include: [a]\n")
    with pytest.raises(UserError, match=r"suite a includes itself \(a -> b -> a\)"):
        load_suite("a", [tmp_path])


def test_variants_ignore_the_tracker_experiment_a_sweep_names(tmp_path):
    runs = []
    for name, overrides in (("one", ["afa=off", "seed=1", "logger.experiment=sweep_a"]),
                            ("two", ["afa=off", "seed=2", "logger.experiment=sweep_b"])):
        run = Run(tmp_path / name)
        run.path.mkdir()
        run.write_config(compose_config(overrides), overrides)
        runs.append(run)
    assert len(group_by_variant(runs, lambda r: variant_overrides(r, "sst2"))) == 1


def test_a_runs_own_dataset_overrides_do_not_reach_another_dataset(tmp_path):
    run = Run(tmp_path / "run")
    run.path.mkdir()
    overrides = ["dataset.path=/somewhere/mine.tsv", "dataset.split_seed=3", "afa=off"]
    run.write_config(compose_config(overrides), overrides)
    yelp = compose_for_run(run, [], dataset="yelp")
    assert yelp.dataset.name == "yelp" and yelp.dataset.path is None
    assert yelp.dataset.split_seed == 0 and yelp.afa.enabled is False  # the rest stays the run's


def test_a_run_is_read_with_what_it_was_trained_with_whatever_its_options_became(tmp_path):
    """Overrides given to a run's later commands change what they name, read from the run's
    config.yaml; an option file edited since training does not reach the run."""
    (tmp_path / "conf" / "afa").mkdir(parents=True)
    mine = tmp_path / "conf" / "afa" / "mine.yaml"
    mine.write_text("defaults: [schema, _self_]\nmask_ratio: 0.3\n")
    run = Run(tmp_path / "run")
    run.path.mkdir()
    overrides = ["afa=mine", "dataset.split_seed=3"]
    run.write_config(compose_config(overrides, [tmp_path / "conf"]), overrides,
                     [tmp_path / "conf"])
    mine.write_text("defaults: [schema, _self_]\nmask_ratio: 0.2\n")
    cfg = compose_for_run(run, ["model.max_length=64", "+note=again"])
    assert cfg.afa.mask_ratio == 0.3 and cfg.dataset.split_seed == 3   # the run's
    assert cfg.model.max_length == 64 and cfg.note == "again"           # the overrides'
    assert compose_for_run(run, ["afa=mine"]).afa.mask_ratio == 0.2     # named: composed now
    with pytest.raises(UserError, match="model.max_lenght"):
        compose_for_run(run, ["model.max_lenght=64"])


STOPPABLE_SUITE = """\
probes:
  - {name: own, kind: scores, limit: 40}
  - {name: faithfulness, kind: faithfulness, limit: 60}
  - {name: again, kind: scores, limit: 40}
"""


@pytest.mark.slow
def test_a_suite_stopped_by_ctrl_c_is_marked_incomplete_and_resume_finishes_it(tiny_runs,
                                                                             tmp_path,
                                                                             monkeypatch):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "stoppable.yaml").write_text(STOPPABLE_SUITE)
    run = tiny_runs["off"]
    # Ctrl-C reaches it however the tests were started (a shell starts background jobs with
    # SIGINT ignored, and a child keeps that)
    suite = subprocess.Popen([sys.executable, "-m", "afa_cli", "eval", str(run), "--suite",
                              "stoppable", "--config-dir", str(tmp_path)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in suite.stderr:  # Ctrl-C as the second probe starts: the first one is written
        seen.append(line)
        if "probe 2/3: faithfulness" in line:
            suite.send_signal(signal.SIGINT)
            break
    _, rest = suite.communicate(timeout=300)
    stderr = "".join(seen) + rest
    assert suite.returncode == 130 and "Traceback" not in stderr, stderr
    stopped = stderr.strip().splitlines()[-1]
    folder = run / "suites" / "stoppable"
    assert stopped.startswith(f"Interrupted: {folder} 1 of 3 probes done (own). Continue with: "
                              f"afa eval {run} --suite stoppable --config-dir {tmp_path} "
                              f"--resume {folder}"), stopped
    partial = json.loads((folder / "report.json").read_text())
    assert partial["complete"] is False and partial["missing"] == ["faithfulness", "again"]
    assert [p["probe"] for p in partial["probes"]] == ["own"]
    assert "stoppable" not in Run(run).suite_reports()  # an incomplete report is not the latest
    # --resume checks the folder before anything is scored
    for resume, suite_name, message in ((run, "stoppable", "no suite report there"),
                                        (folder, "transfer", "is a report of suite stoppable")):
        refused = CliRunner().invoke(app, ["eval", str(run), "--suite", suite_name,
                                           "--config-dir", str(tmp_path), "--resume", str(resume)])
        assert refused.exit_code == 2 and message in refused.stderr, refused.output
        assert len(refused.stderr.strip().splitlines()) == 1
    command = shlex.split(stopped.split("Continue with: ", 1)[1])
    # three texts can be scored sooner than a progress line is worth printing: ask for one anyway
    monkeypatch.setattr(display, "QUIET_BELOW_S", 0.0)
    resumed = afa_here(*command[1:], check=True)
    report = json.loads((folder / "report.json").read_text())
    assert report["complete"] is True and report["missing"] == []
    assert [p["probe"] for p in report["probes"]] == ["own", "faithfulness", "again"]
    assert report["probes"][0] == partial["probes"][0]  # kept as it was, not scored again
    assert report["probes"][2]["metrics"] == report["probes"][0]["metrics"]
    assert "probe 1/3" not in resumed.stderr and "probe 2/3: faithfulness" in resumed.stderr
    # the faithfulness probe shows its progress as `faithfulness N/TOTAL ... texts/s ETA`
    assert any(line.startswith("faithfulness ") and "/3" in line
               for line in resumed.stderr.splitlines()), resumed.stderr
    assert sorted(p.name for p in (run / "suites").glob("stoppable*")) == ["stoppable"]
    assert Run(run).suite_reports()["stoppable"] == folder / "report.json"
    again = afa_here(*command[1:], check=True)  # a complete report: nothing left to score
    assert "probe" not in again.stderr and json.loads((folder / "report.json").read_text()) == report


@pytest.mark.slow
def test_a_full_disk_during_a_suite_is_one_line_and_keeps_what_was_measured(tiny_runs, tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "full.yaml").write_text(STOPPABLE_SUITE)
    run = tiny_runs["off"]
    args = ["eval", str(run), "--suite", "full", "--config-dir", str(tmp_path)]
    folder = run / "suites" / "full"
    # no room for the first report: one line, and no empty report folder left behind
    first = run_afa_past_a_file_size_limit(100, *args, AFA_CACHE_DIR=str(tmp_path / "cache"))
    assert first.returncode == 2 and "Traceback" not in first.stderr, first.stderr
    assert first.stderr.strip().splitlines()[-1] == (
        f"error: Cannot write {folder / 'report.json'}: the file size limit (ulimit -f) is "
        "reached. Free some space, then run the command again.")
    assert not folder.exists()
    # room for the first report but not for the next: it stays, saying what it misses
    later = run_afa_past_a_file_size_limit(1000, *args, AFA_CACHE_DIR=str(tmp_path / "cache"))
    assert later.returncode == 2 and "Traceback" not in later.stderr, later.stderr
    assert later.stderr.strip().splitlines()[-1] == (
        f"error: Cannot write {folder / 'report.json'}: the file size limit (ulimit -f) is "
        f"reached. Free some space, then continue with: afa eval {run} --suite full "
        f"--config-dir {tmp_path} --resume {folder}")
    kept = json.loads((folder / "report.json").read_text())
    assert kept["complete"] is False and kept["missing"] == ["own", "faithfulness", "again"]
    assert sorted(p.name for p in folder.iterdir()) == ["report.json"]
