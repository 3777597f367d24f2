"""A deliberately naive Connect Four referee, for tests and benchmarks only.

It shares no code with ``c4actors.rules`` beyond the value types: it works on the drawn rows
(``Board.to_rows()``, top row first) and scans all 69 possible lines of four cell by cell.  That
makes it slow but obviously correct, which is what the property tests need to check the bitboard
engine against, and what the benchmark needs to measure the engine's speed-up against.  The tests
and ``bench/rules_bench.py`` both import it, so they measure and trust the same algorithm.

The server never uses it: it lives with the tests, the oracle they trust.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeAlias

from c4actors.rules import COLUMNS, DRAW, ONGOING, ROWS, Cell, Column, Outcome, Termination

Line: TypeAlias = tuple[Cell, Cell, Cell, Cell]
"""Four ``(row_from_top, column)`` cells in a line, ordered from one end to the other."""

EMPTY_ROWS: Final[tuple[str, ...]] = ("." * COLUMNS,) * ROWS


def _all_lines() -> tuple[Line, ...]:
    lines = []
    for row in range(ROWS):
        for column in range(COLUMNS):
            # Right, down, down-right, down-left: each line once, starting from its top/left end.
            for d_row, d_column in ((0, 1), (1, 0), (1, 1), (1, -1)):
                end_row, end_column = row + 3 * d_row, column + 3 * d_column
                if 0 <= end_row < ROWS and 0 <= end_column < COLUMNS:
                    a, b, c, d = ((row + k * d_row, column + k * d_column) for k in range(4))
                    lines.append((a, b, c, d))
    return tuple(lines)


ALL_LINES: Final = _all_lines()
"""Every line of four cells on a 6x7 board: 24 horizontal, 21 vertical, 24 diagonal."""
assert len(ALL_LINES) == 69


def winning_lines(rows: Sequence[str]) -> list[Line]:
    """Every line of four cells holding the same player's stones, in ``ALL_LINES`` order."""
    found = []
    for line in ALL_LINES:
        (r0, c0), (r1, c1), (r2, c2), (r3, c3) = line
        token = rows[r0][c0]
        if token != "." and rows[r1][c1] == token and rows[r2][c2] == token == rows[r3][c3]:
            found.append(line)
    return found


def brute_force_outcome(rows: Sequence[str]) -> Outcome:
    """The outcome of a position reached by legal play, by scanning all 69 lines.

    A win reports the first winning line in ``ALL_LINES`` order, which need not be the line the
    engine reports (that one must pass through the last move, which rows alone do not show).
    Compare ``termination`` and ``winner``, and check the engine's line with ``winning_lines``.
    """
    for line in ALL_LINES:
        (r0, c0), (r1, c1), (r2, c2), (r3, c3) = line
        token = rows[r0][c0]
        if token != "." and rows[r1][c1] == token and rows[r2][c2] == token == rows[r3][c3]:
            return Outcome(Termination.WIN, int(token), line)
    if any("." in row for row in rows):
        return ONGOING
    return DRAW


def drop(rows: Sequence[str], column: Column, token: str) -> list[str]:
    """``rows`` with ``token`` dropped into ``column``: it lands on the lowest empty cell.

    Raises ``ValueError`` if the column is full.
    """
    for row in range(ROWS - 1, -1, -1):
        if rows[row][column] == ".":
            dropped = list(rows)
            text = rows[row]
            dropped[row] = text[:column] + token + text[column + 1 :]
            return dropped
    raise ValueError(f"column {column} is full")
