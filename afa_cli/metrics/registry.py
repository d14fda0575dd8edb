"""Every metric afa reports, once: its key, the label tables show, how it is formatted, which
direction is better, and the key of its value under uniform attention where there is one.

Eval tables, the training display, sweep summaries, inspect reports and the results renderer
read these entries; adding a metric is one entry here (and its computation in scoring.py or the
method's statistics)."""

from __future__ import annotations

import math
from dataclasses import dataclass

TOP_K = 5  # lexicon precision is measured over the k most attended words


@dataclass(frozen=True)
class Metric:
    key: str                          # the name in metrics.jsonl, summary.json and reports
    label: str                        # a column title
    description: str
    higher_is_better: bool | None = None   # None: neither (a diagnostic)
    digits: int = 4
    uniform: str | None = None        # the key of this metric's value under uniform attention
    percent: bool = False             # in percent (0-100), as attack summaries give it

    def improves(self, value: float | None, best: float | None) -> bool:
        """`value` is better than `best` (None: nothing yet) in this metric's direction; an
        undefined value never is."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return best is None or (value > best if self.higher_is_better else value < best)

    def format(self, value: float | None, digits: int | None = None, signed: bool = False) -> str:
        """A value for tables: undefined values (no sentence of two words) read n/a; `signed`
        for a change, which shows its + too."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        return f"{value:{'+' if signed else ''}.{self.digits if digits is None else digits}f}"


# ---- classification ----------------------------------------------------------------------------
ACCURACY = Metric("accuracy", "accuracy", "share of examples classified correctly", True)
MACRO_F1 = Metric("macro_f1", "macro-F1", "F1 averaged over the classes", True)

# ---- attention quality (word attention at the policy layer's query row) ------------------------
LEXICON_MASS_UNIFORM = Metric("lexicon_mass_uniform", "lexicon mass (uniform)",
                              "share of words in the sentiment lexicon: lexicon mass under "
                              "uniform attention")
FREQUENT_MASS_UNIFORM = Metric("frequent_mass_uniform", "frequent mass (uniform)",
                               "share of words among the 100 most frequent training words")
LEXICON_MASS = Metric("lexicon_mass", "lexicon mass", "share of attention on sentiment-lexicon "
                      "words", True, uniform=LEXICON_MASS_UNIFORM.key)
FREQUENT_MASS = Metric("frequent_mass", "frequent mass", "share of attention on the 100 most "
                       "frequent training words", False, uniform=FREQUENT_MASS_UNIFORM.key)
# Under uniform attention the expected precision@k is the lexicon share of the words.
LEXICON_PRECISION = Metric(f"lexicon_precision@{TOP_K}", f"lexicon P@{TOP_K}",
                           f"share of the {TOP_K} most attended words that are lexicon words",
                           True, uniform=LEXICON_MASS_UNIFORM.key)
ATTN_ENTROPY = Metric("attn_entropy", "attn entropy", "normalised attention entropy (1 = uniform)")

CLASSIFICATION = (ACCURACY, MACRO_F1)
ATTENTION = (LEXICON_MASS, FREQUENT_MASS, LEXICON_PRECISION, ATTN_ENTROPY)
UNIFORM_REFERENCES = (LEXICON_MASS_UNIFORM, FREQUENT_MASS_UNIFORM)
# The scores of one split, in the order every table shows them.
SCORES = CLASSIFICATION + ATTENTION
# What a validation line of the training display shows.
VALIDATION_LINE = (ACCURACY, MACRO_F1, LEXICON_MASS, FREQUENT_MASS)

