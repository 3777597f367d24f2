"""Per-move analysis: grades from the verdicts before and after each move."""

from __future__ import annotations

import pickle

import pytest

from c4actors.analysis import MoveAnalysis, analyse, grade
from c4actors.solver import SolverTimeout, Verdict, move_scores, solve
from tests.solver_positions import columns


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (Verdict("win", 3, 18), Verdict("win", 3, 18), "best"),
        (Verdict("win", 3, 18), Verdict("win", 5, 17), "inaccuracy"),
        (Verdict("loss", 8, -15), Verdict("loss", 2, -18), "inaccuracy"),
        (Verdict("win", 3, 18), Verdict("draw", 30, 0), "mistake"),
        (Verdict("draw", 30, 0), Verdict("loss", 4, -16), "mistake"),
        (Verdict("win", 3, 18), Verdict("loss", 4, -16), "blunder"),
        (Verdict("draw", 30, 0), Verdict("draw", 30, 0), "best"),
    ],
)
def test_grades(before: Verdict, after: Verdict, expected: str) -> None:
    assert grade(before, after) == expected


def test_a_short_game_analysed_move_by_move() -> None:
    # Player 1 builds an open three on the bottom row; player 2 stacks in column 1 instead
    # of blocking, and player 1 wins at move 7.
    moves = columns("4151316")
    seen: list[tuple[int, int]] = []
    analysis = analyse(moves, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 7) for i in range(1, 8)]
    assert [a.ply for a in analysis] == list(range(1, 8))
    assert [a.column for a in analysis] == moves
    for index, entry in enumerate(analysis):
        scores = move_scores(moves[:index])
        assert entry.before == solve(moves[:index])
        assert entry.after == scores[entry.column]
        assert entry.best == tuple(c for c, v in scores.items() if v.score == entry.before.score)
        assert entry.column in entry.best or entry.grade != "best"
    last = analysis[-1]
    assert last == MoveAnalysis(7, 5, last.before, last.best, Verdict("win", 1, 18), "best")
    assert analysis[0].grade == "best"  # the middle column
    assert {a.grade for a in analysis[1::2]} & {"mistake", "blunder", "inaccuracy"}


def test_a_blunder_is_named() -> None:
    # After 4455 player 1 wins at once with 3 or 6; playing 1 loses (see test_solver).
    analysis = analyse(columns("44551"))
    assert analysis[-1].before == Verdict("win", 3, 18)
    assert analysis[-1].best == (2, 5)
    assert analysis[-1].grade == "blunder"


def test_bad_games_are_refused() -> None:
    with pytest.raises(ValueError, match="move 8"):
        analyse(columns("12121212"))
    with pytest.raises(ValueError, match="move 7"):
        analyse(columns("4444444"))
    assert analyse([]) == []


def test_results_and_errors_cross_process_boundaries() -> None:
    # The server runs these in worker processes: what they return or raise must pickle.
    analysis = analyse(columns("4455"))
    assert pickle.loads(pickle.dumps(analysis)) == analysis
    verdict = solve(columns("4455"))
    assert pickle.loads(pickle.dumps(verdict)) == verdict
    error = pickle.loads(pickle.dumps(SolverTimeout("the solver ran out of time")))
    assert isinstance(error, SolverTimeout)
    assert str(error) == "the solver ran out of time"
