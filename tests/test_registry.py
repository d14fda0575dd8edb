"""The metric registry: one entry per metric, found by key."""

import math

import pytest

from afa_cli.metrics import registry


def test_keys_are_unique_and_found():
    entries = [*registry.SCORES, *registry.UNIFORM_REFERENCES, *registry.TRAINING, registry.WALL_SECONDS]
    keys = [m.key for m in entries if m is not registry.ATTN_ENTROPY]
    assert len(keys) == len(set(keys))
    assert all(registry.get(m.key) is m for m in entries)
    assert registry.get(registry.at(registry.BEST, registry.ACCURACY)) is registry.ACCURACY
    assert registry.at(registry.FINAL, registry.MACRO_F1) == "final_macro_f1"
    assert not registry.is_known("best_nothing")
    with pytest.raises(KeyError):
        registry.get("nothing")


def test_uniform_references_point_at_registered_metrics():
    for metric in registry.SCORES:
        if metric.uniform:
            assert registry.get(metric.uniform) in registry.UNIFORM_REFERENCES
    assert registry.uniform_value({"lexicon_mass_uniform": 0.2}, registry.LEXICON_PRECISION) == 0.2
    assert registry.uniform_value({}, registry.ACCURACY) is None
    shown = [m.key for m in registry.with_uniform_references(registry.SCORES)]
    assert shown == ["accuracy", "macro_f1", "lexicon_mass", "lexicon_mass_uniform", "frequent_mass",
                     "frequent_mass_uniform", f"lexicon_precision@{registry.TOP_K}", "attn_entropy"]


def test_format_uses_the_entrys_digits_and_says_n_a_for_undefined():
    assert registry.ACCURACY.format(0.85) == "0.8500"
    assert registry.WALL_SECONDS.format(12.6) == "13"
    assert registry.ACCURACY.format(0.85, digits=3) == "0.850"
    assert registry.ACCURACY.format(math.nan) == "n/a" and registry.ACCURACY.format(None) == "n/a"
