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
* moves ordered by how many winning cells they create, then centre first (centre first only
  once few cells are left, where counting costs more than it saves);
* enhanced transposition cutoffs: a child whose stored bound already refutes the window
  settles the node before any child is searched;
* the 12-ply book with distances (``book.py``) as an exact oracle at 12 stones, and a cache
  of exact scores from earlier calls (keyed by the position and its mirror) as another.

Nothing here is shared between processes and nothing is async: the server runs it in worker
processes, never in its event loop's thread.  The tables are bounded and simply cleared when
full (their entries are only ever hints or exact facts, so dropping them is always safe).
"""

from __future__ import annotations

import array
import time
from collections.abc import Callable
from typing import Final

from c4actors.rules import BB_COLUMNS, CELLS
from c4actors.solver.book import BOOK_PLY, DistanceBook, OutcomeBook
from c4actors.solver.opening_scores import SCORES as OPENING_SCORES
from c4actors.solver.openings import OPENING_PLY
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

TABLE_SIZE: Final = 2_097_143
"""Slots of the bounds table: a prime, so ``key % size`` mixes every column into the slot."""
SIGN_TABLE_SIZE: Final = 1_048_573
"""Slots of the win/draw/loss search's own table (a prime too; that search is shallower)."""
EXACT_LIMIT: Final = 1 << 18
"""Exact scores kept (from earlier calls and the book) before that dict is cleared."""
_CLOCK_EVERY: Final = 1023  # check the deadline once every 1,024 nodes
_STATIC_ORDER_AFTER: Final = 28  # stones beyond which moves are tried centre first only
_BOUND_BIAS: Final = 64  # a stored bound is score + 64, so 0 can mean "none"


class SolverTimeout(Exception):
    """The search passed its deadline; the tables keep what it learnt, so a retry is cheaper."""


