"""summary.png: one metric against the first swept key, one line per combination of the other
swept keys, error bars over seeds; groups without a value on that axis (such as afa=off in a
mask-ratio sweep) become horizontal reference lines."""

from __future__ import annotations

import itertools
import math
from matplotlib.figure import Figure

# Dark neutral tones, apart from the colours of the swept series.
REFERENCE_COLORS = ("0.2", "0.5", "saddlebrown", "darkslategray")


def _label(values: dict[str, str], skip: str | None = None) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if v and k != skip)


def _is_reference(values: dict[str, str], x_key: str | None) -> bool:
    """Drawn across the whole axis: no value on it, or the plain fine-tuning baseline."""
    return not x_key or not values.get(x_key) or (x_key == "afa" and values[x_key] == "off")


def _as_numbers(labels: list[str]) -> list[float] | None:
    try:
        return [float(label) for label in labels]
    except ValueError:
        return None


def draw_metric(groups, x_key: str | None, metric: str, note: str) -> Figure | None:
    """The plot, or None when no job has the metric yet."""
    points = [(group.values, *group.stats(metric)) for group in groups]
    points = [point for point in points if point[3] > 0]
    if not points:
        return None
    figure = Figure(figsize=(7.5, 4.5))
    axes = figure.add_subplot()
    on_axis = [p for p in points if x_key and p[0].get(x_key)]
    categories = list(dict.fromkeys(values[x_key] for values, *_ in on_axis))
    numeric = _as_numbers(categories)
    position = dict(zip(categories, numeric or range(len(categories))))
    series: dict[str, list[tuple[float, float, float]]] = {}
    for values, mean, std, _ in on_axis:
        series.setdefault(_label(values, skip=x_key) or f"{x_key} sweep", []).append(
            (position[values[x_key]], mean, 0.0 if math.isnan(std) else std))
    for index, (label, xs_means_stds) in enumerate(series.items()):
        xs, means, stds = zip(*sorted(xs_means_stds))
        if numeric is None:  # categories: unconnected points, series side by side
            shift = 0.08 * (index - (len(series) - 1) / 2)
            xs = [x + shift for x in xs]
        axes.errorbar(xs, means, yerr=stds, marker="o", capsize=4, label=label,
                      linestyle="-" if numeric is not None else "none")
    references = [p for p in points if _is_reference(p[0], x_key)]
    for (values, mean, std, n), color in zip(references, itertools.cycle(REFERENCE_COLORS)):
        axes.axhline(mean, linestyle="--", linewidth=1.2, color=color,
                     label=f"{_label(values) or 'all jobs'} (n={n})")
        if not math.isnan(std):
            axes.axhspan(mean - std, mean + std, color=color, alpha=0.12)
    if categories and numeric is None:
        axes.set_xticks(range(len(categories)), categories)
        axes.set_xlim(-0.5, len(categories) - 0.5)
    axes.set_xlabel(x_key or "")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} ({note})", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure
