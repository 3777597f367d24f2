"""Token colours: the palette players choose from, and who gets which colour in a game.

Pure code.  "Too close" is measured as the CIE76 distance between two colours in
CIE L*a*b* space, which tracks how different two colours *look* far better than
a distance between RGB values does.
"""

from __future__ import annotations

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


def is_color(name: str) -> bool:
    return name in PALETTE


def _lab(hex_color: str) -> tuple[float, float, float]:
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
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


def assign_colors(player1: str | None, player2: str | None) -> tuple[str, str]:
    """Colour names for a game, from the players' preferences (None for a guest).

    Player 1 (the challenged user) always gets their preference.  Player 2 gets
    theirs unless it is the same as or too close to player 1's; then the palette
    colour nearest to their preference that is distinct from player 1's.
    """
    first = player1 if player1 in PALETTE else DEFAULT_PLAYER1
    wanted = player2 if player2 in PALETTE else DEFAULT_PLAYER2
    if distance(first, wanted) >= TOO_CLOSE:
        return first, wanted
    if player2 is None and distance(first, DEFAULT_PLAYER1) >= TOO_CLOSE:
        # A guest facing someone who took yellow gets red, the other default.
        return first, DEFAULT_PLAYER1
    distinct = [name for name in PALETTE if distance(first, name) >= TOO_CLOSE]
    return first, min(distinct, key=lambda name: distance(wanted, name))


def css_colors(player1: str, player2: str) -> Colors:
    return Colors(player1=PALETTE[player1], player2=PALETTE[player2])
