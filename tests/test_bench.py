"""make bench's parts on a tiny model: a whole afa run and a Trainer run measured, the paired
step timing with its profiles, and the report with its history of earlier runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from benchmarks import run
from conftest import ROOT, TINY, needs_data

SMALL = ["dataset=sst2", "model.num_layers=1", "train.max_train_samples=96",
         "train.max_eval_samples=32", "train.batch_size=16", "train.num_threads=1", "seed=1"]


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("name", ["afa", "trainer_grouped"])
def test_a_variant_is_measured_from_its_own_commands(name, tmp_path):
    measured = run.measure(name, run.VARIANTS[name], tmp_path, common=SMALL)
    assert measured["train_examples_per_s"] > 0 and measured["eval_examples_per_s"] > 0
    assert 0 <= measured["accuracy"] <= 1 and measured["train_peak_rss_mib"] > 100


@needs_data
@pytest.mark.slow
def test_steps_are_timed_in_pairs_and_profiled():
    out = subprocess.run([sys.executable, "-m", "benchmarks.steps", *TINY, "afa=default",
                          "afa.warmup_steps=0"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, check=True).stdout
    steps = json.loads(out.strip().splitlines()[-1])
    assert steps["afa_step_vs_plain"] > 1  # the masked copies' pass is never free
    for name in ("plain", "afa_step"):
        ops = steps["profiles"][name]["ops"]
        assert ops and all(0 < op["share"] <= 1 for op in ops)


def _variants() -> dict:
    speeds = {"afa": 130.0, "afa_bf16": 90.0, "afa_step": 90.0, "afa_step_bf16": 60.0,
              "trainer": 45.0, "trainer_grouped": 110.0, "trainer_grouped_bf16": 85.0,
              "afa_2proc": 80.0}
    return {name: {"train_examples_per_s": speed, "seconds_per_step": 32 / speed,
                   "eval_examples_per_s": 2 * speed, "accuracy": 0.8, "train_peak_rss_mib": 1500,
                   "eval_peak_rss_mib": 600}
            for name, speed in speeds.items() if name in run.VARIANTS}


def test_the_report_judges_each_side_at_its_best_and_keeps_earlier_runs(tmp_path):
    results = {"machine": run.machine(), "setup": run.COMMON, "variants": _variants()}
    results["ratios"] = run.ratios(results["variants"])
    assert results["ratios"]["afa_best"] == "afa" and results["ratios"]["trainer_best"] == "trainer_grouped"
    assert results["ratios"]["plain_vs_trainer_best"] == pytest.approx(130 / 110)
    profile = {"clock": "cpu", "step_ms": 200.0,
               "ops": [{"name": "aten::mm", "self_ms_per_step": 70.0, "share": 0.35, "calls_per_step": 76}]}
    results["steps"] = {"steps": 40, "plain_step_ms": 180.0, "afa_step_ms": 240.0,
                        "afa_step_vs_plain": 1.33, "profiles": {"plain": profile, "afa_step": profile}}
    results["ratios"]["afa_step_vs_plain"] = 1.33
    results["targets"] = run.TARGETS["cpu"]
    previous = tmp_path / "bench.json"
    results["history"] = run.history(previous, results)
    previous.write_text(json.dumps(results))
    results["history"] = run.history(previous, results)
    assert len(results["history"]) == 2
    report = run.markdown(results, "bench")
    assert "**1.18×** (target ≥ 1.3×: missed)" in report
    assert "**1.33×** (target ≤ 1.2×: missed)" in report
    assert len(re.findall(r"^\| \d{4}-\d\d-\d\d ", report, re.MULTILINE)) == 2  # the history rows
    assert "`aten::mm`" in report
