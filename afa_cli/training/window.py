"""The training diagnostics of one logging window: per-step statistics averaged over the
window (and over processes), examples/s, and the attention-collapse warning."""

from __future__ import annotations

import math
import time

import torch

from afa_cli import distributed
from afa_cli.metrics import registry


def window_mean(values: list[float]) -> float:
    """Mean over a logging window, ignoring undefined steps (NaN when none is defined)."""
    defined = [v for v in values if not math.isnan(v)]
    return sum(defined) / len(defined) if defined else float("nan")


class MetricsWindow:
    def __init__(self, collapse_entropy: float):
        self.collapse_entropy = collapse_entropy
        self._reset()

    def _reset(self) -> None:
        self.values: dict[str, list[float]] = {}
        self.examples = 0
        self.start = time.perf_counter()

    def add(self, stats: dict[str, float | torch.Tensor], examples: int) -> None:
        """Statistics may be 0-dim device tensors: they are read once, when the window closes."""
        for key, value in stats.items():
            self.values.setdefault(key, []).append(value)
        self.examples += examples

    def close(self, ctx: distributed.Context) -> tuple[dict[str, float], str | None]:
        """(the window's means, a warning when attention is collapsing); starts a new window.
        Collective under data parallelism."""
        means = ctx.mean({k: window_mean([float(x) for x in v]) for k, v in self.values.items()})
        means[registry.EXAMPLES_PER_S.key] = self.examples / (time.perf_counter() - self.start)
        entropy = means.get(registry.ATTN_ENTROPY.key, float("nan"))
        warning = None
        if entropy < self.collapse_entropy:
            warning = (f"attention collapsing: normalised entropy {entropy:.3f} < "
                       f"{self.collapse_entropy} (raise afa.entropy_weight or lower afa.pg_weight)")
        self._reset()
        return means, warning