class SearchTables:
    """What the search remembers between calls in one process.

    The bounds table is Pons' transposition table: fixed-size, one slot per ``key % size``,
    a newer position simply replacing an older one, so its memory is fixed (about 21 MB: the
    keys in an ``array`` of int64, the bounds in two ``bytearray``s) and it never has to be
    cleared wholesale, which lets the seven children of a position, and the next move's,
    share what earlier searches proved.  ``exact`` maps the keys of a position and of its
    mirror image to a proven score.  Everything held is a true fact about its key, so
    replacing or dropping entries is always safe.
    """

    def __init__(self, size: int = TABLE_SIZE) -> None:
        self.size = size
        self.keys = array.array("q", bytes(8 * size))
        self.lower = bytearray(size)
        self.upper = bytearray(size)
        self.exact: dict[int, int] = {}

    def trim(self) -> None:
        if len(self.exact) > EXACT_LIMIT:
            self.exact.clear()

    def remember(self, current: int, mask: int, score: int) -> None:
        self.exact[current + mask] = score
        self.exact[mirror(current) + mirror(mask)] = score


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise SolverTimeout("the solver ran out of time")


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
    tt_size = tables.size
    tt_keys = tables.keys
    tt_lower = tables.lower
    tt_upper = tables.upper
    bias = _BOUND_BIAS
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
    exact_get = exact.get
    # Centre first: rank 6 for the middle column down to 0 for the outermost.
    column_ranks = tuple((6 - index, mask) for index, mask in enumerate(column_masks))
    move_bits = (1 << 49) - 1

    def negamax(current: int, mask: int, moves: int, alpha: int, beta: int) -> int:
        """The score if it lies in ``(alpha, beta)``; otherwise a bound on the same side.

        Precondition: the side to move cannot win with its next stone.  The shifts of
        ``winning_cells`` are written out here, twice: a call per node costs more than they do.
        """
        nodes = counter[0] = counter[0] + 1
        if not nodes & _CLOCK_EVERY and deadline is not None and monotonic() > deadline:
            raise SolverTimeout("the solver ran out of time")

        key = current + mask
        known = exact_get(key)
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

        # The opponent's winning cells (winning_cells(opponent, mask), inlined).
        o = current ^ mask
        r = (o << 1) & (o << 2) & (o << 3)
        t = (o << 7) & (o << 14)
        r |= t & (o << 21)
        r |= t & (o >> 7)
        t = (o >> 7) & (o >> 14)
        r |= t & (o << 7)
        r |= t & (o >> 21)
        t = (o << 6) & (o << 12)
        r |= t & (o << 18)
        r |= t & (o >> 6)
        t = (o >> 6) & (o >> 12)
        r |= t & (o << 6)
        r |= t & (o >> 18)
        t = (o << 8) & (o << 16)
        r |= t & (o << 24)
        r |= t & (o >> 8)
        t = (o >> 8) & (o >> 16)
        r |= t & (o << 8)
        r |= t & (o >> 24)
        opponent_wins = r & (board_mask ^ mask)

        possible = (mask + bottom_mask) & board_mask
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

        low = -((cells - 2 - moves) // 2)  # the opponent cannot win with its next stone
        if alpha < low:
            alpha = low
            if alpha >= beta:
                return alpha
        high = (cells - 1 - moves) // 2  # nor can the side to move
        slot = key % tt_size
        if tt_keys[slot] == key:
            bound = tt_upper[slot]
            if bound and bound - bias < high:
                high = bound - bias
            if beta > high:
                beta = high
                if alpha >= beta:
                    return beta
            bound = tt_lower[slot]
            if bound and bound - bias > alpha:
                alpha = bound - bias
                if alpha >= beta:
                    return alpha
        elif beta > high:
            beta = high
            if alpha >= beta:
                return beta

        if moves > _STATIC_ORDER_AFTER:
            # Near the end, subtrees are small: counting threats for every move costs more
            # than the nodes it saves (measured: about 20% more nodes, 20% less time).
            ordered = [possible & m for m in column_masks if possible & m]
        elif possible & (possible - 1):
            # Order: more winning cells made first, centre first among equals.  Each entry
            # is one int, (threats, centrality) above the move's bit, so a plain sort works.
            keyed = []
            empty = board_mask ^ mask
            for rank, column_mask in column_ranks:
                move = possible & column_mask
                if move:
                    # Enhanced transposition cutoff: a child already known to score at most
                    # -beta for the opponent settles this node without searching anything.
                    child_mask = mask | move
                    child_key = o + child_mask
                    child_slot = child_key % tt_size
                    if tt_keys[child_slot] == child_key:
                        bound = tt_upper[child_slot]
                        if bound and bias - bound >= beta:
                            return bias - bound
                    known = exact_get(child_key)
                    if known is not None and -known >= beta:
                        return -known
                    c = current | move
                    r = (c << 1) & (c << 2) & (c << 3)
                    t = (c << 7) & (c << 14)
                    r |= t & (c << 21)
                    r |= t & (c >> 7)
                    t = (c >> 7) & (c >> 14)
                    r |= t & (c << 7)
                    r |= t & (c >> 21)
                    t = (c << 6) & (c << 12)
                    r |= t & (c << 18)
                    r |= t & (c >> 6)
                    t = (c >> 6) & (c >> 12)
                    r |= t & (c << 6)
                    r |= t & (c >> 18)
                    t = (c << 8) & (c << 16)
                    r |= t & (c << 24)
                    r |= t & (c >> 8)
                    t = (c >> 8) & (c >> 16)
                    r |= t & (c << 8)
                    r |= t & (c >> 24)
                    keyed.append(((r & empty).bit_count() << 3 | rank) << 49 | move)
            keyed.sort(reverse=True)
            ordered = [k & move_bits for k in keyed]
        else:
            ordered = [possible]

        next_moves = moves + 1
        for move in ordered:
            score = -negamax(o, mask | move, next_moves, -beta, -alpha)
            if score >= beta:
                if tt_keys[slot] != key:
                    tt_keys[slot] = key
                    tt_upper[slot] = 0
                tt_lower[slot] = score + bias
                return score
            if score > alpha:
                alpha = score
        if tt_keys[slot] != key:
            tt_keys[slot] = key
            tt_lower[slot] = 0
        tt_upper[slot] = alpha + bias
        return alpha

    return negamax, counter


def _known(position: Position, tables: SearchTables, book: DistanceBook | None) -> int | None:
    """The score if it costs no search: over, a win at once, remembered, or in a book."""
    current, mask, moves = position.current, position.mask, position.moves
    if moves >= CELLS:
        return 0
    if winning_cells(current, mask) & ((mask + BOTTOM_MASK) & BOARD_MASK):
        return win_score(moves)
    known = tables.exact.get(current + mask)
    if known is not None:
        return known
    if moves <= OPENING_PLY:
        return OPENING_SCORES[position.canonical_key()]
    if moves == BOOK_PLY and book is not None:
        return book.score(current, mask)
    return None


def score_position(
    position: Position,
    *,
    tables: SearchTables,
    book: DistanceBook | None,
    deadline: float | None = None,
    at_least: int | None = None,
    guess: int | None = None,
) -> int:
    """The exact score of ``position`` for the side to move (the game must not be over).

    Pons' driver: a binary search on the score with null-window negamax calls, each probe
    narrowing ``[low, high]`` until it closes.  Probing near zero first pays off, because a
    probe that proves only "at least a draw" is cheap.  ``at_least`` is a lower bound the
    caller already knows (a child's score is at least minus its parent's), which saves probes.
    ``guess``: the score the caller expects; the first probe asks whether the score is above
    it, which settles the score in one probe when ``guess`` is also ``at_least`` and right.
    """
    known = _known(position, tables, book)
    if known is not None:
        return known
    score, _ = _drive(position, tables, book, deadline, at_least, guess)
    return score


def _drive(
    position: Position,
    tables: SearchTables,
    book: DistanceBook | None,
    deadline: float | None,
    at_least: int | None,
    guess: int | None = None,
) -> tuple[int, int]:
    """The exact score by null-window probes, and the nodes visited."""
    _check_deadline(deadline)
    tables.trim()
    current, mask, moves = position.current, position.mask, position.moves
    negamax, counter = _make_negamax(tables, book, deadline)
    low = -((CELLS - moves) // 2)
    if at_least is not None and at_least > low:
        low = at_least
    high = (CELLS + 1 - moves) // 2
    while low < high:
        if guess is not None and low <= guess < high:
            middle, guess = guess, None
        else:
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
    return low, counter[0]


def score_exceeds(
    position: Position,
    threshold: int,
    *,
    tables: SearchTables,
    book: DistanceBook | None,
    deadline: float | None = None,
) -> bool:
    """Whether the score of ``position`` (game not over) is above ``threshold``.

    One null-window probe: much cheaper than the exact score, and all that is needed to tell
    whether a move is among the best once the position's own score is known.
    """
    known = _known(position, tables, book)
    if known is not None:
        return known > threshold
    _check_deadline(deadline)
    tables.trim()
    negamax, _ = _make_negamax(tables, book, deadline)
    return negamax(position.current, position.mask, position.moves, threshold, threshold + 1) > (
        threshold
    )


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
    if moves <= OPENING_PLY:
        exact = OPENING_SCORES[position.canonical_key()]
        return (exact > 0) - (exact < 0)
    if moves == BOOK_PLY and book is not None:
        return book.outcome(current, mask)
    negamax, _ = _make_negamax(tables, book, deadline)
    tables.trim()
    result = negamax(current, mask, moves, -1, 1)
    return (result > 0) - (result < 0)


def count_nodes(position: Position, tables: SearchTables, book: DistanceBook | None) -> int:
    """The nodes one exact solve of ``position`` visits, without the caches in front of the
    search (for the benchmark)."""
    return _drive(position, tables, book, None, None)[1]


def drive(position: Position, tables: SearchTables, book: DistanceBook | None) -> int:
    """The exact score by search alone, the opening table and caches in front of it skipped
    (for making that table).  The side to move must not be able to win at once."""
    return _drive(position, tables, book, None, None)[0]
