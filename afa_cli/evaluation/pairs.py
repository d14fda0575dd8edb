"""Counterfactual pairs (Kaushik et al. 2020, the imdb_cad data): each original review and its
minimal revision that flips the label share a pair_id; the original comes first in file order.
A model that reads the words that decide the label gets both right."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from afa_cli.errors import UserError


@dataclass(frozen=True)
class PairScores:
    original_accuracy: float        # on the first row of every pair
    revised_accuracy: float         # on the second
    pair_consistency: float         # share of pairs with both rows right
    num_pairs: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def pair_scores(pair_ids: Sequence[str | None], labels: Sequence[int],
                predictions: Sequence[int]) -> PairScores:
    """Scores over the pairs; rows without a pair_id (None or "") belong to no pair and are not
    counted. A pair_id on other than two rows is an error."""
    members: dict[str, list[int]] = {}
    for row, pair_id in enumerate(pair_ids):
        if pair_id not in (None, ""):
            members.setdefault(pair_id, []).append(row)
    for pair_id, rows in members.items():
        if len(rows) != 2:
            raise UserError(f"pair_id {pair_id} is on {len(rows)} rows, not 2 (an original and "
                            "its revision); fix the pair_id column of the data.")
    if not members:
        raise UserError("no row has a pair_id; counterfactual pairs need a pair_id column "
                        "marking each original and its revision.")
    correct = np.asarray(labels) == np.asarray(predictions)
    original, revised = (correct[[rows[k] for rows in members.values()]] for k in (0, 1))
    return PairScores(float(original.mean()), float(revised.mean()),
                      float((original & revised).mean()), len(members))
