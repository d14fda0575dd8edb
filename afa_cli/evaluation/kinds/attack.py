"""Attack: a greedy perturbation attack (character edits, word deletion or synonym swaps) on the
rows the model gets right; accuracy under attack and TextAttack's summary fields, in percent."""

from __future__ import annotations

import numpy as np

from afa_cli.evaluation import attacks
from afa_cli.evaluation.kinds import Measured, PairedBy, ProbeKind
from afa_cli.evaluation.suites import Perturbation
from afa_cli.metrics import registry


def measure(probe, rows, max_length, context) -> Measured:
    transformation = _transformation(Perturbation(probe.perturbation))
    with context.progress(f"attacking ({probe.perturbation})", len(rows.texts)) as progress:
        records = attacks.attack(rows.texts, rows.labels, context.scorer(max_length),
                                 transformation, max_edit_fraction=probe.max_edit_fraction,
                                 seed=probe.seed, progress=progress)
    csv_path = context.out_folder / f"{probe.name}.csv"
    attacks.write_attack_csv(csv_path, records)
    correct = np.array([r.perturbed_prediction == r.label for r in records], dtype=bool)
    return Measured(attacks.attack_summary(records), correct, [csv_path.name])


def _transformation(perturbation: Perturbation) -> attacks.Transformation:
    if perturbation == Perturbation.characters:
        return attacks.character_edits
    if perturbation == Perturbation.deletion:
        return attacks.word_deletion
    return attacks.synonym_swaps(attacks.wordnet_synonyms())


KIND = ProbeKind(
    "attack", measure, registry.ACCURACY_UNDER_ATTACK,
    columns=(("original_accuracy", "acc%"), ("accuracy_under_attack", "attacked%"),
             ("attack_success_rate", "success%"), ("average_perturbed_word_percent", "words%"),
             ("avg_num_queries", "queries")),
    legend="acc%: accuracy before the attack; attacked%: accuracy under attack; success%: "
           "attacks that flipped a right prediction; words%: words edited per successful "
           "attack; queries: model calls per attacked input",
    paired_by=PairedBy.PREDICTIONS,
    skippable=True)
