"""The terminal view: coloured word heatmaps, the numbers behind them, and dataset tables (rich)."""

from __future__ import annotations

from rich.console import Group
from rich.rule import Rule
from rich.style import Style
from rich.table import Table
from rich.text import Text

from afa_cli.inspect import palette
from afa_cli.inspect.inspected import ModelInfo
from afa_cli.inspect.report import (SCORES, UNIFORM, DatasetReport, Sentence, SentenceReport,
                                    score_text)


def terminal_report(report: SentenceReport | DatasetReport) -> Group:
    if isinstance(report, DatasetReport):
        return Group(*_dataset(report))
    parts = _legend(report.models)
    for number, sentence in enumerate(report.sentences, start=1):
        parts.append(Rule(f"sentence {number}", style="dim"))
        parts += _sentence(sentence, report.models, report.top_k, numbers=True)
    return Group(*parts)


def _legend(models: list[ModelInfo]) -> list:
    return [Text.assemble((f"{m.name}", "bold"), f": {m.checkpoint} — {m.attention}")
            for m in models]


def _sentence(sentence: Sentence, models: list[ModelInfo], top_k: int, numbers: bool) -> list:
    labels = [name for name, _ in sentence.heat_rows(models)] + ["true label"] * (sentence.gold is not None)
    width = max(map(len, labels)) + 2
    parts = []
    if sentence.gold is not None:
        parts.append(Text(f"{'true label':<{width}}{sentence.gold}", style="dim"))
    for model, reading in zip(models, sentence.readings):
        probs = " · ".join(f"{name} {p:.3f}" for name, p in reading.probabilities.items())
        parts.append(Text.assemble(f"{model.name:<{width}}", (reading.prediction, "bold"),
                                   f"  ({probs})"))
    parts += _heat_lines(sentence, models, width)
    if numbers:
        parts.append(_weights_table(sentence, models))
        for model, reading in zip(models, sentence.readings):
            top = " · ".join(f"{word} {w:.3f}" for word, w in reading.top(sentence.words, top_k))
            parts.append(Text(f"top-{top_k} {model.name}: {top}"))
    return parts


def _heat_lines(sentence: Sentence, models: list[ModelInfo], width: int) -> list[Text]:
    rows = sentence.heat_rows(models)
    scale = max(float(w.max()) for _, w in rows)
    lines = []
    for name, weights in rows:
        line = Text(f"{name:<{width}}")
        for word, weight in zip(sentence.words, weights):
            background = palette.heat(float(weight), scale)
            line.append(f" {word} ", Style(color=palette.css(palette.ink(background)),
                                           bgcolor=palette.css(background)))
        lines.append(line)
    return lines


def _weights_table(sentence: Sentence, models: list[ModelInfo]) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("word")
    for model in models:
        table.add_column(model.name, justify="right")
    difference = sentence.difference
    if difference is not None:
        table.add_column(f"Δ ({models[1].name} − {models[0].name})", justify="right")
        scale = float(abs(difference).max())
    for j, word in enumerate(sentence.words):
        cells = [f"{r.weights[j]:.4f}" for r in sentence.readings]
        if difference is not None:
            colour = palette.GAIN if difference[j] >= 0 else palette.LOSS
            strong = scale > 0 and abs(difference[j]) >= 0.5 * scale
            style = Style(color=palette.css(colour), bold=strong)
            cells.append(Text(f"{difference[j]:+.4f}", style=style))
        table.add_row(Text(word), *cells)
    return table


def _dataset(report: DatasetReport) -> list:
    parts = [Text(f"{report.dataset} {report.split}: {report.num_examples} sentences "
                  f"({report.source})", style="bold"), *_legend(report.models)]
    parts += [_scores_table(report), _top_words_table(report)]
    if report.largest_changes:
        parts.append(_changes_table(report))
    if report.examples:
        parts.append(Rule(report.examples_title, style="dim"))
        for sentence in report.examples:
            parts += _sentence(sentence, report.models, report.top_k, numbers=False)
            parts.append(Text(""))
    return parts


def _scores_table(report: DatasetReport) -> Table:
    table = Table(title="scores (as afa eval reports them)")
    table.add_column("metric")
    for model in report.models:
        table.add_column(model.name, justify="right")
    if len(report.models) == 2:
        table.add_column("Δ", justify="right")
    table.add_column("uniform attention", justify="right")
    for key in SCORES:
        values = [m[key] for m in report.metrics]
        cells = [score_text(v) for v in values]
        if len(values) == 2:
            cells.append(f"{values[1] - values[0]:+.4f}")
        uniform = report.metrics[0].get(UNIFORM.get(key, ""))
        cells.append(score_text(uniform) if uniform is not None else "")
        table.add_row(key, *cells)
    return table


def _tags(word) -> str:
    return " ".join(tag for tag, on in (("lex", word.lexicon), ("freq", word.frequent)) if on)


def _top_words_table(report: DatasetReport) -> Table:
    table = Table(title="most attended words (attention summed over the split)")
    table.add_column("#", justify="right")
    for model in report.models:
        table.add_column(model.name)
        table.add_column("total", justify="right")
    for rank, row in enumerate(zip(*report.top_words), start=1):
        cells = [str(rank)]
        for m, word in enumerate(row):
            cells += [Text.assemble(word.word, (f" {_tags(word)}", "dim")), f"{word.totals[m]:.2f}"]
        table.add_row(*cells)
    return table


def _changes_table(report: DatasetReport) -> Table:
    first, second = report.models[0].name, report.models[1].name
    table = Table(title=f"largest changes in total attention ({second} − {first})")
    for column, justify in (("word", "left"), ("count", "right"), (first, "right"),
                            (second, "right"), ("Δ", "right"), ("", "left")):
        table.add_column(column, justify=justify)
    for word in report.largest_changes:
        colour = palette.GAIN if word.change >= 0 else palette.LOSS
        change = Text(f"{word.change:+.2f}", style=Style(color=palette.css(colour)))
        table.add_row(Text(word.word), str(word.count), f"{word.totals[0]:.2f}",
                      f"{word.totals[1]:.2f}", change, _tags(word))
    return table
