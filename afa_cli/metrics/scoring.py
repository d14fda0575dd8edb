"""Scores of one split: predictions in inference mode, classification scores, and the
attention-quality metrics that measure "fake focus". Keys come from the registry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from afa_cli.afa.attention import normalized_entropy, word_attention
from afa_cli.data import Encoded, collate, eval_batches
from afa_cli.distributed import ONE_PROCESS, Context
from afa_cli.lexicon import is_lexicon_word, normalize_word, sentiment_lexicon
from afa_cli.metrics import registry
from afa_cli.models import AttendingClassifier
from afa_cli.progress import NoProgress, WorkProgress


@dataclass
class Predictions:
    probs: np.ndarray              # [N, C]
    attention: list[np.ndarray]    # per example, a_θ over its words

    @property
    def labels(self) -> np.ndarray:
        return self.probs.argmax(axis=1)


def predict(net: AttendingClassifier, data: Encoded, batch_size: int, pad_id: int,
            ctx: Context = ONE_PROCESS, progress: WorkProgress = NoProgress()) -> Predictions:
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
            out = net(batch["input_ids"], batch["attention_mask"], False)
            words = word_attention(out.token_attention.cpu(), batch["word_ids"])  # [B, W]
            scored.append((indices, torch.softmax(out.logits, dim=-1).cpu().numpy(),
                           [words[row, : batch["num_words"][row]].numpy() for row in range(len(indices))]))
            progress.advance(len(indices))
    for part in ctx.gather_objects(scored):
        for indices, batch_probs, batch_attention in part:
            probs[indices] = batch_probs
            for i, weights in zip(indices, batch_attention):
                attention[i] = weights
    return Predictions(probs, attention)


def classification_metrics(labels, predictions, label_names: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision / recall / F1 / support and the confusion matrix
    (rows: true, columns: predicted); a score with nothing to count (no prediction of a class,
    no example of it) is 0, as scikit-learn's zero_division=0 has it."""
    labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    classes = len(label_names)
    confusion = np.bincount(labels * classes + predictions,
                            minlength=classes * classes).reshape(classes, classes)
    hits, support, predicted = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    precision = _ratio(hits, predicted)
    recall = _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predicted)  # = 2PR / (P + R), rounded as scikit-learn does
    return {
        registry.ACCURACY.key: float(hits.sum() / max(len(labels), 1)),
        registry.MACRO_F1.key: float(f1.mean()),
        "per_class": {
            name: {"precision": float(precision[c]), "recall": float(recall[c]),
                   "f1": float(f1[c]), "support": int(support[c])}
            for c, name in enumerate(label_names)
        },
        "confusion": confusion.tolist(),
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator, denominator = numerator.astype(np.float64), denominator.astype(np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def attention_metrics(texts: list[str], attention: list[np.ndarray], frequent: list[str]) -> dict:
    """Where attention goes (registry.ATTENTION and their uniform references), averaged over
    sentences of two or more words."""
    lexicon = sentiment_lexicon()
    frequent_set = set(frequent)
    rows: dict[str, list[float]] = {m.key: [] for m in (*registry.ATTENTION,
                                                        *registry.UNIFORM_REFERENCES)}
    for text, weights in zip(texts, attention):
        words = text.split()[: len(weights)]
        if len(words) < 2:
            continue
        in_lexicon = np.array([is_lexicon_word(w, lexicon) for w in words], dtype=np.float64)
        in_frequent = np.array([normalize_word(w) in frequent_set for w in words], dtype=np.float64)
        top = np.argsort(-weights, kind="stable")[: min(registry.TOP_K, len(words))]
        dist = torch.from_numpy(weights).double()[None]
        for metric, value in (
                (registry.LEXICON_MASS, weights @ in_lexicon),
                (registry.LEXICON_MASS_UNIFORM, in_lexicon.mean()),
                (registry.FREQUENT_MASS, weights @ in_frequent),
                (registry.FREQUENT_MASS_UNIFORM, in_frequent.mean()),
                (registry.LEXICON_PRECISION, in_lexicon[top].mean()),
                (registry.ATTN_ENTROPY, normalized_entropy(dist, torch.tensor([len(words)]))[0])):
            rows[metric.key].append(float(value))
    return {key: (float(np.mean(values)) if values else float("nan")) for key, values in rows.items()}


def evaluate(net: AttendingClassifier, data: Encoded, texts: list[str], label_names: list[str],
             frequent: list[str], batch_size: int, pad_id: int, ctx: Context = ONE_PROCESS,
             progress: WorkProgress = NoProgress()) -> tuple[dict, Predictions]:
    """All metrics of one split: classification scores and attention quality."""
    preds = predict(net, data, batch_size, pad_id, ctx, progress)
    metrics = classification_metrics(data.labels, preds.labels, label_names)
    metrics.update(attention_metrics(texts, preds.attention, frequent))
    return metrics, preds
