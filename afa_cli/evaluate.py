"""Evaluation: predictions in inference mode, classification scores, and the attention-quality
metrics that measure "fake focus"."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from afa_cli import runs
from afa_cli.afa.attention import normalized_entropy, word_attention
from afa_cli.config import compose_config
from afa_cli.data import (Encoded, collate, encode, eval_batches, load_split, read_labelled_file,
                          subsample)
from afa_cli.distributed import ONE_PROCESS, Context
from afa_cli.errors import UserError
from afa_cli.lexicon import frequent_words, normalize_word, sentiment_lexicon
from afa_cli.models import AttendingClassifier, load_checkpoint

TOP_K = 5
EVAL_BATCH_SIZE = 64


@dataclass
class Predictions:
    probs: np.ndarray              # [N, C]
    attention: list[np.ndarray]    # per example, a_θ over its words

    @property
    def labels(self) -> np.ndarray:
        return self.probs.argmax(axis=1)


def predict(net: AttendingClassifier, data: Encoded, batch_size: int, pad_id: int,
            ctx: Context = ONE_PROCESS) -> Predictions:
    """Class probabilities and word-level attention for every example, in the data's order.
    Under data parallelism each process scores every world_size-th example and all of them
    receive every prediction."""
    probs = np.zeros((len(data), net.model.config.num_labels), dtype=np.float32)
    attention: list[np.ndarray | None] = [None] * len(data)
    mine = ctx.shard(list(range(len(data))))
    lengths = data.lengths()
    scored: list[tuple[list[int], np.ndarray, list[np.ndarray]]] = []
    with torch.inference_mode():
        for batch_rows in eval_batches([lengths[i] for i in mine], batch_size):
            indices = [mine[r] for r in batch_rows]
            batch = collate(data, indices, pad_id)
            logits, _, token_attention = net(batch["input_ids"], batch["attention_mask"], False)
            words = word_attention(token_attention.cpu(), batch["word_ids"])    # [B, W]
            scored.append((indices, torch.softmax(logits, dim=-1).cpu().numpy(),
                           [words[row, : batch["num_words"][row]].numpy() for row in range(len(indices))]))
    for part in ctx.gather_objects(scored):
        for indices, batch_probs, batch_attention in part:
            probs[indices] = batch_probs
            for i, weights in zip(indices, batch_attention):
                attention[i] = weights
    return Predictions(probs, attention)


def classification_metrics(labels, predictions, label_names: list[str]) -> dict:
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    classes = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=classes, zero_division=0)
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, labels=classes, average="macro", zero_division=0)),
        "per_class": {
            name: {"precision": float(precision[c]), "recall": float(recall[c]),
                   "f1": float(f1[c]), "support": int(support[c])}
            for c, name in enumerate(label_names)
        },
        "confusion": confusion_matrix(labels, predictions, labels=classes).tolist(),
    }


def is_lexicon_word(word: str, lexicon: frozenset[str]) -> bool:
    return word.lower() in lexicon or normalize_word(word) in lexicon


def attention_metrics(texts: list[str], attention: list[np.ndarray], frequent: list[str]) -> dict:
    """Where attention goes, averaged over sentences of two or more words.

    lexicon_mass / frequent_mass: attention on sentiment-lexicon / frequent words, each beside its
    value under uniform attention; lexicon_precision@5: share of the top-5 attended words that are
    lexicon words (under uniform attention its expectation is lexicon_mass_uniform); attn_entropy: normalised entropy (sharpening alone raises lexicon mass)."""
    lexicon = sentiment_lexicon()
    frequent_set = set(frequent)
    rows = {key: [] for key in ("lexicon_mass", "lexicon_mass_uniform", "frequent_mass",
                                "frequent_mass_uniform", f"lexicon_precision@{TOP_K}",
                                "attn_entropy")}
    for text, weights in zip(texts, attention):
        words = text.split()[: len(weights)]
        if len(words) < 2:
            continue
        in_lexicon = np.array([is_lexicon_word(w, lexicon) for w in words], dtype=np.float64)
        in_frequent = np.array([normalize_word(w) in frequent_set for w in words], dtype=np.float64)
        top = np.argsort(-weights, kind="stable")[: min(TOP_K, len(words))]
        rows["lexicon_mass"].append(float(weights @ in_lexicon))
        rows["lexicon_mass_uniform"].append(float(in_lexicon.mean()))
        rows["frequent_mass"].append(float(weights @ in_frequent))
        rows["frequent_mass_uniform"].append(float(in_frequent.mean()))
        rows[f"lexicon_precision@{TOP_K}"].append(float(in_lexicon[top].mean()))
        dist = torch.from_numpy(weights).double()[None]
        rows["attn_entropy"].append(float(normalized_entropy(dist, torch.tensor([len(words)]))[0]))
    return {key: (float(np.mean(values)) if values else float("nan")) for key, values in rows.items()}


def evaluate(net: AttendingClassifier, data: Encoded, texts: list[str], label_names: list[str],
             frequent: list[str], batch_size: int, pad_id: int,
             ctx: Context = ONE_PROCESS) -> tuple[dict, Predictions]:
    """All metrics of one split: classification scores and attention quality."""
    preds = predict(net, data, batch_size, pad_id, ctx)
    metrics = classification_metrics(data.labels, preds.labels, label_names)
    metrics.update(attention_metrics(texts, preds.attention, frequent))
    return metrics, preds


def frequent_words_for(run_dir: Path | None, dcfg, fallback_texts: list[str]) -> list[str]:
    """The run's own frequent-word list (from its training rows) when there is one."""
    words = runs.Run(run_dir).frequent_words() if run_dir is not None else None
    if words is not None:
        return words
    try:
        return frequent_words(load_split(dcfg, "train").texts)
    except UserError:
        return frequent_words(fallback_texts)


