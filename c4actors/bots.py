"""The computer's moves, level by level: pure choices, the randomness and the time passed in.

Nothing here is async or reads a clock of its own: ``choose_move`` gets the position (the
columns played), a ``random.Random`` and a ``Budget`` (a deadline on a clock it is given),
so a test replays any seeded game exactly and drives the time with Trio's ``MockClock``.
The server runs it in a worker process (``c4actors.compute_jobs.bot_move``), never in the
event loop.

The levels, weakest first:

* ``beginner``: a random move that does not hand the opponent a win on the spot (so it
  blocks a threat it sees), but it sees its own winning move only half of the time, and
  a third of its moves it does not look at all (any legal move);
* ``casual``: a 3-ply search with a simple evaluation, picking at random among the moves
  within a margin of the best one;
* ``strong``: iterative deepening of the same search until its budget (about 200 ms) is
  spent; near the end the search reaches the last cell, and its answer is exact;
* ``perfect``: the solver's best moves (``c4actors.solver.best_moves``): never
  turns a win into a draw or a loss, wins as fast as possible and loses as slowly as
  possible, at random among the equally best moves.  The solver has most of the budget; if
  it runs out (``SolverTimeout``) the strong search spends the rest (a graceful fallback:
  still a move, never a stall).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Final

import attrs

from c4actors import opening_verdicts
from c4actors.rules import COLUMNS, ROWS, Board, Termination, bit_index
from protocol.messages import BotLevel

BOT_LEVELS: Final[tuple[BotLevel, ...]] = ("beginner", "casual", "strong", "perfect")

LEVEL_BUDGETS: Final[dict[BotLevel, float]] = {
    "beginner": 0.05,
    "casual": 0.1,
    "strong": 0.2,
    "perfect": 0.9,
}
"""Seconds a level may think about one move (its soft budget: the choice is made by then).
The game actor adds ``HARD_CAP_MARGIN`` for the worker's start and the pickling, and kills
the job past that."""
HARD_CAP_MARGIN: Final = 1.0

SOLVER_SHARE: Final = 0.9
"""Part of ``perfect``'s budget the solver may use; the fallback search has the rest (90
ms of 0.9 s: a few plies of the heuristic search, enough for a sane move)."""

WIN: Final = 1_000_000
"""A won position's score in the heuristic search, less the plies to the win."""

_CENTRE_FIRST: Final = (3, 2, 4, 1, 5, 0, 6)


