"""The load tester's column choice (``c4actors.loadtest.strategy``) makes exactly the choices
of the plain version it replaced (issue 17: the same seeded games, for less CPU): a win if
there is one (the leftmost), else a block, else a centre-weighted ``random.choices``."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from c4actors.loadtest.strategy import heuristic_column
from c4actors.rules import BB_COLUMN_BOTTOM, BB_COLUMNS, Board, Column

CENTRE_WEIGHTS = (1, 2, 3, 4, 3, 2, 1)


def has_four(stones: int) -> bool:
    for shift in (1, 7, 6, 8):
        pairs = stones & (stones >> shift)
        if pairs & (pairs >> (2 * shift)):
            return True
    return False


def plain_heuristic(board: Board, rng: random.Random) -> Column:
    """The choice as it was written first: try each open column in turn."""
    legal = board.legal_columns()
    occupied = board.bitboard1 | board.bitboard2
    if board.turn == 1:
        mine, theirs = board.bitboard1, board.bitboard2
    else:
        mine, theirs = board.bitboard2, board.bitboard1
    landing = [(occupied + BB_COLUMN_BOTTOM[c]) & BB_COLUMNS[c] for c in legal]
    for column, cell in zip(legal, landing, strict=True):
        if has_four(mine | cell):
            return column
    for column, cell in zip(legal, landing, strict=True):
        if has_four(theirs | cell):
            return column
    return rng.choices(legal, [CENTRE_WEIGHTS[c] for c in legal])[0]


@st.composite
def positions(draw: st.DrawFn) -> Board:
    """A position of a game not over, reached by legal moves (often with threats on it)."""
    board = Board.empty()
    for _ in range(draw(st.integers(0, 41))):
        legal = board.legal_columns()
        column = draw(st.sampled_from(legal))
        after = board.play(column)
        if after.is_over:
            break
        board = after
    return board


@given(positions(), st.integers(0, 2**32))
def test_the_choice_is_the_plain_versions_with_the_same_random_numbers(
    board: Board, seed: int
) -> None:
    ours, plain = random.Random(seed), random.Random(seed)
    for _ in range(3):
        assert heuristic_column(board, ours) == plain_heuristic(board, plain)
    assert ours.random() == plain.random()  # no random number more or less


def test_whole_seeded_games_are_the_same() -> None:
    for seed in range(200):
        ours, plain = random.Random(seed), random.Random(seed)
        board = Board.empty()
        while not board.is_over:
            column = heuristic_column(board, ours)
            assert column == plain_heuristic(board, plain)
            board = board.play(column)
