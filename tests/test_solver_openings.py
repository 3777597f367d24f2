"""The shipped table of opening scores (``c4actors/solver/opening_scores.py``)."""

from __future__ import annotations

import random

from c4actors.solver import Position
from c4actors.solver.book import distance_book
from c4actors.solver.opening_scores import SCORES
from c4actors.solver.openings import OPENING_PLY, opening_positions
from c4actors.solver.search import SearchTables, drive


def test_the_table_covers_every_opening_position_up_to_mirror_images() -> None:
    positions = opening_positions()
    assert len(positions) == 1 + 4 + 25 + 121 + 568
    assert set(SCORES) == set(positions)
    assert max(p.moves for p in positions.values()) == OPENING_PLY


def test_published_scores_of_the_empty_board_and_the_first_moves() -> None:
    # The first player wins with the last stone; each first move's score, for its player,
    # is -2, -1, 0, 1, 0, -1, -2 from left to right (Pons' solver).
    assert SCORES[Position.empty().canonical_key()] == 1
    after = [-SCORES[Position.from_moves([c]).canonical_key()] for c in range(7)]
    assert after == [-2, -1, 0, 1, 0, -1, -2]


def test_a_sample_agrees_with_the_search() -> None:
    rng = random.Random(4)
    deepest = [p for p in opening_positions().values() if p.moves == OPENING_PLY]
    for position in rng.sample(deepest, 3):
        searched = drive(position, SearchTables(size=100_003), distance_book())
        assert searched == SCORES[position.canonical_key()]
