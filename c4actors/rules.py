"""Connect Four rules: a pure, synchronous engine on bitboards.

Nothing here is async or does I/O, so the game actor, the tests and the benchmark share one
implementation of the rules, and a position can be checked without starting a server.

Layout
------
Each player's stones are one ``int`` (a ``Bitboard``).  Column ``c`` owns the 7 bits
``c * 7 .. c * 7 + 6``: six playable cells counted from the bottom, then a sentinel bit that is
never set.  Gravity is then arithmetic: adding a column's bottom bit to the occupied cells carries
up to that column's lowest empty cell, and for a full column the carry stops in the sentinel
instead of spilling into the next column.

Coordinates
-----------
Bit indexes count rows from the bottom, because that is how gravity works.  Everything the
engine hands out (``Board.to_rows``, ``Board.last_move``, ``Outcome.line``) counts rows from 0 at
the *top*, because that is how the board is drawn and how the wire protocol names cells.
"""

from __future__ import annotations

import enum
import functools
import itertools
import operator
from collections.abc import Callable, Iterable
from typing import Final, Literal, TypeAlias

import attrs

Column: TypeAlias = int
"""A column, 0 (left) to 6 (right)."""

Row: TypeAlias = int
"""A row counted from 0 at the top, as drawn."""

Cell: TypeAlias = tuple[Row, Column]
"""A ``(row, column)`` pair, the row counted from the top."""

Player: TypeAlias = int
"""1 (moves first) or 2."""

Bitboard: TypeAlias = int
"""A set of cells, one bit per cell, in the column-major layout described above."""

IllegalMoveCode: TypeAlias = Literal["invalid_column", "column_full", "game_over"]

COLUMNS: Final = 7
ROWS: Final = 6
CELLS: Final = COLUMNS * ROWS
_STRIDE: Final = ROWS + 1  # bits per column, sentinel included


def bit_index(row_from_bottom: int, column: Column) -> int:
    """The bit of the cell ``row_from_bottom`` rows above the floor of ``column``."""
    return column * _STRIDE + row_from_bottom


def cell_of_bit(index: int) -> Cell:
    """The ``(row_from_top, column)`` cell of bit ``index`` (the inverse of ``bit_index``)."""
    column, row_from_bottom = divmod(index, _STRIDE)
    return (ROWS - 1 - row_from_bottom, column)


BB_EMPTY: Final[Bitboard] = 0
BB_COLUMN_BOTTOM: Final[tuple[Bitboard, ...]] = tuple(1 << bit_index(0, c) for c in range(COLUMNS))
BB_COLUMN_TOP: Final[tuple[Bitboard, ...]] = tuple(
    1 << bit_index(ROWS - 1, c) for c in range(COLUMNS)
)
BB_COLUMNS: Final[tuple[Bitboard, ...]] = tuple(
    ((1 << ROWS) - 1) << bit_index(0, c) for c in range(COLUMNS)
)
BB_ALL: Final[Bitboard] = sum(BB_COLUMNS)


def _window(row_from_bottom: int, column: Column, d_row: int, d_column: int) -> Bitboard | None:
    """The four cells from the given one in the given direction, or None if they leave the board."""
    cells = [(row_from_bottom + k * d_row, column + k * d_column) for k in range(4)]
    if all(0 <= r < ROWS and 0 <= c < COLUMNS for r, c in cells):
        return sum(1 << bit_index(r, c) for r, c in cells)
    return None


def _windows_through(row_from_bottom: int, column: Column) -> tuple[Bitboard, ...]:
    """The windows of four that a stone just dropped on this cell can complete.

    Vertically that is only the window with the new stone on top, since nothing lies above it
    yet; along a row or a diagonal, every window of four that contains the cell.
    """
    windows = [_window(row_from_bottom - 3, column, 1, 0)]
    for d_row, d_column in ((0, 1), (1, 1), (-1, 1)):
        windows.extend(
            _window(row_from_bottom - k * d_row, column - k * d_column, d_row, d_column)
            for k in range(4)
        )
    return tuple(w for w in windows if w is not None)


# Keyed by a cell's single bit, because that is what ``play`` has in hand.
_WINDOWS_THROUGH: Final[dict[Bitboard, tuple[Bitboard, ...]]] = {
    1 << bit_index(r, c): _windows_through(r, c) for c in range(COLUMNS) for r in range(ROWS)
}

# The union of those windows: every cell at most three steps from the key's along a line.
_LINES_THROUGH: Final[dict[Bitboard, Bitboard]] = {
    bit: functools.reduce(operator.or_, windows) for bit, windows in _WINDOWS_THROUGH.items()
}

