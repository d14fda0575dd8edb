"""The Markdown renderer: a document's titles, tables and notes as GitHub-flavoured Markdown, for
files that are read in a browser or committed beside the numbers."""

from __future__ import annotations

from afa_cli.views.sections import Cell, Document, Note, Quote, Ranking, Section, Table, Word


def render_markdown(document: Document) -> str:
    lines = [f"# {document.title}", ""]
    if document.subtitle:
        lines += [document.subtitle, ""]
    for section in document.sections:
        lines += _section(section, level=2)
    lines += [f"warning: {warning}" for warning in document.warnings]
    return "\n".join(lines).rstrip("\n") + "\n"


def _section(section: Section, level: int) -> list[str]:
    lines = [f"{'#' * level} {section.title}", ""]
    for block in section.blocks:
        if isinstance(block, Section):
            lines += _section(block, level + 1)
        elif isinstance(block, Table):
            lines += _table(block)
        elif isinstance(block, (Note, Quote)):
            lines += [block.text, ""]
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