def checkpoint_config(run_dir: Path | None, overrides: list[str]):
    """The config a checkpoint is scored with: its run's own, or the run's overrides plus these."""
    if run_dir is not None and not overrides:
        return runs.Run.open(run_dir).config()
    run_overrides = runs.Run(run_dir).overrides() if run_dir is not None else []
    return compose_config(run_overrides + list(overrides))


def scored_rows(cfg, split: str, num_labels: int):
    """The rows of a dataset split that a checkpoint predicting num_labels classes is scored on."""
    if cfg.dataset.num_labels != num_labels:
        raise UserError(f"dataset={cfg.dataset.name} has {cfg.dataset.num_labels} labels but the "
                        f"checkpoint predicts {num_labels}.")
    return subsample(load_split(cfg.dataset, split), cfg.train.max_eval_samples,
                     cfg.dataset.split_seed)


def evaluate_checkpoint(path: str | Path, overrides: list[str], split: str = "validation",
                        data_file: Path | None = None, text_col: str | None = None,
                        label_col: str | None = None, predictions_file: Path | None = None,
                        batch_size: int = EVAL_BATCH_SIZE) -> tuple[dict, Path]:
    """`afa eval`: score a run's best checkpoint (or any checkpoint folder) on a labelled split.

    Returns the report and the JSON file it was written to."""
    checkpoint, run = runs.resolve(path)
    run_dir = run.path if run is not None else None
    if predictions_file is not None and Path(predictions_file).exists():
        raise UserError(f"{predictions_file} already exists; choose a new --predictions file.")
    cfg = checkpoint_config(run_dir, overrides)
    model, tokenizer = load_checkpoint(checkpoint)
    label_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if data_file is not None:
        rows = read_labelled_file(Path(data_file), text_col or cfg.dataset.text_col,
                                  label_col or cfg.dataset.label_col, label_names)
        dataset_name, split = Path(data_file).stem, "file"
    else:
        rows = scored_rows(cfg, split, len(label_names))
        dataset_name = cfg.dataset.name
    torch.set_num_threads(cfg.train.num_threads)
    data = encode(rows.texts, rows.labels, tokenizer, cfg.model.max_length)
    net = AttendingClassifier(model, layer=cfg.afa.layer)
    frequent = frequent_words_for(run_dir, cfg.dataset, rows.texts)
    start = time.perf_counter()
    metrics, preds = evaluate(net, data, rows.texts, label_names, frequent, batch_size,
                              tokenizer.pad_token_id)
    seconds = time.perf_counter() - start
    report = {"checkpoint": str(checkpoint), "dataset": dataset_name, "split": split,
              "source": rows.source, "num_examples": len(data), "label_names": label_names,
              "seconds": seconds, "examples_per_s": len(data) / seconds, "metrics": metrics}
    out_dir = run_dir if run_dir is not None else checkpoint
    out_path = runs.Run(out_dir).eval_report_path(dataset_name, split)
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
