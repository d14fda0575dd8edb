"""Where attention goes by word frequency: the share of attention on the training set's 100
most frequent words, the next 900, the rest it contains, and words it never saw, beside the
same shares under uniform attention (the fraction of words in each bin)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from afa_cli.lexicon import frequent_words, normalize_word

# Frequency bins: by a word's rank among the training words (0 = most frequent).
BINS = ("top_100", "top_101_1000", "rest_seen", "unseen")
BIN_EDGES = (100, 1000)


def frequency_ranking(train_texts: Sequence[str]) -> list[str]:
    """Every normalised training word, most frequent first (ties in order of first
    appearance)."""
    return frequent_words(list(train_texts), top=sys.maxsize)


@dataclass(frozen=True)
class FrequencyProfile:
    mass: np.ndarray        # [bins]: mean attention mass per bin
    uniform: np.ndarray     # [bins]: mean fraction of words per bin
    num_sentences: int      # sentences of two or more words averaged over

    def as_dict(self) -> dict[str, float]:
        """`attention_<bin>` and `uniform_<bin>` per bin of BINS."""
        return {**{f"attention_{b}": float(v) for b, v in zip(BINS, self.mass)},
                **{f"uniform_{b}": float(v) for b, v in zip(BINS, self.uniform)}}


def frequency_profile(texts: Sequence[str], attention: Sequence[np.ndarray],
                      ranking: Sequence[str]) -> FrequencyProfile:
    """Attention mass per frequency bin, averaged over sentences of two or more words (as the
    attention metrics of scoring.py are). A text truncated by the model has fewer weights than
    words: its first len(weights) words are the ones measured. `ranking`: frequency_ranking of
    the training texts."""
    ranks = {word: rank for rank, word in enumerate(ranking)}
    unseen = len(BIN_EDGES) + 1
    mass, uniform = [], []
    for text, weights in zip(texts, attention, strict=True):
        words = text.split()[: len(weights)]
        if len(words) < 2:
            continue
        word_ranks = [ranks.get(normalize_word(w)) for w in words]
        bins = np.array([unseen if r is None else int(np.searchsorted(BIN_EDGES, r, side="right"))
                         for r in word_ranks])
        mass.append(np.bincount(bins, weights=weights[: len(words)], minlength=len(BINS)))
        uniform.append(np.bincount(bins, minlength=len(BINS)) / len(words))
    if not mass:
        nan = np.full(len(BINS), np.nan)
        return FrequencyProfile(nan, nan, 0)
    return FrequencyProfile(np.mean(mass, axis=0), np.mean(uniform, axis=0), len(mass))