# Each window's cells, sorted top-down, which orders them from one end of the line to the other.
_WINDOW_CELLS: Final[dict[Bitboard, tuple[Cell, ...]]] = {
    window: tuple(sorted(cell_of_bit(i) for i in range(window.bit_length()) if window >> i & 1))
    for windows in _WINDOWS_THROUGH.values()
    for window in windows
}
assert len(_WINDOW_CELLS) == 69, "24 horizontal, 21 vertical and 24 diagonal windows"


class Termination(enum.Enum):
    """Whether, and how, the game has ended; the values are the wire protocol's words."""

    ONGOING = "ongoing"
    WIN = "win"
    DRAW = "draw"


@attrs.frozen(slots=True)
class Outcome:
    """The single source of truth for "is the game over, and who won".

    ``line`` is the winning four: exactly four ``(row_from_top, column)`` cells through the last
    move, ordered from one end of the line to the other.  If that move made five or more in a
    line, ``line`` is four consecutive cells of it that include the move.
    """

    termination: Termination
    winner: Player | None = None
    line: tuple[Cell, ...] | None = None

    def __attrs_post_init__(self) -> None:
        if self.termination is Termination.WIN:
            if self.winner not in (1, 2) or self.line is None or len(self.line) != 4:
                raise ValueError(f"a win needs a winner (1 or 2) and four cells: {self!r}")
        elif self.winner is not None or self.line is not None:
            raise ValueError(f"only a win has a winner and a line: {self!r}")

    @property
    def is_over(self) -> bool:
        """True once the game is won or drawn."""
        return self.termination is not Termination.ONGOING


ONGOING: Final = Outcome(Termination.ONGOING)
DRAW: Final = Outcome(Termination.DRAW)


class IllegalMoveError(ValueError):
    """A move the rules do not allow, with a machine-readable ``code`` for the wire protocol.

    ``invalid_column``: not an int in 0..6 (a bool is not a column).  ``game_over``: the game is
    already won or drawn.  ``column_full``: the column already holds six stones.  They are checked
    in that order, so a malformed column is reported as such even after the game has ended.
    """

    code: IllegalMoveCode
    message: str

    def __init__(self, code: IllegalMoveCode, message: str) -> None:
        # Both in args, so the exception survives pickling (which calls ``cls(*args)``).
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


def _checked_column(column: object) -> Column:
    """The slow path of ``Board.play``'s column check: int subclasses other than bool pass."""
    if isinstance(column, int) and not isinstance(column, bool) and 0 <= column < COLUMNS:
        return operator.index(column)
    raise IllegalMoveError(
        "invalid_column", f"column must be an int from 0 to {COLUMNS - 1}, not {column!r}"
    )


