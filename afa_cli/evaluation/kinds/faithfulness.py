"""Faithfulness: ERASER's comprehensiveness and sufficiency (AOPC over thresholds) of four word
rankings (attention, leave-one-out, lexicon, random), and how far attention agrees with
leave-one-out."""

from __future__ import annotations

from afa_cli.evaluation.context import predictions
from afa_cli.evaluation.faithfulness import (ERASER_THRESHOLDS, eraser_faithfulness,
                                             kendall_agreement, leave_one_out, lexicon_ranking,
                                             random_ranking)
from afa_cli.evaluation.kinds import Measured, PairedBy, ProbeKind
from afa_cli.metrics import registry

RANKINGS = ("attention", "leave_one_out", "lexicon", "random")


def measure(probe, rows, max_length, context) -> Measured:
    metrics, preds = predictions(rows, max_length, context, "scoring faithfulness")
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
    return Measured(result, None, [])


KIND = ProbeKind(
    "faithfulness", measure, registry.ATTENTION_COMPREHENSIVENESS,
    columns=(("attention.comprehensiveness_aopc", "attn comp"),
             ("attention.sufficiency_aopc", "attn suff"),
             ("leave_one_out.comprehensiveness_aopc", "LOO comp"),
             ("lexicon.comprehensiveness_aopc", "lex comp"),
             ("random.comprehensiveness_aopc", "rand comp"),
             ("kendall_tau_attention_leave_one_out", "tau")),
    legend="words ranked by attn (attention), LOO (leave-one-out), lex (lexicon words first) or "
           "rand (at random); comp: comprehensiveness AOPC, the probability drop when the "
           "top-ranked words are removed (higher: the ranking found what the prediction rests "
           "on); suff: sufficiency AOPC, the drop when only they are kept (lower is better); "
           "tau: Kendall tau of attention and leave-one-out",
    paired_by=PairedBy.SEEDS)
