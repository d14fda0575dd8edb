"""The inspect report's sections and their renderers, on hand-made reports (no model, no data):
the terminal and the HTML page show the same tables, scores follow the metric registry, the PNG
and JSON are written from the same report."""

import io
import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib.image import imread
from rich.console import Console

from afa_cli.commands.inspect import terminal_report, write_outputs
from afa_cli.errors import UserError
from afa_cli.inspect import figure
from afa_cli.inspect.document import report_document
from afa_cli.inspect.export import json_payload
from afa_cli.inspect.inspected import ModelInfo
from afa_cli.inspect.report import (DatasetReport, Reading, Sentence, SentenceReport,
                                    WordTotal)
from afa_cli.metrics.registry import SCORES, uniform_value
from afa_cli.views import palette
from afa_cli.views.html import render_html
from afa_cli.views.sections import Bar, Delta, Reference, Section, SideBySide, Table, Word

LABELS = ["negative", "positive"]
WORDS = 'a dull , lifeless & <b>boring</b> "mess"'.split()
ATTENTION = "layer 5 (0-based, of 6), mean of 12 heads, first-token row"


def model(name: str, afa: bool | None) -> ModelInfo:
    return ModelInfo(name, f"runs/{name}/checkpoints/best", afa, ATTENTION, "cls", 5, None)


def reading(weights: list[float], positive: float) -> Reading:
    weights = np.array(weights) / sum(weights)
    return Reading(LABELS[positive > 0.5], {"negative": 1 - positive, "positive": positive},
                   weights)


READINGS = [reading([1, 6, 1, 4, 1, 4, 3], 0.2), reading([1, 8, 1, 5, 1, 2, 2], 0.1)]
MODELS = [model("baseline", False), model("AFA", True)]


def sentence_report(models: int = 2) -> SentenceReport:
    sentence = Sentence(" ".join(WORDS), WORDS, READINGS[:models])
    return SentenceReport(MODELS[:models], LABELS, [sentence], top_k=3)


def scores(lexicon_mass: float, entropy: float) -> dict:
    values = {"accuracy": 0.85, "macro_f1": 0.84, "lexicon_mass": lexicon_mass,
              "frequent_mass": 0.26, "lexicon_precision@5": 0.21, "attn_entropy": entropy,
              "lexicon_mass_uniform": 0.15, "frequent_mass_uniform": 0.30}
    assert set(values) >= {metric.key for metric in SCORES}
    return values


def dataset_report(models: int = 2) -> DatasetReport:
    totals = [WordTotal(".", 800, [90.0, 80.0][:models], False, True),
              WordTotal("film", 100, [10.0, 10.5][:models], False, True),
              WordTotal("good", 30, [3.0, 4.5][:models], True, False)]
    top = [sorted(totals, key=lambda w: -w.totals[m]) for m in range(models)]
    changes = sorted(totals, key=lambda w: -abs(w.change)) if models == 2 else []
    example = Sentence(" ".join(WORDS), WORDS, READINGS[:models], gold="negative")
    return DatasetReport(MODELS[:models], LABELS, "sst2", "validation", "data/sst2/dev.tsv", 872,
                         [scores(0.186, 0.91), scores(0.204, math.nan)][:models], top, changes,
                         [example], "The first sentence", top_k=3)


REPORTS = {"sentences": sentence_report(), "one model": sentence_report(1),
           "dataset": dataset_report(), "dataset, one model": dataset_report(1)}


def tables(blocks) -> list[Table]:
    """Every table of a document's sections, in reading order."""
    found = []
    for block in blocks:
        if isinstance(block, Table):
            found.append(block)
        elif isinstance(block, SideBySide):
            found += block.tables
        elif isinstance(block, Section):
            found += tables(block.blocks)
    return found


