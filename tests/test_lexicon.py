"""The word lists attention metrics count against."""

from afa_cli.lexicon import frequent_words, normalize_word, sentiment_lexicon


def test_normalize_strips_surrounding_punctuation_but_keeps_bare_punctuation():
    assert normalize_word("Superb!") == "superb"
    assert normalize_word("'cause") == "cause"
    assert normalize_word(",") == ","


def test_frequent_words_are_counted_after_normalising():
    texts = ["The film , the plot .", "the Film!", "a plot"]
    assert frequent_words(texts, top=3) == ["the", "film", "plot"]


def test_lexicon_is_vaders():
    lexicon = sentiment_lexicon()
    assert len(lexicon) > 7000
    assert {"good", "bad", "superb"} <= lexicon and "the" not in lexicon
