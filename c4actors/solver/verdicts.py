"""The solver's public face: a ``Verdict`` for a position given as moves, and for each move.

These are plain functions of plain values, so the server can run them in worker processes
(``trio-parallel``): arguments and results pickle, and the only state is this process's own
search tables and book mappings, made on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import attrs

from c4actors.rules import CELLS, Board, Column, IllegalMoveError
from c4actors.solver.book import distance_book, outcome_book
from c4actors.solver.position import Position
from c4actors.solver.search import (
    COLUMN_ORDER,
    SIGN_TABLE_SIZE,
    SearchTables,
    SolverTimeout,
    outcome_of,
    score_exceeds,
    score_position,
    win_score,
)

Outcome = Literal["win", "draw", "loss"]


@attrs.frozen
class Verdict:
    """How the game ends under perfect play, for one player (whose view is stated by the caller).

    ``plies`` counts the stones still to be played, from this position, until the game ends
    (the winning stone included; a draw ends when the board is full).  ``score`` is Pascal
    Pons': 0 a draw, ``22 - k`` a win with one's own ``k``-th stone, negative for a loss;
    higher is better, so it orders moves.
    """

    outcome: Outcome
    plies: int
    score: int

    @classmethod
    def from_score(cls, score: int, moves: int) -> Verdict:
        """The verdict of ``score`` for the side to move when ``moves`` stones are down."""
        if score == 0:
            return cls("draw", CELLS - moves, 0)
        if score > 0:
            stone = 22 - score  # the winner's stone count when it wins
            end = 2 * stone - 1 + (moves & 1)
            return cls("win", end - moves, score)
        stone = 22 + score
        end = 2 * stone - (moves & 1)
        return cls("loss", end - moves, score)


_tables: SearchTables | None = None
_outcome_tables: SearchTables | None = None


def reset_tables() -> None:
    """Forget everything this process's searches learnt (for tests and benchmarks that
    measure a cold start); the next search makes fresh tables."""
    global _tables, _outcome_tables
    _tables = None
    _outcome_tables = None


def warm_up() -> None:
    """Make this process's tables and map the books now, so that the first request does not
    pay for them (a worker process can call this when it starts)."""
    _exact_tables()
    _sign_tables()
    distance_book().warm_up()
    outcome_book().warm_up()


def _exact_tables() -> SearchTables:
    global _tables
    if _tables is None:
        _tables = SearchTables()
    return _tables


def _sign_tables() -> SearchTables:
    global _outcome_tables
    if _outcome_tables is None:
        _outcome_tables = SearchTables(SIGN_TABLE_SIZE)
    return _outcome_tables


def position_of(moves: Sequence[Column]) -> tuple[Position, Board]:
    """The position after ``moves``, checked by the rules engine.

    Raises ValueError with the number of the first illegal move, or if the game is over.
    """
    board = Board()
    for index, column in enumerate(moves):
        try:
            board = board.play(column)
        except IllegalMoveError as error:
            raise ValueError(f"move {index + 1} ({column!r}) is illegal: {error}") from None
    if board.is_over:
        raise ValueError(f"the game is over after {len(board.moves)} moves: nothing to solve")
    return Position.from_board(board), board


def score(
    position: Position,
    *,
    deadline: float | None = None,
    at_least: int | None = None,
    guess: int | None = None,
) -> int:
    """Pons' score of a position whose game is not over, for the side to move
    (``at_least`` and ``guess``: see ``search.score_position``)."""
    return score_position(
        position,
        tables=_exact_tables(),
        book=distance_book(),
        deadline=deadline,
        at_least=at_least,
        guess=guess,
    )


def bound_from_parent(moves: Sequence[Column]) -> int | None:
    """A lower bound on the score after ``moves`` (legal, game not over), free when this
    process has solved the position before the last move: minus that position's score (the
    player who made the last move can have done no better than their best).  A computer
    playing a game has, from its previous move, the score of every best reply it offered."""
    if not moves:
        return None
    parent = Position.from_moves(moves[:-1])
    known = _exact_tables().exact.get(parent.current + parent.mask)
    return None if known is None else -known


def outcome_sign(position: Position, *, deadline: float | None = None) -> int:
    """1, 0 or -1 for the side to move: a win/draw/loss search, cheaper than ``score``."""
    return outcome_of(position, tables=_sign_tables(), book=outcome_book(), deadline=deadline)


def solve(moves: Sequence[Column], *, deadline: float | None = None) -> Verdict:
    """The verdict, for the side to move, of the position after ``moves`` (0-based columns).

    ``deadline`` is a ``time.monotonic()`` value; past it ``SolverTimeout`` is raised.
    Raises ValueError for an illegal sequence or a finished game.
    """
    position, _ = position_of(moves)
    return Verdict.from_score(score(position, deadline=deadline), position.moves)


def move_scores(moves: Sequence[Column], *, deadline: float | None = None) -> dict[int, Verdict]:
    """For each legal column, the verdict for the player who plays it, right after playing it.

    A move that wins at once is a ``win`` in 1 ply.  The best moves have the highest score.
    """
    position, _ = position_of(moves)
    return verdicts_of_moves(position, deadline=deadline)


def verdicts_of_moves(position: Position, *, deadline: float | None = None) -> dict[int, Verdict]:
    """``move_scores`` for a ``Position`` (whose game must not be over).

    The position's own score ``S`` comes first (often free: the openings table, the book,
    the cache).  A child's score is then at least ``-S``, and one null-window probe tells
    whether it is exactly that (a best move); only the other moves need an exact solve,
    which starts from that bound.
    """
    best_score, best = best_moves(position, deadline=deadline)
    return {
        column: (
            Verdict.from_score(best_score, position.moves)
            if column in best
            else move_verdict(position, column, below=best_score, deadline=deadline)
        )
        for column in position.legal_columns()
    }


def best_moves(
    position: Position, *, deadline: float | None = None, at_least: int | None = None
) -> tuple[int, tuple[int, ...]]:
    """The score of ``position`` (game not over) for the side to move, and every column
    that keeps it; cheaper than all the moves' exact scores (a probe per move, no solve).
    ``at_least``: a lower bound on the score, also probed first (``bound_from_parent``)."""
    found = some_best_moves(position, deadline=deadline, at_least=at_least, partial=False)
    return found.score, found.columns


@attrs.frozen
class BestMoves:
    """The position's ``score`` and best ``columns``: all of them if ``complete``, else
    those proven best before the deadline (at least one)."""

    score: int
    columns: tuple[int, ...]
    complete: bool


def some_best_moves(
    position: Position,
    *,
    deadline: float | None = None,
    at_least: int | None = None,
    partial: bool = True,
) -> BestMoves:
    """``best_moves``; with ``partial``, a deadline that passes once the score is known and
    a best move has been found returns the best moves found so far instead of raising
    ``SolverTimeout``: a computer short of time still plays a move proven best.  The moves
    are probed centre first (the likeliest best moves)."""
    best_score = score(position, deadline=deadline, at_least=at_least, guess=at_least)
    tables, book = _exact_tables(), distance_book()
    best: list[int] = []
    legal = set(position.legal_columns())
    try:
        for column in (c for c in COLUMN_ORDER if c in legal):
            if position.is_winning_move(column):
                if best_score == win_score(position.moves):
                    best.append(column)
                continue
            child = position.play(column)
            if child.moves >= CELLS:
                if best_score == 0:
                    best.append(column)
                continue
            # The child's score is at least -best_score; equal means the move keeps it.
            if not score_exceeds(child, -best_score, tables=tables, book=book, deadline=deadline):
                tables.remember(child.current, child.mask, -best_score)
                best.append(column)
    except SolverTimeout:
        if not (partial and best):
            raise
        return BestMoves(best_score, tuple(sorted(best)), complete=False)
    return BestMoves(best_score, tuple(sorted(best)), complete=True)


def move_verdict(
    position: Position, column: Column, *, below: int | None = None, deadline: float | None = None
) -> Verdict:
    """The verdict, for the mover, of playing ``column`` (legal) in ``position`` (game not
    over).  ``below``: the position's score, if known, when this move is known not to keep it.
    """
    if position.is_winning_move(column):
        return Verdict("win", 1, win_score(position.moves))
    child = position.play(column)
    if child.moves >= CELLS:
        return Verdict("draw", 1, 0)
    at_least = None if below is None else 1 - below
    child_score = score_position(
        child, tables=_exact_tables(), book=distance_book(), deadline=deadline, at_least=at_least
    )
    # The child's verdict is the opponent's; ours is its negation, counted from our move.
    return Verdict.from_score(-child_score, position.moves)
