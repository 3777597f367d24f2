"""Token colours: the palette players choose from, and who gets which colour in a game.

Pure code.  "Too close" is measured as the CIE76 distance between two colours in
CIE L*a*b* space, which tracks how different two colours *look* far better than
a distance between RGB values does.  About one man in twelve has a red-green colour
deficiency, so two colours must also stay apart as a protanope or a deuteranope sees
them (simulated with Machado, Oliveira and Fernandes' 2009 matrices at full severity):
red against green, 113 apart for most people, is 12 apart for a deuteranope.  The board
marks each player's tokens with a shape too (www/style.css), so colour is never the only cue.
"""

from __future__ import annotations

import functools
import math
from typing import Final

from protocol.messages import Colors

PALETTE: Final[dict[str, str]] = {
    "red": "#d7263d",
    "yellow": "#f2c40f",
    "orange": "#f77f00",
    "green": "#2b9348",
    "teal": "#0fa3b1",
    "blue": "#1f5fd6",
    "purple": "#7b2cbf",
    "pink": "#e0529c",
    "brown": "#8d5524",
    "black": "#1b1b1b",
}
"""Name -> CSS colour. Each stands out against the board and against the others."""

DEFAULT_PLAYER1: Final = "red"
DEFAULT_PLAYER2: Final = "yellow"
TOO_CLOSE: Final = 40.0
"""Colours nearer than this (CIE76 delta E) are hard to tell apart on the board."""
CVD_TOO_CLOSE: Final = 20.0
"""Colours nearer than this as a protanope or deuteranope sees them are refused as a pair.
Lower than ``TOO_CLOSE`` because simulated vision compresses every distance; 20 falls in
the palette's clear gap (red/green, red/brown, blue/purple, yellow/orange, teal/pink,
green/brown are all under 16, every other pair over 25)."""

Matrix = tuple[tuple[float, float, float], ...]
DEFICIENCIES: Final[dict[str, Matrix]] = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
}
"""Machado et al. (2009), severity 1.0, applied to linear RGB."""


def is_color(name: str) -> bool:
    return name in PALETTE


def _linear_rgb(hex_color: str) -> tuple[float, float, float]:
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return r, g, b


@functools.cache  # a few palette colours, each seen three ways: every game start asks
def _lab(hex_color: str, deficiency: str | None = None) -> tuple[float, float, float]:
    r, g, b = _linear_rgb(hex_color)
    if deficiency is not None:
        m = DEFICIENCIES[deficiency]
        r, g, b = (min(1.0, max(0.0, row[0] * r + row[1] * g + row[2] * b)) for row in m)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def distance(a: str, b: str) -> float:
    """Perceptual distance between two palette colours (by name)."""
    return math.dist(_lab(PALETTE[a]), _lab(PALETTE[b]))


def cvd_distance(a: str, b: str) -> float:
    """The smaller distance between two palette colours as protanopes or deuteranopes see them."""
    return min(math.dist(_lab(PALETTE[a], kind), _lab(PALETTE[b], kind)) for kind in DEFICIENCIES)


@functools.cache  # palette names only (any other raises): a hundred pairs at most
def distinguishable(a: str, b: str) -> bool:
    """Can two players tell these tokens apart, colour-blind players included?"""
    return distance(a, b) >= TOO_CLOSE and cvd_distance(a, b) >= CVD_TOO_CLOSE


def assign_colors(player1: str | None, player2: str | None) -> tuple[str, str]:
    """Colour names for a game, from the players' preferences (None for a guest).

    Player 1 (the challenged user) always gets their preference.  Player 2 gets
    theirs unless it is the same as or too close to player 1's (``distinguishable``, for
    colour-blind eyes too); then the palette colour nearest to their preference that is
    distinguishable from player 1's.
    """
    first = player1 if player1 in PALETTE else DEFAULT_PLAYER1
    wanted = player2 if player2 in PALETTE else DEFAULT_PLAYER2
    if distinguishable(first, wanted):
        return first, wanted
    if player2 is None and distinguishable(first, DEFAULT_PLAYER1):
        # A guest facing someone who took yellow gets red, the other default.
        return first, DEFAULT_PLAYER1
    distinct = [name for name in PALETTE if distinguishable(first, name)]
    return first, min(distinct, key=lambda name: distance(wanted, name))


def css_colors(player1: str, player2: str) -> Colors:
    return Colors(player1=PALETTE[player1], player2=PALETTE[player2])
