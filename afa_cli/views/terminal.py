"""The terminal renderer (rich): a document as coloured text, rules between sections and tables."""

from __future__ import annotations

from rich import box
from rich.cells import cell_len
from rich.columns import Columns
from rich.markdown import Markdown
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.rule import Rule
from rich.style import Style
from rich.table import Table as RichTable
from rich.text import Text

from afa_cli.views import palette
from afa_cli.views.sections import (Bar, Cell, Code, ColourScale, Delta, Document, Heatmap,
                                    Image, Note, Predictions, Prose, Quote, Ranking, Reference,
                                    Section, SideBySide, Table, Word)

BAR_WIDTH = 12    # characters of a full bar
SCALE_STEPS = 8   # characters of a colour scale's gradient


def render_terminal(document: Document) -> Group:
    """The document's warnings are not repeated here: the command prints them on stderr.
    Every text goes in as Text, never as markup: words and run names may hold brackets."""
    parts = [Text(document.title, style="bold"), Text(document.subtitle, style="dim")]
    for section in document.sections:
        parts += _section(section, nested=False)
    return Group(*parts)


def _section(section: Section, nested: bool) -> list[RenderableType]:
    # A rule above the title rather than around it: a rule cuts a title longer than the line.
    heading = [Text(""), Text(section.title, style="bold")]
    if not nested:
        heading[0] = Rule(style="dim")
    width = _name_width(section)
    return [*heading, *(part for block in section.blocks for part in _block(block, width))]


def _name_width(section: Section) -> int:
    """Predictions and heat rows of a section start their words in one column."""
    names = []
    for block in section.blocks:
        if isinstance(block, Heatmap):
            names += [row.name for row in block.rows]
        elif isinstance(block, Predictions):
            names += block.names
    return max(map(len, names), default=0) + 2


def _block(block, width: int) -> list[RenderableType]:
    if isinstance(block, Section):
        return _section(block, nested=True)
    if isinstance(block, Table):
        return [FittedTable(block)]
    if isinstance(block, SideBySide):
        return [Columns([_table(table) for table in block.tables], padding=(0, 4))]
    if isinstance(block, Heatmap):
        return _heatmap(block, width)
    if isinstance(block, Predictions):
        return _predictions(block, width)
    if isinstance(block, Ranking):
        entries = " · ".join(f"{word} {value.text}" for word, value in block.entries)
        return [Text(f"{block.title}: {entries}")]
    if isinstance(block, Quote):
        return [Text(block.text, style="italic")]
    if isinstance(block, Note):
        return [Text(block.text, style="dim")]
    if isinstance(block, Prose):
        return [Markdown(block.text)]
    if isinstance(block, Code):
        # whole lines, never folded: a command is copied as it is
        return [Text(block.text, style="cyan", no_wrap=True, overflow="ignore")]
    if isinstance(block, Image):
        return [Text(f"figure: {block.alt} (drawn in the HTML and Markdown reports)",
                     style="dim")]
    if isinstance(block, ColourScale):
        return [_colour_scale(block)]
    raise TypeError(f"no terminal rendering for {type(block).__name__}")


def _table(table: Table, columns: list[int] | None = None, widths: list[int] | None = None,
           width: int | None = None) -> RichTable:
    """The table's `columns` (default all), each `widths` wide (default: as rich lays them out,
    folding what does not fit), the whole `width` wide (default: at most the line)."""
    columns = list(range(len(table.header))) if columns is None else columns
    shown = RichTable(title=Text(table.title) if table.title else None, box=box.SIMPLE_HEAD,
                      show_edge=False, pad_edge=False, padding=(0, 1), width=width)
    numeric = table.numeric()
    for index, column in enumerate(columns):
        shown.add_column(Text(table.header[column]), overflow="fold",
                         justify="right" if numeric[column] else "left",
                         width=None if widths is None else widths[index])
    for row in table.rows:
        shown.add_row(*(_cell(row[column]) for column in columns))
    return shown


def boxed_table(table: Table) -> RichTable:
    """A short table in rich's default box, its title in rich's table-title style, laid out as
    rich lays out any table."""
    shown = RichTable(title=Text(table.title, style="table.title") if table.title else None)
    for column, numeric in zip(table.header, table.numeric()):
        shown.add_column(Text(column), justify="right" if numeric else "left")
    for row in table.rows:
        shown.add_row(*map(_cell, row))
    return shown


