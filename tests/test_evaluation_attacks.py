"""Perturbation attacks on a real word-presence scorer whose answers are known by hand."""

import csv
import zipfile

import numpy as np
import pytest

from afa_cli.errors import UserError
from afa_cli.evaluation import wordnet
from afa_cli.evaluation.attacks import (STOPWORDS, AttackRecord, Outcome, attack, attack_summary,
                                        character_edits, synonym_swaps, wordnet_synonyms,
                                        word_deletion, write_attack_csv)
from afa_cli.lexicon import normalize_word
from conftest import needs_wordnet


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


def test_examples_are_searched_in_lockstep_and_do_not_depend_on_each_other():
    calls = []

    def counting(texts):
        calls.append(len(texts))
        return WordScorer()(texts)

    texts = ["good good fine movie and a good plot", "a good film", "good acting , good score"]
    together = attack(texts, [1, 1, 1], counting, character_edits, seed=2, max_edit_fraction=1.0)
    # the originals, their leave-one-out variants, then a call per round for every example
    # still searching: never more rounds than the longest text has words
    assert len(calls) <= 2 + max(len(t.split()) for t in texts) < sum(len(t.split()) for t in texts)
    assert max(calls[2:]) > len(character_edits("good", np.random.default_rng(0)))
    other = attack([texts[0], "a bad film", texts[2]], [1, 1, 1], WordScorer(), character_edits,
                   seed=2, max_edit_fraction=1.0)
    assert (together[0], together[2]) == (other[0], other[2])


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


def test_wordnet_missing_is_one_line_naming_the_install(monkeypatch, tmp_path):
    monkeypatch.setenv(wordnet.WORDNET_DIR_VARIABLE, str(tmp_path))     # an empty folder
    with pytest.raises(UserError) as err:
        wordnet_synonyms()
    message = str(err.value)
    assert "\n" not in message and "apt-get install wordnet-base" in message
    assert f"AFA_WORDNET_DIR={tmp_path} has no index.noun" in message
    # unset, and neither Debian's folder nor NLTK's data anywhere
    monkeypatch.delenv(wordnet.WORDNET_DIR_VARIABLE)
    monkeypatch.setattr(wordnet, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setattr(wordnet, "nltk_data_path", lambda: [tmp_path])
    with pytest.raises(UserError) as err:
        wordnet_synonyms()
    assert str(err.value) == ("synonym attacks need WordNet: apt-get install wordnet-base (or "
                              "pip install nltk && python -m nltk.downloader wordnet)")


def test_nltks_wordnet_zip_is_read_too(monkeypatch, tmp_path):
    # A two-synset WordNet in NLTK's layout: <root>/corpora/wordnet.zip holding wordnet/<file>.
    first = "00000000 06 n 03 movie 0 film 0 motion_picture 0 000 | a movie\n"
    files = dict.fromkeys(wordnet.FILES, "")
    files["data.noun"] = first + "00000063 06 n 02 Picture 0 pic 0 000 | an image\n"
    files["index.noun"] = "  1 licence line\nfilm n 1 0 1 0 00000000\nmovie n 1 0 1 0 00000000\n" \
        "picture n 2 1 @ 2 0 00000000 00000063\n"
    files["noun.exc"] = "pictures picture\n"
    assert len(first) == 63
    (tmp_path / "corpora").mkdir()
    with zipfile.ZipFile(tmp_path / "corpora" / "wordnet.zip", "w") as archive:
        for name, text in files.items():
            archive.writestr(f"wordnet/{name}", text)
    monkeypatch.delenv(wordnet.WORDNET_DIR_VARIABLE, raising=False)
    monkeypatch.setattr(wordnet, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    synonyms = wordnet_synonyms()
    assert synonyms("pictures") == ["film", "movie", "pic"]   # lowercased, one word, not itself
    assert synonyms("movie") == ["film"] and synonyms("unknown") == []


@needs_wordnet
def test_wordnet_gives_real_synonyms():
    synonyms = wordnet_synonyms()
    assert {"film", "flick", "picture", "pic"} == set(synonyms("movie"))
    assert synonyms("movies") == synonyms("movie")        # the plural's base form's synsets
    good = synonyms("good")
    assert {"beneficial", "just", "sound", "well", "proficient", "respectable"} <= set(good)
    assert "good" not in good and good == sorted(set(good))
    assert all(w.isalpha() or "-" in w or "'" in w for w in good)   # no motion_picture, trade_good
    assert "terrible" in synonyms("awful") and synonyms("xqzv") == []
    assert "better" not in synonyms("better") and "improve" in synonyms("better")
    swaps = synonym_swaps(synonyms)
    assert "Film," in swaps("Movie,", np.random.default_rng(0))
    assert "FLICK" in swaps("MOVIE", np.random.default_rng(0))


@needs_wordnet
def test_synonym_attack_swaps_in_wordnet_synonyms():
    synonyms = wordnet_synonyms()
    records = attack(["a good movie", "the good film was good fun"], [1, 1], WordScorer(),
                     synonym_swaps(synonyms), max_edit_fraction=0.5, seed=3)
    # only "good" moves this scorer (and "fine", a synonym of "good"): both swapped out
    assert records[0].perturbed_text.startswith("a [[") and records[0].words_perturbed == 1
    for record in records:
        for old, new in zip(record.original_text.split(), record.perturbed_text.split()):
            if new.startswith("[["):
                assert new.strip("[]") in synonyms(old) and old not in STOPWORDS
    assert records == attack(["a good movie", "the good film was good fun"], [1, 1],
                             WordScorer(), synonym_swaps(synonyms), max_edit_fraction=0.5, seed=3)
