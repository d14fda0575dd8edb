"""The PNG view (matplotlib, Agg): per sentence a heatmap of words × models (or × layers with
--all-layers); per dataset the attention scores and the words whose attention changed most."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from afa_cli.inspect import palette
from afa_cli.inspect.report import UNIFORM, DatasetReport, SentenceReport

DPI = 100
# Sentence heatmaps are laid out in inches so that the picture grows with the words and rows.
CELL_WIDTH, CELL_HEIGHT = 0.75, 0.42
LEFT, RIGHT, TITLE, WORDS, MIN_WIDTH = 2.4, 0.3, 0.7, 0.85, 6.0
DATASET_SIZE = (14.0, 6.5)
DATASET_SCORES = ("lexicon_mass", "frequent_mass", "lexicon_precision@5", "attn_entropy", "accuracy")
HEAT_MAP = LinearSegmentedColormap.from_list(
    "afa_heat", [np.array(palette.WHITE) / 255, np.array(palette.HEAT) / 255])


def sentence_figure_size(report: SentenceReport) -> tuple[float, float]:
    """(width, height) in inches."""
    most_words = max(len(s.words) for s in report.sentences)
    width = max(MIN_WIDTH, LEFT + CELL_WIDTH * most_words + RIGHT)
    height = sum(TITLE + CELL_HEIGHT * len(s.heat_rows(report.models)) + WORDS
                 for s in report.sentences)
    return width, height


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sentence_figure(report: SentenceReport) -> Figure:
    width, height = sentence_figure_size(report)
    figure = Figure(figsize=(width, height), dpi=DPI)
    top = height
    for number, sentence in enumerate(report.sentences, start=1):
        rows = sentence.heat_rows(report.models)
        grid = np.stack([weights for _, weights in rows])                      # [rows, words]
        block = CELL_HEIGHT * len(rows)
        top -= TITLE + block
        axes = figure.add_axes((LEFT / width, top / height,
                                CELL_WIDTH * len(sentence.words) / width, block / height))
        top -= WORDS
        scale = float(grid.max()) or 1.0
        axes.imshow(grid, cmap=HEAT_MAP, vmin=0.0, vmax=scale, aspect="auto")
        for (r, c), value in np.ndenumerate(grid):
            colour = np.array(palette.ink(palette.heat(float(value), scale))) / 255
            axes.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=8, color=colour)
        axes.set_xticks(range(len(sentence.words)),
                        [_shorten(w, 14) for w in sentence.words], rotation=40, ha="right",
                        fontsize=9, parse_math=False)
        axes.set_yticks(range(len(rows)), [name for name, _ in rows], fontsize=9, parse_math=False)
        axes.tick_params(length=0)
        predictions = " · ".join(f"{m.name}: {r.prediction} ({max(r.probabilities.values()):.2f})"
                                 for m, r in zip(report.models, sentence.readings))
        axes.set_title(f"{number}. {_shorten(sentence.text, 110)}\n{predictions}", loc="left",
                       fontsize=9, parse_math=False)
    return figure


def dataset_figure(report: DatasetReport) -> Figure:
    figure = Figure(figsize=DATASET_SIZE, dpi=DPI)
    scores, words = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    positions = np.arange(len(DATASET_SCORES))
    bar_width = 0.8 / len(report.models)
    colours = ["#8d99ae", "#d7301f"] if len(report.models) == 2 else ["#d7301f"]
    for m, (model, metrics) in enumerate(zip(report.models, report.metrics)):
        values = [metrics[key] for key in DATASET_SCORES]
        scores.bar(positions + (m - (len(report.models) - 1) / 2) * bar_width, values, bar_width,
                   label=model.name, color=colours[m])
    uniform = [report.metrics[0].get(UNIFORM.get(key, ""), np.nan) for key in DATASET_SCORES]
    scores.scatter(positions, uniform, marker="_", s=900, color="black", label="uniform attention",
                   zorder=3)
    scores.set_xticks(positions, DATASET_SCORES, rotation=15, fontsize=9)
    scores.set_ylim(0, 1)
    scores.legend(fontsize=9, loc="upper left")
    scores.set_title(f"{report.dataset} {report.split} ({report.num_examples} sentences)",
                     fontsize=11)

    if report.largest_changes:
        shown = report.largest_changes[::-1]
        values = [w.change for w in shown]
        colours = [np.array(palette.GAIN if v >= 0 else palette.LOSS) / 255 for v in values]
        title = (f"largest changes in total attention "
                 f"({report.models[1].name} − {report.models[0].name})")
        words.set_xlabel(f"blue: more attention in {report.models[1].name}, red: less",
                         fontsize=9)
    else:
        shown = report.top_words[0][::-1]
        values = [w.totals[0] for w in shown]
        colours = [np.array(palette.HEAT) / 255] * len(values)
        title = f"most attended words ({report.models[0].name}, total attention)"
    words.barh(range(len(shown)), values, color=colours)
    words.set_yticks(range(len(shown)), [w.word for w in shown], fontsize=9, parse_math=False)
    words.axvline(0, color="black", linewidth=0.8)
    words.set_title(title, fontsize=11)
    figure.tight_layout()
    return figure


def write_png(report: SentenceReport | DatasetReport, path: Path) -> None:
    figure = dataset_figure(report) if isinstance(report, DatasetReport) else sentence_figure(report)
    with Path(path).open("xb") as handle:
        figure.savefig(handle, format="png", dpi=DPI)
