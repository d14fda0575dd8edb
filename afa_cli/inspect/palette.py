"""Colours shared by the terminal, HTML and PNG views, so that all three read the same way."""

from __future__ import annotations

WHITE = (255, 255, 255)
HEAT = (215, 48, 39)      # the most attended word of a sentence
GAIN = (33, 102, 172)     # the second model attends more
LOSS = (178, 24, 43)      # the second model attends less


def css(colour: tuple[int, int, int]) -> str:
    """The colour as CSS and rich understand it."""
    return "rgb({},{},{})".format(*colour)


def blend(colour: tuple[int, int, int], fraction: float) -> tuple[int, int, int]:
    """White at 0, `colour` at 1."""
    fraction = min(max(fraction, 0.0), 1.0)
    return tuple(round(w + (c - w) * fraction) for w, c in zip(WHITE, colour))


def heat(weight: float, scale: float) -> tuple[int, int, int]:
    return blend(HEAT, weight / scale if scale > 0 else 0.0)


def change(delta: float, scale: float) -> tuple[int, int, int]:
    return blend(GAIN if delta >= 0 else LOSS, abs(delta) / scale if scale > 0 else 0.0)


def ink(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever reads better on the background."""
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)
