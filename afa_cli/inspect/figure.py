"""The PNG of an inspection (matplotlib, Agg), drawn from the document's sections: per sentence a
heatmap of words × models (or × layers with --all-layers) with its colour bar, wrapped into rows
of words; per dataset the scores table as bars beside the words whose attention changed most (or,
with one model, the most attended words).

A figure stays readable: at most WORDS_PER_ROW words a row and MAX_HEIGHT inches of sentences;
words and sentences past that are left out, and the figure says so. Text is drawn with the
installed fonts that have its characters; a character none has is named in a note."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from afa_cli import files
from afa_cli.inspect.document import (changes_section, heatmap, predictions, scores_section,
                                      top_words_section)
from afa_cli.inspect.report import DatasetReport, Sentence, SentenceReport
from afa_cli.views.figure import (attention_rows, draw_bar_list, draw_colour_bar,
                                  draw_grouped_bars, draw_heatmap, draw_sign_legend,
                                  heatmap_words, shorten, use_installed_fonts)
from afa_cli.views.sections import Heatmap, SideBySide, Table

DPI = 100
# Sentence heatmaps are laid out in inches so that the picture grows with the words and rows.
CELL_WIDTH, CELL_HEIGHT = 0.75, 0.42
LEFT, RIGHT, TITLE, WORDS, MIN_WIDTH = 2.4, 1.0, 0.7, 0.85, 6.0   # RIGHT holds the colour bar
BAR_GAP, BAR_WIDTH, BAR_MIN_HEIGHT = 0.12, 0.15, 1.0   # a colour bar beside a sentence's first row
WORDS_PER_ROW = 25   # a longer sentence wraps: a figure is at most 22.15 inches wide
MAX_HEIGHT = 30.0    # inches of sentences (a row taller than this is still drawn)
NOTE, NOTE_MARGIN = 0.2, 0.07   # inches of a line that says what the figure leaves out
NOTE_CHARACTERS = 13            # characters of such a line per inch (9 points, with room to spare)
TEXT_LIMIT = 110     # characters of a sentence in its heatmap's title
DATASET_SIZE = (14.0, 6.5)
COLOUR_BAR_LABEL = "attention weight"
MISSING_SHOWN = 5    # missing characters named in the note


@dataclass(frozen=True)
class DrawnSentence:
    """A sentence as the figure draws it: its heatmap cut into rows of words."""

    number: int
    sentence: Sentence
    rows: list[Heatmap]
    total_words: int     # drawn or not

    @property
    def row_height(self) -> float:
        return row_height(self.rows[0])

    @property
    def height(self) -> float:
        return TITLE + self.row_height * len(self.rows)

    @property
    def drawn_words(self) -> int:
        return sum(len(row.words) for row in self.rows)


def row_height(heat: Heatmap) -> float:
    """A row of words: its heatmap and the word labels under it."""
    return CELL_HEIGHT * len(attention_rows(heat)) + WORDS


def drawn_sentences(report: SentenceReport) -> list[DrawnSentence]:
    """The sentences in order, in rows of words, until MAX_HEIGHT is used: the sentence that
    reaches it keeps its first rows, those after it are left out. The first row is always drawn."""
    drawn, height = [], 0.0
    for number, sentence in enumerate(report.sentences, start=1):
        heat = heatmap(sentence, report.models)
        rows_fitting = math.floor((MAX_HEIGHT - height - TITLE) / row_height(heat))
        if rows_fitting < 1 and drawn:
            break
        shown = min(len(heat.words), max(rows_fitting, 1) * WORDS_PER_ROW)
        rows = [heatmap_words(heat, start, min(start + WORDS_PER_ROW, shown))
                for start in range(0, shown, WORDS_PER_ROW)]
        drawn.append(DrawnSentence(number, sentence, rows, len(heat.words)))
        height += drawn[-1].height
    return drawn


def sentence_figure(report: SentenceReport) -> Figure:
    drawn = drawn_sentences(report)
    widest = max(len(row.words) for shown in drawn for row in shown.rows)
    width = max(MIN_WIDTH, LEFT + CELL_WIDTH * widest + RIGHT)
    height = sum(shown.height for shown in drawn)
    figure = Figure(figsize=(width, height), dpi=DPI)
    top = height
    for shown in drawn:
        draw_sentence(figure, shown, sentence_title(shown, report), top - TITLE)
        top -= shown.height
    notes = missing_characters_notes(use_installed_fonts(figure))
    left_out = len(report.sentences) - len(drawn)
    if left_out:
        notes.append(f"{left_out} more sentence{'s' if left_out != 1 else ''} not drawn (a "
                     "figure's height is limited): the HTML report (--html) shows them.")
    add_notes(figure, notes)
    return figure


def sentence_title(shown: DrawnSentence, report: SentenceReport) -> str:
    """The sentence, then each model's prediction and, if words are left out, how many."""
    sentence = shown.sentence
    second_line = " · ".join(f"{p.model}: {p.label} ({p.confidence.value:.2f})"
                             for p in predictions(sentence, report.models).rows)
    left_out = shown.total_words - shown.drawn_words
    if left_out:
        second_line += (f" · first {shown.drawn_words:,} of {shown.total_words:,} words drawn "
                        f"(… {left_out:,} more words): the HTML report (--html) shows them all")
    return f"{shown.number}. {shorten(sentence.text, TEXT_LIMIT)}\n{second_line}"


