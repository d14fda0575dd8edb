"""One probe of a suite on one loaded checkpoint: its rows, then the measurement its kind
makes (afa_cli/evaluation/kinds)."""

from __future__ import annotations

from omegaconf import DictConfig

from afa_cli.data import subsample
from afa_cli.evaluation.context import ProbeContext
from afa_cli.evaluation.kinds import probe_kind
from afa_cli.evaluation.results import ProbeResult
from afa_cli.evaluation.suites import ProbeConfig


def run_probe(probe: ProbeConfig, dataset: DictConfig, context: ProbeContext) -> ProbeResult:
    rows = subsample(context.load_rows(dataset, probe.split), probe.limit, dataset.split_seed)
    max_length = probe.max_length or context.loaded.cfg.model.max_length
    measured = probe_kind(probe.kind).measure(probe, rows, max_length, context)
    return ProbeResult(probe=probe.name, kind=probe.kind, dataset=dataset.name,
                       split=probe.split, num_examples=len(rows.texts), metrics=measured.metrics,
                       correct=measured.correct, files=measured.files)
