"""The figure renderer (matplotlib): heatmaps and tables drawn on axes the caller lays out."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap

from afa_cli.views import palette
from afa_cli.views.sections import Bar, Heatmap, Number, Reference, Table, Word

HEAT_MAP = LinearSegmentedColormap.from_list(
    "afa_heat", [np.array(palette.WHITE) / 255, np.array(palette.HEAT) / 255])
SERIES_COLOURS = ("#8d99ae", "#d7301f")   # the first model muted, the second (or only) one red
WORD_LIMIT = 14                           # characters of a word label


def rgb(colour: palette.Colour) -> np.ndarray:
    return np.array(colour) / 255


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def attention_rows(heatmap: Heatmap) -> list:
    """The rows drawn: the models' (a change has no room for its sign in one colour map)."""
    return [row for row in heatmap.rows if not row.signed]


def draw_heatmap(axes: Axes, heatmap: Heatmap) -> None:
    """Words × rows, coloured on the rows' shared scale, each cell labelled with its value."""
    rows = attention_rows(heatmap)
    grid = np.array([row.values for row in rows])                              # [rows, words]
    scale = rows[0].scale or 1.0
    axes.imshow(grid, cmap=HEAT_MAP, vmin=0.0, vmax=scale, aspect="auto")
    for (r, c), value in np.ndenumerate(grid):
        colour = rgb(palette.ink(palette.heat(float(value), scale)))
        axes.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=8, color=colour)
    axes.set_xticks(range(len(heatmap.words)), [shorten(w, WORD_LIMIT) for w in heatmap.words],
                    rotation=40, ha="right", fontsize=9, parse_math=False)
    axes.set_yticks(range(len(rows)), [row.name for row in rows], fontsize=9, parse_math=False)
    axes.tick_params(length=0)


def _value(number: Number) -> float:
    return math.nan if number.value is None else number.value


def draw_grouped_bars(axes: Axes, table: Table) -> None:
    """One group of bars per row (named by its first cell), one bar per column of numbers;
    a column of references is drawn as a mark across each group."""
    columns = range(1, len(table.header))
    series = [c for c in columns if type(table.rows[0][c]) is Number]
    references = [c for c in columns if isinstance(table.rows[0][c], Reference)]
    positions = np.arange(len(table.rows))
    width = 0.8 / len(series)
    colours = SERIES_COLOURS[-len(series):]
    for s, (column, colour) in enumerate(zip(series, colours)):
        axes.bar(positions + (s - (len(series) - 1) / 2) * width,
                 [_value(row[column]) for row in table.rows], width, label=table.header[column],
                 color=colour)
    for column in references:
        axes.scatter(positions, [_value(row[column]) for row in table.rows], marker="_", s=900,
                     color="black", label=table.header[column], zorder=3)
    axes.set_xticks(positions, [row[0] for row in table.rows], rotation=15, fontsize=9,
                    parse_math=False)
    axes.legend(fontsize=9, loc="upper left")


def draw_bar_list(axes: Axes, table: Table) -> None:
    """One horizontal bar per row, first row on top, labelled by the row's word."""
    shown = table.rows[::-1]
    words = [next(cell for cell in row if isinstance(cell, Word)) for row in shown]
    bars = [next(cell for cell in row if isinstance(cell, Bar)) for row in shown]
    axes.barh(range(len(bars)), [bar.value for bar in bars],
              color=[rgb(palette.bar(bar.value, bar.signed)) for bar in bars])
    axes.set_yticks(range(len(words)), [shorten(w.text, WORD_LIMIT) for w in words], fontsize=9,
                    parse_math=False)
    axes.axvline(0, color="black", linewidth=0.8)
