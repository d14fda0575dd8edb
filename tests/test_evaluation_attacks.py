"""Perturbation attacks on a real word-presence scorer whose answers are known by hand."""

import csv
import sys

import numpy as np
import pytest

from afa_cli.errors import UserError
from afa_cli.evaluation.attacks import (STOPWORDS, AttackRecord, Outcome, attack, attack_summary,
                                        character_edits, synonym_swaps, wordnet_synonyms,
                                        word_deletion, write_attack_csv)
from afa_cli.lexicon import normalize_word


class WordScorer:
    """p(positive) = 0.45 + 0.1 per "good" + 0.04 per "fine" - 0.1 per "bad"; counts what it
    is sent."""

    WEIGHTS = {"good": 0.1, "fine": 0.04, "bad": -0.1}

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        positive = np.array([0.45 + sum(self.WEIGHTS.get(normalize_word(w), 0.0) for w in t.split())
                             for t in texts])
        return np.stack([1 - positive, positive], axis=1)


def test_stopwords_are_nltks_english_list():
    assert len(STOPWORDS) == 179
    assert {"not", "the", "wouldn't", "should've"} <= STOPWORDS


def test_character_edits_are_deepwordbugs_four_kinds_and_keep_punctuation():
    edits = character_edits("good!", np.random.default_rng(0))
    assert {"ogod!", "godo!", "ood!", "god!", "goo!"} <= set(edits)   # swaps and deletions
    assert "good!" not in edits and len(edits) == len(set(edits))
    assert all(e.endswith("!") for e in edits)
    lengths = {len(e) for e in edits}
    assert lengths == {4, 5, 6}     # deleted, swapped or substituted, inserted letters (+ "!")


def test_character_edits_are_seeded():
    same = [character_edits("wonderful", np.random.default_rng(seed)) for seed in (3, 3, 4)]
    assert same[0] == same[1]
    assert same[0] != same[2]


def test_synonym_swaps_keep_capital_and_punctuation():
    swaps = synonym_swaps(lambda word: {"good": ["fine", "good", "great"]}.get(word, []))
    assert swaps("Good!", np.random.default_rng(0)) == ["Fine!", "Great!"]
    assert swaps("...", np.random.default_rng(0)) == []


def test_character_attack_flips_the_decisive_word_and_marks_it():
    scorer = WordScorer()
    [record] = attack(["the film is good"], [1], scorer, character_edits, seed=0)
    # Leave-one-out: only "good" matters (0.55 -> 0.45); any edit of it flips the prediction,
    # and among equally strong edits the first (the swap "ogod") is kept.
    assert record.outcome is Outcome.SUCCESSFUL
    assert record.perturbed_text == "the film is [[ogod]]"
    assert (record.original_prediction, record.perturbed_prediction) == (1, 0)
    assert (record.words_perturbed, record.num_words) == (1, 4)
    candidates = character_edits("good", np.random.default_rng([0, 0]))
    assert record.queries == 1 + 4 + len(candidates)
    assert [len(c) for c in scorer.calls] == [1, 4, len(candidates)]


def test_synonym_attack_keeps_the_strongest_synonym():
    swaps = synonym_swaps(lambda word: {"good": ["fine", "great"]}.get(word, []))
    [record] = attack(["the film is good"], [1], WordScorer(), swaps)
    # "fine" leaves p(positive) 0.49, "great" 0.45: both flip, "great" lowers it most.
    assert record.perturbed_text == "the film is [[great]]"
    assert record.outcome is Outcome.SUCCESSFUL


def test_stopwords_are_never_edited():
    def negation_scorer(texts):
        positive = np.array([0.7 if "not" in t.split() else 0.3 for t in texts])
        return np.stack([1 - positive, positive], axis=1)

    [record] = attack(["this is not it"], [1], negation_scorer, word_deletion)
    assert record.outcome is Outcome.FAILED
    assert record.perturbed_text == "this is not it" and record.words_perturbed == 0
    assert record.queries == 1 + 4        # the original and its leave-one-out variants only


