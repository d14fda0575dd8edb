"""The HTML view: one self-contained page (inline CSS, no scripts, no external assets)."""

from __future__ import annotations

from html import escape

from afa_cli.inspect import palette
from afa_cli.inspect.inspected import ModelInfo
from afa_cli.inspect.report import (SCORES, UNIFORM, DatasetReport, Sentence, SentenceReport,
                                    WordTotal, score_text)

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;
     background:#f5f6f8;margin:0;padding:24px}
main{max-width:1100px;margin:auto}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 10px}
h3{font-size:16px;margin:0 0 6px}
.sub{color:#5b6475;margin:0 0 18px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:10px;padding:16px 20px;margin:0 0 16px}
.models td{padding:2px 12px 2px 0;vertical-align:top}
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
table.grid{border-collapse:collapse;margin:8px 0 0;font-size:14px}
table.grid th,table.grid td{padding:3px 10px;border-bottom:1px solid #eef0f4;text-align:right}
table.grid th:first-child,table.grid td:first-child{text-align:left}
table.grid th{font-weight:600;color:#39414f}
.num{font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:10px;border-radius:2px;vertical-align:middle}
.tag{font-size:11px;padding:0 5px;border-radius:6px;margin-left:4px;color:#fff}
.lex{background:#2e7d32}.freq{background:#8d6e63}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
.legend{display:flex;gap:18px;flex-wrap:wrap;font-size:13px;color:#5b6475}
.swatch{display:inline-block;width:60px;height:10px;vertical-align:middle;margin:0 4px;
        border-radius:2px}
.example{border-top:1px solid #eef0f4;padding-top:12px;margin-top:12px}
"""


def html_page(report: SentenceReport | DatasetReport) -> str:
    if isinstance(report, DatasetReport):
        title = f"Attention on {report.dataset} {report.split}"
        subtitle = f"{report.num_examples} sentences from {report.source}"
        body = _dataset(report)
    else:
        title = "Attention per word"
        count = len(report.sentences)
        subtitle = f"{count} sentence{'s' if count != 1 else ''}"
        body = [f"<section>{_sentence(s, report.models, report.top_k, f'Sentence {i}', True)}"
                "</section>" for i, s in enumerate(report.sentences, start=1)]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>",
             f"<h1>{escape(title)}</h1><p class=\"sub\">{escape(subtitle)}</p>",
             _models(report.models), _legend(len(report.models)), *body,
             *[f'<p class="muted">warning: {escape(w)}</p>' for w in report.warnings],
             "</main></body></html>"]
    return "\n".join(parts) + "\n"


def _models(models: list[ModelInfo]) -> str:
    rows = []
    for m in models:
        afa = {True: "trained with AFA", False: "trained without AFA (afa=off)", None: ""}[m.afa_enabled]
        rows.append(f'<tr><td class="name">{escape(m.name)}</td><td>{escape(afa)}'
                    f'<div class="muted">{escape(m.checkpoint)}</div>'
                    f'<div class="muted">{escape(m.attention)}</div></td></tr>')
    return f'<section><h2>Models</h2><table class="models">{"".join(rows)}</table></section>'


def _legend(num_models: int) -> str:
    white, hot = palette.css(palette.WHITE), palette.css(palette.HEAT)
    heat = (f'<span>attention: low<span class="swatch" style="background:linear-gradient(90deg,'
            f'{white},{hot})"></span>high (scaled to each sentence\'s largest weight; hover a word '
            "for its value)</span>")
    if num_models < 2:
        return f'<div class="legend">{heat}</div>'
    loss, gain = palette.css(palette.LOSS), palette.css(palette.GAIN)
    change = (f'<span>change: <span class="swatch" style="background:linear-gradient(90deg,'
              f'{loss},{white},{gain})"></span>less … more attention in the second model</span>')
    return f'<div class="legend">{heat}{change}</div>'


def _word(word: str, background: tuple[int, int, int], value: str) -> str:
    return (f'<span class="w" style="background:{palette.css(background)};color:'
            f'{palette.css(palette.ink(background))}" title="{escape(value)}">{escape(word)}</span>')


def _sentence(sentence: Sentence, models: list[ModelInfo], top_k: int, heading: str,
              numbers: bool) -> str:
    parts = [f"<h3>{escape(heading)}</h3>", f'<p class="text">{escape(sentence.text)}</p>']
    preds = []
    if sentence.gold is not None:
        preds.append(f'<span class="muted">true label</span><span class="pill">'
                     f"{escape(sentence.gold)}</span><span></span>")
    for model, reading in zip(models, sentence.readings):
        probs = "".join(f"<span>{escape(name)} <b class=\"num\">{p:.3f}</b></span>"
                        for name, p in reading.probabilities.items())
        preds.append(f'<span class="name">{escape(model.name)}</span><span class="pill">'
                     f'{escape(reading.prediction)}</span><span class="probs">{probs}</span>')
    parts.append(f'<div class="preds">{"".join(preds)}</div>')
    rows = sentence.heat_rows(models)
    scale = max(float(w.max()) for _, w in rows)
    heat = []
    for name, weights in rows:
        words = " ".join(_word(word, palette.heat(float(w), scale), f"{w:.4f}")
                        for word, w in zip(sentence.words, weights))
        heat.append(f'<span class="name">{escape(name)}</span><span class="words">{words}</span>')
    difference = sentence.difference
    if difference is not None:
        spread = float(abs(difference).max())
        words = " ".join(_word(word, palette.change(float(d), spread), f"{d:+.4f}")
                        for word, d in zip(sentence.words, difference))
        heat.append(f'<span class="name">Δ {escape(models[1].name)} − {escape(models[0].name)}'
                    f'</span><span class="words">{words}</span>')
    parts.append(f'<div class="heat">{"".join(heat)}</div>')
    if numbers:
        parts.append(_weights_table(sentence, models))
        for model, reading in zip(models, sentence.readings):
            top = " · ".join(f"<b>{escape(w)}</b> <span class=\"num\">{v:.3f}</span>"
                            for w, v in reading.top(sentence.words, top_k))
            parts.append(f'<p class="muted">top-{top_k} {escape(model.name)}: {top}</p>')
    return "".join(parts)


def _weights_table(sentence: Sentence, models: list[ModelInfo]) -> str:
    head = "".join(f"<th>{escape(m.name)}</th>" for m in models)
    difference = sentence.difference
    if difference is not None:
        head += "<th>Δ</th>"
    rows = []
    for j, word in enumerate(sentence.words):
        cells = "".join(f'<td class="num">{r.weights[j]:.4f}</td>' for r in sentence.readings)
        if difference is not None:
            colour = palette.GAIN if difference[j] >= 0 else palette.LOSS
            cells += f'<td class="num" style="color:{palette.css(colour)}">{difference[j]:+.4f}</td>'
        rows.append(f"<tr><td>{escape(word)}</td>{cells}</tr>")
    return f'<table class="grid"><tr><th>word</th>{head}</tr>{"".join(rows)}</table>'


def _dataset(report: DatasetReport) -> list[str]:
    parts = [_scores(report), _top_words(report)]
    if report.largest_changes:
        parts.append(_changes(report))
    if report.examples:
        examples = "".join(f'<div class="example">'
                           f"{_sentence(s, report.models, report.top_k, f'Example {i}', False)}</div>"
                           for i, s in enumerate(report.examples, start=1))
        parts.append(f"<section><h2>{escape(report.examples_title)}</h2>{examples}</section>")
    return parts


def _scores(report: DatasetReport) -> str:
    two = len(report.models) == 2
    head = "".join(f"<th>{escape(m.name)}</th>" for m in report.models)
    head += ("<th>Δ</th>" if two else "") + "<th>uniform attention</th>"
    rows = []
    for key in SCORES:
        values = [m[key] for m in report.metrics]
        cells = "".join(f'<td class="num">{score_text(v)}</td>' for v in values)
        if two:
            cells += f'<td class="num">{values[1] - values[0]:+.4f}</td>'
        uniform = report.metrics[0].get(UNIFORM.get(key, ""))
        cells += f'<td class="num muted">{score_text(uniform) if uniform is not None else ""}</td>'
        rows.append(f"<tr><td>{escape(key)}</td>{cells}</tr>")
    note = ("lexicon_mass / frequent_mass: share of attention on sentiment-lexicon / the 100 most "
            "frequent training words; lexicon_precision@5: share of the 5 most attended words "
            "that are lexicon words; attn_entropy: normalised entropy (1 = uniform). "
            "Uniform attention would score the last column.")
    return (f'<section><h2>Scores</h2><table class="grid"><tr><th>metric</th>{head}</tr>'
            f'{"".join(rows)}</table><p class="muted">{escape(note)}</p></section>')


def _tags(word: WordTotal) -> str:
    return (('<span class="tag lex">lexicon</span>' if word.lexicon else "")
            + ('<span class="tag freq">frequent</span>' if word.frequent else ""))


def _bar(value: float, scale: float, colour: tuple[int, int, int]) -> str:
    width = 0 if scale <= 0 else round(120 * abs(value) / scale)
    return f'<span class="bar" style="width:{width}px;background:{palette.css(colour)}"></span>'


def _top_words(report: DatasetReport) -> str:
    scale = max((w.totals[m] for m, top in enumerate(report.top_words) for w in top), default=0)
    columns = []
    for m, (model, top) in enumerate(zip(report.models, report.top_words)):
        rows = "".join(f'<tr><td>{escape(w.word)}{_tags(w)}</td><td class="num">{w.count}</td>'
                       f'<td class="num">{w.totals[m]:.2f}</td>'
                       f"<td>{_bar(w.totals[m], scale, palette.HEAT)}</td></tr>" for w in top)
        columns.append(f'<div><h2>{escape(model.name)}: most attended words</h2>'
                       f'<table class="grid"><tr><th>word</th><th>count</th><th>total</th><th></th>'
                       f"</tr>{rows}</table></div>")
    note = "Attention summed over the split's sentences of two or more words, per normalised word."
    return (f'<section><div class="cols">{"".join(columns)}</div>'
            f'<p class="muted">{escape(note)}</p></section>')


def _changes(report: DatasetReport) -> str:
    first, second = (escape(m.name) for m in report.models)
    scale = max(abs(w.change) for w in report.largest_changes)
    rows = "".join(
        f'<tr><td>{escape(w.word)}{_tags(w)}</td><td class="num">{w.count}</td>'
        f'<td class="num">{w.totals[0]:.2f}</td><td class="num">{w.totals[1]:.2f}</td>'
        f'<td class="num">{w.change:+.2f}</td>'
        f"<td>{_bar(w.change, scale, palette.GAIN if w.change >= 0 else palette.LOSS)}</td></tr>"
        for w in report.largest_changes)
    return (f"<section><h2>Largest changes in total attention ({second} − {first})</h2>"
            f'<table class="grid"><tr><th>word</th><th>count</th><th>{first}</th><th>{second}</th>'
            f"<th>Δ</th><th></th></tr>{rows}</table></section>")