@attrs.frozen
class Budget:
    """Think until ``deadline`` on ``clock`` (seconds)."""

    deadline: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def seconds(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Budget:
        return cls(clock() + seconds, clock)

    def left(self) -> float:
        return self.deadline - self.clock()

    def expired(self) -> bool:
        return self.clock() >= self.deadline


class OutOfTime(Exception):
    """The search's budget ran out mid-iteration: the last whole iteration stands."""


@attrs.frozen
class Choice:
    """A chosen ``column`` and how: ``how`` is ``level`` itself, ``exact`` (the search reached
    the end), ``best`` (``perfect``'s solver ran out of time with a move proven best) or
    ``fallback`` (it ran out of time before); ``depth`` the plies searched (0: no search)."""

    column: int
    how: str
    depth: int = 0


def choose_move(
    moves: Sequence[int], level: BotLevel, rng: random.Random, budget: Budget
) -> Choice:
    """The column ``level`` plays after ``moves`` (0-based columns from the empty board)."""
    board = Board.from_moves(moves)
    legal = board.legal_columns()
    if not legal:
        raise ValueError("no legal move: the game is over")
    match level:
        case "beginner":
            return Choice(_beginner(board, legal, rng), "beginner")
        case "casual":
            return _casual(board, rng, budget)
        case "strong":
            return _deepening(board, rng, budget, "strong")
        case "perfect":
            return _perfect(moves, board, rng, budget)


# --------------------------------------------------------------------------- beginner


BEGINNER_SEES_WIN: Final = 0.5
BEGINNER_LOOKS: Final = 2 / 3


def _beginner(board: Board, legal: list[int], rng: random.Random) -> int:
    wins = [c for c in legal if board.play(c).outcome.termination is Termination.WIN]
    if wins and rng.random() < BEGINNER_SEES_WIN:
        return rng.choice(wins)
    if rng.random() >= BEGINNER_LOOKS:
        return rng.choice(legal)
    safe = [c for c in legal if c not in wins and not _hands_a_win(board, c)]
    return rng.choice(safe or legal)


def _threats(board: Board, legal: list[int]) -> list[int]:
    """Columns where the opponent would win if they moved there now."""
    return [c for c in legal if _wins_for_opponent(board, c)]


def _wins_for_opponent(board: Board, column: int) -> bool:
    """Whether the opponent, if the side to move passed, would win by playing ``column``."""
    me = board.bitboard1 if board.turn == 1 else board.bitboard2
    them = board.bitboard2 if board.turn == 1 else board.bitboard1
    occupied = me | them
    bit = (occupied + _BOTTOM[column]) & _COLUMN[column]
    return bit != 0 and _is_four(them | bit, bit)


def _hands_a_win(board: Board, column: int) -> bool:
    """Whether playing ``column`` lets the opponent win at once (on top of it or anywhere)."""
    after = board.play(column)
    if after.is_over:
        return False
    return any(
        after.play(reply).outcome.termination is Termination.WIN for reply in after.legal_columns()
    )


# --------------------------------------------------------------------------- the search


def _windows() -> tuple[int, ...]:
    found = []
    for row in range(ROWS):
        for column in range(COLUMNS):
            for d_row, d_column in ((0, 1), (1, 0), (1, 1), (-1, 1)):
                cells = [(row + d_row * i, column + d_column * i) for i in range(4)]
                if all(0 <= r < ROWS and 0 <= c < COLUMNS for r, c in cells):
                    found.append(sum(1 << bit_index(r, c) for r, c in cells))
    return tuple(found)


_WINDOWS: Final = _windows()
assert len(_WINDOWS) == 69  # the number of fours on a 7x6 board
_BOTTOM: Final = tuple(1 << bit_index(0, c) for c in range(COLUMNS))
_COLUMN: Final = tuple(sum(1 << bit_index(r, c) for r in range(ROWS)) for c in range(COLUMNS))
_WINDOWS_THROUGH: Final = {
    1 << bit_index(r, c): tuple(w for w in _WINDOWS if w >> bit_index(r, c) & 1)
    for r in range(ROWS)
    for c in range(COLUMNS)
}


def _is_four(stones: int, bit: int) -> bool:
    return any(stones & w == w for w in _WINDOWS_THROUGH[bit])


def _evaluate(me: int, them: int) -> int:
    """Open windows, from the side to move's view: three of four count 5, two count 2."""
    score = 0
    for window in _WINDOWS:
        mine, theirs = me & window, them & window
        if mine and not theirs:
            n = mine.bit_count()
            score += 5 if n == 3 else 2 if n == 2 else 0
        elif theirs and not mine:
            n = theirs.bit_count()
            score -= 5 if n == 3 else 2 if n == 2 else 0
    return score


class _Search:
    """Negamax with alpha-beta on raw bitboards, centre columns first; checks the budget
    every 256 nodes (so it overruns by at most that many nodes, well under a millisecond)."""

    def __init__(self, budget: Budget | None) -> None:
        self.budget = budget
        self.nodes = 0
        self.reached_end = True
        """Whether every line searched ended in a finished game (the score is exact)."""

    def scores(self, me: int, them: int, count: int, depth: int) -> dict[int, int]:
        """Each legal column's score for the side to move, searched ``depth`` plies deep."""
        result: dict[int, int] = {}
        for column in _CENTRE_FIRST:
            bit = ((me | them) + _BOTTOM[column]) & _COLUMN[column]
            if not bit:
                continue
            mine = me | bit
            if _is_four(mine, bit):
                result[column] = WIN - count - 1
            else:
                result[column] = -self._negamax(them, mine, count + 1, depth - 1, -WIN, WIN)
        return result

    def _negamax(self, me: int, them: int, count: int, depth: int, alpha: int, beta: int) -> int:
        self.nodes += 1
        if self.budget is not None and not self.nodes & 255 and self.budget.expired():
            raise OutOfTime
        if count == ROWS * COLUMNS:
            return 0
        occupied = me | them
        # A win on the spot ends the line (and is the best there is).
        for column in _CENTRE_FIRST:
            bit = (occupied + _BOTTOM[column]) & _COLUMN[column]
            if bit and _is_four(me | bit, bit):
                return WIN - count - 1
        if depth <= 0:
            self.reached_end = False
            return _evaluate(me, them)
        best = -WIN
        for column in _CENTRE_FIRST:
            bit = (occupied + _BOTTOM[column]) & _COLUMN[column]
            if not bit:
                continue
            score = -self._negamax(them, me | bit, count + 1, depth - 1, -beta, -alpha)
            if score > best:
                best = score
                if score > alpha:
                    alpha = score
                    if alpha >= beta:
                        break
        return best


def _sides(board: Board) -> tuple[int, int]:
    if board.turn == 1:
        return board.bitboard1, board.bitboard2
    return board.bitboard2, board.bitboard1


def _casual(board: Board, rng: random.Random, budget: Budget) -> Choice:
    me, them = _sides(board)
    try:
        scores = _Search(budget).scores(me, them, len(board.moves), 3)
    except OutOfTime:
        return Choice(_beginner(board, board.legal_columns(), rng), "fallback")
    best = max(scores.values())
    margin = 4 if abs(best) < WIN // 2 else 0
    near = [c for c, s in scores.items() if s >= best - margin]
    return Choice(rng.choice(near), "casual", 3)


def _deepening(board: Board, rng: random.Random, budget: Budget, how: str) -> Choice:
    """Search 1, 2, 3, ... plies deep until the budget is spent or the search reaches the
    end of every line (then its answer is exact); play the last whole iteration's best."""
    me, them = _sides(board)
    count = len(board.moves)
    scores: dict[int, int] | None = None
    depth = 0
    exact = False
    while depth < ROWS * COLUMNS - count and not budget.expired():
        search = _Search(budget)
        try:
            found = search.scores(me, them, count, depth + 1)
        except OutOfTime:
            break
        scores, depth, exact = found, depth + 1, search.reached_end
        if exact or max(found.values()) >= WIN // 2:
            break
    if scores is None:
        return Choice(_beginner(board, board.legal_columns(), rng), "fallback")
    best = max(scores.values())
    column = rng.choice([c for c, s in scores.items() if s == best])
    return Choice(column, "exact" if exact else how, depth)


def _perfect(moves: Sequence[int], board: Board, rng: random.Random, budget: Budget) -> Choice:
    """The solver's best moves: the position's score and one null-window probe per move
    (``solver.some_best_moves``), not every move's exact score (``move_scores``), which
    would also solve the moves that are not best: that took about 2.5 times as long on the
    positions of 13-17 stones, where the budget runs out most (measured for issue 15).

    Short of time once the score is known and a move proven best, that move is played
    (``how`` ``"best"``: perfect play, but not at random among every best move); short of
    time before, the heuristic search spends the rest of the budget (``"fallback"``)."""
    from c4actors.solver import Position, SolverTimeout, bound_from_parent, some_best_moves

    share = max(0.0, budget.left()) * SOLVER_SHARE
    try:
        known = opening_verdicts.known(moves)
        if known is not None:
            top = max(v.score for v in known.values())
            best, how = tuple(c for c, v in known.items() if v.score == top), "perfect"
        else:
            position = Position.from_board(board)
            # Our last move kept our score S, so after any reply the score is at least S,
            # and exactly S after a best reply: one probe then (the worker remembers S).
            at_least = bound_from_parent(moves)
            found = some_best_moves(position, deadline=time.monotonic() + share, at_least=at_least)
            best, how = found.columns, "perfect" if found.complete else "best"
    except SolverTimeout:
        rest = Budget(budget.deadline, budget.clock)
        choice = _deepening(board, rng, rest, "fallback")
        return attrs.evolve(choice, how="fallback")
    return Choice(rng.choice(sorted(best)), how)


def budget_for(level: BotLevel) -> float:
    """The soft budget of ``level``, in seconds."""
    return LEVEL_BUDGETS[level]


def hard_cap(level: BotLevel) -> float:
    """How long the game actor waits for ``level``'s move before it falls back itself."""
    return LEVEL_BUDGETS[level] + HARD_CAP_MARGIN


def quick_move(moves: Sequence[int], seed: int) -> int:
    """The game actor's own fallback when the pool is busy or its job failed: a winning
    move, else a block, else a move that hands nothing over (microseconds: fine in the loop)."""
    board = Board.from_moves(moves)
    legal = board.legal_columns()
    rng = random.Random(seed)
    wins = [c for c in legal if board.play(c).outcome.termination is Termination.WIN]
    if wins:
        return wins[0]
    threats = _threats(board, legal)
    if threats:
        return threats[0]
    safe = [c for c in legal if not _hands_a_win(board, c)]
    return rng.choice(safe or legal)


__all__ = [
    "BOT_LEVELS",
    "LEVEL_BUDGETS",
    "Budget",
    "Choice",
    "budget_for",
    "choose_move",
    "hard_cap",
    "quick_move",
]
