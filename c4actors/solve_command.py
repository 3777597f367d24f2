"""``c4actors solve MOVES`` and ``c4actors analyse MOVES``: the solver from the terminal.

MOVES is Pascal Pons' notation, the columns played from the empty board as digits 1 to 7
(``4455``: both players twice in the middle column, then twice in the next one to the right).
Both commands print one JSON document; every column in it is 1-based like MOVES, so what
the output recommends can be typed back in.  They call the same functions as the server.

Exit status: 0 with the JSON; 2 for MOVES that are not digits 1-7, name an illegal move, or
(for ``solve``) end the game; 1 if ``--timeout`` passes first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from c4actors.analysis import analyse
from c4actors.rules import Board
from c4actors.solver import SolverTimeout, Verdict, move_scores, solve
from c4actors.solver.position import columns_text


def moves_argument(text: str) -> list[int]:
    """MOVES as 0-based columns; argparse turns the ValueError into a usage error (exit 2)."""
    bad = sorted({ch for ch in text if ch not in "1234567"})
    if bad:
        raise argparse.ArgumentTypeError(
            f"MOVES must be digits 1 to 7 (one column per move), not {text!r}"
        )
    return [int(ch) - 1 for ch in text]


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "moves",
        metavar="MOVES",
        type=moves_argument,
        help="the columns played from the empty board, 1 to 7, e.g. 4455 (empty: the start)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="give up after this many seconds (exit status 1; default: no limit)",
    )


def add_solve_arguments(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)


def add_analyse_arguments(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)


def _verdict(verdict: Verdict) -> dict[str, Any]:
    return {"outcome": verdict.outcome, "plies": verdict.plies, "score": verdict.score}


def _check(command: str, moves: list[int], *, may_end: bool) -> str | None:
    """Why ``moves`` cannot be solved (in MOVES' 1-based words), or None if they can."""
    board = Board()
    for index, column in enumerate(moves):
        if board.is_over:
            return f"move {index + 1} comes after the game was won"
        if column not in board.legal_columns():
            return f"move {index + 1} is column {column + 1}, which is full"
        board = board.play(column)
    if board.is_over and not may_end:
        return f"the game is over after move {len(moves)}: nothing is left to {command}"
    return None


def _usage_error(command: str, message: str) -> int:
    print(f"c4actors {command}: error: MOVES: {message}", file=sys.stderr)
    return 2


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def run_solve(args: argparse.Namespace) -> int:
    moves: list[int] = args.moves
    if (problem := _check("solve", moves, may_end=False)) is not None:
        return _usage_error("solve", problem)
    deadline = _deadline(args.timeout)
    try:
        verdict = solve(moves, deadline=deadline)
        scores = move_scores(moves, deadline=deadline)
    except SolverTimeout:
        print(f"c4actors solve: no answer within {args.timeout} s", file=sys.stderr)
        return 1
    best_score = max(v.score for v in scores.values())
    document = {
        "moves": columns_text(moves),
        "to_move": 1 + len(moves) % 2,
        "verdict": _verdict(verdict),
        "best": [c + 1 for c, v in sorted(scores.items()) if v.score == best_score],
        "columns": [{"column": c + 1, **_verdict(v)} for c, v in sorted(scores.items())],
    }
    print(json.dumps(document, indent=2))
    return 0


def run_analyse(args: argparse.Namespace) -> int:
    moves: list[int] = args.moves
    if (problem := _check("analyse", moves, may_end=True)) is not None:
        return _usage_error("analyse", problem)
    try:
        analysis = analyse(moves, deadline=_deadline(args.timeout))
    except SolverTimeout:
        print(f"c4actors analyse: no answer within {args.timeout} s", file=sys.stderr)
        return 1
    document = {
        "moves": columns_text(moves),
        "analysis": [
            {
                "ply": move.ply,
                "player": 2 - move.ply % 2,
                "column": move.column + 1,
                "before": _verdict(move.before),
                "best": [c + 1 for c in move.best],
                "after": _verdict(move.after),
                "grade": move.grade,
            }
            for move in analysis
        ],
    }
    print(json.dumps(document, indent=2))
    return 0