def cell_text(cell) -> str:
    """What a cell reads as text in every medium: a word with its tags, a bar as nothing."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, Word):
        return " ".join((cell.text, *cell.tags))
    return "" if isinstance(cell, Bar) else cell.text


class TableParser(HTMLParser):
    """The header and rows of each <table> on a page, as cell texts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(" ".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def html_tables(page: str) -> list[list[list[str]]]:
    parser = TableParser()
    parser.feed(page)
    return parser.tables


def terminal_text(report) -> str:
    console = Console(file=io.StringIO(), width=240, color_system=None)
    console.print(terminal_report(report))
    return console.file.getvalue()


def shows_in_order(texts: list[str], lines: list[str]) -> bool:
    pattern = r"\s+".join(re.escape(t) for t in texts if t)
    return any(re.search(pattern, line) for line in lines)


@pytest.mark.parametrize("name", REPORTS)
def test_terminal_and_html_show_the_same_tables(name):
    report = REPORTS[name]
    expected = [[list(table.header), *([cell_text(c) for c in row] for row in table.rows)]
                for table in tables(report_document(report).sections)]
    assert html_tables(render_html(report_document(report))) == expected
    lines = terminal_text(report).splitlines()
    for table in expected:
        for row in table:
            assert shows_in_order(row, lines), row


def test_scores_are_the_registry_metrics_with_change_and_uniform_reference():
    report = dataset_report()
    table = report_document(report).sections[1].first(Table)
    assert table.header == ("metric", "baseline", "AFA", "Δ", "uniform attention")
    assert [row[0] for row in table.rows] == [metric.key for metric in SCORES]
    for metric, row in zip(SCORES, table.rows):
        first, second = (scores[metric.key] for scores in report.metrics)
        assert [c.text for c in row[1:3]] == [metric.format(first), metric.format(second)]
        assert isinstance(row[3], Delta) and row[3].strength is None  # no colour for scores
        uniform = uniform_value(report.metrics[0], metric)
        assert isinstance(row[4], Reference)
        assert row[4].text == ("" if uniform is None else metric.format(uniform))
    entropy = table.rows[-1]
    assert entropy[2].text == "n/a" and entropy[3].text == "n/a"  # NaN reads n/a, also its Δ
    assert table.rows[2][3].text == "+0.0180"


def test_one_model_has_no_change_columns_rows_or_sections():
    for report in (sentence_report(1), dataset_report(1)):
        page = render_html(report_document(report))
        assert "Δ" not in page and "Δ" not in terminal_text(report)
    sections = [s.title for s in report_document(dataset_report(1)).sections]
    assert sections == ["models", "scores (as afa eval reports them)", "most attended words",
                        "The first sentence"]


def test_compare_shows_the_change_row_and_column_in_both_views():
    page = render_html(report_document(sentence_report()))
    text = terminal_text(sentence_report())
    for shown in (page, text):
        assert "Δ AFA − baseline" in shown and "Δ (AFA − baseline)" in shown
    difference = READINGS[1].weights - READINGS[0].weights
    for d in difference:
        assert f"{d:+.4f}" in page and f"{d:+.4f}" in text


def test_html_page_escapes_words_and_fetches_nothing():
    page = render_html(report_document(sentence_report()))
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<b>boring</b>" not in page and "&lt;b&gt;boring&lt;/b&gt;" in page
    for fetch in ("<script", "<link", "<img", "src=", "href=", "url(", "http", "@import"):
        assert fetch not in page


def test_files_are_written_from_one_report_and_never_overwritten(tmp_path):
    for name, report in (("sentences", sentence_report()), ("dataset", dataset_report())):
        outputs = {option: tmp_path / f"{name}.{option[2:]}" for option in ("--html", "--png",
                                                                              "--json")}
        assert write_outputs(report, outputs) == list(outputs.values())
        assert imread(outputs["--png"]).shape[2] in (3, 4)
        payload = json.loads(outputs["--json"].read_text())
        assert [m["checkpoint"] for m in payload["models"]] == ["runs/baseline/checkpoints/best",
                                                               "runs/AFA/checkpoints/best"]
        with pytest.raises(UserError, match="sentences.html already exists|dataset.html already exists"):
            write_outputs(report, {"--html": outputs["--html"]})
    rows = len(READINGS)
    image = imread(tmp_path / "sentences.png")
    width = max(figure.MIN_WIDTH, figure.LEFT + figure.CELL_WIDTH * len(WORDS) + figure.RIGHT)
    height = figure.TITLE + figure.CELL_HEIGHT * rows + figure.WORDS
    assert image.shape[:2] == (round(height * figure.DPI), round(width * figure.DPI))


def test_json_keeps_its_layout():
    payload = json.loads(json.dumps(json_payload(dataset_report())))
    assert set(payload) == {"mode", "dataset", "split", "source", "num_examples", "label_names",
                            "models", "largest_changes", "examples_title", "examples"}
    assert set(payload["models"][0]) >= {"name", "checkpoint", "afa_enabled", "attention",
                                         "metrics", "top_words"}
    assert set(payload["largest_changes"][0]) == {"word", "count", "totals", "change", "lexicon",
                                                  "frequent"}


def bar_colours(axes) -> set[tuple]:
    return {tuple(np.round(bar.get_facecolor()[:3], 3)) for bar in axes.patches}


def colour(rgb) -> tuple:
    return tuple(np.round(np.array(rgb) / 255, 3))


def test_dataset_png_gives_each_colour_one_meaning():
    scores, changes = figure.dataset_figure(dataset_report()).axes
    signs = {colour(palette.GAIN), colour(palette.LOSS)}
    assert len(bar_colours(scores)) == 2 and bar_colours(changes) == signs  # models, then signs
    assert not bar_colours(scores) & signs and colour(palette.HEAT) not in bar_colours(scores)
    legend = changes.get_legend()
    assert [(text.get_text(), colour(np.array(handle.get_facecolor()[:3]) * 255))
            for text, handle in zip(legend.get_texts(), legend.legend_handles)] == \
        [("more attention in AFA", colour(palette.GAIN)),
         ("less attention in AFA", colour(palette.LOSS))]
    for bar in changes.patches:   # a gain is drawn in the gain colour
        assert colour(palette.GAIN if bar.get_width() > 0 else palette.LOSS) == \
            tuple(np.round(bar.get_facecolor()[:3], 3))


def test_dataset_png_with_one_model_draws_its_words_in_its_colour():
    scores, words = figure.dataset_figure(dataset_report(1)).axes
    assert bar_colours(scores) == bar_colours(words) and len(bar_colours(words)) == 1


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")   # matplotlib says it too
def test_dataset_png_names_characters_no_font_has():
    report = dataset_report()
    assert figure.dataset_figure(report).texts == []
    report.largest_changes[0].word = "\u0378"   # an unassigned code point
    drawn = figure.dataset_figure(report)
    [note] = [text.get_text() for text in drawn.texts]
    assert "U+0378" in note and "cannot be drawn with the fonts installed" in note
