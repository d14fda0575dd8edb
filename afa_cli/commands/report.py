"""`afa report RUNS...`: a study a person can read. The runs (run folders, sweep folders, folders
of runs) are read into a study (afa_cli/report), laid out once as a document, and rendered on the
terminal, as one self-contained HTML page (--html) and as Markdown (--md, each figure a PNG
beside it: <stem>_<figure>.png). No file is written over an existing one, and every output path
is checked before anything is read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from afa_cli import files
from afa_cli.errors import UserError
from afa_cli.paths import check_new_file
from afa_cli.report.document import study_document
from afa_cli.report.study import read_study
from afa_cli.views.html import render_html
from afa_cli.views.markdown import render_markdown
from afa_cli.views.sections import Document


@dataclass
class ReportRequest:
    paths: list[Path]
    baseline: str | None = None   # the variants the others are paired with (default afa=off)
    html: Path | None = None
    md: Path | None = None


def make_report(request: ReportRequest) -> tuple[Document, list[Path]]:
    """The report, and the files written."""
    _check(request)
    document = study_document(read_study(request.paths, request.baseline))
    return document, write_report(document, request.html, request.md)


def _check(request: ReportRequest) -> None:
    """What can be refused before any run is read: outputs that exist or lie under a file."""
    outputs = {option: Path(path) for option, path in (("--html", request.html),
                                                       ("--md", request.md)) if path}
    for option, path in outputs.items():
        check_new_file(path, option)
    if len(outputs) == 2 and outputs["--html"].resolve() == outputs["--md"].resolve():
        raise UserError("--html and --md must name different files.")


def figure_path(markdown: Path, name: str) -> Path:
    """Where a Markdown report's figure goes: beside it, named after it."""
    return markdown.with_name(f"{markdown.stem}_{name}.png")


def write_report(document: Document, html: Path | None, md: Path | None) -> list[Path]:
    """The HTML page and the Markdown file with its figures, each a new file, written whole;
    when one cannot be written, the figures written for it are removed again."""
    written: list[Path] = []
    if md is not None:
        images = {image.name: figure_path(md, image.name) for image in document.images()}
        for path in images.values():
            check_new_file(path, "--md figure")
        try:
            for image in document.images():
                with files.open_new(images[image.name], "wb") as handle:
                    handle.write(image.png)
                written.append(images[image.name])
            files.write_text(md, render_markdown(document, {name: path.name for name, path
                                                            in images.items()}))
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        written.append(md)
    if html is not None:
        files.write_text(html, render_html(document))
        written.append(html)
    return written
