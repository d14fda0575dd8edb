"""`afa inspect-attention` from request to report and files: check the input, load the models,
inspect sentences or a dataset split (afa_cli/inspect), render the report for the terminal and
write the HTML / PNG / JSON views."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import RenderableType

from afa_cli import files, runs
from afa_cli.metrics import EVAL_BATCH_SIZE
from afa_cli.errors import UserError
from afa_cli.paths import check_new_file
from afa_cli.inspect.corpus import inspect_dataset
from afa_cli.inspect.document import report_document
from afa_cli.inspect.export import json_payload
from afa_cli.inspect.figure import write_png
from afa_cli.inspect.inspected import AttentionSpec, load_inspected
from afa_cli.inspect.report import DatasetReport, SentenceReport
from afa_cli.inspect.sentences import inspect_sentences, read_sentences
from afa_cli.views.html import render_html
from afa_cli.views.terminal import render_terminal


@dataclass
class InspectRequest:
    checkpoint: Path
    compare: Path | None = None
    sentences: list[str] = field(default_factory=list)
    file: Path | None = None
    dataset: str | None = None
    split: str = "validation"
    spec: AttentionSpec = AttentionSpec()
    all_layers: bool = False
    top_k: int = 5
    examples: int = 8
    html: Path | None = None
    png: Path | None = None
    json: Path | None = None
    device: str = "auto"                 # where the models score (auto: the GPU when there is one)
    batch_size: int = EVAL_BATCH_SIZE

    def outputs(self) -> dict[str, Path]:
        return {option: Path(path) for option, path in
                (("--html", self.html), ("--png", self.png), ("--json", self.json)) if path}


def inspect_attention(request: InspectRequest) -> tuple[SentenceReport | DatasetReport, list[Path]]:
    """The report, and the files written."""
    _check(request)
    texts = [] if request.dataset else read_sentences(request.sentences, request.file)
    paths = [request.checkpoint] + ([request.compare] if request.compare else [])
    models = load_inspected(paths, request.dataset, request.device)
    if request.dataset:
        report = inspect_dataset(models, request.split, request.spec, request.examples,
                                 request.top_k, request.batch_size)
    else:
        report = inspect_sentences(models, texts, request.spec, request.all_layers, request.top_k,
                                   request.batch_size)
    return report, write_outputs(report, request.outputs())


def _check(request: InspectRequest) -> None:
    """Everything that can be refused before a model is loaded."""
    has_sentences = bool(request.sentences) or request.file is not None
    if request.dataset and has_sentences:
        raise UserError("Give sentences (or --file) or --dataset, not both.")
    if not request.dataset and not has_sentences:
        raise UserError("Nothing to inspect: give sentences, --file FILE (one sentence per line) "
                        "or --dataset NAME.")
    if request.dataset and request.all_layers:
        raise UserError("--all-layers shows sentences layer by layer; it does not combine "
                        "with --dataset.")
    if request.top_k < 1 or request.examples < 0:
        raise UserError("--top-k must be >= 1 and --examples >= 0.")
    request.spec.check()
    outputs = request.outputs()
    for option, path in outputs.items():
        check_new_file(path, option)
    png = outputs.get("--png")
    if png and png.suffix.lower() != ".png":
        raise UserError(f"--png {png}: the figure is written as a PNG image; name it "
                        f"{png.with_suffix('.png').name}.")
    if len({p.resolve() for p in outputs.values()}) < len(outputs):
        raise UserError("--html, --png and --json must name different files.")


def terminal_report(report: SentenceReport | DatasetReport) -> RenderableType:
    return render_terminal(report_document(report))


def write_outputs(report: SentenceReport | DatasetReport, outputs: dict[str, Path]) -> list[Path]:
    """The files written; JSON holds the report's data rather than its sections, so that scripts
    read every number (all of afa eval's metrics) under stable keys."""
    for path in outputs.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    if "--html" in outputs:
        with files.open_new(outputs["--html"]) as handle:
            handle.write(render_html(report_document(report)))
    if "--png" in outputs:
        write_png(report, outputs["--png"])
    if "--json" in outputs:
        runs.write_json(outputs["--json"], json_payload(report))
    return list(outputs.values())
