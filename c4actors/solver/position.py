"""A Connect Four position for searching: two ints, in the rules engine's bitboard layout.

``rules.Board`` is the referee: immutable, it keeps the move list and works out the winning
line.  A search needs far less and far faster, so this is Pascal Pons' representation: the
stones of the player to move (``current``) and every stone (``mask``), in the same layout as
``c4actors/rules.py`` (column ``c`` owns bits ``7c .. 7c + 6``, the top one a sentinel that is
never set).  The player to move is implicit, which is what lets one negamax function serve
both sides.

The helpers below work on the raw ints so the search can call them without making objects;
``Position`` wraps them for callers (the CLI, the bots) that want a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import attrs

from c4actors.rules import (
    BB_ALL,
    BB_COLUMN_BOTTOM,
    BB_COLUMN_TOP,
    BB_COLUMNS,
    CELLS,
    COLUMNS,
    ROWS,
    Bitboard,
    Board,
    Column,
    IllegalMoveError,
)

_H: Final = ROWS  # the shifts below are Pons' HEIGHT, HEIGHT + 1 and HEIGHT + 2
_H1: Final = ROWS + 1
_H2: Final = ROWS + 2

BOTTOM_MASK: Final[Bitboard] = sum(BB_COLUMN_BOTTOM)
BOARD_MASK: Final[Bitboard] = BB_ALL

MIN_SCORE: Final = -(CELLS // 2) + 3
"""The lowest score of any position: losing to the opponent's fourth stone."""
MAX_SCORE: Final = (CELLS + 1) // 2 - 3
"""The highest: winning with one's own fourth stone."""


def winning_cells(position: Bitboard, mask: Bitboard) -> Bitboard:
    """The empty cells that would complete a four for the owner of ``position``.

    Pons' ``compute_winning_position``: for each direction, shift the stones by one, two and
    three steps and AND them, so a bit survives where three stones line up with it.  Python's
    ints are unbounded, so shifts past the board only make bits that the final mask drops.
    """
    r = (position << 1) & (position << 2) & (position << 3)

    p = (position << _H1) & (position << 2 * _H1)
    r |= p & (position << 3 * _H1)
    r |= p & (position >> _H1)
    p = (position >> _H1) & (position >> 2 * _H1)
    r |= p & (position << _H1)
    r |= p & (position >> 3 * _H1)

    p = (position << _H) & (position << 2 * _H)
    r |= p & (position << 3 * _H)
    r |= p & (position >> _H)
    p = (position >> _H) & (position >> 2 * _H)
    r |= p & (position << _H)
    r |= p & (position >> 3 * _H)

    p = (position << _H2) & (position << 2 * _H2)
    r |= p & (position << 3 * _H2)
    r |= p & (position >> _H2)
    p = (position >> _H2) & (position >> 2 * _H2)
    r |= p & (position << _H2)
    r |= p & (position >> 3 * _H2)

    return r & (BOARD_MASK ^ mask)


def mirror(bitboard: Bitboard) -> Bitboard:
    """The bitboard reflected left to right (column ``c`` becomes ``6 - c``)."""
    mirrored = 0
    for column in range(COLUMNS):
        mirrored |= ((bitboard >> (column * _H1)) & 0x7F) << ((COLUMNS - 1 - column) * _H1)
    return mirrored


def key_of(current: Bitboard, mask: Bitboard) -> int:
    """A unique key of a position: ``current + mask``.

    Per column, ``mask`` is ``2**h - 1`` and ``current`` a subset of it, so the sum lies in
    ``[2**h - 1, 2**(h+1) - 2]``: distinct heights give disjoint ranges, nothing carries into
    the next column, and the sum identifies the position (Pons' key).
    """
    return current + mask


@attrs.frozen(slots=True)
class Position:
    """An immutable position for searching: the side to move's stones, all stones, the count.

    Unlike ``rules.Board`` it keeps no move list and no outcome; ``play`` does not check that
    the game is still on (``is_winning_move`` is how a caller finds out before playing).
    """

    current: Bitboard
    mask: Bitboard
    moves: int

    @classmethod
    def empty(cls) -> Position:
        return cls(0, 0, 0)

    @classmethod
    def from_moves(cls, columns: Iterable[Column]) -> Position:
        """The position after ``columns`` (0-based) from the empty board.

        Raises ``IllegalMoveError`` (a ``ValueError``) for a move the rules refuse, including
        any move after the game was won.
        """
        return cls.from_board(Board.from_moves(columns))

    @classmethod
    def from_board(cls, board: Board) -> Position:
        """The same position as a rules engine ``Board``."""
        count = len(board.moves)
        current = board.bitboard1 if count % 2 == 0 else board.bitboard2
        return cls(current, board.bitboard1 | board.bitboard2, count)

    def can_play(self, column: Column) -> bool:
        """True if ``column`` (0..6) is not full."""
        return not self.mask & BB_COLUMN_TOP[column]

    def legal_columns(self) -> list[Column]:
        """The columns that are not full, left to right (whether or not the game was won)."""
        mask = self.mask
        return [c for c in range(COLUMNS) if not mask & BB_COLUMN_TOP[c]]

    def play(self, column: Column) -> Position:
        """The position after the side to move drops a stone in ``column``.

        Raises ``IllegalMoveError`` for a full or invalid column.
        """
        if not 0 <= column < COLUMNS or self.mask & BB_COLUMN_TOP[column]:
            raise IllegalMoveError("column_full", f"column {column} cannot be played")
        mask = self.mask | (self.mask + BB_COLUMN_BOTTOM[column])
        return Position(self.current ^ self.mask, mask, self.moves + 1)

    def is_winning_move(self, column: Column) -> bool:
        """True if dropping a stone in ``column`` (not full) makes four for the side to move."""
        move = (self.mask + BB_COLUMN_BOTTOM[column]) & BB_COLUMNS[column]
        return bool(winning_cells(self.current, self.mask) & move)

    def can_win_next(self) -> bool:
        """True if the side to move has a winning move."""
        return bool(winning_cells(self.current, self.mask) & self.possible())

    def possible(self) -> Bitboard:
        """The cells where a stone can be dropped now, one per column that is not full."""
        return (self.mask + BOTTOM_MASK) & BOARD_MASK

    def opponent_stones(self) -> Bitboard:
        return self.current ^ self.mask

    def key(self) -> int:
        """The unique key of this position (see ``key_of``)."""
        return self.current + self.mask

    def mirror_key(self) -> int:
        """The key of the mirror image: equal to ``key()`` for a symmetric position."""
        return mirror(self.current) + mirror(self.mask)

    def canonical_key(self) -> int:
        """The smaller of the two keys: the same for a position and its mirror image."""
        return min(self.key(), self.mirror_key())

    @property
    def is_full(self) -> bool:
        return self.moves >= CELLS


def columns_text(moves: Sequence[Column]) -> str:
    """The moves as Pons writes them: 1-based column digits, ``[3, 3]`` is ``"44"``."""
    return "".join(str(c + 1) for c in moves)