class FittedTable:
    """A table laid out for where it is printed. Off a terminal (a file, a pipe, CI) every row
    is whole at its full width. On a terminal it fits the line with its cells wrapped only
    between words, never inside a number; where even that is too wide, the table's optional
    columns are left out, the first first, and a line under it says which. Only a table still
    too wide without them folds its cells as rich does."""

    def __init__(self, table: Table):
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table
        columns = list(range(len(table.header)))
        texts = [[table.header[c], *(_cell(row[c]).plain for row in table.rows)] for c in columns]
        longest = [max(cell_len(line) for text in column for line in text.splitlines() or [""])
                   for column in texts]
        if not console.is_terminal:
            yield _table(table, width=sum(longest) + _spacing(len(columns)))
            return
        shortest = [max(cell_len(word) for text in column for word in text.split() or [""])
                    for column in texts]
        left_out = []
        optional = [table.header.index(title) for title in table.optional]
        while True:
            widths = _fit([longest[c] for c in columns], [shortest[c] for c in columns],
                          options.max_width - _spacing(len(columns)))
            if widths is not None or not optional:
                break
            left_out.append(optional.pop(0))
            columns.remove(left_out[-1])
        yield _table(table, columns, widths)
        if left_out:
            yield Text(f"left out at {options.max_width} columns: "
                       f"{', '.join(table.header[c] for c in left_out)} (a wider terminal, or "
                       "output to a file, shows them)", style="dim")


def _spacing(columns: int) -> int:
    """Characters between the cells of a row: a padding each side and a separator (no edges)."""
    return 3 * (columns - 1)


def _fit(longest: list[int], shortest: list[int], room: int) -> list[int] | None:
    """Column widths within `room` that wrap cells only between words: each column its longest
    word, then the columns that need least to hold their longest line get it first. None when
    the longest words alone do not fit."""
    if sum(shortest) > room:
        return None
    widths, spare = list(shortest), room - sum(shortest)
    for column in sorted(range(len(widths)), key=lambda c: longest[c] - shortest[c]):
        grown = min(longest[column] - widths[column], spare)
        widths[column] += grown
        spare -= grown
    return widths


def _style(colour: palette.Colour, bold: bool = False) -> Style:
    return Style(color=palette.css(colour), bold=bold)


def _cell(cell: Cell) -> Text:
    if isinstance(cell, Reference):
        return Text(cell.text, style="dim")
    if isinstance(cell, Delta):
        if cell.strength is None:
            return Text(cell.text)
        return Text(cell.text, style=_style(palette.sign(cell.value), bold=cell.strong))
    if isinstance(cell, Word):
        return Text.assemble(cell.text, *((f" {tag}", "dim") for tag in cell.tags))
    if isinstance(cell, Bar):
        return Text("█" * round(BAR_WIDTH * cell.fraction),
                    style=_style(palette.bar(cell.value, cell.signed)))
    return Text(cell if isinstance(cell, str) else cell.text)


def _heatmap(heatmap: Heatmap, width: int) -> list[Text]:
    lines = []
    for row in heatmap.rows:
        line = Text(f"{row.name:<{width}}")
        for word, value in zip(heatmap.words, row.values):
            background = palette.shade(value, row.scale, row.signed)
            line.append(f" {word} ", Style(color=palette.css(palette.ink(background)),
                                           bgcolor=palette.css(background)))
        lines.append(line)
    return lines


def _predictions(predictions: Predictions, width: int) -> list[Text]:
    lines = []
    if predictions.gold is not None:
        lines.append(Text(f"{predictions.GOLD_NAME:<{width}}{predictions.gold}", style="dim"))
    for row in predictions.rows:
        probabilities = " · ".join(f"{label} {p.text}" for label, p in row.probabilities)
        lines.append(Text.assemble(f"{row.model:<{width}}", (row.label, "bold"),
                                   f"  ({probabilities})"))
    return lines


def _colour_scale(scale: ColourScale) -> Text:
    text = Text(f"{scale.name}: {scale.low} ")
    for colour in palette.gradient(scale.signed, SCALE_STEPS):
        text.append(" ", Style(bgcolor=palette.css(colour)))
    return text.append(f" {scale.high}")
