"""The figure renderer (matplotlib): heatmaps, colour bars and bars drawn on axes the caller lays
out, and the fonts that draw a figure's text."""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.image import AxesImage
from matplotlib.patches import Patch
from matplotlib.text import Text

from afa_cli.views import palette
from afa_cli.views.sections import Bar, Heatmap, Number, Reference, Table, Word

HEAT_MAP = LinearSegmentedColormap.from_list(
    "afa_heat", [np.array(palette.WHITE) / 255, np.array(palette.HEAT) / 255])
# The models' series are greys, light for the first model and dark for the second (or only) one:
# red and blue are the palette's attention and sign colours, so in a figure each colour means
# one thing.
SERIES_COLOURS = ("#bdbdbd", "#525252")
WORD_LIMIT = 14                           # characters of a word label


def rgb(colour: palette.Colour) -> np.ndarray:
    return np.array(colour) / 255


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- heatmaps ----------------------------------------------------------------------------------

def attention_rows(heatmap: Heatmap) -> list:
    """The rows drawn: the models' (a change has no room for its sign in one colour map)."""
    return [row for row in heatmap.rows if not row.signed]


def heatmap_words(heatmap: Heatmap, start: int, stop: int) -> Heatmap:
    """The heatmap of words start..stop-1, on the whole heatmap's scale."""
    return Heatmap(heatmap.words[start:stop],
                   tuple(replace(row, values=row.values[start:stop], texts=row.texts[start:stop])
                         for row in heatmap.rows))


def draw_heatmap(axes: Axes, heatmap: Heatmap) -> AxesImage:
    """Words × rows, coloured on the rows' shared scale, each cell labelled with its value; the
    image, for a colour bar."""
    rows = attention_rows(heatmap)
    grid = np.array([row.values for row in rows])                              # [rows, words]
    scale = rows[0].scale or 1.0
    image = axes.imshow(grid, cmap=HEAT_MAP, vmin=0.0, vmax=scale, aspect="auto")
    for (r, c), value in np.ndenumerate(grid):
        colour = rgb(palette.ink(palette.heat(float(value), scale)))
        axes.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=8, color=colour)
    axes.set_xticks(range(len(heatmap.words)), [shorten(w, WORD_LIMIT) for w in heatmap.words],
                    rotation=40, ha="right", fontsize=9, parse_math=False)
    axes.set_yticks(range(len(rows)), [row.name for row in rows], fontsize=9, parse_math=False)
    axes.tick_params(length=0)
    return image


def draw_colour_bar(axes: Axes, image: AxesImage, label: str) -> Colorbar:
    """The scale of a heatmap's colours, drawn on `axes`."""
    bar = axes.figure.colorbar(image, cax=axes)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=8)
    return bar


# ---- bars --------------------------------------------------------------------------------------

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
                     linewidths=2, color="black", label=table.header[column], zorder=3)
    axes.set_xticks(positions, [row[0] for row in table.rows], rotation=15, fontsize=9,
                    parse_math=False)
    axes.legend(fontsize=9, loc="upper left", markerscale=0.4)   # a reference mark spans a group


def draw_bar_list(axes: Axes, table: Table, colour: str = SERIES_COLOURS[-1]) -> None:
    """One horizontal bar per row, first row on top, labelled by the row's word: signed bars
    coloured by sign, the others in `colour` (by default the only model's series colour)."""
    shown = table.rows[::-1]
    words = [next(cell for cell in row if isinstance(cell, Word)) for row in shown]
    bars = [next(cell for cell in row if isinstance(cell, Bar)) for row in shown]
    axes.barh(range(len(bars)), [bar.value for bar in bars],
              color=[rgb(palette.sign(bar.value)) if bar.signed else colour for bar in bars])
    axes.set_yticks(range(len(words)), [shorten(w.text, WORD_LIMIT) for w in words], fontsize=9,
                    parse_math=False)
    axes.axvline(0, color="black", linewidth=0.8)


def draw_sign_legend(axes: Axes, less: str, more: str) -> None:
    """What the two sign colours of signed bars mean."""
    axes.legend(handles=[Patch(color=rgb(palette.GAIN), label=more),
                         Patch(color=rgb(palette.LOSS), label=less)], fontsize=9, loc="best")


# ---- fonts -------------------------------------------------------------------------------------

def use_installed_fonts(figure: Figure) -> str:
    """Draws every text of the figure in the default font, falling back for each character it
    lacks to an installed font that has it (matplotlib ≥ 3.6 falls back along a list of
    families); returns the characters no installed font has, which draw as boxes."""
    texts = figure.findobj(Text)
    families, missing = font_families("".join(text.get_text() for text in texts))
    for text in texts:
        text.set_fontfamily(families)
    return missing


def font_families(text: str) -> tuple[list[str], str]:
    """The families that draw `text`: the default, then the first installed family (by name) for
    each character the earlier ones lack; and the characters none has, in code-point order.
    Coverage is each font's character map, so a family is added only if it has the glyph."""
    families = list(matplotlib.rcParams["font.family"])
    covered = _code_points(font_manager.findfont(font_manager.FontProperties()))
    missing = []
    for char in sorted(set(text)):
        if char.isspace() or ord(char) in covered:   # white space is laid out, not drawn
            continue
        font = _font_having(char)
        if font is None:
            missing.append(char)
        else:
            family, path = font
            families.append(family)
            covered = covered | _code_points(path)
    return families, "".join(missing)


def _font_having(char: str) -> tuple[str, str] | None:
    """(family, font file) of the first installed family that has the character, if any."""
    return next(((family, path) for family, path in _installed_fonts()
                 if ord(char) in _code_points(path)), None)


@functools.cache
def _installed_fonts() -> tuple[tuple[str, str], ...]:
    """(family, font file) of the installed families, by name, one file each (the faces of a
    family have the same characters); without those matplotlib ships: its DejaVu is the
    default, its STIX and Computer Modern fonts are for mathematics, and its Last Resort font
    maps every character to a box."""
    shipped = Path(matplotlib.get_data_path())
    files = {}
    for font in sorted(font_manager.fontManager.ttflist, key=lambda font: font.fname):
        if not Path(font.fname).is_relative_to(shipped):
            files.setdefault(font.name, font.fname)
    return tuple(sorted(files.items()))


@functools.cache
def _code_points(path: str) -> frozenset[int]:
    return frozenset(FT2Font(path).get_charmap())
