"""A report as renderer-neutral pieces: a document of titled sections holding tables, heatmaps,
predictions and notes. What a piece means is fixed here; how it looks is each renderer's choice
(terminal, HTML, PNG), so every medium shows the same rows and columns.

Cells of a table are plain strings (labels) or one of the kinds below; numbers arrive already
formatted, because the digits a value deserves are the caller's knowledge, not the renderer's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


# ---- table cells -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    value: float | None
    text: str


@dataclass(frozen=True)
class Reference(Number):
    """A value to compare the others with (e.g. what uniform attention would score): muted."""


@dataclass(frozen=True)
class Delta:
    """A change, e.g. from the first model to the second."""

    value: float
    text: str
    # |value| relative to the largest change in its column: the sign is coloured and the larger
    # half emphasised. None where colours would mislead (a higher score is not always better).
    strength: float | None = None

    @property
    def strong(self) -> bool:
        return self.strength is not None and self.strength >= 0.5


@dataclass(frozen=True)
class Word:
    text: str
    tags: tuple[str, ...] = ()   # e.g. ("lex", "freq"), explained by the section's note


@dataclass(frozen=True)
class Bar:
    """A value drawn as a bar, its length relative to `scale`; signed bars are coloured by sign."""

    value: float
    scale: float
    signed: bool = False

    @property
    def fraction(self) -> float:
        return abs(self.value) / self.scale if self.scale > 0 else 0.0


Cell = str | Number | Delta | Word | Bar


# ---- blocks ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    title: str = ""
    # Columns (by title) a narrow medium may leave out rather than break a number across lines,
    # the first first; every other medium shows them all.
    optional: tuple[str, ...] = ()

    def numeric(self) -> tuple[bool, ...]:
        """Per column: whether it holds numbers (which read right-aligned)."""
        return tuple(any(isinstance(row[c], (Number, Delta)) for row in self.rows)
                     for c in range(len(self.header)))


@dataclass(frozen=True)
class HeatRow:
    name: str
    values: tuple[float, ...]   # one per word
    texts: tuple[str, ...]      # the values as the page shows them on demand
    scale: float                # the value drawn at full colour
    signed: bool = False        # a change: coloured by sign rather than by size


@dataclass(frozen=True)
class Heatmap:
    """Words coloured by a value, one row per model (or per model and layer, or the change)."""

    words: tuple[str, ...]
    rows: tuple[HeatRow, ...]


@dataclass(frozen=True)
class Prediction:
    model: str
    label: str
    probabilities: tuple[tuple[str, Number], ...]   # (label, probability) for every label

    @property
    def confidence(self) -> Number:
        return max((p for _, p in self.probabilities), key=lambda p: p.value)


@dataclass(frozen=True)
class Predictions:
    rows: tuple[Prediction, ...]
    gold: str | None = None     # the true label, where it is known
    GOLD_NAME: ClassVar[str] = "true label"

    @property
    def names(self) -> list[str]:
        """The rows' names, the true label's first."""
        return [self.GOLD_NAME] * (self.gold is not None) + [row.model for row in self.rows]


@dataclass(frozen=True)
class Ranking:
    """A short inline list of the largest items, e.g. a sentence's most attended words."""

    title: str
    entries: tuple[tuple[str, Number], ...]


@dataclass(frozen=True)
class Quote:
    text: str


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Prose:
    """Text a person wrote in Markdown (a study's notes): Markdown shows it as it is, HTML as
    paragraphs, lists and code, the terminal as rich renders Markdown."""

    text: str


@dataclass(frozen=True)
class Code:
    """Commands to copy, shown whole: never wrapped or cut."""

    text: str


@dataclass(frozen=True)
class Image:
    """A drawn figure: the HTML page holds it (a data: URI), a Markdown file links the PNG
    written beside it (`name` names that file), the terminal says where it is."""

    name: str
    png: bytes
    alt: str


@dataclass(frozen=True)
class ColourScale:
    """How to read the colours: `low` at white, `high` at full colour (both signs if signed)."""

    name: str
    low: str
    high: str
    signed: bool = False


@dataclass(frozen=True)
class SideBySide:
    """Tables read next to each other where there is room."""

    tables: tuple[Table, ...]


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]

    def first(self, kind: type) -> Block:
        """The section's first block of a kind (a figure draws a chosen few)."""
        return next(block for block in self.blocks if isinstance(block, kind))


Block = (Table | Heatmap | Predictions | Ranking | Quote | Note | Prose | Code | Image | ColourScale
         | SideBySide | Section)


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str
    sections: tuple[Section, ...]
    warnings: tuple[str, ...] = ()

    def images(self) -> list[Image]:
        """Every figure of the document, in reading order (a Markdown file needs each as a file
        beside it)."""
        def walk(blocks) -> list[Image]:
            found = []
            for block in blocks:
                if isinstance(block, Image):
                    found.append(block)
                elif isinstance(block, Section):
                    found += walk(block.blocks)
            return found
        return walk(self.sections)
