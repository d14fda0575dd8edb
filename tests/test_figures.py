"""The sentence PNG stays readable, on hand-made reports (no model): long sentences wrap into rows
of words within a bounded figure, every heatmap has a labelled colour bar, and text is drawn with
installed fonts, the figure saying so when none has a character."""

import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font
from matplotlib.text import Text

from afa_cli.inspect import figure
from afa_cli.inspect.inspected import ModelInfo
from afa_cli.inspect.report import Reading, Sentence, SentenceReport

LABELS = ["negative", "positive"]
MODELS = [ModelInfo(name, f"runs/{name}/checkpoints/best", afa, "layer 5", "cls", 5, None)
          for name, afa in (("baseline", False), ("AFA", True))]
NO_FONT_HAS = "\u0378"   # an unassigned code point: no font draws it (Last Resort draws a box)
MISSING_NOTE = "cannot be drawn with the fonts installed"


def sentence(text: str, models: int = 2) -> Sentence:
    words = text.split()
    rng = np.random.default_rng(len(words))
    readings = []
    for _ in range(models):
        weights = rng.random(len(words)) + 0.01
        readings.append(Reading("negative", {"negative": 0.7, "positive": 0.3},
                                weights / weights.sum()))
    return Sentence(text, words, readings)


def report(*texts: str, models: int = 2) -> SentenceReport:
    return SentenceReport(MODELS[:models], LABELS, [sentence(t, models) for t in texts], top_k=3)


def numbered_words(count: int) -> str:
    return " ".join(f"w{i}" for i in range(count))


def heatmap_axes(drawn) -> list:
    return [axes for axes in drawn.axes if axes.images]


def word_rows(drawn) -> list[list[str]]:
    return [[label.get_text() for label in axes.get_xticklabels()] for axes in heatmap_axes(drawn)]


def titles(drawn) -> list[str]:
    shown = [axes.get_title(loc="left") for axes in heatmap_axes(drawn)]
    return [title for title in shown if title]     # a sentence's first row has its title


def notes(drawn) -> str:
    return " ".join(text.get_text() for text in drawn.texts)


def pixels(drawn) -> tuple[float, float]:
    width, height = drawn.get_size_inches() * drawn.dpi
    return width, height


def test_a_2000_word_sentence_wraps_into_rows_of_a_bounded_figure():
    drawn = figure.sentence_figure(report(numbered_words(2000)))
    width, height = pixels(drawn)
    assert width <= 2300 and height <= 3200     # was 8,295 px wide
    rows = word_rows(drawn)
    assert len(rows) > 10
    assert all(len(row) == figure.WORDS_PER_ROW for row in rows)
    shown = sum(rows, [])
    assert shown == numbered_words(len(shown)).split()       # the first words, in order
    [title] = titles(drawn)
    assert f"first {len(shown):,} of 2,000 words drawn" in title
    assert f"… {2000 - len(shown):,} more words" in title


def test_a_sentence_longer_than_a_row_wraps_without_leaving_words_out():
    drawn = figure.sentence_figure(report(numbered_words(60), models=1))
    assert [len(row) for row in word_rows(drawn)] == [25, 25, 10]
    assert sum(word_rows(drawn), []) == numbered_words(60).split()
    assert "more words" not in titles(drawn)[0]
    row = figure.CELL_HEIGHT + figure.WORDS
    width = figure.LEFT + figure.CELL_WIDTH * figure.WORDS_PER_ROW + figure.RIGHT
    height = figure.TITLE + 3 * row
    assert pixels(drawn) == pytest.approx((width * figure.DPI, height * figure.DPI))


def test_sentences_past_the_height_limit_are_left_out_and_the_figure_says_so():
    drawn = figure.sentence_figure(report(*["a dull and lifeless mess"] * 40))
    shown = len(titles(drawn))
    assert 1 < shown < 40
    assert f"{40 - shown} more sentences not drawn" in notes(drawn)
    assert pixels(drawn)[1] <= (figure.MAX_HEIGHT + 2 * figure.NOTE) * figure.DPI


def test_every_heatmap_has_a_colour_bar_of_its_scale():
    texts = ["a dull , lifeless mess", numbered_words(30), "flat"]
    drawn = figure.sentence_figure(report(*texts))
    bars = [image.colorbar for axes in heatmap_axes(drawn) for image in axes.images
            if image.colorbar is not None]
    assert len(bars) == len(texts)                    # one per sentence, beside its first row
    for bar, text in zip(bars, texts):
        assert bar.ax.get_ylabel() == "attention weight"
        largest = max(float(r.weights.max()) for r in sentence(text).readings)
        assert (bar.vmin, bar.vmax) == pytest.approx((0.0, largest))


def test_latin_text_needs_no_font_note():
    drawn = figure.sentence_figure(report('a dull , lifeless & café "mess" — naïve'))
    assert notes(drawn) == ""


def test_a_character_no_font_has_is_named_in_one_note():
    plain = figure.sentence_figure(report("a dull mess"))
    drawn = figure.sentence_figure(report(f"a dull {NO_FONT_HAS} mess"))
    assert MISSING_NOTE in notes(drawn) and "U+0378" in notes(drawn)
    assert "--html" in notes(drawn)
    # the note is added below the heatmaps, which keep their size
    assert pixels(drawn)[1] > pixels(plain)[1]
    assert [a.get_position().height * pixels(drawn)[1] for a in heatmap_axes(drawn)] == \
        pytest.approx([a.get_position().height * pixels(plain)[1] for a in heatmap_axes(plain)])


def installed_font_having(char: str, families: list[str] | None = None) -> bool:
    """Whether a font of `families` (by default any) has the character; Last Resort, which
    matplotlib ships to draw boxes, does not count."""
    return any(ord(char) in FT2Font(font.fname).get_charmap()
               for font in font_manager.fontManager.ttflist
               if "LastResort" not in font.fname and font.name in (families or [font.name]))


@pytest.mark.skipif(not installed_font_having("中"), reason="no CJK font installed")
def test_cjk_text_is_drawn_with_an_installed_cjk_font():
    drawn = figure.sentence_figure(report("这部 电影 非常 好看"))
    assert MISSING_NOTE not in notes(drawn)
    [title] = [text for text in drawn.findobj(Text) if text.get_text().startswith("1. 这部")]
    _, *fallbacks = title.get_fontfamily()   # the default, then the fallbacks
    assert fallbacks and installed_font_having("中", fallbacks)