@pytest.mark.parametrize(("fraction", "max_edits", "outcome", "perturbed"), [
    (0.5, None, Outcome.FAILED, "[[]] [[]] good movie"),       # ceil(0.5 x 4) = 2 words
    (0.75, None, Outcome.SUCCESSFUL, "[[]] [[]] [[]] movie"),  # 3 words: the third flips it
    (1.0, 1, Outcome.FAILED, "[[]] good good movie"),
])
def test_budget_is_respected(fraction, max_edits, outcome, perturbed):
    # 0.75 -> each deleted "good" takes 0.1 off; the prediction flips below 0.5.
    [record] = attack(["good good good movie"], [1], WordScorer(), word_deletion,
                      max_edit_fraction=fraction, max_edits=max_edits)
    assert record.outcome is outcome
    assert record.perturbed_text == perturbed
    assert record.words_perturbed == perturbed.count("[[")


def test_wrong_predictions_are_skipped_and_all_texts_are_counted():
    scorer = WordScorer()
    texts, labels = ["the film is good", "good film", "a bad film"], [0, 1, 0]
    records = attack(texts, labels, scorer, character_edits, seed=5)
    assert [r.outcome for r in records] == [Outcome.SKIPPED, Outcome.SUCCESSFUL, Outcome.FAILED]
    # "a bad film": editing "bad" lifts p(positive) only to 0.45, and the budget is one word.
    assert (records[2].words_perturbed, records[2].perturbed_prediction) == (1, 0)
    skipped = records[0]
    assert (skipped.perturbed_text, skipped.queries, skipped.words_perturbed) == (texts[0], 1, 0)
    assert sum(r.queries for r in records) == sum(len(c) for c in scorer.calls)
    assert len(scorer.calls[1]) == 2 + 3      # one call: leave-one-out of both attacked texts


def test_same_seed_same_attack():
    texts, labels = ["good good fine film", "a fine good day"], [1, 1]
    runs = [attack(texts, labels, WordScorer(), character_edits, seed=7) for _ in range(2)]
    assert runs[0] == runs[1]


def _record(outcome, perturbed, words, queries):
    return AttackRecord("t", "t", 1, 1, 0, outcome, perturbed, words, queries)


def test_summary_matches_textattacks_table_by_hand():
    records = [_record(Outcome.SUCCESSFUL, 1, 4, 10), _record(Outcome.SUCCESSFUL, 2, 10, 20),
               _record(Outcome.FAILED, 3, 5, 30), _record(Outcome.SKIPPED, 0, 6, 1)]
    assert attack_summary(records) == pytest.approx({
        "number_of_successful_attacks": 2,
        "number_of_failed_attacks": 1,
        "number_of_skipped_attacks": 1,
        "original_accuracy": 75.0,
        "accuracy_under_attack": 25.0,
        "attack_success_rate": 200 / 3,
        "average_perturbed_word_percent": 22.5,      # (25 % + 20 %) / 2, successful ones only
        "average_num_words_per_input": 6.25,
        "avg_num_queries": 20.0,                     # skipped ones left out
    })


def test_csv_has_a_row_per_record_and_is_never_overwritten(tmp_path):
    records = attack(["the film is good", "bad"], [1, 1], WordScorer(), character_edits)
    path = tmp_path / "attack.csv"
    write_attack_csv(path, records)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["outcome"] for r in rows] == ["successful", "skipped"]
    assert rows[0]["perturbed_text"] == "the film is [[ogod]]"
    assert rows[0]["original_text"] == "the film is good" and rows[0]["label"] == "1"
    before = path.read_text(encoding="utf-8")
    with pytest.raises(UserError) as err:
        write_attack_csv(path, records[:1])
    assert "already exists" in str(err.value) and "\n" not in str(err.value)
    assert path.read_text(encoding="utf-8") == before


def test_wordnet_missing_is_one_line(monkeypatch, tmp_path):
    try:
        import nltk
    except ImportError:
        monkeypatch.setitem(sys.modules, "nltk", None)     # as if nltk were not installed
    else:
        monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])   # no WordNet data anywhere
    with pytest.raises(UserError) as err:
        wordnet_synonyms()
    message = str(err.value)
    assert "\n" not in message
    assert "pip install nltk" in message and "nltk.downloader wordnet" in message
