"""afa eval --suite: suites as config files, evaluation-only datasets, and a real suite over two
tiny runs through the command line."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from afa_cli.cli import app
from afa_cli.config import check_trainable, compose_config, compose_for_run
from afa_cli.data import load_split, subsample
from afa_cli.errors import UserError
from afa_cli.evaluation.compare import baseline_pairs
from afa_cli.evaluation.suites import ProbeKind, load_suite, suite_names
from afa_cli.runs import Run
from afa_cli.variants import group_by_variant, variant_overrides
from conftest import needs_data


def test_presets_and_all_includes_the_others():
    assert {"transfer", "robustness", "faithfulness", "all"} <= set(suite_names())
    every = [p.name for p in load_suite("all").probes]
    assert every == [p.name for name in ("transfer", "robustness", "faithfulness")
                     for p in load_suite(name).probes]
    assert {p.kind for p in load_suite("all").probes} == set(ProbeKind)


def test_a_users_suite_and_bad_suites_are_one_line(tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "mine.yaml").write_text(
        "include: [faithfulness]\nprobes:\n  - {name: yelp, dataset: yelp, split: test}\n")
    mine = load_suite("mine", [tmp_path])
    assert [p.name for p in mine.probes] == ["faithfulness", "yelp"]
    (tmp_path / "suite" / "typo.yaml").write_text("probes:\n  - {name: x, kind: scorez}\n")
    (tmp_path / "suite" / "twice.yaml").write_text("include: [faithfulness, faithfulness]\n")
    for name, message in (("nope", "--suite nope: no such suite; the suites are all, "),
                          ("typo", "typo.yaml: "), ("twice", "probe name faithfulness appears twice")):
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
def test_a_suite_over_two_runs_reports_each_and_compares_the_variants(tiny_runs, tmp_path):
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
        assert "nltk" in report["skipped"]["synonyms"].lower()  # the rest of the suite ran
        # where it was scored, whatever folder ran the command; kept relative to the run
        assert report["run"] == str(run.resolve()) and Path(report["checkpoint"]).is_absolute()
        Run(run).keep(tmp_path / "kept" / run.name)
        kept = json.loads((tmp_path / "kept" / run.name / "suites" / "small"
                           / "report.json").read_text())
        assert kept["run"] == "." and kept["checkpoint"] == str(Path("checkpoints") / "best")
    shown = result.stdout
    assert "each variant paired with its baseline" in shown and "95% CI" in shown
    assert "afa=default" in shown and "McNemar" in shown
    # a second evaluation writes beside the first, never over it
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len(list((tiny_runs["off"] / "suites").glob("small*"))) >= 2


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
    (["--suite", "nope"], "--suite nope: no such suite"),
])
def test_suite_options_that_cannot_work_are_one_line(tmp_path, args, message):
    result = CliRunner().invoke(app, ["eval", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_each_variant_is_paired_with_the_baseline_that_agrees_on_everything_else():
    variants = {f"dataset={d} afa={a}": [f"dataset={d}", f"afa={a}"]
                for d in ("sst2", "mr") for a in ("off", "default")}
    assert baseline_pairs(variants, "afa=off") == [
        ("dataset=sst2 afa=off", "dataset=sst2 afa=default"),
        ("dataset=mr afa=off", "dataset=mr afa=default")]
    assert baseline_pairs(variants, None) == baseline_pairs(variants, "afa=off")  # the default
    with pytest.raises(UserError, match="--baseline afa=of: no variant has it"):
        baseline_pairs(variants, "afa=of")
    # beside a mask-ratio grid, afa=off is every ratio's baseline
    ratios = {"afa=off": ["afa=off"], "r=0.1": ["afa.mask_ratio=0.1"],
              "r=0.2": ["afa.mask_ratio=0.2"]}
    assert baseline_pairs(ratios, "afa=off") == [("afa=off", "r=0.1"), ("afa=off", "r=0.2")]


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
