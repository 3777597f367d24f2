"""A perfect Connect Four solver: exact verdicts of positions and of every move.

``solve`` and ``move_scores`` take moves as 0-based columns from the empty board (the wire
protocol's columns) and return ``Verdict`` values; ``Position`` is the bitboard they search,
for callers that run their own shallow searches (the bots).  See ``search.py`` for the method
and ``book.py`` for the opening book.
"""

from c4actors.solver.position import Position
from c4actors.solver.search import SolverTimeout
from c4actors.solver.verdicts import (
    BestMoves,
    Verdict,
    best_moves,
    bound_from_parent,
    move_scores,
    move_verdict,
    outcome_sign,
    reset_tables,
    score,
    solve,
    some_best_moves,
    warm_up,
)

__all__ = [
    "BestMoves",
    "Position",
    "SolverTimeout",
    "Verdict",
    "best_moves",
    "bound_from_parent",
    "move_scores",
    "move_verdict",
    "outcome_sign",
    "reset_tables",
    "score",
    "solve",
    "some_best_moves",
    "warm_up",
]
