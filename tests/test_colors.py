"""The colour palette and how two players' colours are assigned (``c4actors.colors``)."""

from __future__ import annotations

from c4actors.colors import PALETTE, TOO_CLOSE, assign_colors, distance


def test_colors_player1_keeps_their_choice_and_clashes_are_resolved() -> None:
    assert assign_colors(None, None) == ("red", "yellow")
    assert assign_colors("green", "purple") == ("green", "purple")
    assert assign_colors("yellow", None) == ("yellow", "red")
    for first in PALETTE:
        for second in [*PALETTE, None]:
            got1, got2 = assign_colors(first, second)
            assert got1 == first
            assert distance(got1, got2) >= TOO_CLOSE
            if second is not None and distance(first, second) >= TOO_CLOSE:
                assert got2 == second
    # Same colour, and two that are too close: the nearest distinct colour instead.
    same = assign_colors("blue", "blue")[1]
    assert same != "blue"
    assert distance("blue", "purple") < TOO_CLOSE
    close = assign_colors("blue", "purple")[1]
    others = [c for c in PALETTE if distance("blue", c) >= TOO_CLOSE]
    assert close == min(others, key=lambda c: distance("purple", c))