# ---- training diagnostics (means over a logging window) ----------------------------------------
LOSS = Metric("loss", "loss", "the target's whole loss", False)
LOSS_CLS = Metric("loss_cls", "classification loss", "cross-entropy on the originals", False)
LOSS_PG = Metric("loss_pg", "policy loss", "policy-gradient loss L_pg")
LOSS_D = Metric("loss_d", "discriminator loss", "the discriminator's BCE")
LOSS_MASKED_CE = Metric("loss_masked_ce", "masked-copy loss", "cross-entropy on the masked copies")
ATTN_TOP1 = Metric("attn_top1", "attn top-1", "largest word attention weight")
MASK_ENTROPY = Metric("mask_entropy", "mask entropy", "entropy of the mask policy q")
REWARD_MEAN = Metric("reward_mean", "reward", "mean reward of the masked copies")
ADV_STD = Metric("adv_std", "advantage std", "spread of the advantages before scaling")
D_ACC_ORIGINAL = Metric("d_acc_original", "D acc (original)", "D's accuracy on originals")
D_ACC_MASKED = Metric("d_acc_masked", "D acc (masked)", "D's accuracy on masked copies")
LR = Metric("lr", "learning rate", "the target's learning rate", digits=6)
EXAMPLES_PER_S = Metric("examples_per_s", "examples/s", "training throughput", True, digits=1)

TRAINING = (LOSS, LOSS_CLS, LOSS_PG, LOSS_D, LOSS_MASKED_CE, ATTN_ENTROPY, ATTN_TOP1, MASK_ENTROPY,
            REWARD_MEAN, ADV_STD, D_ACC_ORIGINAL, D_ACC_MASKED, LR, EXAMPLES_PER_S)
# What a training line of the display shows.
TRAINING_LINE = (LOSS, LOSS_PG, LOSS_D, ATTN_ENTROPY, EXAMPLES_PER_S)

# ---- the numbers suite probes are compared by (each probe kind names its own) -------------------
PAIR_CONSISTENCY = Metric("pair_consistency", "pair consistency", "share of counterfactual "
                          "pairs with both the original and its revision right", True)
ACCURACY_UNDER_ATTACK = Metric("accuracy_under_attack", "accuracy under attack", "accuracy "
                               "on the attacked rows after the attack", True, digits=2,
                               percent=True)
ATTENTION_COMPREHENSIVENESS = Metric("attention.comprehensiveness_aopc", "attention "
                                     "comprehensiveness", "ERASER comprehensiveness AOPC of the "
                                     "attention ranking", True)

# ---- a run as a whole (summary.json, sweep summaries) ------------------------------------------
WALL_SECONDS = Metric("wall_seconds", "wall s", "a sweep job's wall time, resumes included",
                      False, digits=0)
BEST, FINAL = "best", "final"  # the evaluation at the best checkpoint, the last evaluation


def at(evaluation: str, metric: Metric) -> str:
    """The key of a run-level number, e.g. best_accuracy: `metric` at the `evaluation`."""
    return f"{evaluation}_{metric.key}"


# The number runs are compared by unless asked otherwise: the accuracy of the checkpoint kept.
DEFAULT_RUN_METRIC = at(BEST, ACCURACY)


_ALL = {m.key: m for m in (*SCORES, *UNIFORM_REFERENCES, *TRAINING, WALL_SECONDS)}


def get(key: str) -> Metric:
    """The entry for a key; run-level keys (best_accuracy) give their metric's entry."""
    if key in _ALL:
        return _ALL[key]
    for evaluation in (BEST, FINAL):
        if key.startswith(f"{evaluation}_") and key.removeprefix(f"{evaluation}_") in _ALL:
            return _ALL[key.removeprefix(f"{evaluation}_")]
    raise KeyError(key)


def is_known(key: str) -> bool:
    try:
        get(key)
    except KeyError:
        return False
    return True


def uniform_value(metrics: dict, metric: Metric) -> float | None:
    """metric's value under uniform attention in these scores, None where it has none."""
    return metrics.get(metric.uniform) if metric.uniform else None


def with_uniform_references(metrics: tuple[Metric, ...]) -> list[Metric]:
    """The metrics, each uniform reference right after the first metric that refers to it."""
    shown: list[Metric] = []
    for metric in metrics:
        shown.append(metric)
        reference = get(metric.uniform) if metric.uniform else None
        if reference is not None and reference not in shown:
            shown.append(reference)
    return shown
