"""Scores of a split: classification metrics and attention quality on hand-made inputs."""

import math

import numpy as np
import pytest

from afa_cli.metrics import registry
from afa_cli.metrics.scoring import attention_metrics, classification_metrics


def test_classification_metrics():
    metrics = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["neg", "pos"])
    assert metrics["accuracy"] == 0.75
    assert metrics["per_class"]["neg"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3),
                                           "support": 2}
    assert metrics["confusion"] == [[1, 1], [0, 2]]
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_attention_metrics_by_hand():
    texts = ["the film is superb", "bad", "good , bad"]
    attention = [np.array([0.1, 0.1, 0.1, 0.7]), np.array([1.0]), np.array([0.5, 0.0, 0.5])]
    metrics = attention_metrics(texts, attention, frequent=["the", "is", ","])
    # the one-word sentence is not counted
    assert metrics["lexicon_mass"] == pytest.approx((0.7 + 1.0) / 2)
    assert metrics["lexicon_mass_uniform"] == pytest.approx((1 / 4 + 2 / 3) / 2)
    assert metrics["frequent_mass"] == pytest.approx((0.2 + 0.0) / 2)
    assert metrics["frequent_mass_uniform"] == pytest.approx((2 / 4 + 1 / 3) / 2)
    assert metrics[f"lexicon_precision@{registry.TOP_K}"] == pytest.approx((1 / 4 + 2 / 3) / 2)
    uniform_entropy, two_word_entropy = 1.0, math.log(2) / math.log(3)
    assert metrics["attn_entropy"] < uniform_entropy
    assert metrics["attn_entropy"] == pytest.approx(
        (-(3 * 0.1 * math.log(0.1) + 0.7 * math.log(0.7)) / math.log(4) + two_word_entropy) / 2)


def test_scores_are_exactly_the_registrys():
    metrics = classification_metrics([0, 1], [0, 1], ["neg", "pos"])
    metrics.update(attention_metrics(["a b"], [np.array([0.5, 0.5])], []))
    expected = {m.key for m in (*registry.SCORES, *registry.UNIFORM_REFERENCES)}
    assert {k for k, v in metrics.items() if isinstance(v, float)} == expected


def test_no_sentence_of_two_words_is_undefined_not_zero():
    metrics = attention_metrics(["great"], [np.array([1.0])], [])
    assert all(math.isnan(metrics[m.key]) for m in registry.ATTENTION)


def test_classification_metrics_equal_scikit_learns():
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    for classes, n in ((2, 50), (5, 200), (3, 4)):
        labels, predictions = rng.integers(0, classes, n), rng.integers(0, classes, n)
        predictions[predictions == classes - 1] = 0  # a class never predicted: zero division
        names = [f"c{c}" for c in range(classes)]
        ours = classification_metrics(labels, predictions, names)
        every = list(range(classes))
        precision, recall, f1, support = precision_recall_fscore_support(
            labels, predictions, labels=every, zero_division=0)
        assert ours["accuracy"] == pytest.approx(accuracy_score(labels, predictions))
        assert ours["macro_f1"] == pytest.approx(
            f1_score(labels, predictions, labels=every, average="macro", zero_division=0))
        assert ours["confusion"] == confusion_matrix(labels, predictions, labels=every).tolist()
        for c, name in enumerate(names):
            assert ours["per_class"][name] == pytest.approx(
                {"precision": precision[c], "recall": recall[c], "f1": f1[c], "support": support[c]})
