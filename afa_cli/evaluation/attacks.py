"""Robustness to word-level perturbations, measured offline and deterministically: greedy
attacks in the style of TextAttack (Morris et al. 2020) with three transformations, character
edits (DeepWordBug, Gao et al. 2018), word deletion, and synonym swaps (PWWS, Ren et al. 2019),
and TextAttack's summary of the results.

The search, the same for every transformation: only examples the model classifies correctly
are attacked (the others are skipped); words are visited in decreasing leave-one-out importance
(the drop of the true-class probability when the word is deleted); at each word every candidate
replacement is scored and the strongest kept (one that flips the prediction, else the one that
lowers the true-class probability most), and only if it lowers that probability at all; the
attack succeeds as soon as the prediction flips and fails when the edit budget or the words run
out. Each word is edited at most once and stopwords are never edited. PWWS proper orders words
by a weighted saliency; here all three share the leave-one-out order so that they differ only
in the transformation."""

from __future__ import annotations

import csv
import string
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, fields
from enum import StrEnum
from pathlib import Path

import numpy as np

from afa_cli import files
from afa_cli.errors import UserError
from afa_cli.evaluation.faithfulness import (Scorer, leave_one_out, mean_or_nan,
                                             words_at_fraction)
from afa_cli.evaluation.wordnet import load_wordnet
from afa_cli.lexicon import normalize_word
from afa_cli.paths import shown_path
from afa_cli.progress import NoProgress, WorkProgress

# NLTK's English stopword list (179 words), spelled out so that attacks need no nltk.
STOPWORDS = frozenset("""
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
yourselves he him his himself she she's her hers herself it it's its itself they them their
theirs themselves what which who whom this that that'll these those am is are was were be been
being have has had having do does did doing a an the and but if or because as until while of at
by for with about against between into through during before after above below to from up down
in out on off over under again further then once here there when where why how all any both
each few more most other some such no nor not only own same so than too very s t can will just
don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't
doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't
needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
""".split())

DEFAULT_MAX_EDIT_FRACTION = 0.2

SynonymProvider = Callable[[str], list[str]]
# A word and the attack's random generator -> the words that may replace it ("" deletes it).
Transformation = Callable[[str, np.random.Generator], list[str]]


