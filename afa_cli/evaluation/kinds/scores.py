"""Scores: accuracy, macro-F1, the attention metrics and the frequency profile on a dataset's
rows."""

from __future__ import annotations

import numpy as np

from afa_cli.evaluation.context import scores_with_frequency
from afa_cli.evaluation.kinds import Measured, PairedBy, ProbeKind
from afa_cli.metrics import registry


def measure(probe, rows, max_length, context) -> Measured:
    metrics, preds = scores_with_frequency(rows, max_length, context, "scoring scores")
    return Measured(metrics, preds.labels == np.asarray(rows.labels), [])


KIND = ProbeKind(
    "scores", measure, registry.ACCURACY,
    columns=(("accuracy", "acc"), ("macro_f1", "F1"), ("lexicon_mass", "lex"),
             ("attention_top_100", "top100"), ("attention_unseen", "unseen"),
             ("truncated_rows", "cut")),
    legend="acc: accuracy; F1: macro-F1; lex: attention mass on lexicon words; top100 / unseen: "
           "on the 100 most frequent training words / on words training never saw; cut: rows "
           "longer than max_length (truncated)",
    paired_by=PairedBy.PREDICTIONS)
