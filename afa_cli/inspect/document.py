"""What an inspection shows, built once from its report as a view-neutral document: the terminal,
the HTML page and the PNG render these sections (afa_cli.views), so they show the same rows and
columns. Scores come from the metric registry: its keys, formats and uniform references."""

from __future__ import annotations

from afa_cli.inspect.inspected import ModelInfo
from afa_cli.inspect.report import DatasetReport, Sentence, SentenceReport, WordTotal
from afa_cli.metrics.registry import SCORES, uniform_value
from afa_cli.views.sections import (Bar, ColourScale, Delta, Document, Heatmap, HeatRow, Note,
                                    Number, Prediction, Predictions, Quote, Ranking, Reference,
                                    Section, SideBySide, Table, Word)

WEIGHT_DIGITS = 4        # one word's attention in one sentence, and its change
PROBABILITY_DIGITS = 3   # probabilities and the top-k words
TOTAL_DIGITS = 2         # attention summed over a split
TRAINED = {True: "with AFA", False: "without AFA (afa=off)", None: "unknown (no run folder)"}
TAGS_NOTE = "lex: a sentiment-lexicon word; freq: one of the training split's most frequent words."


def report_document(report: SentenceReport | DatasetReport) -> Document:
    if isinstance(report, DatasetReport):
        return dataset_document(report)
    count = len(report.sentences)
    sentences = [sentence_section(s, report.models, f"sentence {i}", report.top_k, numbers=True)
                 for i, s in enumerate(report.sentences, start=1)]
    return Document("Attention per word", f"{count} sentence{'s' if count != 1 else ''}",
                    (models_section(report.models), *sentences), tuple(report.warnings))


def dataset_document(report: DatasetReport) -> Document:
    sections = [models_section(report.models), scores_section(report), top_words_section(report)]
    if report.largest_changes:
        sections.append(changes_section(report))
    if report.examples:
        examples = tuple(sentence_section(s, report.models, f"example {i}", report.top_k,
                                          numbers=False)
                         for i, s in enumerate(report.examples, start=1))
        sections.append(Section(report.examples_title, examples))
    return Document(f"Attention on {report.dataset} {report.split}",
                    f"{report.num_examples} sentences from {report.source}", tuple(sections),
                    tuple(report.warnings))


def models_section(models: list[ModelInfo]) -> Section:
    # One column per model: each keeps the width of its own long path and attention description.
    table = Table(("", *(m.name for m in models)),
                  (("trained", *(TRAINED[m.afa_enabled] for m in models)),
                   ("checkpoint", *(m.checkpoint for m in models)),
                   ("attention shown", *(m.attention for m in models))))
    scales = [ColourScale("attention", "low", "high (the sentence's largest weight)")]
    if len(models) == 2:
        scales.append(ColourScale("change", "less", f"more attention in {models[1].name}",
                                  signed=True))
    return Section("models", (table, *scales))


def _change_name(models: list[ModelInfo]) -> str:
    return f"{models[1].name} − {models[0].name}"


# ---- one sentence ------------------------------------------------------------------------------

def sentence_section(sentence: Sentence, models: list[ModelInfo], title: str, top_k: int,
                     numbers: bool) -> Section:
    """The sentence, each model's prediction and heat row; with `numbers` also the weights and
    each model's top-k words."""
    blocks = [Quote(sentence.text), predictions(sentence, models), heatmap(sentence, models)]
    if numbers:
        blocks.append(weights_table(sentence, models))
        blocks += [Ranking(f"top-{top_k} {model.name}",
                           tuple((word, Number(w, f"{w:.{PROBABILITY_DIGITS}f}"))
                                 for word, w in reading.top(sentence.words, top_k)))
                   for model, reading in zip(models, sentence.readings)]
    return Section(title, tuple(blocks))


def predictions(sentence: Sentence, models: list[ModelInfo]) -> Predictions:
    return Predictions(tuple(
        Prediction(model.name, reading.prediction,
                   tuple((label, Number(p, f"{p:.{PROBABILITY_DIGITS}f}"))
                         for label, p in reading.probabilities.items()))
        for model, reading in zip(models, sentence.readings)), sentence.gold)


def heatmap(sentence: Sentence, models: list[ModelInfo]) -> Heatmap:
    """One row per model (or per model and layer) on one shared scale, then the change."""
    named = sentence.heat_rows(models)
    scale = max(float(weights.max()) for _, weights in named)
    rows = [HeatRow(name, tuple(map(float, weights)),
                    tuple(f"{w:.{WEIGHT_DIGITS}f}" for w in weights), scale)
            for name, weights in named]
    difference = sentence.difference
    if difference is not None:
        rows.append(HeatRow(f"Δ {_change_name(models)}", tuple(map(float, difference)),
                            tuple(f"{d:+.{WEIGHT_DIGITS}f}" for d in difference),
                            float(abs(difference).max()), signed=True))
    return Heatmap(tuple(sentence.words), tuple(rows))


def weights_table(sentence: Sentence, models: list[ModelInfo]) -> Table:
    header = ["word", *(m.name for m in models)]
    difference = sentence.difference
    if difference is not None:
        header.append(f"Δ ({_change_name(models)})")
        spread = float(abs(difference).max())
    rows = []
    for j, word in enumerate(sentence.words):
        cells = [Word(word), *(Number(float(r.weights[j]), f"{r.weights[j]:.{WEIGHT_DIGITS}f}")
                               for r in sentence.readings)]
        if difference is not None:
            cells.append(_attention_change(float(difference[j]), spread, WEIGHT_DIGITS))
        rows.append(tuple(cells))
    return Table(tuple(header), tuple(rows))


def _attention_change(value: float, spread: float, digits: int) -> Delta:
    return Delta(value, f"{value:+.{digits}f}", abs(value) / spread if spread > 0 else 0.0)


# ---- a dataset split ---------------------------------------------------------------------------

def scores_section(report: DatasetReport) -> Section:
    """Each registry score per model, the change with two models, and uniform attention's value."""
    two = len(report.models) == 2
    header = ("metric", *(m.name for m in report.models), *(("Δ",) if two else ()),
              "uniform attention")
    rows = []
    for metric in SCORES:
        values = [scores[metric.key] for scores in report.metrics]
        cells = [metric.key, *(Number(v, metric.format(v)) for v in values)]
        if two:
            change = values[1] - values[0]
            cells.append(Delta(change, metric.format(change, signed=True)))
        uniform = uniform_value(report.metrics[0], metric)
        cells.append(Reference(uniform, "" if uniform is None else metric.format(uniform)))
        rows.append(tuple(cells))
    note = ("; ".join(f"{metric.key}: {metric.description}" for metric in SCORES)
            + ". Uniform attention would score the last column.")
    return Section("scores (as afa eval reports them)", (Table(header, tuple(rows)), Note(note)))


def _word(word: WordTotal) -> Word:
    return Word(word.word, tuple(tag for tag, on in (("lex", word.lexicon),
                                                     ("freq", word.frequent)) if on))


def _total(value: float) -> Number:
    return Number(value, f"{value:.{TOTAL_DIGITS}f}")


def top_words_section(report: DatasetReport) -> Section:
    """Per model, its most attended words, with bars on one scale shared by the models."""
    scale = max((w.totals[m] for m, top in enumerate(report.top_words) for w in top), default=0.0)
    tables = tuple(
        Table(("#", "word", "count", "total", ""),
              tuple((Number(rank, str(rank)), _word(w), Number(w.count, str(w.count)),
                     _total(w.totals[m]), Bar(w.totals[m], scale))
                    for rank, w in enumerate(top, start=1)),
              title=model.name)
        for m, (model, top) in enumerate(zip(report.models, report.top_words)))
    note = ("Attention summed over the split's sentences of two or more words, per normalised "
            f"word. {TAGS_NOTE}")
    return Section("most attended words", (SideBySide(tables), Note(note)))


def changes_section(report: DatasetReport) -> Section:
    """The words whose total attention changed most from the first model to the second."""
    first, second = (m.name for m in report.models)
    spread = max(abs(w.change) for w in report.largest_changes)
    rows = tuple((_word(w), Number(w.count, str(w.count)), _total(w.totals[0]),
                  _total(w.totals[1]), _attention_change(w.change, spread, TOTAL_DIGITS),
                  Bar(w.change, spread, signed=True))
                 for w in report.largest_changes)
    table = Table(("word", "count", first, second, "Δ", ""), rows)
    return Section(f"largest changes in total attention ({_change_name(report.models)})",
                   (table, Note(TAGS_NOTE)))
