"""The colour palette and how two players' colours are assigned (``c4actors.colors``)."""

from __future__ import annotations

import itertools

from c4actors.colors import (
    CVD_TOO_CLOSE,
    DEFICIENCIES,
    PALETTE,
    TOO_CLOSE,
    _lab,
    assign_colors,
    cvd_distance,
    distance,
    distinguishable,
)


def test_colors_player1_keeps_their_choice_and_clashes_are_resolved() -> None:
    assert assign_colors(None, None) == ("red", "yellow")
    assert assign_colors("green", "purple") == ("green", "purple")
    assert assign_colors("yellow", None) == ("yellow", "red")
    for first in PALETTE:
        for second in [*PALETTE, None]:
            got1, got2 = assign_colors(first, second)
            assert got1 == first
            assert distance(got1, got2) >= TOO_CLOSE
            assert cvd_distance(got1, got2) >= CVD_TOO_CLOSE
            if second is not None and distinguishable(first, second):
                assert got2 == second
    # Same colour, and two that are too close: the nearest distinct colour instead.
    same = assign_colors("blue", "blue")[1]
    assert same != "blue"
    assert distance("blue", "purple") < TOO_CLOSE
    close = assign_colors("blue", "purple")[1]
    others = [c for c in PALETTE if distance("blue", c) >= TOO_CLOSE]
    assert close == min(others, key=lambda c: distance("purple", c))


def test_every_palette_pair_is_judged_for_colour_blind_eyes_too() -> None:
    """The rule on every pair: a pair is allowed exactly when it is far apart for typical
    vision and as a protanope and a deuteranope see it; assign never gives a refused pair."""
    refused = set()
    for a, b in itertools.combinations(PALETTE, 2):
        far = distance(a, b) >= TOO_CLOSE and cvd_distance(a, b) >= CVD_TOO_CLOSE
        assert distinguishable(a, b) == distinguishable(b, a) == far, (a, b)
        if not far:
            refused.add(frozenset((a, b)))
            assert assign_colors(a, b) != (a, b)
            assert assign_colors(b, a) != (b, a)
    # The classic confusions are refused although typical vision finds them far apart.
    for a, b in [("red", "green"), ("red", "brown"), ("green", "brown"), ("teal", "pink")]:
        assert distance(a, b) >= TOO_CLOSE
        assert frozenset((a, b)) in refused, (a, b)
    # The defaults stay a pair anyone can tell apart.
    assert distinguishable("red", "yellow")
    # Every colour still has partners to choose from.
    for a in PALETTE:
        assert sum(distinguishable(a, b) for b in PALETTE if b != a) >= 4, a


def test_the_simulations_leave_greys_grey() -> None:
    """A sanity check of the matrices: each row sums to 1, so white, black and greys map to
    themselves, and a simulated colour differs from the original only in hue."""
    for matrix in DEFICIENCIES.values():
        for row in matrix:
            assert abs(sum(row) - 1) < 1e-3
    for grey in ("#000000", "#808080", "#ffffff"):
        for kind in DEFICIENCIES:
            assert all(abs(x - y) < 0.5 for x, y in zip(_lab(grey, kind), _lab(grey), strict=True))
