"""The analysis as the protocol carries it, and the move where the game was lost (pure)."""

from __future__ import annotations

from typing import Literal

import attrs

from c4actors.analysis_report import lost_at, report
from protocol.messages import MoveNote, Verdict

Outcome = Literal["win", "draw", "loss"]


@attrs.frozen
class FakeVerdict:
    outcome: Outcome
    plies: int
    score: int


@attrs.frozen
class FakeAnalysis:
    ply: int
    column: int
    before: FakeVerdict
    best: tuple[int, ...]
    after: FakeVerdict
    grade: Literal["best", "inaccuracy", "mistake", "blunder"]


def v(outcome: Outcome) -> Verdict:
    return Verdict(outcome=outcome, plies=1, score={"win": 1, "draw": 0, "loss": -1}[outcome])


def n(ply: int, before: Outcome, after: Outcome) -> MoveNote:
    grade: Literal["best", "mistake"] = "best" if before == after else "mistake"
    return MoveNote(ply=ply, column=0, before=v(before), best=[0], after=v(after), grade=grade)


def test_lost_at_is_the_losers_last_move_into_a_loss() -> None:
    notes = [
        n(1, "win", "draw"),  # player 1 slips to a draw
        n(2, "draw", "loss"),  # player 2 slips to a loss
        n(3, "win", "draw"),  # player 1 hands it back
        n(4, "draw", "loss"),  # player 2 loses it again: this decided it
        n(5, "win", "win"),
    ]
    assert lost_at(notes, loser=2) == 4
    assert lost_at(notes, loser=None) is None
    assert lost_at(notes, loser=1) is None, "player 1 never moved into a loss"


def test_report_numbers_plies_from_one_and_sorts_best_moves() -> None:
    moves = [
        FakeAnalysis(0, 3, FakeVerdict("win", 41, 1), (4, 3), FakeVerdict("win", 41, 1), "best"),
        FakeAnalysis(
            1, 0, FakeVerdict("loss", 40, -1), (3,), FakeVerdict("loss", 2, -20), "inaccuracy"
        ),
    ]
    analysis = report("g1", moves, loser=2)
    assert [m.ply for m in analysis.moves] == [1, 2]
    assert analysis.moves[0].best == [3, 4]
    assert analysis.moves[1].after == Verdict(outcome="loss", plies=2, score=-20)
    assert analysis.lost_at is None, "player 2 was lost before their first move"
