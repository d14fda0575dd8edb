"""Pairs: the scores on a dataset of counterfactual pairs (an original and its label-flipped
revision), with accuracy on each side and the share of pairs with both right."""

from __future__ import annotations

import numpy as np

from afa_cli.errors import UserError
from afa_cli.evaluation.context import scores_with_frequency
from afa_cli.evaluation.kinds import Measured, PairedBy, ProbeKind
from afa_cli.evaluation.pairs import pair_scores
from afa_cli.metrics import registry


def measure(probe, rows, max_length, context) -> Measured:
    if rows.pair_ids is None:
        raise UserError(f"a pairs probe needs a dataset with dataset.pair_col set; "
                        f"{rows.source} has no pairs.")
    metrics, preds = scores_with_frequency(rows, max_length, context, "scoring pairs")
    metrics.update(pair_scores(rows.pair_ids, rows.labels, preds.labels).as_dict())
    return Measured(metrics, preds.labels == np.asarray(rows.labels), [])


KIND = ProbeKind(
    "pairs", measure, registry.PAIR_CONSISTENCY,
    columns=(("original_accuracy", "orig"), ("revised_accuracy", "revised"),
             ("pair_consistency", "both"), ("num_pairs", "pairs"), ("truncated_rows", "cut")),
    legend="orig / revised: accuracy on the original reviews / their label-flipped revisions; "
           "both: share of pairs with both right; pairs: pairs scored; cut: reviews longer than "
           "max_length (truncated)",
    # the pair is the unit: consistency per seed, not the examples' accuracy
    paired_by=PairedBy.SEEDS)
