"""Perfect-play analysis of a game: for every move, the verdict before it and a grade.

Pure and synchronous, like the solver it calls: the server runs it in a worker process.
A move's grade compares the mover's verdict before the move (the best any move achieves)
with the verdict after the move it played:

* ``best``: the same score (no faster win or slower loss was possible);
* ``inaccuracy``: the same outcome, but a longer win or a quicker loss;
* ``mistake``: one step down, a win thrown to a draw or a draw to a loss;
* ``blunder``: a win thrown to a loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import attrs

from c4actors.rules import Board, Column, IllegalMoveError
from c4actors.solver.position import Position
from c4actors.solver.verdicts import Verdict, best_moves, move_verdict

Grade = Literal["best", "inaccuracy", "mistake", "blunder"]

_RANK = {"loss": 0, "draw": 1, "win": 2}


@attrs.frozen
class MoveAnalysis:
    """One move of a game under the solver's eye (every verdict from the mover's view).

    ``ply`` counts from 1 (the first move); ``column`` is 0-based; ``best`` lists every
    column whose verdict equals ``before``; ``after`` is the verdict of the move played.
    """

    ply: int
    column: int
    before: Verdict
    best: tuple[int, ...]
    after: Verdict
    grade: Grade


def grade(before: Verdict, after: Verdict) -> Grade:
    """How much ``after`` (the move played) gives away compared with ``before`` (the best)."""
    if after.score >= before.score:
        return "best"
    drop = _RANK[before.outcome] - _RANK[after.outcome]
    if drop == 0:
        return "inaccuracy"
    return "mistake" if drop == 1 else "blunder"


def analyse(
    moves: Sequence[Column],
    *,
    deadline: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[MoveAnalysis]:
    """The analysis of every move of a game given as 0-based columns.

    The game need not be finished (a resigned game stops early); a move after the game was
    won is an error.  ``progress(done, total)`` is called after each move is analysed.
    Raises ValueError for an illegal sequence and ``SolverTimeout`` past ``deadline``.
    """
    checked = _checked(moves)
    total = len(checked)
    results = []
    position = Position.empty()
    for index, column in enumerate(checked):
        # The best columns take one probe each; only a move that is not among them needs
        # an exact solve (and the next position's score is then already known).
        best_score, best = best_moves(position, deadline=deadline)
        before = Verdict.from_score(best_score, position.moves)
        if column in best:
            after = before
        else:
            after = move_verdict(position, column, below=best_score, deadline=deadline)
        results.append(MoveAnalysis(index + 1, column, before, best, after, grade(before, after)))
        position = position.play(column)
        if progress is not None:
            progress(index + 1, total)
    return results


def _checked(moves: Sequence[Column]) -> list[Column]:
    """``moves`` as a list after the rules engine accepted every one of them."""
    board = Board()
    for index, column in enumerate(moves):
        try:
            board = board.play(column)
        except IllegalMoveError as error:
            raise ValueError(f"move {index + 1} ({column!r}) is illegal: {error}") from None
    return list(board.moves)