@attrs.frozen(slots=True, init=False, repr=False)
class Board:
    """A Connect Four position: an immutable value, so it can be shared between tasks freely.

    Boards are made only by ``Board()`` / ``Board.empty()``, ``Board.from_moves`` and
    ``Board.play``, so every Board is a position reachable by legal play, and its ``outcome`` is
    always up to date: ``play`` works it out when it makes the board, looking only at the lines
    through the stone it just dropped (a position reached by legal play has no four elsewhere).

    ``bitboard1`` and ``bitboard2`` are the stones of players 1 and 2 (see the module docstring
    for the layout); ``moves`` are the columns played so far, in order.
    """

    bitboard1: Bitboard
    bitboard2: Bitboard
    moves: tuple[Column, ...]
    outcome: Outcome

    def __init__(self) -> None:
        """The empty board, player 1 to move (same as ``Board.empty()``)."""
        object.__setattr__(self, "bitboard1", BB_EMPTY)
        object.__setattr__(self, "bitboard2", BB_EMPTY)
        object.__setattr__(self, "moves", ())
        object.__setattr__(self, "outcome", ONGOING)

    @classmethod
    def empty(cls) -> Board:
        """The empty board, player 1 to move."""
        return _EMPTY_BOARD

    @classmethod
    def from_moves(cls, columns: Iterable[Column]) -> Board:
        """The board after playing ``columns`` in order from the empty board.

        Raises ``IllegalMoveError`` at the first move that is not legal.
        """
        board = _EMPTY_BOARD
        for column in columns:
            board = board.play(column)
        return board

    def play(self, column: Column) -> Board:
        """The board after the player to move drops a stone in ``column``; ``self`` is unchanged.

        Raises ``IllegalMoveError`` (codes ``invalid_column``, ``game_over``, ``column_full``).

        This is the hot path, shaped by measurement (``bench/rules_bench.py``).  Gravity is one
        add and one AND on the bitboards.  The win test only looks at the lines through the new
        stone: it counts the mover's stones on them, and only if there are four or more ANDs
        the mover's stones with each window of four through the new stone (five on average),
        which beat the whole-board shift-and-AND test.  The new board is built with
        ``object.__new__`` and direct slot stores, because attrs' frozen ``__init__`` (an
        ``object.__setattr__`` per field) measured 50% slower.
        """
        if column.__class__ is not int or not 0 <= column < COLUMNS:
            column = _checked_column(column)
        # Compare the enum member, not the ONGOING constant: a copied or unpickled board holds
        # an equal but distinct Outcome, while enum members keep their identity.
        if self.outcome.termination is not _ONGOING:
            raise IllegalMoveError("game_over", "the game is over")
        bitboard1 = self.bitboard1
        bitboard2 = self.bitboard2
        # Adding the column's bottom bit carries up to its lowest empty cell; a full column
        # carries into the sentinel, which BB_COLUMNS masks off.
        bit = ((bitboard1 | bitboard2) + BB_COLUMN_BOTTOM[column]) & BB_COLUMNS[column]
        if not bit:
            raise IllegalMoveError("column_full", f"column {column} is full")
        moves = self.moves + (column,)  # noqa: RUF005 - half the cost of (*moves, column)
        count = len(moves)
        if count & 1:
            mine = bitboard1 = bitboard1 | bit
        else:
            mine = bitboard2 = bitboard2 | bit
        outcome = ONGOING if count < CELLS else DRAW
        # Most moves have fewer than four of the mover's stones on all the lines through them
        # (70% in random play), and counting them is cheaper than testing the windows.
        if (mine & _LINES_THROUGH[bit]).bit_count() >= 4:
            for window in _WINDOWS_THROUGH[bit]:
                if mine & window == window:
                    outcome = Outcome(Termination.WIN, 2 - (count & 1), _WINDOW_CELLS[window])
                    break
        board = _new_board(Board)
        _set_bitboard1(board, bitboard1)
        _set_bitboard2(board, bitboard2)
        _set_moves(board, moves)
        _set_outcome(board, outcome)
        return board

    def legal_columns(self) -> list[Column]:
        """The columns that may be played now, left to right; empty once the game is over."""
        if self.outcome.termination is not _ONGOING:
            return []
        occupied = self.bitboard1 | self.bitboard2
        return [c for c, top in enumerate(BB_COLUMN_TOP) if not occupied & top]

    @property
    def is_over(self) -> bool:
        """True once the game is won or drawn."""
        return self.outcome.termination is not _ONGOING

    @property
    def turn(self) -> Player:
        """The player to move (1 or 2); after the game ends, the one who would have moved."""
        return 1 + (len(self.moves) & 1)

    @property
    def last_move(self) -> Cell | None:
        """The ``(row_from_top, column)`` of the last stone dropped, or None on the empty board."""
        if not self.moves:
            return None
        column = self.moves[-1]
        height = ((self.bitboard1 | self.bitboard2) & BB_COLUMNS[column]).bit_count()
        return (ROWS - height, column)

    def to_rows(self) -> list[str]:
        """Six strings of seven characters, TOP row first: ``.`` empty, ``1`` and ``2`` stones.

        On the move path (every ``game_state``), so one table lookup per row: a row's bits sit
        7 apart, and shifting them down to bit 0 and masking gives a key for the row's text.
        """
        bitboard1, bitboard2 = self.bitboard1, self.bitboard2
        return [
            _ROW_TEXT[(bitboard1 >> row) & _ROW_SPREAD | ((bitboard2 >> row) & _ROW_SPREAD) << 1]
            for row in _ROWS_TOP_DOWN
        ]

    def __repr__(self) -> str:
        return f"Board.from_moves({list(self.moves)!r})"


# ``play`` writes a new board's fields through the slot descriptors, which skips the frozen
# ``__setattr__`` that attrs installs: that guard is there to stop callers mutating a board, not
# to slow down the code that makes one.
_ONGOING: Final = Termination.ONGOING
_new_board: Final = object.__new__
_set_bitboard1: Final[Callable[[Board, Bitboard], None]] = Board.__dict__["bitboard1"].__set__
_set_bitboard2: Final[Callable[[Board, Bitboard], None]] = Board.__dict__["bitboard2"].__set__
_set_moves: Final[Callable[[Board, tuple[Column, ...]], None]] = Board.__dict__["moves"].__set__
_set_outcome: Final[Callable[[Board, Outcome], None]] = Board.__dict__["outcome"].__set__

_EMPTY_BOARD: Final = Board()


def _row_texts() -> dict[int, str]:
    """Every row's text, keyed by its stones spread 7 bits apart (player 2's shifted by one)."""
    texts = {}
    for cells in itertools.product(".12", repeat=COLUMNS):
        key = 0
        for column, cell in enumerate(cells):
            if cell != ".":
                key |= 1 << (column * _STRIDE + (cell == "2"))
        texts[key] = "".join(cells)
    return texts


_ROW_SPREAD: Final = sum(1 << (column * _STRIDE) for column in range(COLUMNS))
_ROWS_TOP_DOWN: Final = tuple(range(ROWS - 1, -1, -1))
_ROW_TEXT: Final = _row_texts()
