"""The jobs the compute pool runs in its worker processes (``c4actors.compute_pool``).

Module-level functions of plain arguments and plain results, because both travel pickled
between processes.  Each result carries the process and thread it was computed in, so a
test can check that the solver never ran in the event loop's thread.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Sequence
from typing import Any

import attrs

from c4actors import opening_verdicts
from c4actors.bots import Budget, choose_move
from protocol.messages import BotLevel


@attrs.frozen
class WorkedIn:
    """Where a job ran: its process id and thread id."""

    pid: int
    thread: int

    @classmethod
    def here(cls) -> WorkedIn:
        return cls(os.getpid(), threading.get_ident())


@attrs.frozen
class BotMove:
    """A computer's move: the ``column``, how it was chosen (``bots.Choice.how``), the
    seconds it took in the worker, and where it ran."""

    column: int
    how: str
    seconds: float
    worked_in: WorkedIn


def bot_move(moves: Sequence[int], level: BotLevel, seed: int, budget_seconds: float) -> BotMove:
    """``level``'s move after ``moves``, thinking at most ``budget_seconds``."""
    started = time.monotonic()
    choice = choose_move(moves, level, random.Random(seed), Budget.seconds(budget_seconds))
    return BotMove(choice.column, choice.how, time.monotonic() - started, WorkedIn.here())


def where() -> WorkedIn:
    """Where a job runs (for tests and the benchmark's sanity check)."""
    return WorkedIn.here()


@attrs.frozen
class AnalysedPlies:
    """``c4actors.analysis.MoveAnalysis`` of some consecutive moves, and where they ran."""

    moves: list[Any]
    worked_in: WorkedIn


def analyse_plies(moves: Sequence[int], first: int, stop: int, seconds: float) -> AnalysedPlies:
    """The analysis of moves ``first`` to ``stop - 1`` (0-based) of the game ``moves``,
    within ``seconds`` (``SolverTimeout`` past it).  A game is analysed a few moves per job,
    so the asker sees progress between jobs and a cancelled analysis stops soon.

    Each move as ``c4actors.analysis.analyse`` does it (its ``grade`` decides; a test checks
    that both agree), with the first plies' verdicts from ``opening_verdicts``."""
    from c4actors.analysis import MoveAnalysis, grade

    deadline = time.monotonic() + seconds
    analysed = []
    for index in range(first, stop):
        verdicts = verdicts_after(moves[:index], deadline)
        best_score = max(v.score for v in verdicts.values())
        best = tuple(c for c, v in sorted(verdicts.items()) if v.score == best_score)
        before, after = verdicts[best[0]], verdicts[moves[index]]
        move = MoveAnalysis(index + 1, moves[index], before, best, after, grade(before, after))
        analysed.append(move)
    return AnalysedPlies(analysed, WorkedIn.here())


def verdicts_after(moves: Sequence[int], deadline: float | None) -> dict[int, Any]:
    """``c4actors.solver.move_scores``, from the stored table for the first plies."""
    from c4actors.solver import move_scores

    known = opening_verdicts.known(moves)
    return known if known is not None else move_scores(list(moves), deadline=deadline)
