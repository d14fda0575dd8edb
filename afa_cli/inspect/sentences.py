"""Per-sentence inspection: each model's prediction and word attention for a few sentences."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from afa_cli.data import encode, utf8_lines
from afa_cli.errors import UserError
from afa_cli.metrics import EVAL_BATCH_SIZE
from afa_cli.metrics.scoring import Predictions, predict
from afa_cli.inspect.inspected import AttentionSpec, InspectedModel
from afa_cli.inspect.report import Reading, Sentence, SentenceReport
from afa_cli.models import num_layers


def read_sentences(sentences: list[str], file: Path | None) -> list[str]:
    """The sentences given as arguments, then the non-blank lines of --file."""
    texts = list(sentences)
    if file is not None:
        if not Path(file).is_file():
            raise UserError(f"--file {file} does not exist.")
        with Path(file).open("rb") as handle:
            from_file = [line.strip() for _, line in utf8_lines(handle, file) if line.strip()]
        if not from_file:
            raise UserError(f"--file {file} holds no sentences (one per line).")
        texts += from_file
    for number, text in enumerate(texts, start=1):
        if not text.split():
            raise UserError(f"Sentence {number} is empty; give at least one word.")
    return texts


def reading(preds: Predictions, index: int, label_names: list[str], num_words: int,
            by_layer: list[Predictions] | None = None) -> Reading:
    """Example `index` of a prediction, its attention cut to the first num_words words."""
    probs = preds.probs[index]
    return Reading(
        prediction=label_names[int(probs.argmax())],
        probabilities={name: float(p) for name, p in zip(label_names, probs)},
        weights=_first_words(preds.attention[index], num_words),
        weights_by_layer=None if by_layer is None else
        [_first_words(p.attention[index], num_words) for p in by_layer],
    )


def _first_words(weights: np.ndarray, num_words: int) -> np.ndarray:
    """Attention over the first num_words words, still a distribution: two models with different
    max lengths are shown over the words both of them saw."""
    if len(weights) == num_words:
        return weights
    kept = weights[:num_words]
    return kept / max(float(kept.sum()), 1e-12)


def inspect_sentences(models: list[InspectedModel], texts: list[str], spec: AttentionSpec,
                      all_layers: bool, top_k: int,
                      batch_size: int = EVAL_BATCH_SIZE) -> SentenceReport:
    label_names = models[0].label_names
    per_model = []
    for model in models:
        data = encode(texts, [0] * len(texts), model.tokenizer, model.cfg.model.max_length)
        preds = predict(model.net(spec), data, batch_size, model.pad_id)
        by_layer = None
        if all_layers:
            by_layer = [predict(model.net(spec, layer), data, batch_size, model.pad_id)
                        for layer in range(num_layers(model.model))]
        per_model.append((model, preds, by_layer))
    sentences, warnings = [], []
    for i, text in enumerate(texts):
        words = text.split()
        shown = min(len(preds.attention[i]) for _, preds, _ in per_model)
        if shown == 0:
            raise UserError(f"Sentence {i + 1} has no word the model's tokenizer can encode.")
        if shown < len(words):
            limit = min(m.cfg.model.max_length for m in models)
            warnings.append(f"sentence {i + 1} is longer than the model's max length ({limit} "
                            f"tokens): only its first {shown} of {len(words)} words are shown.")
        readings = [reading(preds, i, label_names, shown, by_layer) for _, preds, by_layer in per_model]
        sentences.append(Sentence(text, words[:shown], readings, len(words) - shown))
    return SentenceReport([m.info(spec) for m in models], label_names, sentences, top_k, warnings)
