"""ERASER faithfulness, the rankings, attention / leave-one-out agreement and the frequency
profile, on a real word-weight scorer whose answers are known by hand."""

import numpy as np
import pytest

from afa_cli.evaluation.faithfulness import (ERASER_THRESHOLDS, eraser_faithfulness,
                                             kendall_agreement, leave_one_out, lexicon_ranking,
                                             random_ranking, top_words, words_at_fraction)
from afa_cli.evaluation.frequency import frequency_profile, frequency_ranking


class WordScorer:
    """p(positive) = 0.3 + 0.2 per "superb" + 0.1 per "good" + 0.05 per "fine" - 0.2 per
    "bad"; keeps the texts of every call."""

    WEIGHTS = {"superb": 0.2, "good": 0.1, "fine": 0.05, "bad": -0.2}

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        positive = np.array([0.3 + sum(self.WEIGHTS.get(w, 0.0) for w in t.split()) for t in texts])
        return np.stack([1 - positive, positive], axis=1)


SENTENCE = "the plot is superb and the acting is good fine".split()     # p(positive) = 0.65
# Highest first: superb, the(0), good, plot = fine (a tie: plot comes first), acting, ...
RANKING = np.array([0.3, 0.05, 0.01, 0.4, 0.02, 0.03, 0.04, 0.0, 0.1, 0.05])


def test_words_at_fraction_is_erasers_ceiling():
    assert [words_at_fraction(10, t) for t in ERASER_THRESHOLDS] == [1, 1, 1, 2, 5]
    assert words_at_fraction(100, 0.07) == 7       # not 8 from 7.000000000000001
    assert words_at_fraction(3, 0.5) == 2 and words_at_fraction(0, 0.5) == 0


def test_top_words_break_ties_by_position():
    assert top_words(RANKING, 5).tolist() == [3, 0, 8, 1, 9]


def test_comprehensiveness_and_sufficiency_by_hand():
    scorer = WordScorer()
    sentences = [SENTENCE, ["bad", "film"]]
    full = scorer([" ".join(s) for s in sentences])         # positive 0.65; negative 0.9
    result = eraser_faithfulness(sentences, [RANKING, np.array([1.0, 0.0])], scorer, full)
    # Top 1 and 2 words (superb; superb, the) remove / keep 0.2 of the 0.35 over 0.3: comp 0.2,
    # suff 0.65 - 0.5; the top 5 (superb, the, good, plot, fine) hold all of it.
    assert result.comprehensiveness[0] == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.35])
    assert result.sufficiency[0] == pytest.approx([0.15, 0.15, 0.15, 0.15, 0.0])
    # "bad film", predicted negative (0.9): without "bad" 0.7, "bad" alone 0.9.
    assert result.comprehensiveness[1] == pytest.approx([0.2] * 5)
    assert result.sufficiency[1] == pytest.approx([0.0] * 5, abs=1e-12)
    assert len(scorer.calls) == 2 and len(scorer.calls[1]) == 2 * 2 * len(ERASER_THRESHOLDS)
    assert scorer.calls[1][:2] == ["the plot is and the acting is good fine", "superb"]
    assert scorer.calls[1][8] == "is and the acting is"     # top 5 removed, the rest in order

    scores = result.as_dict()
    assert scores["comprehensiveness_aopc"] == pytest.approx((0.23 + 0.2) / 2)
    assert scores["sufficiency_aopc"] == pytest.approx(0.12 / 2)
    assert scores["comprehensiveness_at_50"] == pytest.approx((0.35 + 0.2) / 2)
    assert [k for k in scores if k.startswith("sufficiency_at")] == [
        "sufficiency_at_1", "sufficiency_at_5", "sufficiency_at_10", "sufficiency_at_20",
        "sufficiency_at_50"]
    # AOPC is the mean over the thresholds of the per-threshold means.
    assert scores["comprehensiveness_aopc"] == pytest.approx(
        np.mean([scores[f"comprehensiveness_at_{k}"] for k in (1, 5, 10, 20, 50)]))


def test_a_ranking_must_cover_the_words():
    with pytest.raises(ValueError, match="3 scores for 10 words"):
        eraser_faithfulness([SENTENCE], [np.ones(3)], WordScorer(), np.array([[0.35, 0.65]]))


def test_leave_one_out_by_hand_in_one_call():
    scorer = WordScorer()
    full = scorer([" ".join(SENTENCE), "bad film"])
    importance = leave_one_out([SENTENCE, ["bad", "film"]], scorer, full, np.array([1, 0]))
    assert importance[0] == pytest.approx([0, 0, 0, 0.2, 0, 0, 0, 0, 0.1, 0.05], abs=1e-12)
    assert importance[1] == pytest.approx([0.2, 0.0], abs=1e-12)
    assert len(scorer.calls) == 2 and len(scorer.calls[1]) == 12


def test_lexicon_ranking_puts_lexicon_words_first():
    [ranking] = lexicon_ranking([SENTENCE])
    assert top_words(ranking, 3).tolist() == [3, 8, 9]      # superb, good, fine
    assert ranking.sum() == 3


def test_random_ranking_is_seeded():
    sentences = [SENTENCE, SENTENCE[:4]]
    first, again, other = (random_ranking(sentences, seed) for seed in (1, 1, 2))
    assert sorted(first[0]) == list(range(10))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_kendall_agreement_by_hand():
    attention = [np.array([0.1, 0.2, 0.3]), np.array([0.3, 0.2, 0.1, 0.4]),
                 np.array([1.0]), np.array([0.5, 0.5])]
    importance = [np.array([1, 2, 3]), np.array([1, 2, 3, 4]), np.array([0.2]), np.array([1, 2])]
    # tau = 1, then 3 concordant and 3 discordant pairs: 0; one word and constant: left out.
    assert kendall_agreement(attention, importance) == pytest.approx(0.5)
    assert np.isnan(kendall_agreement(attention[2:], importance[2:]))


def test_frequency_ranking_counts_normalised_words():
    assert frequency_ranking(["b a B,", "c a b"]) == ["b", "a", "c"]


def test_frequency_profile_by_hand():
    ranking = [f"w{i}" for i in range(1100)]   # w0-w99, w100-w999, w1000-w1099 seen
    texts = ["w0 w150 w1050 zzz", "W0, w1 w2000", "w5"]
    attention = [np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.5, 0.5]),   # truncated: 2 words
                 np.array([1.0])]                                          # one word: left out
    profile = frequency_profile(texts, attention, ranking)
    assert profile.num_sentences == 2
    assert profile.mass == pytest.approx([0.7, 0.15, 0.1, 0.05])
    assert profile.uniform == pytest.approx([0.625, 0.125, 0.125, 0.125])
    assert profile.as_dict()["attention_top_101_1000"] == pytest.approx(0.15)
    assert profile.as_dict()["uniform_unseen"] == pytest.approx(0.125)
