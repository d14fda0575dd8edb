"""`afa predict`: the label, the class probabilities and, on request, the most attended words of
each text of a file or of stdin, as JSON lines. Texts are read, scored and written one batch at a
time, so a pipe sees results while its input still flows and memory does not grow with it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from afa_cli import files
from afa_cli.checkpoint import LoadedCheckpoint, load_for_scoring
from afa_cli.data import FILE_SUFFIXES, encode, file_records, utf8_lines
from afa_cli.display import WorkProgress
from afa_cli.errors import UserError
from afa_cli.evaluation.faithfulness import top_words
from afa_cli.metrics import EVAL_BATCH_SIZE
from afa_cli.metrics.scoring import predict
from afa_cli.models import AttendingClassifier
from afa_cli.paths import check_new_file
from afa_cli.progress import NoProgress

STDIN = "-"
TEXT_SUFFIX = ".txt"                        # one text per line, as stdin
FALLBACK_TEXT_COLUMNS = ("sentence", "text")


@dataclass
class PredictRequest:
    path: Path                    # a run folder (its best checkpoint) or a checkpoint folder
    file: str                     # a .txt/.tsv/.csv/.jsonl file, or "-": stdin, one text per line
    out: Path | None = None       # a new file; default: stdout
    text_col: str | None = None   # a table's text column; default: the run's, else a usual name
    top_words: int | None = None
    allow_untrained_head: bool = False
    batch_size: int = EVAL_BATCH_SIZE
    device: str = "auto"          # auto: the GPU when there is one

    @property
    def reads_lines(self) -> bool:
        return self.file == STDIN or Path(self.file).suffix.lower() == TEXT_SUFFIX

    def check(self) -> None:
        """Everything that can be refused before a model is loaded."""
        if self.top_words is not None and self.top_words < 1:
            raise UserError(f"--top-words {self.top_words}: give a number of words >= 1 (or no "
                            "--top-words).")
        if self.out is not None:
            check_new_file(Path(self.out), "--out")
        if self.file != STDIN:
            _check_input_file(Path(self.file))
        if self.text_col is not None and self.reads_lines:
            raise UserError(f"--text-col names a column of a {'/'.join(FILE_SUFFIXES)} file; "
                            f"--file {self.file} is read one text per line.")


def _check_input_file(path: Path) -> None:
    if not path.exists():
        raise UserError(f"--file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix not in (TEXT_SUFFIX, *FILE_SUFFIXES):
        raise UserError(f"--file {path}: unsupported file type '{suffix}'; use "
                        f"{', '.join((TEXT_SUFFIX, *FILE_SUFFIXES))}, or --file - to read stdin.")
    # A file is read twice (checked and counted, then scored): a pipe would be empty the second
    # time, so a stream comes in through stdin.
    if not path.is_file():
        raise UserError(f"--file {path} is not a regular file; pipe a stream in with --file -.")


def predict_texts(request: PredictRequest, stdin: BinaryIO, stdout: TextIO,
                  console: Console) -> int:
    """Write one JSON line per text to request.out, or to `stdout` (the real stdout, taken before
    a progress bar replaces sys.stdout); `console` (stderr) shows progress. Returns the number of
    texts."""
    request.check()
    loaded = load_for_scoring(request.path, require_trained_head=not request.allow_untrained_head,
                              device=request.device)
    texts, total = _input_texts(request, loaded.cfg.dataset.text_col, stdin)
    torch.set_num_threads(loaded.cfg.train.num_threads)
    net = loaded.scoring_net()
    batches = _batches(texts, request.batch_size)
    first = next(batches, None)
    if first is None:
        raise UserError(f"{_input_name(request.file)} holds no text to predict (blank lines "
                        "and empty texts are skipped).")
    count = truncated = 0
    with _output(request.out, stdout) as sink, _progress(console, total, sink) as progress:
        for batch in chain([first], batches):
            records = _predictions(loaded, net, batch, request.top_words)
            sink.writelines(json.dumps(record) + "\n" for record in records)
            sink.flush()  # a reader downstream gets each batch as soon as it is scored
            progress.advance(len(batch))
            count += len(batch)
            truncated += sum(record["truncated"] for record in records)
    if truncated:
        console.print(f"[yellow]warning:[/yellow] {truncated} of {count} texts were longer than "
                      f"model.max_length ({loaded.cfg.model.max_length} tokens): each was read "
                      "up to it alone (its record says truncated: true, and how many words were "
                      "read)", highlight=False, soft_wrap=True)
    return count


def _input_name(file: str) -> str:
    return "stdin" if file == STDIN else file


def _input_texts(request: PredictRequest, run_text_col: str,
                 stdin: BinaryIO) -> tuple[Iterator[str], int | None]:
    """The texts to score, and their number when it can be known before scoring: a file is read
    through once first, so that a bad row stops the command before anything is written."""
    if request.file == STDIN:
        return _line_texts(utf8_lines(stdin, "stdin")), None
    path = Path(request.file)
    total = sum(1 for _ in _file_texts(path, request.text_col, run_text_col))
    return _file_texts(path, request.text_col, run_text_col), total


def _file_texts(path: Path, text_col: str | None, run_text_col: str) -> Iterator[str]:
    if path.suffix.lower() == TEXT_SUFFIX:
        with path.open("rb") as handle:
            yield from _line_texts(utf8_lines(handle, path))
    else:
        yield from _column_texts(file_records(path), path, text_col, run_text_col)


def _line_texts(lines: Iterable[tuple[int, str]]) -> Iterator[str]:
    """One text per line; blank lines are skipped."""
    for _, line in lines:
        if line.strip():
            yield line.strip()


def _column_texts(records: Iterable[tuple[int, dict]], path: Path, text_col: str | None,
                  run_text_col: str) -> Iterator[str]:
    """The non-empty texts of one column of a table's rows (JSON objects for .jsonl)."""
    column = None
    for line, record in records:
        if not isinstance(record, dict):
            raise UserError(f"{path}:{line} is not a JSON object; give each text as "
                            f'{{"{column or text_col or run_text_col}": "..."}}.')
        column = column or _text_column(record, path, text_col, run_text_col)
        if column not in record:
            raise UserError(f"{path}:{line} has no '{column}'; give every row a text.")
        text = "" if record[column] is None else str(record[column]).strip()
        if text:
            yield text


