"""A study's figures as PNG bytes: a number per variant with error bars over seeds (validation
scores, each probe of a suite), and curves against a numeric key the variants differ in (the
learning curve over train.max_train_samples), drawn by afa sweep's plot."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from afa_cli.metrics.seeds import SeedStats
from afa_cli.sweep.plot import draw_metric
from afa_cli.sweep.summary import Group

DPI = 100            # 1,000-1,150 pixels wide: a laptop's page at full size
PANEL_COLUMNS = 3
LABEL_LIMIT = 32     # characters of a variant's tick label
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


@dataclass
class Panel:
    """One number per variant, e.g. a probe's headline metric."""

    title: str
    points: list[tuple[str, SeedStats]]   # (variant, mean ± std over its runs)


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _short(label: str) -> str:
    return label if len(label) <= LABEL_LIMIT else label[: LABEL_LIMIT - 1] + "…"


def panels(panels: Sequence[Panel], note: str) -> Figure:
    """A grid of small plots, one per panel: each variant's mean with a ±1 sample std error bar
    (none for a single run), in one colour per variant across the panels."""
    columns = min(PANEL_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    variants = list(dict.fromkeys(label for panel in panels for label, _ in panel.points))
    longest = max(len(_short(label)) for label in variants)
    figure = Figure(figsize=(11, rows * (2.6 + 0.055 * longest) + 0.4), layout="constrained")
    colour = {label: COLOURS[i % len(COLOURS)] for i, label in enumerate(variants)}
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        for x, (label, stats) in enumerate(panel.points):
            if stats.n:
                axes.errorbar([x], [stats.mean], yerr=[0.0 if math.isnan(stats.std) else stats.std],
                              fmt="o", capsize=4, color=colour[label])
        axes.set_xticks(range(len(panel.points)), [_short(label) for label, _ in panel.points],
                        rotation=35, ha="right", fontsize=8, parse_math=False)
        axes.set_xlim(-0.6, len(panel.points) - 0.4)
        axes.tick_params(axis="y", labelsize=8)
        axes.set_title(panel.title, fontsize=9, parse_math=False)
        axes.grid(alpha=0.3, axis="y")
    figure.suptitle(note, fontsize=9)
    return figure


def curve(groups: list[Group], key: str, metric: str, note: str) -> Figure | None:
    """`metric` against the numeric `key`, one line per variant (its other overrides), error
    bars over seeds; variants that do not set the key are dashed reference lines. A logarithmic
    axis when the values span ten times or more (training rows)."""
    figure = draw_metric(groups, key, metric, note)
    if figure is None:
        return None
    axes = figure.axes[0]
    values = sorted({float(g.values[key]) for g in groups if g.values.get(key)})
    if values and values[0] > 0 and values[-1] / values[0] >= 10:
        axes.set_xscale("log")
        axes.set_xticks(values, [f"{v:g}" for v in values])
        axes.minorticks_off()
    return figure
