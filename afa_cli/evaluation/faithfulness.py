"""How faithful a word ranking is to the model, as ERASER measures it (DeYoung et al. 2020):
comprehensiveness (does removing the top-ranked words change the prediction?) and sufficiency
(do the top-ranked words alone keep it?), the rankings worth comparing (attention, leave-one-out,
lexicon, random), and how well attention agrees with leave-one-out importance.

Words are whitespace words (`text.split()`); a ranking is one score per word, higher = more
important. A scorer maps a list of texts to class probabilities [N, C]."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau

from afa_cli.lexicon import is_lexicon_word, sentiment_lexicon

Scorer = Callable[[list[str]], np.ndarray]

# ERASER's default --aopc_thresholds (rationale_benchmark/metrics.py).
ERASER_THRESHOLDS = (0.01, 0.05, 0.1, 0.2, 0.5)


def words_at_fraction(num_words: int, fraction: float) -> int:
    """How many words k% of a sentence is: ceil(fraction x words), as ERASER's baseline models
    count their top-k% tokens, so at least one word of a non-empty sentence. The product is
    rounded to 9 decimals first because 0.07 x 100 is 7.000000000000001 in floats and must
    stay 7 words."""
    return math.ceil(round(num_words * fraction, 9))


def top_words(ranking: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest-ranked words; equal scores go in sentence order, so every
    ranking (a lexicon's 0/1 included) is deterministic."""
    return np.argsort(-np.asarray(ranking, dtype=np.float64), kind="stable")[:k]


# ---- rankings ----------------------------------------------------------------------------------

def leave_one_out(sentences: Sequence[Sequence[str]], scorer: Scorer, full_probs: np.ndarray,
                  classes: np.ndarray) -> list[np.ndarray]:
    """Each word's importance: how much p(class | sentence) drops when that word alone is
    deleted. `full_probs` are the sentences' own probabilities; `classes` the class to watch
    per sentence (the prediction, or the true label of a correctly classified one). One scorer
    call with all variants: sum of the sentence lengths texts."""
    variants = [" ".join([*words[:i], *words[i + 1:]])
                for words in sentences for i in range(len(words))]
    probs = scorer(variants) if variants else np.zeros((0, full_probs.shape[1]))
    importances, start = [], 0
    for words, full, cls in zip(sentences, full_probs, classes):
        importances.append(full[cls] - probs[start:start + len(words), cls])
        start += len(words)
    return importances


def lexicon_ranking(sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """1 for a sentiment-lexicon word, 0 otherwise: lexicon words first, ties in sentence order
    (see top_words)."""
    lexicon = sentiment_lexicon()
    return [np.array([is_lexicon_word(w, lexicon) for w in words], dtype=np.float64)
            for words in sentences]


def random_ranking(sentences: Sequence[Sequence[str]], seed: int) -> list[np.ndarray]:
    """A uniformly random order of each sentence's words, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(len(words)).astype(np.float64) for words in sentences]


# ---- ERASER ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Faithfulness:
    """Per sentence and threshold: p(pred | full) - p(pred | top-k% removed) and
    p(pred | full) - p(pred | only the top-k% kept)."""
    thresholds: tuple[float, ...]
    comprehensiveness: np.ndarray   # [sentences, thresholds]
    sufficiency: np.ndarray         # [sentences, thresholds]

    def as_dict(self) -> dict[str, float]:
        """ERASER's keys: `comprehensiveness_aopc`, `sufficiency_aopc` (the mean over sentences
        and thresholds, as ERASER averages), and per threshold `comprehensiveness_at_{k}` and
        `sufficiency_at_{k}`, k in percent (`_at_1`, `_at_5`, ..., `_at_50`)."""
        scores = {"comprehensiveness_aopc": mean_or_nan(self.comprehensiveness),
                  "sufficiency_aopc": mean_or_nan(self.sufficiency)}
        for j, threshold in enumerate(self.thresholds):
            percent = f"{threshold * 100:g}"
            scores[f"comprehensiveness_at_{percent}"] = mean_or_nan(self.comprehensiveness[:, j])
            scores[f"sufficiency_at_{percent}"] = mean_or_nan(self.sufficiency[:, j])
        return scores


def eraser_faithfulness(sentences: Sequence[Sequence[str]], rankings: Sequence[np.ndarray],
                        scorer: Scorer, full_probs: np.ndarray,
                        thresholds: Sequence[float] = ERASER_THRESHOLDS) -> Faithfulness:
    """Comprehensiveness and sufficiency of each sentence's ranking at each threshold, for the
    class predicted on the full sentence (`full_probs`). Removed words leave the others in their
    order. A ranking has one score per word: for a truncated text pass the words it covers.
    One scorer call: 2 x thresholds texts per sentence."""
    variants = []
    for words, ranking in zip(sentences, rankings, strict=True):
        if len(ranking) != len(words):
            raise ValueError(f"a ranking of {len(ranking)} scores for {len(words)} words")
        for threshold in thresholds:
            top = set(top_words(ranking, words_at_fraction(len(words), threshold)).tolist())
            variants.append(" ".join(w for i, w in enumerate(words) if i not in top))
            variants.append(" ".join(w for i, w in enumerate(words) if i in top))
    shape = (len(sentences), len(thresholds), 2)
    predicted = full_probs.argmax(axis=1)
    probs = scorer(variants) if variants else np.zeros((0, full_probs.shape[1]))
    watched = probs[np.arange(len(variants)), np.repeat(predicted, 2 * len(thresholds))]
    drops = full_probs[np.arange(len(sentences)), predicted][:, None, None] - watched.reshape(shape)
    return Faithfulness(tuple(thresholds), drops[..., 0], drops[..., 1])


# ---- agreement ---------------------------------------------------------------------------------

def kendall_agreement(attention: Sequence[np.ndarray], importance: Sequence[np.ndarray]) -> float:
    """Mean Kendall tau-b between attention and (leave-one-out) importance over sentences of two
    or more words; a sentence where either is constant has no tau and is left out; nan when no
    sentence has one."""
    taus = [kendalltau(a, b).statistic for a, b in zip(attention, importance, strict=True)
            if len(a) >= 2]
    return mean_or_nan([t for t in taus if not np.isnan(t)])


def mean_or_nan(values: Sequence[float] | np.ndarray) -> float:
    """The mean, nan (and no warning) when there is nothing to average."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if values.size else float("nan")