def _text_column(first: dict, path: Path, text_col: str | None, run_text_col: str) -> str:
    """--text-col, or else the first of the run's text column and the usual names that the
    first row has."""
    wanted = [text_col] if text_col is not None else list(dict.fromkeys(
        (run_text_col, *FALLBACK_TEXT_COLUMNS)))
    found = next((name for name in wanted if name in first), None)
    if found is None:
        raise UserError(f"{path} has no column {' or '.join(repr(n) for n in wanted)} "
                        f"(columns: {', '.join(first)}); set --text-col.")
    return found


def _batches(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    while batch := list(islice(texts, size)):
        yield batch


def _predictions(loaded: LoadedCheckpoint, net: AttendingClassifier, texts: list[str],
                 top_k: int | None) -> list[dict]:
    # Uncached: the disk cache of `encode` would keep one file per batch of a stream, for ever.
    data = encode(texts, [0] * len(texts), loaded.tokenizer, loaded.cfg.model.max_length,
                  cached=False)  # the labels are not read
    preds = predict(net, data, len(texts), loaded.pad_id)
    return [_record(text, probs, attention, loaded.label_names, top_k)
            for text, probs, attention in zip(texts, preds.probs, preds.attention)]


def _record(text: str, probs: np.ndarray, attention: np.ndarray, label_names: list[str],
            top_k: int | None) -> dict:
    words = text.split()
    record = {"text": text, "label": label_names[int(probs.argmax())],
              "probabilities": {name: float(p) for name, p in zip(label_names, probs)},
              # a text cut at model.max_length: attention (and the prediction) saw its first words
              "truncated": len(attention) < len(words)}
    if record["truncated"]:
        record["words_read"] = len(attention)
    if top_k is not None:
        record["top_words"] = [{"word": words[i], "attention": float(attention[i])}
                               for i in top_words(attention, top_k)]
    return record


@contextmanager
def _output(out: Path | None, stdout: TextIO) -> Iterator[TextIO]:
    """stdout, or the new file `out`: written whole, or removed when predicting stops early (a
    failure, Ctrl-C), so that no partial file blocks running the command again."""
    if out is None:
        yield stdout
        return
    with files.open_new(out) as handle:
        yield handle


def _progress(console: Console, total: int | None,
              sink: TextIO) -> WorkProgress | _RunningCount | NoProgress:
    """A bar (a file: its total is known) or a running count (stdin) on stderr, when stderr is a
    terminal and the JSON lines are not going to that terminal too (the bar would split them)."""
    if not console.is_terminal or sink.isatty():
        return NoProgress()
    if total is None:
        return _RunningCount(console)
    return WorkProgress(console, "predicting", total, unit="texts")


class _RunningCount:
    """The texts predicted so far, for a stream whose total is unknown until it ends."""

    def __init__(self, console: Console):
        self.bar = Progress(TextColumn("[bold]predicting"), TextColumn("{task.completed} texts"),
                            TimeElapsedColumn(), console=console)

    def __enter__(self) -> _RunningCount:
        self.bar.start()
        self.task = self.bar.add_task("predicting", total=None)
        return self

    def advance(self, units: int) -> None:
        self.bar.advance(self.task, units)

    def __exit__(self, *exc) -> bool:
        self.bar.stop()
        return False