class Outcome(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    SKIPPED = "skipped"     # misclassified before any perturbation: nothing to attack


@dataclass(frozen=True)
class AttackRecord:
    original_text: str
    perturbed_text: str         # changed words marked [[like this]]; a deleted word reads [[]]
    label: int
    original_prediction: int
    perturbed_prediction: int
    outcome: Outcome
    words_perturbed: int
    num_words: int
    queries: int                # texts sent to the scorer for this example, the original included


# ---- transformations ---------------------------------------------------------------------------

def character_edits(word: str, rng: np.random.Generator) -> list[str]:
    """DeepWordBug's four edits at every position of the word (its surrounding punctuation
    kept): swap two neighbouring characters, delete one, insert a random letter, substitute a
    random letter. The random letters come from `rng`; edits that leave the word unchanged or
    empty are dropped."""
    prefix, core, suffix = _split_punctuation(word)
    letters = string.ascii_lowercase
    inserted = rng.integers(len(letters), size=len(core) + 1)
    substituted = rng.integers(len(letters), size=len(core))
    edits = [core[:i] + core[i + 1] + core[i] + core[i + 2:] for i in range(len(core) - 1)]
    edits += [core[:i] + core[i + 1:] for i in range(len(core))]
    edits += [core[:i] + letters[j] + core[i:] for i, j in enumerate(inserted)]
    edits += [core[:i] + letters[j] + core[i + 1:] for i, j in enumerate(substituted)]
    return list(dict.fromkeys(prefix + e + suffix for e in edits if e and e != core))


def word_deletion(word: str, rng: np.random.Generator) -> list[str]:
    """The word removed."""
    return [""]


def synonym_swaps(synonyms: SynonymProvider) -> Transformation:
    """PWWS's transformation: the word replaced by each of its synonyms. `synonyms` gets the
    normalised word (lowercase, no surrounding punctuation); the replacement keeps the word's
    punctuation and its case (all capitals, or an initial capital)."""
    def swaps(word: str, rng: np.random.Generator) -> list[str]:
        prefix, core, suffix = _split_punctuation(word)
        if not core:
            return []
        normal = normalize_word(word)
        return list(dict.fromkeys(prefix + _same_case(s, core) + suffix
                                  for s in synonyms(normal) if s and s.lower() != normal))
    return swaps


def _same_case(word: str, like: str) -> str:
    if len(like) > 1 and like.isupper():
        return word.upper()
    return word[:1].upper() + word[1:] if like[0].isupper() else word


def wordnet_synonyms() -> SynonymProvider:
    """Single-word WordNet synonyms of every part of speech, as TextAttack's WordSwapWordNet
    collects them (afa_cli/evaluation/wordnet.py says where WordNet is looked for); one line
    naming the install when there is none."""
    return load_wordnet().synonyms


def _split_punctuation(word: str) -> tuple[str, str, str]:
    core = word.strip(string.punctuation)
    start = len(word) - len(word.lstrip(string.punctuation))
    return word[:start], core, word[start + len(core):]


# ---- the attack --------------------------------------------------------------------------------

def attack(texts: Sequence[str], labels: Sequence[int], scorer: Scorer,
           transformation: Transformation, *, max_edit_fraction: float = DEFAULT_MAX_EDIT_FRACTION,
           max_edits: int | None = None, seed: int = 0,
           progress: WorkProgress | NoProgress = NoProgress()) -> list[AttackRecord]:
    """Attack every text (see the module docstring). Budget: at most
    ceil(max_edit_fraction x words) edited words (at least one, counted as ERASER counts k%),
    and at most `max_edits` when given. Deterministic: example i draws its random letters from
    default_rng([seed, i]), so an example's attack does not depend on the others.

    Scorer calls: all originals at once, all leave-one-out variants of the attacked examples at
    once, then, in lockstep, one call per round holding every unfinished example's candidates
    for its next word (batches of hundreds instead of one call per word of each example)."""
    if not texts:
        return []
    labels = np.asarray(labels, dtype=np.int64)
    probs = scorer(list(texts))
    predictions = probs.argmax(axis=1)
    sentences = [text.split() for text in texts]
    attacked = np.flatnonzero(predictions == labels)
    importances = leave_one_out([sentences[i] for i in attacked], scorer, probs[attacked],
                                labels[attacked])
    searches = {}
    for i, importance in zip(attacked.tolist(), importances):
        budget = words_at_fraction(len(sentences[i]), max_edit_fraction)
        searches[i] = _Search(texts[i], sentences[i], int(labels[i]), probs[i], importance,
                              min(budget, max_edits) if max_edits is not None else budget,
                              np.random.default_rng([seed, i]))
    progress.advance(len(texts) - len(searches))  # the skipped ones: nothing to attack
    active = list(searches.values())
    while active:
        asking = [(search, search.next_variants(transformation)) for search in active]
        asking = [(search, variants) for search, variants in asking if variants]
        progress.advance(len(active) - len(asking))  # out of words or budget
        if not asking:
            break
        scored = scorer([variant for _, variants in asking for variant in variants])
        start = 0
        for search, variants in asking:
            search.take(scored[start:start + len(variants)])
            start += len(variants)
        active = [search for search, _ in asking if not search.done]
        progress.advance(len(asking) - len(active))  # flipped
    return [searches[i].record() if i in searches else
            AttackRecord(text, text, int(labels[i]), int(predictions[i]), int(predictions[i]),
                         Outcome.SKIPPED, 0, len(sentences[i]), 1)
            for i, text in enumerate(texts)]


class _Search:
    """One example's greedy search, a word at a time: `next_variants` names the candidates for
    the next word worth trying, `take` keeps the strongest of them once they are scored."""

    def __init__(self, text: str, words: list[str], label: int, probs: np.ndarray,
                 importance: np.ndarray, budget: int, rng: np.random.Generator):
        self.text, self.words, self.label, self.budget, self.rng = text, words, label, budget, rng
        self.current = list(words)  # "" where a word was deleted
        self.changed: list[int] = []
        self.p_label, self.prediction = probs[label], label
        self.queries = 1 + len(words)  # the original and its leave-one-out variants
        self.order = iter(np.argsort(-importance, kind="stable").tolist())
        self.position, self.candidates = -1, []

    @property
    def done(self) -> bool:
        return self.prediction != self.label or len(self.changed) == self.budget

    def next_variants(self, transformation: Transformation) -> list[str]:
        """The texts with each candidate at the next word that has any; [] when none is left."""
        if self.done:
            return []
        for position in self.order:
            if normalize_word(self.words[position]) in STOPWORDS:
                continue
            candidates = transformation(self.words[position], self.rng)
            if candidates:
                self.position, self.candidates = position, candidates
                before, after = self.current[:position], self.current[position + 1:]
                return [" ".join(w for w in (*before, c, *after) if w) for c in candidates]
        return []

    def take(self, candidate_probs: np.ndarray) -> None:
        self.queries += len(candidate_probs)
        label = self.label
        flips = candidate_probs.argmax(axis=1) != label
        best = min(range(len(self.candidates)),
                   key=lambda j: (not flips[j], candidate_probs[j, label]))
        if not flips[best] and candidate_probs[best, label] >= self.p_label:
            return  # no candidate helps: leave the word as it is
        self.current[self.position] = self.candidates[best]
        self.changed.append(self.position)
        self.p_label, self.prediction = candidate_probs[best, label], int(candidate_probs[best].argmax())

    def record(self) -> AttackRecord:
        marked = " ".join(f"[[{w}]]" if i in self.changed else w
                          for i, w in enumerate(self.current))
        outcome = Outcome.SUCCESSFUL if self.prediction != self.label else Outcome.FAILED
        return AttackRecord(self.text, marked, self.label, self.label, self.prediction, outcome,
                            len(self.changed), len(self.words), self.queries)


# ---- reporting ---------------------------------------------------------------------------------

def attack_summary(records: Sequence[AttackRecord]) -> dict[str, float]:
    """TextAttack's "Attack Results" table with its meanings (attack_log_manager.log_summary),
    keys in snake_case and values unrounded; percentages in percent as TextAttack shows them.
    Accuracies are over all examples; the perturbed-word percentage over successful attacks;
    queries over the attacked (not skipped) examples; nan where nothing is averaged."""
    outcomes = [r.outcome for r in records]
    successful, failed, skipped = (outcomes.count(o) for o in
                                   (Outcome.SUCCESSFUL, Outcome.FAILED, Outcome.SKIPPED))
    total = len(records)
    perturbed = [100.0 * r.words_perturbed / r.num_words for r in records
                 if r.outcome is Outcome.SUCCESSFUL and r.num_words]
    queries = [r.queries for r in records if r.outcome is not Outcome.SKIPPED]
    return {
        "number_of_successful_attacks": successful,
        "number_of_failed_attacks": failed,
        "number_of_skipped_attacks": skipped,
        "original_accuracy": _percent(total - skipped, total),
        "accuracy_under_attack": _percent(failed, total),
        # TextAttack reports 0, not n/a, when nothing was attacked.
        "attack_success_rate": (_percent(successful, successful + failed)
                                if successful + failed else 0.0),
        "average_perturbed_word_percent": mean_or_nan(perturbed),
        "average_num_words_per_input": mean_or_nan([r.num_words for r in records]),
        "avg_num_queries": mean_or_nan(queries),
    }


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else float("nan")


def write_attack_csv(path: str | Path, records: Sequence[AttackRecord]) -> None:
    """One row per record, the record's fields as columns; written whole, never over a file."""
    if Path(path).exists():
        raise UserError(f"{shown_path(path)} already exists; choose a new file name.")
    with files.open_new(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f.name for f in fields(AttackRecord)])
        writer.writerows(astuple(r) for r in records)
