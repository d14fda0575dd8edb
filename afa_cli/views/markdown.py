"""The Markdown renderer: a document's titles, tables and notes as GitHub-flavoured Markdown, for
files that are read in a browser or committed beside the numbers."""

from __future__ import annotations

from collections.abc import Mapping

from afa_cli.views.sections import (Cell, Code, Document, Image, Note, Prose, Quote, Ranking,
                                    Section, Table, Word)


def render_markdown(document: Document, images: Mapping[str, str] | None = None) -> str:
    """`images`: where the file of each figure (by Image.name) is, relative to the Markdown
    file; a document with figures needs them (the caller writes the PNGs)."""
    lines = [f"# {document.title}", ""]
    if document.subtitle:
        lines += [document.subtitle, ""]
    for section in document.sections:
        lines += _section(section, level=2, images=images or {})
    lines += [f"warning: {warning}" for warning in document.warnings]
    return "\n".join(lines).rstrip("\n") + "\n"


def _section(section: Section, level: int, images: Mapping[str, str]) -> list[str]:
    lines = [f"{'#' * level} {section.title}", ""]
    for block in section.blocks:
        if isinstance(block, Section):
            lines += _section(block, level + 1, images)
        elif isinstance(block, Table):
            lines += _table(block)
        elif isinstance(block, (Note, Quote)):
            lines += [block.text, ""]
        elif isinstance(block, Prose):
            lines += [block.text.strip(), ""]
        elif isinstance(block, Code):
            fence = "````" if "```" in block.text else "```"
            lines += [fence, block.text, fence, ""]
        elif isinstance(block, Image):
            if block.name not in images:
                raise ValueError(f"no file for the figure {block.name}")
            lines += [f"![{block.alt}]({images[block.name]})", ""]
        elif isinstance(block, Ranking):
            lines += [f"{block.title}: " + " · ".join(f"{word} {value.text}"
                                                      for word, value in block.entries), ""]
        else:
            raise TypeError(f"no Markdown rendering for {type(block).__name__}")
    return lines


def _table(table: Table) -> list[str]:
    numeric = table.numeric()
    lines = [f"**{table.title}**", ""] if table.title else []
    lines += ["| " + " | ".join(map(_escape, table.header)) + " |",
              "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(_escape(_text(cell)) for cell in row) + " |" for row in table.rows]
    return lines + [""]


def _text(cell: Cell) -> str:
    if isinstance(cell, str):
        return cell
    if isinstance(cell, Word):
        return " ".join((cell.text, *cell.tags))
    return getattr(cell, "text", "")


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
