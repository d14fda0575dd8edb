"""The HTML renderer: a document as one self-contained page (inline CSS, no scripts, no external
assets: figures are data: URIs), so that it opens anywhere and can be mailed or committed as it
is. At a laptop's width a table wider than its box scrolls inside it; the page never does."""

from __future__ import annotations

import base64
import re
from html import escape

from afa_cli.views import palette
from afa_cli.views.sections import (Bar, Cell, Code, ColourScale, Delta, Document, Heatmap,
                                    Image, Note, Predictions, Prose, Quote, Ranking, Reference,
                                    Section, SideBySide, Table, Word)

BAR_PIXELS = 120   # a full bar
SCALE_STEPS = 3    # colour stops of a scale's swatch: white to colour, or loss, white, gain

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;
     background:#f5f6f8;margin:0;padding:24px}
main{max-width:1200px;margin:auto}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 10px}
h3{font-size:16px;margin:0 0 6px}
.sub{color:#5b6475;margin:0 0 18px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:10px;padding:16px 20px;margin:0 0 16px}
.name{font-weight:600;white-space:nowrap}
.muted{color:#5b6475;font-size:13px}
.text{font-style:italic;color:#39414f;margin:0 0 10px}
.preds{display:grid;grid-template-columns:max-content max-content 1fr;gap:4px 14px;
       align-items:center;margin:0 0 12px}
.pill{display:inline-block;padding:1px 10px;border-radius:10px;background:#e8ecf3;font-weight:600}
.probs span{margin-right:12px}
.heat{display:grid;grid-template-columns:max-content 1fr;gap:6px 14px;align-items:baseline}
.words{line-height:2.1}
.w{padding:3px 5px;border-radius:4px;white-space:nowrap}
table.grid{border-collapse:collapse;margin:8px 0;font-size:14px}
.caption{font-weight:600;margin:8px 0 0}
table.grid th,table.grid td{padding:3px 10px;border-bottom:1px solid #eef0f4;text-align:left}
table.grid th{font-weight:600;color:#39414f}
table.grid .num{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:10px;border-radius:2px;vertical-align:middle}
.tag{font-size:11px;padding:0 5px;border-radius:6px;margin-left:4px;color:#fff;background:#6b7385}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
.legend{display:flex;gap:18px;flex-wrap:wrap;font-size:13px;color:#5b6475;margin:8px 0 0}
.swatch{display:inline-block;width:60px;height:10px;vertical-align:middle;margin:0 4px;
        border-radius:2px}
.example{border-top:1px solid #eef0f4;padding-top:12px;margin-top:12px}
.scroll{max-width:100%;overflow-x:auto}
.scroll table.grid td,.scroll table.grid th{white-space:nowrap}
pre.code{background:#f3f4f7;border-radius:6px;padding:8px 12px;margin:6px 0 10px;overflow-x:auto;
         font-size:13px;line-height:1.45}
code{font-size:13px;background:#f3f4f7;border-radius:4px;padding:0 3px}
pre.code code{background:none;padding:0}
.prose p,.prose ul{margin:0 0 8px}
.prose ul{padding-left:22px}
img.figure{display:block;max-width:100%;height:auto;margin:8px 0}
"""


def render_html(document: Document) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{escape(document.title)}</title><style>{CSS}</style></head><body><main>",
             f'<h1>{escape(document.title)}</h1><p class="sub">{escape(document.subtitle)}</p>',
             *(_section(section) for section in document.sections),
             *(f'<p class="muted">warning: {escape(w)}</p>' for w in document.warnings),
             "</main></body></html>"]
    return "\n".join(parts) + "\n"


def _section(section: Section, nested: bool = False) -> str:
    body = "".join(map(_block, section.blocks))
    if nested:
        return f'<div class="example"><h3>{escape(section.title)}</h3>{body}</div>'
    return f"<section><h2>{escape(section.title)}</h2>{body}</section>"


def _block(block) -> str:
    if isinstance(block, Section):
        return _section(block, nested=True)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, SideBySide):
        return f'<div class="cols">{"".join(f"<div>{_table(t)}</div>" for t in block.tables)}</div>'
    if isinstance(block, Heatmap):
        return _heatmap(block)
    if isinstance(block, Predictions):
        return _predictions(block)
    if isinstance(block, Ranking):
        entries = " · ".join(f'<b>{escape(word)}</b> <span class="num">{escape(value.text)}</span>'
                             for word, value in block.entries)
        return f'<p class="muted">{escape(block.title)}: {entries}</p>'
    if isinstance(block, Quote):
        return f'<p class="text">{escape(block.text)}</p>'
    if isinstance(block, Note):
        return f'<p class="muted">{escape(block.text)}</p>'
    if isinstance(block, Prose):
        return f'<div class="prose">{_prose(block.text)}</div>'
    if isinstance(block, Code):
        return f'<pre class="code"><code>{escape(block.text)}</code></pre>'
    if isinstance(block, Image):
        data = base64.b64encode(block.png).decode("ascii")
        return (f'<img class="figure" alt="{escape(block.alt)}" '
                f'src="data:image/png;base64,{data}">')
    if isinstance(block, ColourScale):
        return _colour_scale(block)
    raise TypeError(f"no HTML rendering for {type(block).__name__}")


def _table(table: Table) -> str:
    numeric = table.numeric()
    # the title above the box, not a caption: a caption is as narrow as its table
    title = f'<p class="caption">{escape(table.title)}</p>' if table.title else ""
    head = "".join(f'<th{_num(n)}>{escape(title)}</th>' for title, n in zip(table.header, numeric))
    rows = "".join(f"<tr>{''.join(map(_cell, row))}</tr>" for row in table.rows)
    return f'{title}<div class="scroll"><table class="grid"><tr>{head}</tr>{rows}</table></div>'


def _num(numeric: bool) -> str:
    return ' class="num"' if numeric else ""


def _cell(cell: Cell) -> str:
    if isinstance(cell, Reference):
        return f'<td class="num muted">{escape(cell.text)}</td>'
    if isinstance(cell, Delta):
        style = ""
        if cell.strength is not None:
            weight = ";font-weight:700" if cell.strong else ""
            style = f' style="color:{palette.css(palette.sign(cell.value))}{weight}"'
        return f'<td class="num"{style}>{escape(cell.text)}</td>'
    if isinstance(cell, Word):
        tags = "".join(f'<span class="tag">{escape(tag)}</span>' for tag in cell.tags)
        return f"<td>{escape(cell.text)}{tags}</td>"
    if isinstance(cell, Bar):
        width = round(BAR_PIXELS * cell.fraction)
        colour = palette.css(palette.bar(cell.value, cell.signed))
        return f'<td><span class="bar" style="width:{width}px;background:{colour}"></span></td>'
    if isinstance(cell, str):
        return f"<td>{escape(cell)}</td>"
    return f'<td class="num">{escape(cell.text)}</td>'


def _heatmap(heatmap: Heatmap) -> str:
    rows = []
    for row in heatmap.rows:
        words = " ".join(_heat_word(word, palette.shade(value, row.scale, row.signed), text)
                         for word, value, text in zip(heatmap.words, row.values, row.texts))
        rows.append(f'<span class="name">{escape(row.name)}</span>'
                    f'<span class="words">{words}</span>')
    return f'<div class="heat">{"".join(rows)}</div>'


def _heat_word(word: str, background: palette.Colour, value: str) -> str:
    """A word on its colour; hovering shows the value."""
    colours = f"background:{palette.css(background)};color:{palette.css(palette.ink(background))}"
    return f'<span class="w" style="{colours}" title="{escape(value)}">{escape(word)}</span>'


def _predictions(predictions: Predictions) -> str:
    rows = []
    if predictions.gold is not None:
        rows.append(f'<span class="muted">{predictions.GOLD_NAME}</span><span class="pill">'
                    f"{escape(predictions.gold)}</span><span></span>")
    for row in predictions.rows:
        probabilities = "".join(f'<span>{escape(label)} <b class="num">{escape(p.text)}</b></span>'
                                for label, p in row.probabilities)
        rows.append(f'<span class="name">{escape(row.model)}</span><span class="pill">'
                    f'{escape(row.label)}</span><span class="probs">{probabilities}</span>')
    return f'<div class="preds">{"".join(rows)}</div>'


def _colour_scale(scale: ColourScale) -> str:
    stops = ",".join(map(palette.css, palette.gradient(scale.signed, SCALE_STEPS)))
    return (f'<div class="legend"><span>{escape(scale.name)}: {escape(scale.low)}'
            f'<span class="swatch" style="background:linear-gradient(90deg,{stops})"></span>'
            f"{escape(scale.high)}</span></div>")


# ---- prose: the Markdown people write in notes ---------------------------------------------------

_LIST_ITEM = re.compile(r"^( *)[-*] +(.*)$")


def _prose(text: str) -> str:
    """Paragraphs, nested `-` lists, code indented by four spaces after a blank line, and
    `code`, **bold** and *italic* inside them: what notes use. A link stays its text and
    address (the page fetches nothing)."""
    prose = _ProseHtml()
    for line in text.splitlines():
        prose.add(line)
    return prose.close()


class _ProseHtml:
    """Prose's HTML, line by line: a line closes what it ends (a code block, a paragraph, list
    items) before it opens or continues its own."""

    def __init__(self):
        self.html: list[str] = []
        self.paragraph: list[str] = []
        self.code: list[str] = []
        self.item: list[str] = []   # the open list item's lines
        self.depth = 0              # lists open, each with an item open
        self.blank = True           # the previous line was blank (or there was none)

    def add(self, line: str) -> None:
        if self.code and (line.startswith("    ") or not line.strip()):
            self.code.append(line[4:])
            return
        self._close_code()
        if not line.strip():
            self._close_paragraph()
            self.blank = True
            return
        if self.blank and line.startswith("    ") and not self.depth:
            self._close_paragraph()
            self.code.append(line[4:])
            return
        self.blank = False
        marker = _LIST_ITEM.match(line)
        if marker:
            self._open_item(level=len(marker.group(1)) // 2 + 1, text=marker.group(2))
        elif self.depth and line.startswith(" "):
            self.item.append(line.strip())   # an item's continued line
        else:
            self._close_lists(0)
            self.paragraph.append(line.strip())

    def close(self) -> str:
        """The whole HTML, with whatever is still open closed."""
        self._close_code()
        self._close_paragraph()
        self._close_lists(0)
        return "".join(self.html)

    def _open_item(self, level: int, text: str) -> None:
        """A list item at `level` (1: top): lists open down to it, or close up to it."""
        self._close_paragraph()
        self._close_item_text()
        if level > self.depth:
            self.html.append("<ul>" * (level - self.depth))
            self.depth = level
        else:
            self._close_lists(level)
            self.html.append("</li>")
        self.html.append("<li>")
        self.item.append(text)

    def _close_item_text(self) -> None:
        if self.item:
            self.html.append(_inline(" ".join(self.item)))
            self.item.clear()

    def _close_paragraph(self) -> None:
        if self.paragraph:
            self.html.append(f"<p>{_inline(' '.join(self.paragraph))}</p>")
            self.paragraph.clear()

    def _close_code(self) -> None:
        if self.code:
            self.html.append(f'<pre class="code"><code>{escape(chr(10).join(self.code).rstrip())}'
                             "</code></pre>")
            self.code.clear()

    def _close_lists(self, to: int) -> None:
        self._close_item_text()
        while self.depth > to:
            self.html.append("</li></ul>")
            self.depth -= 1


def _inline(text: str) -> str:
    parts = re.split(r"(`[^`]+`)", text)
    shown = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            shown.append(f"<code>{escape(part[1:-1])}</code>")
            continue
        part = escape(part)
        part = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", part)
        part = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", part)
        part = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", part)
        shown.append(part)
    return "".join(shown)
