"""Colours shared by the terminal, HTML and PNG renderers, so that all three read the same way."""

from __future__ import annotations

Colour = tuple[int, int, int]

WHITE = (255, 255, 255)
HEAT = (215, 48, 39)      # the most attended word of a sentence
GAIN = (33, 102, 172)     # the second model attends more
LOSS = (178, 24, 43)      # the second model attends less


def css(colour: Colour) -> str:
    """The colour as CSS and rich understand it."""
    return "rgb({},{},{})".format(*colour)


def blend(colour: Colour, fraction: float) -> Colour:
    """White at 0, `colour` at 1."""
    fraction = min(max(fraction, 0.0), 1.0)
    return tuple(round(w + (c - w) * fraction) for w, c in zip(WHITE, colour))


def sign(value: float) -> Colour:
    return GAIN if value >= 0 else LOSS


def heat(weight: float, scale: float) -> Colour:
    return blend(HEAT, weight / scale if scale > 0 else 0.0)


def change(delta: float, scale: float) -> Colour:
    return blend(sign(delta), abs(delta) / scale if scale > 0 else 0.0)


def shade(value: float, scale: float, signed: bool) -> Colour:
    """A heatmap cell: a change coloured by its sign, anything else by its size."""
    return change(value, scale) if signed else heat(value, scale)


def bar(value: float, signed: bool) -> Colour:
    return sign(value) if signed else HEAT


def gradient(signed: bool, steps: int) -> list[Colour]:
    """Evenly spaced colours of a scale: white to full heat, or loss through white to gain."""
    fractions = [i / (steps - 1) for i in range(steps)]
    return [shade(2 * f - 1 if signed else f, 1.0, signed) for f in fractions]


def ink(background: Colour) -> Colour:
    """Black or white text, whichever reads better on the background."""
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)
