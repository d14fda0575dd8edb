"""Counterfactual pair scores by hand."""

import pytest

from afa_cli.errors import UserError
from afa_cli.evaluation.pairs import pair_scores


def test_pair_scores_by_hand():
    #            pair 1 both right  pair 2 revision wrong  pair 3 original wrong  no pair
    pair_ids = ["1", "1", "2", "2", "3", "3", ""]
    labels = [0, 1, 0, 1, 1, 0, 1]
    predictions = [0, 1, 0, 0, 0, 0, 0]
    scores = pair_scores(pair_ids, labels, predictions)
    assert scores.as_dict() == pytest.approx({"original_accuracy": 2 / 3,
                                              "revised_accuracy": 2 / 3,
                                              "pair_consistency": 1 / 3, "num_pairs": 3})


def test_the_first_row_in_file_order_is_the_original():
    # Interleaved pairs: a's original is row 0, b's row 1.
    scores = pair_scores(["a", "b", "a", "b"], [1, 1, 0, 0], [1, 0, 1, 0])
    assert (scores.original_accuracy, scores.revised_accuracy) == (0.5, 0.5)
    assert scores.pair_consistency == 0.0


@pytest.mark.parametrize("pair_ids", [["7", "7", "7", "8", "8"], ["7", "8", "8"]])
def test_a_pair_id_on_other_than_two_rows_is_one_line(pair_ids):
    with pytest.raises(UserError) as err:
        pair_scores(pair_ids, [0] * len(pair_ids), [0] * len(pair_ids))
    assert "pair_id 7" in str(err.value) and "\n" not in str(err.value)


def test_data_without_pairs_is_one_line():
    with pytest.raises(UserError, match="no row has a pair_id"):
        pair_scores(["", None], [0, 1], [0, 1])
