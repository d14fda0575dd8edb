"""`afa eval`: score a run's best checkpoint (or any checkpoint folder) on a labelled split or
file, and write the report into the run folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from afa_cli import runs
from afa_cli.commands.checkpoint import EVAL_BATCH_SIZE, load_for_scoring
from afa_cli.data import encode, read_labelled_file
from afa_cli.errors import UserError
from afa_cli.metrics.scoring import Predictions, evaluate
from afa_cli.models import AttendingClassifier
from afa_cli.paths import shown_path


def evaluate_checkpoint(path: str | Path, overrides: list[str], split: str = "validation",
                        data_file: Path | None = None, text_col: str | None = None,
                        label_col: str | None = None, predictions_file: Path | None = None,
                        batch_size: int = EVAL_BATCH_SIZE,
                        config_dirs: list[Path] = ()) -> tuple[dict, Path]:
    """Returns the report and the JSON file it was written to."""
    if predictions_file is not None and Path(predictions_file).exists():
        raise UserError(f"{predictions_file} already exists; choose a new --predictions file.")
    loaded = load_for_scoring(path, overrides, config_dirs)
    cfg, label_names = loaded.cfg, loaded.label_names
    if data_file is not None:
        rows = read_labelled_file(Path(data_file), text_col or cfg.dataset.text_col,
                                  label_col or cfg.dataset.label_col, label_names)
        dataset_name, split = Path(data_file).stem, "file"
    else:
        rows = loaded.scored_rows(split)
        dataset_name = cfg.dataset.name
    torch.set_num_threads(cfg.train.num_threads)
    data = encode(rows.texts, rows.labels, loaded.tokenizer, cfg.model.max_length)
    net = AttendingClassifier(loaded.model, layer=cfg.afa.layer)
    start = time.perf_counter()
    metrics, preds = evaluate(net, data, rows.texts, label_names,
                              loaded.frequent_words(rows.texts), batch_size, loaded.pad_id)
    seconds = time.perf_counter() - start
    report = {"checkpoint": shown_path(loaded.checkpoint), "dataset": dataset_name, "split": split,
              "source": rows.source, "num_examples": len(data), "label_names": label_names,
              "seconds": seconds, "examples_per_s": len(data) / seconds, "metrics": metrics}
    out_path = (loaded.run or runs.Run(loaded.checkpoint)).eval_report_path(dataset_name, split)
    runs.write_json(out_path, report)
    if predictions_file is not None:
        write_predictions(Path(predictions_file), rows, preds, label_names)
    return report, out_path


def write_predictions(path: Path, rows, preds: Predictions, label_names: list[str]) -> None:
    with path.open("x", encoding="utf-8") as handle:
        for text, label, probs in zip(rows.texts, rows.labels, preds.probs):
            handle.write(json.dumps({
                "text": text, "label": label_names[label],
                "prediction": label_names[int(probs.argmax())],
                "probabilities": {name: float(p) for name, p in zip(label_names, probs)},
            }) + "\n")
