"""What an inspection found, independent of how it is shown (terminal, HTML, PNG, JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from afa_cli.inspect.inspected import ModelInfo


@dataclass
class Reading:
    """One model's reading of one sentence."""

    prediction: str
    probabilities: dict[str, float]
    weights: np.ndarray                              # [W] attention over the sentence's words
    weights_by_layer: list[np.ndarray] | None = None  # [L][W] with --all-layers

    def top(self, words: list[str], k: int) -> list[tuple[str, float]]:
        order = np.argsort(-self.weights, kind="stable")[:k]
        return [(words[i], float(self.weights[i])) for i in order]


@dataclass
class Sentence:
    text: str
    words: list[str]            # the words the models saw, in order
    readings: list[Reading]     # one per model
    dropped_words: int = 0      # words past the model's max length
    gold: str | None = None     # the true label, for dataset examples

    @property
    def difference(self) -> np.ndarray | None:
        """Second model minus first, per word; None with a single model."""
        if len(self.readings) != 2:
            return None
        return self.readings[1].weights - self.readings[0].weights

    def heat_rows(self, models: list[ModelInfo]) -> list[tuple[str, np.ndarray]]:
        """(row name, weights) for heatmaps: one row per model, or per model and layer."""
        rows = []
        for model, reading in zip(models, self.readings):
            if reading.weights_by_layer is None:
                rows.append((model.name, reading.weights))
            else:
                rows.extend((f"{model.name} · layer {layer}", weights)
                            for layer, weights in enumerate(reading.weights_by_layer))
        return rows


@dataclass
class SentenceReport:
    models: list[ModelInfo]
    label_names: list[str]
    sentences: list[Sentence]
    top_k: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class WordTotal:
    """A (normalised) word's attention summed over a split, per model."""

    word: str
    count: int
    totals: list[float]
    lexicon: bool
    frequent: bool

    @property
    def change(self) -> float:
        return self.totals[-1] - self.totals[0]


@dataclass
class DatasetReport:
    models: list[ModelInfo]
    label_names: list[str]
    dataset: str
    split: str
    source: str
    num_examples: int
    metrics: list[dict]                 # per model, exactly as `afa eval` computes them
    top_words: list[list[WordTotal]]    # per model, the words with the most total attention
    largest_changes: list[WordTotal]    # empty with a single model
    examples: list[Sentence]
    examples_title: str
    top_k: int
    warnings: list[str] = field(default_factory=list)
