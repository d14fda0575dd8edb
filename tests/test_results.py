"""docs/results: collecting run folders and sweep jobs, and rendering every section with afa report
(its pages, figures and the docs/RESULTS.md index)."""

from __future__ import annotations

import json
import statistics

import pytest
import yaml
from omegaconf import OmegaConf

from afa_cli.config import compose_config
from afa_cli.runs import Run, RunSummary
from benchmarks.results import KEPT, collect, keep, render

UNIFORM = {"lexicon_mass_uniform": 0.1, "frequent_mass_uniform": 0.5}


def _run(folder, overrides: list[str], accuracy: float, lexicon_mass: float):
    """A finished run folder as afa train leaves it (checkpoints aside)."""
    folder.mkdir(parents=True)
    cfg = compose_config([o for o in overrides if not o.startswith(("run_dir", "train.num_threads"))])
    OmegaConf.save(cfg, folder / "config.yaml")
    OmegaConf.save(OmegaConf.create(overrides), folder / "overrides.yaml")
    metrics = {"accuracy": accuracy, "macro_f1": accuracy - 0.01, "lexicon_mass": lexicon_mass,
               "frequent_mass": 0.3, "lexicon_precision@5": 0.2, "attn_entropy": 0.8, **UNIFORM}
    summary = {"dataset": cfg.dataset.name, "best": {"step": 10, "metrics": metrics},
               "train_seconds": 120.0, "train_examples_per_s": 50.0}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "checkpoints").mkdir()
    return folder


def test_collect_and_render_group_runs_by_what_tells_them_apart(tmp_path):
    # loose runs (the shared train=quick in another position) and a sweep folder, one job unfinished
    loose = [_run(tmp_path / "loose" / f"off_s{seed}", ["train=quick", "afa=off", f"seed={seed}",
                                                         "train.num_threads=1"], acc, 0.18)
             for seed, acc in ((1, 0.84), (2, 0.86))]
    sweep = tmp_path / "sweep"
    for seed, acc in ((1, 0.85), (2, 0.87)):
        _run(sweep / f"00{seed}_afa.mask_ratio=0.3_seed={seed}",
             ["afa.mask_ratio=0.3", f"seed={seed}", "dataset=sst2", "train=quick",
              f"run_dir=/somewhere/{seed}"], acc, 0.21)
    (sweep / "003_unfinished").mkdir()
    (sweep / "sweep.yaml").write_text(yaml.safe_dump({"jobs": []}))
    store = tmp_path / "docs" / "results" / "runs"
    collect("ratio", [str(run) for run in loose] + [str(sweep)], store)
    kept = sorted(p.name for p in (store / "ratio").iterdir())
    assert kept == ["off_s1", "off_s2", "sweep__001_afa.mask_ratio=0.3_seed=1",
                    "sweep__002_afa.mask_ratio=0.3_seed=2"]
    collect("ratio", [str(sweep)], store)                      # again: nothing changes
    other = tmp_path / "other" / "off_s1"                        # a different run, same name
    _run(other, ["afa=off", "seed=1"], 0.5, 0.1)
    with pytest.raises(SystemExit, match="already holds another run"):
        collect("ratio", [str(other)], store)
    assert not any((store / "ratio" / name / "checkpoints").exists() for name in kept)

    (store / "ratio" / "NOTES.md").write_text("How these runs were made:\n\n    afa sweep ...")
    out = tmp_path / "docs" / "RESULTS.md"
    for _ in range(2):   # rendered again: each page and figure replaced, none left behind
        render(store, out)
        pages = tmp_path / "docs" / "results"
        assert sorted(p.name for p in pages.iterdir()) == ["ratio.md", "ratio_variants.png",
                                                            "runs"]
    index = out.read_text()
    assert "## [ratio](results/ratio.md)\n\nHow these runs were made.\n\n4 runs in 2 variants" in index
    text = (pages / "ratio.md").read_text()
    assert text.startswith("# Study ratio\n\n") and "How these runs were made:" in text
    assert "| sst2 | 0.1000 | 0.5000 |" in text   # under uniform attention
    rows = {line.split(" | ")[0]: line.split(" | ") for line in text.splitlines()
            if line.startswith("| afa")}
    # train=quick and dataset=sst2 are shared, so they do not name the variants
    assert {"| afa=off", "| afa.mask_ratio=0.3"} <= set(rows)
    off = rows["| afa=off"]
    assert off[1] == "2"
    assert off[2] == f"{statistics.mean([0.84, 0.86]):.4f} ± {statistics.stdev([0.84, 0.86]):.4f}"
    assert "](ratio_variants.png)" in text


def test_keep_copies_what_results_keep_with_folders_relative_to_the_run(tmp_path):
    run = Run(tmp_path / "out" / "sweep" / "000_seed=1")
    run.path.mkdir(parents=True)
    cfg = OmegaConf.create({"run_dir": str(run.path), "output_dir": str(tmp_path / "out"),
                            "name": None, "dataset": {"name": "sst2"}, "model": {"name": "minilm"}})
    run.write_config(cfg, ["seed=1", f"run_dir='{run.path}'", f"output_dir={tmp_path / 'out'}",
                           "afa=off"])
    run.write_summary(RunSummary(dataset="sst2"))
    kept = Run(tmp_path / "kept")
    keep(run, kept.path)
    assert sorted(p.name for p in kept.path.iterdir()) == sorted(KEPT)
    assert kept.overrides() == ["seed=1", "output_dir=../..", "afa=off"]  # run_dir: where, not how
    assert (kept.config().run_dir, kept.config().output_dir) == (".", "../..")
    assert str(tmp_path) not in "".join(p.read_text() for p in kept.path.iterdir())
    assert kept.summary() == run.summary()


def _suite_report(folder, name: str, accuracy: float, correct: str) -> None:
    report = folder / "suites" / name / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"suite": "transfer", "probes": [{
        "probe": "yelp", "kind": "scores", "dataset": "yelp", "split": "test",
        "num_examples": len(correct), "metrics": {"accuracy": accuracy}, "files": [],
        "correct": correct}], "skipped": {}}))


def test_suite_reports_are_kept_and_rendered_with_paired_differences(tmp_path):
    runs = tmp_path / "runs"
    for afa, accuracies in (("off", (0.5, 0.75)), ("default", (0.75, 1.0))):
        for seed, accuracy in zip((1, 2), accuracies):
            run = _run(runs / f"{afa}_{seed}", [f"afa={afa}", f"seed={seed}"], 0.8, 0.2)
            right = round(accuracy * 4)
            _suite_report(run, "transfer", 0.0, "1" * right + "0" * (4 - right))  # an old one
            _suite_report(run, "transfer-2", accuracy, "1" * right + "0" * (4 - right))
            (run / "suites" / "transfer" / "report.json").write_text(json.dumps({
                "suite": "transfer", "probes": [], "skipped": {}}))
    store = tmp_path / "store"
    collect("suites", [str(p) for p in sorted(runs.iterdir())], store)
    kept = store / "suites" / "off_1" / "suites" / "transfer" / "report.json"
    assert json.loads(kept.read_text())["probes"][0]["metrics"]["accuracy"] == 0.5  # the latest
    out = tmp_path / "RESULTS.md"
    render(store, out)
    text = (tmp_path / "suites.md").read_text()
    assert "## suite transfer" in text
    assert "| yelp | accuracy | 0.875 ± 0.177 | 0.625 ± 0.177 |" in text  # variants as they come
    row = next(line for line in text.splitlines() if line.startswith("| afa=default | afa=off | yelp"))
    assert "| +0.2500 |" in row and row.endswith("| McNemar | 2 |")
