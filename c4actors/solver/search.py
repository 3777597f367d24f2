"""Pascal Pons' Connect Four solver (http://blog.gamesolver.org), in pure Python.

Scores
------
Pons' convention, for the side to move: 0 for a draw; ``22 - k`` if the side to move wins
with its ``k``-th stone (so 18 is a win with one's fourth stone, the fastest there is); the
negation of the opponent's score if the opponent wins.  A higher score is better, and its size
says how soon the game ends, which is why the analysis can grade "the same verdict, but longer".

Method
------
Negamax with alpha-beta, on Pons' bitboards (``position.py``), with what made his solver fast:

* the search is never asked about a position whose side to move can win at once (the callers
  check), and only explores *non-losing* moves: a forced block, never a move under an
  opponent's winning cell;
* null-window searches (``alpha + 1 == beta``) driven from the top by a binary search on the
  score (``solve``), which prunes far more than one full-window search;
* a transposition table of upper and lower bounds, kept between calls in this process;
* moves ordered by how many winning cells they create, then centre first;
* the 12-ply book with distances (``book.py``) as an exact oracle at 12 stones, and a cache
  of exact scores from earlier calls (keyed by the position and its mirror) as another.

Nothing here is shared between processes and nothing is async: the server runs it in worker
processes, never in its event loop's thread.  The tables are bounded and simply cleared when
full (their entries are only ever hints or exact facts, so dropping them is always safe).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from c4actors.rules import BB_COLUMNS, CELLS
from c4actors.solver.book import BOOK_PLY, DistanceBook, OutcomeBook
from c4actors.solver.position import (
    BOARD_MASK,
    BOTTOM_MASK,
    Position,
    mirror,
    winning_cells,
)

# Centre first: central columns take part in more lines of four.
COLUMN_ORDER: Final = (3, 2, 4, 1, 5, 0, 6)
_COLUMN_MASKS: Final = tuple(BB_COLUMNS[c] for c in COLUMN_ORDER)

TABLE_LIMIT: Final = 1 << 19
"""Entries a bounds table may hold before it is cleared (some 40 MB of dict each)."""
EXACT_LIMIT: Final = 1 << 19
"""Exact scores kept (from earlier calls, the book, and the nodes just above it)."""
_CLOCK_EVERY: Final = 1023  # check the deadline once every 1,024 nodes


class SolverTimeout(Exception):
    """The search passed its deadline; the tables keep what it learnt, so a retry is cheaper."""


class SearchTables:
    """What the search remembers between calls in one process.

    ``upper`` and ``lower`` map a position's key to a bound on its score, found by an earlier
    window search; ``exact`` maps the keys of a position and of its mirror image to a score
    proven exactly.  All three only ever hold true facts, so clearing one is always safe.
    """

    def __init__(self) -> None:
        self.upper: dict[int, int] = {}
        self.lower: dict[int, int] = {}
        self.exact: dict[int, int] = {}

    def trim(self) -> None:
        if len(self.upper) > TABLE_LIMIT:
            self.upper.clear()
        if len(self.lower) > TABLE_LIMIT:
            self.lower.clear()
        if len(self.exact) > EXACT_LIMIT:
            self.exact.clear()

    def remember(self, current: int, mask: int, score: int) -> None:
        self.exact[current + mask] = score
        self.exact[mirror(current) + mirror(mask)] = score


def win_score(moves: int) -> int:
    """The score of winning with the next stone, ``moves`` stones being on the board."""
    return (CELLS + 1 - moves) // 2


def _make_negamax(
    tables: SearchTables,
    book: DistanceBook | OutcomeBook | None,
    deadline: float | None,
) -> tuple[Callable[[int, int, int, int, int], int], list[int]]:
    """A negamax closed over one call's tables, book and deadline, and its node counter.

    A closure rather than a class: reading closed-over names is measurably faster in CPython
    than attribute lookups, and this function is the whole cost of solving.
    """
    upper = tables.upper
    lower = tables.lower
    exact = tables.exact
    bottom_mask = BOTTOM_MASK
    board_mask = BOARD_MASK
    column_masks = _COLUMN_MASKS
    cells = CELLS
    book_ply = BOOK_PLY
    distance = book.score if isinstance(book, DistanceBook) else None
    outcome = book.outcome if isinstance(book, OutcomeBook) else None
    monotonic = time.monotonic
    counter = [0]

    def negamax(current: int, mask: int, moves: int, alpha: int, beta: int) -> int:
        """The score if it lies in ``(alpha, beta)``; otherwise a bound on the same side.

        Precondition: the side to move cannot win with its next stone.
        """
        nodes = counter[0] = counter[0] + 1
        if not nodes & _CLOCK_EVERY and deadline is not None and monotonic() > deadline:
            raise SolverTimeout("the solver ran out of time")

        possible = (mask + bottom_mask) & board_mask
        opponent = current ^ mask
        opponent_wins = winning_cells(opponent, mask)
        forced = possible & opponent_wins
        if forced:
            if forced & (forced - 1):  # two threats at once: nothing saves the game
                return -((cells - moves) // 2)
            possible = forced
        possible &= ~(opponent_wins >> 1)
        if not possible:  # every move lets the opponent win at once
            return -((cells - moves) // 2)
        if moves >= cells - 2:
            return 0

        key = current + mask
        known = exact.get(key)
        if known is not None:
            return known
        if moves == book_ply:
            if distance is not None:
                score = distance(current, mask)
                if score is not None:
                    exact[key] = score
                    return score
            elif outcome is not None:
                score = exact[key] = outcome(current, mask)
                return score

        low = -((cells - 2 - moves) // 2)  # the opponent cannot win with its next stone
        if alpha < low:
            alpha = low
            if alpha >= beta:
                return alpha
        high = (cells - 1 - moves) // 2  # nor can the side to move
        bound = upper.get(key)
        if bound is not None and bound < high:
            high = bound
        if beta > high:
            beta = high
            if alpha >= beta:
                return beta
        bound = lower.get(key)
        if bound is not None and alpha < bound:
            alpha = bound
            if alpha >= beta:
                return alpha

        # Order: more winning cells made first, centre first among equals.
        if possible & (possible - 1):
            candidates = []
            for index, column_mask in enumerate(column_masks):
                move = possible & column_mask
                if move:
                    threats = winning_cells(current | move, mask).bit_count()
                    candidates.append((-threats, index, move))
            candidates.sort()
            ordered = [move for _, _, move in candidates]
        else:
            ordered = [possible]

        opponent_moves = moves + 1
        for move in ordered:
            score = -negamax(opponent, mask | move, opponent_moves, -beta, -alpha)
            if score >= beta:
                lower[key] = score
                return score
            if score > alpha:
                alpha = score
        upper[key] = alpha
        return alpha

    return negamax, counter


def score_position(
    position: Position,
    *,
    tables: SearchTables,
    book: DistanceBook | None,
    deadline: float | None = None,
) -> int:
    """The exact score of ``position`` for the side to move (the game must not be over).

    Pons' driver: a binary search on the score with null-window negamax calls, each probe
    narrowing ``[low, high]`` until it closes.  Probing near zero first pays off, because a
    probe that proves only "at least a draw" is cheap.
    """
    current, mask, moves = position.current, position.mask, position.moves
    if moves >= CELLS:
        return 0
    if winning_cells(current, mask) & ((mask + BOTTOM_MASK) & BOARD_MASK):
        return win_score(moves)
    known = tables.exact.get(current + mask)
    if known is not None:
        return known
    tables.trim()
    if moves == BOOK_PLY and book is not None:
        stored = book.score(current, mask)
        if stored is not None:
            return stored
    negamax, _ = _make_negamax(tables, book, deadline)
    low = -((CELLS - moves) // 2)
    high = (CELLS + 1 - moves) // 2
    while low < high:
        middle = low + (high - low) // 2
        if middle <= 0 and low // 2 < middle:
            middle = low // 2
        elif middle >= 0 and high // 2 > middle:
            middle = high // 2
        result = negamax(current, mask, moves, middle, middle + 1)
        if result <= middle:
            high = result
        else:
            low = result
    tables.remember(current, mask, low)
    return low


def outcome_of(
    position: Position,
    *,
    tables: SearchTables,
    book: OutcomeBook | None,
    deadline: float | None = None,
) -> int:
    """1, 0 or -1: whether the side to move wins, draws or loses (the game must not be over).

    A weak solve: one search with the window ``(-1, 1)``, which only has to tell a win from a
    draw from a loss, so it is usually much faster than the exact score.  It shares no bounds
    table with ``score_position`` (its bounds are on the sign, not the score).
    """
    current, mask, moves = position.current, position.mask, position.moves
    if moves >= CELLS:
        return 0
    if winning_cells(current, mask) & ((mask + BOTTOM_MASK) & BOARD_MASK):
        return 1
    if moves == BOOK_PLY and book is not None:
        return book.outcome(current, mask)
    negamax, _ = _make_negamax(tables, book, deadline)
    tables.trim()
    result = negamax(current, mask, moves, -1, 1)
    return (result > 0) - (result < 0)


def count_nodes(position: Position, tables: SearchTables, book: DistanceBook | None) -> int:
    """The nodes one full exact solve of ``position`` visits (for the benchmark)."""
    negamax, counter = _make_negamax(tables, book, None)
    current, mask, moves = position.current, position.mask, position.moves
    low = -((CELLS - moves) // 2)
    high = (CELLS + 1 - moves) // 2
    while low < high:
        middle = low + (high - low) // 2
        if middle <= 0 and low // 2 < middle:
            middle = low // 2
        elif middle >= 0 and high // 2 > middle:
            middle = high // 2
        result = negamax(current, mask, moves, middle, middle + 1)
        if result <= middle:
            high = result
        else:
            low = result
    return counter[0]
