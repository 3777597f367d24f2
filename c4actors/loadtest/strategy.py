"""How a simulated player picks its column: uniformly at random, or a cheap heuristic.

The heuristic (the default) plays a winning move if it has one, blocks the opponent's
immediate win if there is one, and otherwise prefers central columns, so games are not cut
short by blunders.  It reads the position's bitboards (layout in ``c4actors.rules``) with the
classic shift-and-AND four test instead of trying each column with ``Board.play``, which costs
three to four times more: the load tester runs it once per move on a single core.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final, TypeAlias

from c4actors.rules import BB_COLUMN_BOTTOM, BB_COLUMNS, Board, Column

from .settings import Strategy

ChooseColumn: TypeAlias = Callable[[Board, random.Random], Column]

_CENTRE_WEIGHTS: Final = (1, 2, 3, 4, 3, 2, 1)
# Bit distances between neighbouring cells: up a column, along a row, and both diagonals.
_SHIFTS: Final = (1, 7, 6, 8)


def _has_four(stones: int) -> bool:
    for shift in _SHIFTS:
        pairs = stones & (stones >> shift)
        if pairs & (pairs >> (2 * shift)):
            return True
    return False


def random_column(board: Board, rng: random.Random) -> Column:
    """Any legal column, uniformly."""
    return rng.choice(board.legal_columns())


def heuristic_column(board: Board, rng: random.Random) -> Column:
    """Win now, else block an immediate win, else a centre-weighted random column."""
    legal = board.legal_columns()
    occupied = board.bitboard1 | board.bitboard2
    if board.turn == 1:
        mine, theirs = board.bitboard1, board.bitboard2
    else:
        mine, theirs = board.bitboard2, board.bitboard1
    landing = [(occupied + BB_COLUMN_BOTTOM[c]) & BB_COLUMNS[c] for c in legal]
    for column, cell in zip(legal, landing, strict=True):
        if _has_four(mine | cell):
            return column
    for column, cell in zip(legal, landing, strict=True):
        if _has_four(theirs | cell):
            return column
    weights = [_CENTRE_WEIGHTS[column] for column in legal]
    return rng.choices(legal, weights)[0]


STRATEGIES: Final[dict[Strategy, ChooseColumn]] = {
    "random": random_column,
    "heuristic": heuristic_column,
}
