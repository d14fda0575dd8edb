"""The JSON view: everything a report holds, as plain lists and numbers."""

from __future__ import annotations

from dataclasses import asdict

from afa_cli.inspect.report import DatasetReport, Sentence, SentenceReport


def _sentence(sentence: Sentence, names: list[str]) -> dict:
    payload = {"text": sentence.text, "words": sentence.words,
               "dropped_words": sentence.dropped_words, "readings": []}
    if sentence.gold is not None:
        payload["label"] = sentence.gold
    for name, reading in zip(names, sentence.readings):
        entry = {"model": name, "prediction": reading.prediction,
                 "probabilities": reading.probabilities, "weights": reading.weights.tolist()}
        if reading.weights_by_layer is not None:
            entry["weights_by_layer"] = [w.tolist() for w in reading.weights_by_layer]
        payload["readings"].append(entry)
    if sentence.difference is not None:
        payload["difference"] = sentence.difference.tolist()
    return payload


def json_payload(report: SentenceReport | DatasetReport) -> dict:
    names = [m.name for m in report.models]
    payload = {"label_names": report.label_names, "models": [asdict(m) for m in report.models]}
    if isinstance(report, SentenceReport):
        return {"mode": "sentences", **payload,
                "sentences": [_sentence(s, names) for s in report.sentences],
                "warnings": report.warnings}
    for m, (entry, metrics, top) in enumerate(zip(payload["models"], report.metrics,
                                                  report.top_words)):
        entry["metrics"] = metrics
        entry["top_words"] = [{"word": w.word, "count": w.count, "total": w.totals[m],
                               "lexicon": w.lexicon, "frequent": w.frequent} for w in top]
    return {"mode": "dataset", "dataset": report.dataset, "split": report.split,
            "source": report.source, "num_examples": report.num_examples, **payload,
            "largest_changes": [{"word": w.word, "count": w.count,
                                 "totals": dict(zip(names, w.totals)), "change": w.change,
                                 "lexicon": w.lexicon, "frequent": w.frequent}
                                for w in report.largest_changes],
            "examples_title": report.examples_title,
            "examples": [_sentence(s, names) for s in report.examples]}
