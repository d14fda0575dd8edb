"""What every probe of one loaded checkpoint shares: the model as a scorer of texts, its
predictions on a probe's rows, and the folder a probe's files go to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from afa_cli.checkpoint import LoadedCheckpoint
from afa_cli.data import Split, encode, load_split
from afa_cli.display import WorkProgress
from afa_cli.evaluation.frequency import frequency_profile
from afa_cli.metrics import EVAL_BATCH_SIZE
from afa_cli.metrics.scoring import evaluate, predict
from afa_cli.models import AttendingClassifier
from afa_cli.progress import NoProgress


@dataclass
class ProbeContext:
    loaded: LoadedCheckpoint
    train_ranking: list[str] | None  # the run's training words by frequency (None: not here)
    out_folder: Path                # where a probe's files (attack CSVs) go
    console: object = None          # progress over examples, when given
    batch_size: int = EVAL_BATCH_SIZE
    # reads a dataset's split; a suite passes one that reads each split once for all its runs
    load_rows: Callable[[DictConfig, str], Split] = load_split

    def progress(self, label: str, total: int, unit: str = "rows") -> WorkProgress | NoProgress:
        return WorkProgress(self.console, label, total, unit) if self.console else NoProgress()

    @property
    def net(self) -> AttendingClassifier:
        return self.loaded.scoring_net()

    def scorer(self, max_length: int, progress: WorkProgress | NoProgress = NoProgress()):
        """Texts -> class probabilities [N, C], in batches, without the tokeniser's disk cache
        (an attack's variants are scored once); `progress` advances by the texts scored."""
        net = self.net

        def score(texts: list[str]) -> np.ndarray:
            data = encode(texts, [0] * len(texts), self.loaded.tokenizer, max_length,
                          cached=False)
            return predict(net, data, self.batch_size, self.loaded.pad_id,
                           progress=progress).probs
        return score


def predictions(rows: Split, max_length: int, context: ProbeContext, label: str):
    """The scores of the rows (with how many were cut at max_length) and the predictions."""
    loaded = context.loaded
    data = encode(rows.texts, rows.labels, loaded.tokenizer, max_length)
    truncated = sum(length >= max_length for length in data.lengths())
    with context.progress(label, len(data)) as progress:
        metrics, preds = evaluate(context.net, data, rows.texts, loaded.label_names,
                                  loaded.frequent_words(rows.texts), context.batch_size,
                                  loaded.pad_id, progress=progress)
    metrics["truncated_rows"] = truncated
    metrics["max_length"] = max_length
    return metrics, preds


def scores_with_frequency(rows: Split, max_length: int, context: ProbeContext, label: str):
    """predictions, and where attention went by the words' frequency in training."""
    metrics, preds = predictions(rows, max_length, context, label)
    if context.train_ranking is not None:  # else no bins rather than all words "unseen"
        metrics.update(frequency_profile(rows.texts, preds.attention,
                                         context.train_ranking).as_dict())
    return metrics, preds
