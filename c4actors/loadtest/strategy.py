"""How a simulated player picks its column: uniformly at random, or a cheap heuristic.

The heuristic (the default) plays a winning move if it has one, blocks the opponent's
immediate win if there is one, and otherwise prefers central columns, so games are not cut
short by blunders.  It reads the position's bitboards (layout in ``c4actors.rules``) with the
classic shift-and-AND four test instead of trying each column with ``Board.play``, which costs
three to four times more: the load tester runs it once per move on a single core.  All the
cells that would complete a four are found at once for each player (``_four_makers``) and
matched against every column's landing cell in one AND, and the centre weights' cumulative
sums are prepared per set of open columns, so a move costs a fixed handful of integer
operations (issue 17: at 100 closed-loop games the tester's CPU set the moves/s).  The
choices, and so the seeded games, are exactly those of trying each column in turn with
``random.Random.choices`` (``tests/test_loadtest_strategy.py``).
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable
from itertools import accumulate
from typing import Final, TypeAlias

from c4actors.rules import (
    BB_ALL,
    BB_COLUMN_BOTTOM,
    BB_COLUMN_TOP,
    COLUMNS,
    ROWS,
    Board,
    Column,
    bit_index,
)

from .settings import Strategy

ChooseColumn: TypeAlias = Callable[[Board, random.Random], Column]

_CENTRE_WEIGHTS: Final = (1, 2, 3, 4, 3, 2, 1)
# Bit distances between neighbouring cells: up a column, along a row, and both diagonals.
_SHIFTS: Final = (1, 7, 6, 8)


def random_column(board: Board, rng: random.Random) -> Column:
    """Any legal column, uniformly."""
    return rng.choice(board.legal_columns())


_BOTTOMS: Final = sum(BB_COLUMN_BOTTOM)
_TOPS: Final = sum(BB_COLUMN_TOP)
_COLUMN_OF_CELL: Final = {
    1 << bit_index(row, column): column for column in range(COLUMNS) for row in range(ROWS)
}


def _open_columns(tops: int) -> tuple[tuple[Column, ...], tuple[int, ...], float]:
    """For the top-row cells ``tops`` taken: the open columns left to right, the cumulative
    sums of their centre weights and the total, as ``random.Random.choices`` makes them."""
    legal = tuple(c for c in range(COLUMNS) if not tops & BB_COLUMN_TOP[c])
    cumulative = tuple(accumulate(_CENTRE_WEIGHTS[c] for c in legal))
    return legal, cumulative, (cumulative[-1] + 0.0) if cumulative else 0.0


_OPEN_COLUMNS: Final = {
    tops: _open_columns(tops)
    for tops in (
        sum(BB_COLUMN_TOP[c] for c in range(COLUMNS) if taken >> c & 1)
        for taken in range(1 << COLUMNS)
    )
}
"""Every set of full columns (keyed by its top-row cells) -> ``_open_columns``."""


def _four_makers(stones: int) -> int:
    """Every cell that would complete a four of ``stones`` if it were theirs (cells taken
    and off the board included: the caller keeps the landing cells).  Vertically only the
    three below count: a landing cell has nothing above it."""
    cells = (stones << 1) & (stones << 2) & (stones << 3)
    for shift in _SHIFTS[1:]:
        pair = (stones << shift) & (stones << 2 * shift)
        cells |= pair & ((stones << 3 * shift) | (stones >> shift))
        pair = (stones >> shift) & (stones >> 2 * shift)
        cells |= pair & ((stones << shift) | (stones >> 3 * shift))
    return cells


def heuristic_column(board: Board, rng: random.Random) -> Column:
    """Win now, else block an immediate win, else a centre-weighted random column (the
    leftmost win or block when there are several).  For a game not over."""
    bitboard1, bitboard2 = board.bitboard1, board.bitboard2
    occupied = bitboard1 | bitboard2
    if len(board.moves) & 1:
        mine, theirs = bitboard2, bitboard1
    else:
        mine, theirs = bitboard1, bitboard2
    # Each column's next free cell at once: the carry stops on it (or in the sentinel row
    # above a full column, which ``BB_ALL`` leaves out).
    landing = (occupied + _BOTTOMS) & BB_ALL
    wins = _four_makers(mine) & landing
    if not wins:
        wins = _four_makers(theirs) & landing
    if wins:
        return _COLUMN_OF_CELL[wins & -wins]  # the lowest bit: the leftmost column
    legal, cumulative, total = _OPEN_COLUMNS[occupied & _TOPS]
    return legal[bisect(cumulative, rng.random() * total, 0, len(legal) - 1)]


STRATEGIES: Final[dict[Strategy, ChooseColumn]] = {
    "random": random_column,
    "heuristic": heuristic_column,
}
