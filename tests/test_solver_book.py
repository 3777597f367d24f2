"""The mmap'd opening books: their format, their point of view, and agreement with search.

The two pitfalls the books set (values are for player 1, who moves at ply 12; and in the
win/draw/loss book a missing position is a player 1 win) are each pinned by a test that
compares with an independent source: the package's own encoder, the other book, the search.
"""

from __future__ import annotations

import random

import pytest

# The package's own reader is the reference for the file format.
from bitbully_databases import BitBullyDatabases  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from c4actors.rules import Board
from c4actors.solver import Position
from c4actors.solver.book import BOOK_PLY, distance_book, encode, outcome_book
from c4actors.solver.search import SearchTables, score_position
from tests.solver_positions import columns

# Positions of 12 stones whose exact score a book-free search proves in well under a
# second (found by random play), with that score.
QUICK_TWELVE = (
    ("251751112251", 12),
    ("743457252634", -15),
    ("221446441562", -15),
    ("141633211453", -10),
    ("735655572477", 13),
    ("147125367242", 9),
    ("753364775237", 12),
    ("244234745312", -10),
)


def twelve_ply_board(seed: int) -> Board:
    """A random game's board after 12 moves, the game still on and nobody able to win at once."""
    rng = random.Random(seed)
    while True:
        board = Board()
        while len(board.moves) < BOOK_PLY and not board.is_over:
            board = board.play(rng.choice(board.legal_columns()))
        if not board.is_over and not Position.from_board(board).can_win_next():
            return board


def _matrix(board: Board) -> list[list[int]]:
    return [[0 if ch == "." else int(ch) for ch in row] for row in board.to_rows()]


@settings(max_examples=100)
@given(st.integers(0, 2**32 - 1))
def test_encoding_matches_the_package_reference(seed: int) -> None:
    board = twelve_ply_board(seed)
    reference = BitBullyDatabases._to_huffman(_matrix(board))
    mirrored = BitBullyDatabases._to_huffman(BitBullyDatabases._mirror_horiz(_matrix(board)))
    assert encode(board.bitboard1, board.bitboard1 | board.bitboard2) == reference
    assert encode(board.bitboard1, board.bitboard1 | board.bitboard2, mirrored=True) == mirrored


def test_package_examples_read_for_player_one() -> None:
    # The package's docstring: "71 for player 1 to win in 29 moves", "-88: lose in 12".
    win = [
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 0],
        [0, 1, 0, 2, 0, 0, 0],
        [0, 2, 0, 1, 0, 2, 0],
        [0, 1, 0, 2, 0, 1, 0],
        [0, 2, 0, 1, 0, 2, 0],
    ]
    loss = [
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 0, 0, 0],
        [0, 0, 2, 2, 0, 0, 0],
        [0, 1, 2, 1, 0, 0, 0],
        [0, 1, 1, 2, 0, 2, 2],
    ]
    book = distance_book()
    for matrix, raw, score in ((win, 71, 1), (loss, -88, -10)):
        player1, mask = _bitboards(matrix)
        assert book.raw_value(player1, mask) == raw
        # 29 plies after ply 12 is stone 41, player 1's 21st: Pons' 22 - 21 = 1.  Losing in
        # 12 plies is player 2's 12th stone: -(22 - 12).
        assert book.score(player1, mask) == score


def _bitboards(matrix: list[list[int]]) -> tuple[int, int]:
    player1 = mask = 0
    for row_from_top, row in enumerate(matrix):
        for column, cell in enumerate(row):
            if cell:
                bit = 1 << (column * 7 + 5 - row_from_top)
                mask |= bit
                if cell == 1:
                    player1 |= bit
    return player1, mask


@pytest.mark.parametrize(("moves", "expected"), QUICK_TWELVE)
def test_distance_book_agrees_with_a_search_without_it(moves: str, expected: int) -> None:
    position = Position.from_moves(columns(moves))
    searched = score_position(position, tables=SearchTables(), book=None)
    assert searched == expected
    assert distance_book().score(position.current, position.mask) == expected
    sign = (expected > 0) - (expected < 0)
    assert outcome_book().outcome(position.current, position.mask) == sign


@settings(max_examples=200)
@given(st.integers(0, 2**32 - 1))
def test_the_two_books_agree(seed: int) -> None:
    board = twelve_ply_board(seed)
    position = Position.from_board(board)
    exact = distance_book().score(position.current, position.mask)
    assert exact is not None, "the distance book holds every such position"
    assert outcome_book().outcome(position.current, position.mask) == (exact > 0) - (exact < 0)


def test_a_player_one_win_is_missing_from_the_outcome_book_and_read_as_a_win() -> None:
    position = Position.from_moves(columns("251751112251"))  # 12 for player 1, from QUICK_TWELVE
    entries = outcome_book()._entries
    for mirrored in (False, True):
        assert entries.find(encode(position.current, position.mask, mirrored=mirrored)) is None
    assert outcome_book().outcome(position.current, position.mask) == 1


def test_encode_refuses_other_plies() -> None:
    position = Position.from_moves(columns("4455"))
    with pytest.raises(ValueError, match="12 stones"):
        encode(position.current, position.mask)