def draw_sentence(figure: Figure, shown: DrawnSentence, title: str, top: float) -> None:
    """The sentence's rows of words from `top` (inches above the figure's bottom) down, titled,
    with the colour bar of its scale beside the first row."""
    for index, row in enumerate(shown.rows):
        block = CELL_HEIGHT * len(attention_rows(row))
        row_top = top - index * shown.row_height
        row_width = CELL_WIDTH * len(row.words)
        image = draw_heatmap(add_axes(figure, LEFT, row_top - block, row_width, block), row)
        if index == 0:
            image.axes.set_title(title, loc="left", fontsize=9, parse_math=False)
            bar_height = max(block, BAR_MIN_HEIGHT)
            bar = add_axes(figure, LEFT + row_width + BAR_GAP, row_top - bar_height, BAR_WIDTH,
                           bar_height)
            draw_colour_bar(bar, image, COLOUR_BAR_LABEL)


def add_axes(figure: Figure, left: float, bottom: float, width: float, height: float) -> Axes:
    """Axes placed in inches from the figure's bottom left corner."""
    figure_width, figure_height = figure.get_size_inches()
    return figure.add_axes((left / figure_width, bottom / figure_height, width / figure_width,
                            height / figure_height))


def missing_characters_notes(missing: str) -> list[str]:
    """What to do about characters no installed font has: a note, or none if there are none."""
    if not missing:
        return []
    named = ", ".join(f"U+{ord(char):04X}" for char in missing[:MISSING_SHOWN])
    more = f" and {len(missing) - MISSING_SHOWN} more" if len(missing) > MISSING_SHOWN else ""
    return [f"Some characters ({named}{more}) cannot be drawn with the fonts installed and show "
            "as boxes: open the HTML report (--html)."]


def add_notes(figure: Figure, notes: list[str]) -> None:
    """The notes below everything drawn, wrapped to the figure's width; what is drawn keeps its
    size and place."""
    width, height = figure.get_size_inches()
    lines = [line for note in notes for line in textwrap.wrap(note, int(width * NOTE_CHARACTERS))]
    if not lines:
        return
    added = NOTE * len(lines)
    for axes in figure.axes:
        left, bottom, w, h = axes.get_position().bounds
        axes.set_position((left, (bottom * height + added) / (height + added), w,
                           h * height / (height + added)))
    figure.set_size_inches(width, height + added)
    for number, line in enumerate(lines, start=1):
        figure.text(NOTE_MARGIN / width, (added - NOTE * number + NOTE_MARGIN) / (height + added),
                    line, fontsize=9, parse_math=False)


def dataset_figure(report: DatasetReport) -> Figure:
    figure = Figure(figsize=DATASET_SIZE, dpi=DPI)
    scores, words = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    draw_grouped_bars(scores, scores_section(report).first(Table))
    scores.set_ylim(0, 1)  # every score is a share
    scores.set_title(f"{report.dataset} {report.split} ({report.num_examples} sentences)",
                     fontsize=11)
    if report.largest_changes:
        section = changes_section(report)
        words.set_title(section.title, fontsize=11)
        draw_bar_list(words, section.first(Table))
        second = report.models[1].name
        draw_sign_legend(words, less=f"less attention in {second}",
                         more=f"more attention in {second}")
    else:
        table = top_words_section(report).first(SideBySide).tables[0]
        words.set_title(f"most attended words ({table.title}, total attention)", fontsize=11)
        draw_bar_list(words, table)
    missing = use_installed_fonts(figure)
    figure.tight_layout()
    add_notes(figure, missing_characters_notes(missing))
    return figure


def write_png(report: SentenceReport | DatasetReport, path: Path) -> None:
    figure = dataset_figure(report) if isinstance(report, DatasetReport) else sentence_figure(report)
    with files.open_new(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=DPI)
