"""Metrics: the registry every table reads (registry) and the scores themselves (scoring)."""
