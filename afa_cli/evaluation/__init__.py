"""Measurements beyond a split's scores: robustness, faithfulness, pairs, frequency, statistics."""
