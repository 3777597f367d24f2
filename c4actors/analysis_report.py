"""The analysis of a game as the protocol and the store carry it (pure).

``c4actors.analysis`` grades every move (in a worker process); this module turns its
answer into the ``analysis`` message's notes and finds the move where the game was lost:
the last move by the eventual loser that took them from a draw or a win to a loss.  Later
mistakes by the winner may hand the game back for a while; the loser's last slip is the
one that decided it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from protocol.messages import Analysis, MoveNote, PlayerNumber, Verdict


def verdict(value: Any) -> Verdict:
    """The wire form of a solver verdict (any object with ``outcome``, ``plies``, ``score``)."""
    return Verdict(outcome=value.outcome, plies=int(value.plies), score=int(value.score))


def note(ply: int, analysed: Any) -> MoveNote:
    """The wire form of one ``c4actors.analysis.MoveAnalysis`` (``ply`` counts from 1)."""
    return MoveNote(
        ply=ply,
        column=int(analysed.column),
        before=verdict(analysed.before),
        best=sorted(int(column) for column in analysed.best),
        after=verdict(analysed.after),
        grade=analysed.grade,
    )


def lost_at(notes: Sequence[MoveNote], loser: PlayerNumber | None) -> int | None:
    """The ply of the loser's last move from a draw or a win into a loss (None: a draw, no
    loser, or a loser who was lost from their first move on)."""
    if loser is None:
        return None
    for move in reversed(notes):
        mover = 1 if move.ply % 2 == 1 else 2
        if mover == loser and move.before.outcome != "loss" and move.after.outcome == "loss":
            return move.ply
    return None


def report(game_id: str, analysed: Sequence[Any], loser: PlayerNumber | None) -> Analysis:
    """The ``analysis`` message of game ``game_id`` from ``c4actors.analysis``'s answer."""
    notes = [note(ply, move) for ply, move in enumerate(analysed, start=1)]
    return Analysis(game_id=game_id, moves=notes, lost_at=lost_at(notes, loser))
