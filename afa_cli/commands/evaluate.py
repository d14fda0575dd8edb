"""`afa eval`: score a run's best checkpoint (or any checkpoint folder) on a labelled split or
file, write the report into the run folder (never over an earlier one), and lay out its tables."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console

from afa_cli import files, runs
from afa_cli.checkpoint import load_for_scoring
from afa_cli.data import Split, encode, read_labelled_file, subsample
from afa_cli.display import WorkProgress
from afa_cli.errors import UserError
from afa_cli.metrics import EVAL_BATCH_SIZE, registry
from afa_cli.metrics.scoring import Predictions, evaluate
from afa_cli.paths import check_new_file, shown_path
from afa_cli.views.sections import Number, Table

PER_CLASS_SCORES = ("precision", "recall", "f1")


@dataclass
class EvalRequest:
    path: Path                                  # a run folder or a checkpoint folder
    overrides: list[str] = field(default_factory=list)
    split: str = "validation"
    data_file: Path | None = None               # a labelled file instead of a dataset split
    text_col: str | None = None
    label_col: str | None = None
    limit: int | None = None                    # score a seeded sample of this many rows
    predictions_file: Path | None = None
    out: Path | None = None                     # the report's file; default: inside the run
    allow_untrained_head: bool = False
    config_dirs: list[Path] = field(default_factory=list)
    batch_size: int = EVAL_BATCH_SIZE
    device: str = "auto"                        # auto: the GPU when there is one

    def check(self) -> None:
        """Everything that can be refused before a model is loaded."""
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit {self.limit}: give a number of rows >= 1 (or no --limit "
                            "for the whole split).")
        for option, path in (("--predictions", self.predictions_file), ("--out", self.out)):
            if path is not None:
                check_new_file(Path(path), option)


@dataclass
class EvalResult:
    report: dict
    written: Path | None   # None: the checkpoint is not in a run and no --out was given


def evaluate_checkpoint(request: EvalRequest, console: Console) -> EvalResult:
    request.check()
    loaded = load_for_scoring(request.path, request.overrides, request.config_dirs,
                              require_trained_head=not request.allow_untrained_head,
                              device=request.device)
    cfg, label_names = loaded.cfg, loaded.label_names
    if request.data_file is not None:
        rows = read_labelled_file(Path(request.data_file),
                                  request.text_col or cfg.dataset.text_col,
                                  request.label_col or cfg.dataset.label_col, label_names)
        dataset_name, split = Path(request.data_file).stem, "file"
    else:
        rows = loaded.scored_rows(request.split)
        dataset_name, split = cfg.dataset.name, request.split
    scored = subsample(rows, request.limit, cfg.dataset.split_seed)
    torch.set_num_threads(cfg.train.num_threads)
    data = encode(scored.texts, scored.labels, loaded.tokenizer, cfg.model.max_length,
                  WorkProgress(console, "tokenising", len(scored.texts)))
    net = loaded.scoring_net()
    start = time.perf_counter()
    with WorkProgress(console, "scoring", len(data)) as progress:
        metrics, preds = evaluate(net, data, scored.texts, label_names,
                                  loaded.frequent_words(scored.texts), request.batch_size,
                                  loaded.pad_id, progress=progress)
    seconds = time.perf_counter() - start
    report = {"checkpoint": shown_path(loaded.checkpoint), "dataset": dataset_name, "split": split,
              "source": rows.source, "overrides": list(request.overrides),
              "num_examples": len(data), "rows_in_split": len(rows.texts),
              "limit": request.limit, "label_names": label_names,
              "seconds": seconds, "examples_per_s": len(data) / seconds, "metrics": metrics}
    written = _write_report(request, loaded.run, loaded.checkpoint.name, report)
    if request.predictions_file is not None:
        try:
            write_predictions(Path(request.predictions_file), scored, preds, label_names)
        except BaseException:
            if written is not None:  # all or nothing: a rerun writes both under the same names
                written.unlink(missing_ok=True)
            raise
    return EvalResult(report, written)


def _write_report(request: EvalRequest, run: runs.Run | None, checkpoint: str,
                  report: dict) -> Path | None:
    if request.out is not None:
        runs.write_json(request.out, report, exclusive=True)  # created since the check: kept
        return request.out
    if run is None:
        return None
    return run.write_eval_report(report["dataset"], report["split"], checkpoint, report)


def write_predictions(path: Path, rows: Split, preds: Predictions, label_names: list[str]) -> None:
    with files.open_new(path) as handle:
        for text, label, probs in zip(rows.texts, rows.labels, preds.probs):
            handle.write(json.dumps({
                "text": text, "label": label_names[label],
                "prediction": label_names[int(probs.argmax())],
                "probabilities": {name: float(p) for name, p in zip(label_names, probs)},
            }) + "\n")


def report_tables(report: dict) -> list[Table]:
    """An evaluation report's scores, per-class scores and confusion matrix as tables."""
    metrics, names = report["metrics"], report["label_names"]
    scores = tuple((metric.key, Number(metrics[metric.key], metric.format(metrics[metric.key])))
                   for metric in registry.with_uniform_references(registry.SCORES))
    per_class = tuple((name, *_class_scores(metrics["per_class"][name])) for name in names)
    confusion = tuple((name, *map(_count, row)) for name, row in zip(names, metrics["confusion"]))
    return [Table(header=("metric", "value"), rows=scores, title="scores"),
            Table(header=("class", *PER_CLASS_SCORES, "support"), rows=per_class,
                  title="per class"),
            Table(header=("", *names), rows=confusion,
                  title="confusion (rows: true, columns: predicted)")]


def _class_scores(scores: dict) -> tuple[Number, ...]:
    """A class's precision, recall and F1, and its support."""
    return (*(Number(scores[key], f"{scores[key]:.4f}") for key in PER_CLASS_SCORES),
            _count(scores["support"]))


def _count(count: int) -> Number:
    return Number(count, str(count))
