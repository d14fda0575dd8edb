"""One probe of a suite on one loaded checkpoint: its rows, the model as a scorer of texts, and
the measurement the probe's kind names. Returns numbers (and, for paired statistics, which
examples the model got right)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from afa_cli.commands import EVAL_BATCH_SIZE
from afa_cli.commands.checkpoint import LoadedCheckpoint
from afa_cli.data import Split, encode, load_split, subsample
from afa_cli.display import NoProgress, WorkProgress
from afa_cli.evaluation import attacks
from afa_cli.evaluation.faithfulness import (ERASER_THRESHOLDS, eraser_faithfulness,
                                             kendall_agreement, leave_one_out, lexicon_ranking,
                                             random_ranking)
from afa_cli.evaluation.frequency import frequency_profile
from afa_cli.evaluation.pairs import pair_scores
from afa_cli.evaluation.results import HEADLINE, ProbeResult  # noqa: F401 (HEADLINE: for callers)
from afa_cli.evaluation.suites import Perturbation, ProbeConfig, ProbeKind
from afa_cli.errors import UserError
from afa_cli.metrics import registry
from afa_cli.metrics.scoring import evaluate, predict
from afa_cli.models import AttendingClassifier

RANKINGS = ("attention", "leave_one_out", "lexicon", "random")


@dataclass
class ProbeContext:
    """What every probe of one checkpoint shares."""

    loaded: LoadedCheckpoint
    train_ranking: list[str] | None  # the run's training words by frequency (None: not here)
    out_folder: Path                # where a probe's files (attack CSVs) go
    console: object = None          # progress over examples, when given
    batch_size: int = EVAL_BATCH_SIZE
    # reads a dataset's split; a suite passes one that reads each split once for all its runs
    load_rows: Callable[[DictConfig, str], Split] = load_split

    def progress(self, label: str, total: int, unit: str = "rows") -> WorkProgress | NoProgress:
        return WorkProgress(self.console, label, total, unit) if self.console else NoProgress()

    @property
    def net(self) -> AttendingClassifier:
        return self.loaded.scoring_net()

    def scorer(self, max_length: int, progress: WorkProgress | NoProgress = NoProgress()):
        """Texts -> class probabilities [N, C], in batches, without the tokeniser's disk cache
        (an attack's variants are scored once); `progress` advances by the texts scored."""
        net = self.net

        def score(texts: list[str]) -> np.ndarray:
            data = encode(texts, [0] * len(texts), self.loaded.tokenizer, max_length,
                          cached=False)
            return predict(net, data, self.batch_size, self.loaded.pad_id,
                           progress=progress).probs
        return score


def run_probe(probe: ProbeConfig, dataset: DictConfig, context: ProbeContext) -> ProbeResult:
    rows = subsample(context.load_rows(dataset, probe.split), probe.limit, dataset.split_seed)
    max_length = probe.max_length or context.loaded.cfg.model.max_length
    kind = ProbeKind(probe.kind)
    if kind == ProbeKind.attack:
        metrics, correct, files = _attack(probe, rows, max_length, context)
    elif kind == ProbeKind.faithfulness:
        metrics, correct, files = _faithfulness(probe, rows, max_length, context), None, []
    else:
        metrics, correct, files = *_scores(kind, rows, max_length, context), []
    return ProbeResult(probe.name, kind.value, dataset.name, probe.split, len(rows.texts),
                       metrics, correct, files)


def _predictions(rows: Split, max_length: int, context: ProbeContext, label: str):
    loaded = context.loaded
    data = encode(rows.texts, rows.labels, loaded.tokenizer, max_length)
    truncated = sum(length >= max_length for length in data.lengths())
    with context.progress(label, len(data)) as progress:
        metrics, preds = evaluate(context.net, data, rows.texts, loaded.label_names,
                                  loaded.frequent_words(rows.texts), context.batch_size,
                                  loaded.pad_id, progress=progress)
    metrics["truncated_rows"] = truncated
    metrics["max_length"] = max_length
    return metrics, preds


def _scores(kind: ProbeKind, rows: Split, max_length: int, context: ProbeContext):
    metrics, preds = _predictions(rows, max_length, context, f"scoring {kind.value}")
    if context.train_ranking is not None:  # else no bins rather than all words "unseen"
        metrics.update(frequency_profile(rows.texts, preds.attention,
                                         context.train_ranking).as_dict())
    if kind == ProbeKind.pairs:
        if rows.pair_ids is None:
            raise UserError(f"a pairs probe needs a dataset with dataset.pair_col set; "
                            f"{rows.source} has no pairs.")
        metrics.update(pair_scores(rows.pair_ids, rows.labels, preds.labels).as_dict())
    return metrics, preds.labels == np.asarray(rows.labels)


def _transformation(perturbation: Perturbation) -> attacks.Transformation:
    if perturbation == Perturbation.characters:
        return attacks.character_edits
    if perturbation == Perturbation.deletion:
        return attacks.word_deletion
    return attacks.synonym_swaps(attacks.wordnet_synonyms())


def _attack(probe: ProbeConfig, rows: Split, max_length: int, context: ProbeContext):
    transformation = _transformation(Perturbation(probe.perturbation))
    with context.progress(f"attacking ({probe.perturbation})", len(rows.texts)) as progress:
        records = attacks.attack(rows.texts, rows.labels, context.scorer(max_length),
                                 transformation, max_edit_fraction=probe.max_edit_fraction,
                                 seed=probe.seed, progress=progress)
    csv_path = context.out_folder / f"{probe.name}.csv"
    attacks.write_attack_csv(csv_path, records)
    correct = np.array([r.perturbed_prediction == r.label for r in records], dtype=bool)
    return attacks.attack_summary(records), correct, [csv_path.name]


def _faithfulness(probe: ProbeConfig, rows: Split, max_length: int, context: ProbeContext) -> dict:
    metrics, preds = _predictions(rows, max_length, context, "scoring faithfulness")
    # the words the model saw: a truncated text is measured on its first len(attention) words
    sentences = [text.split()[: len(weights)] for text, weights in zip(rows.texts, preds.attention)]
    kept = [i for i, words in enumerate(sentences) if len(words) >= 2]
    sentences = [sentences[i] for i in kept]
    attention = [preds.attention[i][: len(sentences[k])] for k, i in enumerate(kept)]
    # every text scored below: the sentences, each without one word, and per ranking and
    # ERASER threshold each with its top words removed and with only them kept
    texts = (len(sentences) + sum(map(len, sentences))
             + len(RANKINGS) * 2 * len(ERASER_THRESHOLDS) * len(sentences))
    with context.progress("faithfulness", texts, unit="texts") as progress:
        scorer = context.scorer(max_length, progress)
        full = scorer([" ".join(words) for words in sentences])
        importance = leave_one_out(sentences, scorer, full, full.argmax(axis=1))
        rankings = dict(zip(RANKINGS, (attention, importance, lexicon_ranking(sentences),
                                       random_ranking(sentences, probe.seed))))
        result = {"sentences": len(sentences),
                  "kendall_tau_attention_leave_one_out": kendall_agreement(attention, importance)}
        for name, ranking in rankings.items():
            scores = eraser_faithfulness(sentences, ranking, scorer, full).as_dict()
            result.update({f"{name}.{key}": value for key, value in scores.items()})
    result.update({key: metrics[key] for key in (registry.ACCURACY.key, "truncated_rows")})
    return result
