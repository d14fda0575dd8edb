"""The PNG of an inspection (matplotlib, Agg), drawn from the document's sections: per sentence a
heatmap of words × models (or × layers with --all-layers); per dataset the scores table as bars
beside the words whose attention changed most (or, with one model, the most attended words)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from afa_cli.inspect.document import (changes_section, heatmap, predictions, scores_section,
                                      top_words_section)
from afa_cli.inspect.report import DatasetReport, SentenceReport
from afa_cli.views.figure import (attention_rows, draw_bar_list, draw_grouped_bars, draw_heatmap,
                                  shorten)
from afa_cli.views.sections import SideBySide, Table

DPI = 100
# Sentence heatmaps are laid out in inches so that the picture grows with the words and rows.
CELL_WIDTH, CELL_HEIGHT = 0.75, 0.42
LEFT, RIGHT, TITLE, WORDS, MIN_WIDTH = 2.4, 0.3, 0.7, 0.85, 6.0
TEXT_LIMIT = 110   # characters of a sentence in its heatmap's title
DATASET_SIZE = (14.0, 6.5)


def sentence_figure(report: SentenceReport) -> Figure:
    heatmaps = [heatmap(s, report.models) for s in report.sentences]
    most_words = max(len(h.words) for h in heatmaps)
    width = max(MIN_WIDTH, LEFT + CELL_WIDTH * most_words + RIGHT)
    height = sum(TITLE + CELL_HEIGHT * len(attention_rows(h)) + WORDS for h in heatmaps)
    figure = Figure(figsize=(width, height), dpi=DPI)
    top = height
    for number, (sentence, heat) in enumerate(zip(report.sentences, heatmaps), start=1):
        block = CELL_HEIGHT * len(attention_rows(heat))
        top -= TITLE + block
        axes = figure.add_axes((LEFT / width, top / height,
                                CELL_WIDTH * len(heat.words) / width, block / height))
        top -= WORDS
        draw_heatmap(axes, heat)
        shown = " · ".join(f"{p.model}: {p.label} ({p.confidence.value:.2f})"
                           for p in predictions(sentence, report.models).rows)
        axes.set_title(f"{number}. {shorten(sentence.text, TEXT_LIMIT)}\n{shown}", loc="left",
                       fontsize=9, parse_math=False)
    return figure


def dataset_figure(report: DatasetReport) -> Figure:
    figure = Figure(figsize=DATASET_SIZE, dpi=DPI)
    scores, words = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    draw_grouped_bars(scores, scores_section(report).first(Table))
    scores.set_ylim(0, 1)  # every score is a share
    scores.set_title(f"{report.dataset} {report.split} ({report.num_examples} sentences)",
                     fontsize=11)
    if report.largest_changes:
        section = changes_section(report)
        table = section.first(Table)
        words.set_title(section.title, fontsize=11)
        words.set_xlabel(f"blue: more attention in {report.models[1].name}, red: less",
                         fontsize=9)
    else:
        table = top_words_section(report).first(SideBySide).tables[0]
        words.set_title(f"most attended words ({table.title}, total attention)", fontsize=11)
    draw_bar_list(words, table)
    figure.tight_layout()
    return figure


def write_png(report: SentenceReport | DatasetReport, path: Path) -> None:
    figure = dataset_figure(report) if isinstance(report, DatasetReport) else sentence_figure(report)
    with Path(path).open("xb") as handle:
        figure.savefig(handle, format="png", dpi=DPI)
