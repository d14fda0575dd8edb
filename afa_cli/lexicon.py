"""Word lists the attention-quality metrics count against: a sentiment lexicon and the most
frequent training words."""

from __future__ import annotations

import string
from collections import Counter
from functools import lru_cache
from pathlib import Path


def normalize_word(word: str) -> str:
    """Lowercased, surrounding punctuation removed (a bare punctuation word keeps itself)."""
    lowered = word.lower()
    return lowered.strip(string.punctuation) or lowered


@lru_cache(maxsize=1)
def sentiment_lexicon() -> frozenset[str]:
    """The VADER sentiment lexicon (7,500 words and emoticons) shipped with vaderSentiment."""
    import vaderSentiment

    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    with path.open(encoding="utf-8") as handle:
        return frozenset(line.split("\t", 1)[0].lower() for line in handle if line.strip())


def is_lexicon_word(word: str, lexicon: frozenset[str]) -> bool:
    return word.lower() in lexicon or normalize_word(word) in lexicon


def frequent_words(texts: list[str], top: int = 100) -> list[str]:
    """The `top` most frequent (normalised) words of a corpus."""
    counts = Counter(normalize_word(w) for text in texts for w in text.split())
    return [word for word, _ in counts.most_common(top)]
