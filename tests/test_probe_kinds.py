"""Probe kinds as plugins: every module of afa_cli/evaluation/kinds is a kind a suite can name,
with its headline metric, columns and pairing rule in one entry; a kind added as one module
(here from a folder of the test's own) runs through `afa eval --suite` and its comparison."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from afa_cli.cli import app
from afa_cli.errors import UserError
from afa_cli.evaluation import kinds
from afa_cli.evaluation.kinds import kind_names, probe_kind
from afa_cli.evaluation.suites import load_suite
from afa_cli.metrics.registry import Metric

CONFIDENCE_KIND = '''
"""Confidence: the model's mean top-class probability on the rows."""
import numpy as np

from afa_cli.evaluation.kinds import Measured, PairedBy, ProbeKind
from afa_cli.metrics.registry import Metric

MEAN_CONFIDENCE = Metric("mean_confidence", "mean confidence", "mean top-class probability")


def measure(probe, rows, max_length, context):
    probabilities = context.scorer(max_length)(rows.texts)
    return Measured({"mean_confidence": float(probabilities.max(axis=1).mean()),
                     "mean_words": float(np.mean([len(t.split()) for t in rows.texts]))},
                    None, [])


KIND = ProbeKind("confidence", measure, MEAN_CONFIDENCE,
                 columns=(("mean_confidence", "conf"), ("mean_words", "words")),
                 legend="conf: mean top-class probability; words: mean words per text",
                 paired_by=PairedBy.SEEDS)
'''


def test_each_kind_is_one_entry_named_as_its_module_and_shows_its_headline():
    assert kind_names() == ["attack", "faithfulness", "pairs", "scores"]
    for name in kind_names():
        kind = probe_kind(name)
        assert kind.name == name and isinstance(kind.headline, Metric)
        assert kind.headline.key in dict(kind.columns)   # the compared number is in its table
        assert kind.legend and callable(kind.measure)
        for _, label in kind.columns:  # every word of a column's short label is explained
            assert all(any(f"{word}{then}" in kind.legend for then in (":", " (", " /"))
                       for word in label.split()), (name, label)
    assert probe_kind("attack").headline.percent and probe_kind("attack").skippable
    assert not any(probe_kind(n).headline.percent for n in ("scores", "pairs", "faithfulness"))


def test_a_suite_naming_no_kind_is_one_line_listing_the_kinds(tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "typo.yaml").write_text("probes:\n  - {name: x, kind: scorez}\n")
    with pytest.raises(UserError, match="probe x, kind: scorez is not a probe kind; choose "
                                        "attack, faithfulness, pairs, scores") as err:
        load_suite("typo", [tmp_path])
    assert "\n" not in str(err.value)


@pytest.fixture
def confidence_kind(tmp_path, monkeypatch):
    """A kind of the user's own: one module in a folder the kinds package also reads."""
    folder = tmp_path / "kinds"
    folder.mkdir()
    (folder / "confidence.py").write_text(CONFIDENCE_KIND)
    monkeypatch.setattr(kinds, "__path__", [*kinds.__path__, str(folder)])
    probe_kind.cache_clear()
    yield
    probe_kind.cache_clear()


def test_a_kind_added_as_one_module_runs_in_a_suite_and_is_compared(tiny_runs, tmp_path,
                                                                      confidence_kind):
    # copies: a report of this kind is unreadable where the kind is not installed (other tests)
    runs = {afa: shutil.copytree(run, tmp_path / run.name) for afa, run in tiny_runs.items()}
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "sure.yaml").write_text(
        "probes:\n  - {name: own, limit: 20}\n  - {name: sure, kind: confidence, limit: 20}\n")
    result = CliRunner().invoke(app, ["eval", str(runs["off"]), str(runs["default"]),
                                      "--suite", "sure", "--config-dir", str(tmp_path),
                                      "--baseline", "afa=off"])
    assert result.exit_code == 0, result.output
    shown = result.stdout
    assert "conf: mean top-class probability" in shown and "mean_confidence" in shown
    folder = sorted((runs["default"] / "suites").glob("sure*"))[-1]
    probes = {p["probe"]: p for p in json.loads((folder / "report.json").read_text())["probes"]}
    assert probes["sure"]["kind"] == "confidence" and probes["sure"]["correct"] is None
    assert 0.5 <= probes["sure"]["metrics"]["mean_confidence"] <= 1
    comparison = json.loads((folder / "comparison.json").read_text())
    sure, = (c for c in comparison["comparisons"] if c["probe"] == "sure")
    assert sure["metric"] == "mean_confidence" and sure["test"] == "paired t"
    own, = (c for c in comparison["comparisons"] if c["probe"] == "own")
    assert own["metric"] == "accuracy" and own["test"] == "McNemar"
    # where the kind is not installed, reading its report is one line
    probe_kind.cache_clear()
    kinds.__path__ = kinds.__path__[:-1]
    report = CliRunner().invoke(app, ["report", str(runs["off"]), str(runs["default"])])
    assert report.exit_code == 2 and "no probe kind confidence here (the kinds are attack, " \
        "faithfulness, pairs, scores)" in report.output
    assert "Traceback" not in report.output
