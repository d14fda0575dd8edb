"""Per-dataset inspection: `afa eval`'s scores on a split, the words that draw the most attention,
the words whose attention changed most between two models, and example sentences."""

from __future__ import annotations

import numpy as np
import torch

from afa_cli.data import encode
from afa_cli.metrics import EVAL_BATCH_SIZE
from afa_cli.metrics.scoring import evaluate
from afa_cli.inspect.inspected import AttentionSpec, InspectedModel
from afa_cli.inspect.report import DatasetReport, Sentence, WordTotal
from afa_cli.inspect.sentences import reading
from afa_cli.lexicon import is_lexicon_word, normalize_word, sentiment_lexicon

TOP_WORDS = 20
# Two- and three-word phrases move their attention wholesale; longer sentences show where it went.
MIN_EXAMPLE_WORDS = 4


def inspect_dataset(models: list[InspectedModel], split: str, spec: AttentionSpec,
                    num_examples: int, top_k: int,
                    batch_size: int = EVAL_BATCH_SIZE) -> DatasetReport:
    """Every model scored on the rows `afa eval` scores the first one on (its run's config)."""
    first = models[0]
    label_names = first.label_names
    rows = first.scored_rows(split)
    torch.set_num_threads(first.cfg.train.num_threads)
    metrics, predictions, frequent = [], [], []
    for model in models:
        data = encode(rows.texts, rows.labels, model.tokenizer, model.cfg.model.max_length)
        words = model.frequent_words(rows.texts)
        scores, preds = evaluate(model.net(spec), data, rows.texts, label_names, words,
                                 batch_size, model.pad_id)
        metrics.append(scores)
        predictions.append(preds)
        frequent.append(words)

    attention = [p.attention for p in predictions]
    totals = word_totals(rows.texts, attention, set(frequent[0]))
    top_words = [sorted(totals, key=lambda w: -w.totals[m])[:TOP_WORDS] for m in range(len(models))]
    changes = sorted(totals, key=lambda w: -abs(w.change))[:TOP_WORDS] if len(models) == 2 else []

    chosen, title = example_indices(rows.texts, attention, num_examples)
    examples = []
    for i in chosen:
        shown = min(len(a[i]) for a in attention)
        examples.append(Sentence(rows.texts[i], rows.texts[i].split()[:shown],
                                 [reading(p, i, label_names, shown) for p in predictions],
                                 gold=label_names[rows.labels[i]]))
    return DatasetReport([m.info(spec) for m in models], label_names, first.cfg.dataset.name,
                         split, rows.source, len(rows.texts), metrics, top_words, changes,
                         examples, title, top_k)


def word_totals(texts: list[str], attention: list[list[np.ndarray]],
                frequent: set[str]) -> list[WordTotal]:
    """Attention summed per normalised word over the sentences of two or more words (those the
    attention metrics count), per model."""
    lexicon = sentiment_lexicon()
    counts: dict[str, int] = {}
    sums: dict[str, np.ndarray] = {}
    for i, text in enumerate(texts):
        shown = min(len(a[i]) for a in attention)
        if shown < 2:
            continue
        for j, word in enumerate(text.split()[:shown]):
            key = normalize_word(word)
            counts[key] = counts.get(key, 0) + 1
            sums.setdefault(key, np.zeros(len(attention)))
            sums[key] += [float(a[i][j]) for a in attention]
    return [WordTotal(word, counts[word], sums[word].tolist(), is_lexicon_word(word, lexicon),
                      word in frequent) for word in counts]


def example_indices(texts: list[str], attention: list[list[np.ndarray]],
                    limit: int) -> tuple[list[int], str]:
    """With two models, the sentences whose attention differs most (total variation distance);
    with one, the first sentences of the split."""
    candidates = [i for i, text in enumerate(texts) if len(text.split()) >= MIN_EXAMPLE_WORDS]
    if len(attention) == 1:
        chosen = candidates[:limit]
        return chosen, f"The first {len(chosen)} sentences of {MIN_EXAMPLE_WORDS}+ words"

    def distance(i: int) -> float:
        shown = min(len(a[i]) for a in attention)
        return 0.5 * float(np.abs(attention[1][i][:shown] - attention[0][i][:shown]).sum())

    chosen = sorted(candidates, key=distance, reverse=True)[:limit]
    return chosen, (f"The {len(chosen)} sentences ({MIN_EXAMPLE_WORDS}+ words) where the two models' "
                    "attention differs most (total variation distance)")
