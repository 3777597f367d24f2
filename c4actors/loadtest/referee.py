"""Checks every ``game_state`` and ``game_over`` a player receives against the rules engine.

Each simulated player replays its game with ``c4actors.rules.Board`` as the states come in:
a state must add exactly one legal move to the previous one (or repeat it, for the first state
of a game), and its board, ``next`` and ``last_move`` must be what the engine says.  The result
must be the engine's outcome.  A mismatch is a ``RefereeError``, which the load tester counts
as an error (``wrong_board`` or ``wrong_result``), never as a statistic.

The drawn rows are kept up to date one cell per move rather than redrawn with
``Board.to_rows``, which costs ten times more: this runs twice per move, for both players.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

from c4actors.rules import COLUMNS, ROWS, Board, IllegalMoveError, Termination
from protocol.messages import GameOver, GameStarted, GameState

RefereeErrorKind: TypeAlias = Literal["wrong_board", "wrong_result"]

EMPTY_ROW: Final = "." * COLUMNS
_TOKENS: Final = ("", "1", "2")
_DIRECTIONS: Final = ((0, 1), (1, 0), (1, 1), (1, -1))


class RefereeError(Exception):
    """The server sent a position or a result the rules engine disagrees with."""

    def __init__(self, kind: RefereeErrorKind, detail: str) -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class GameReferee:
    """One player's replay of one game; see the module docstring."""

    __slots__ = ("board", "game_id", "players", "rows")

    def __init__(self, started: GameStarted) -> None:
        self.game_id = started.game_id
        self.players = (started.player1, started.player2)
        self.board = Board.empty()
        self.rows = [EMPTY_ROW] * ROWS

    @property
    def next_player(self) -> str | None:
        """Whose turn it is on the replayed board; None once the game is over."""
        return None if self.board.is_over else self.players[self.board.turn - 1]

    def check_state(self, state: GameState) -> None:
        """Replay the move ``state`` adds and compare; raises ``RefereeError``."""
        if state.game_id != self.game_id:
            raise RefereeError("wrong_board", f"state of game {state.game_id}, not {self.game_id}")
        known = self.board.moves
        moves = state.moves
        count = len(known)
        if len(moves) == count + 1:
            if count and tuple(moves[:count]) != known:
                raise RefereeError("wrong_board", f"moves {moves} do not extend {list(known)}")
            self._play(moves[-1])
        elif len(moves) != count or tuple(moves) != known:
            raise RefereeError("wrong_board", f"moves {moves} after {list(known)}")
        if state.board != self.rows:
            raise RefereeError("wrong_board", f"board {state.board}, engine {self.rows}")
        expected_next = self.next_player
        if state.next != expected_next:
            raise RefereeError("wrong_board", f"next {state.next!r}, engine {expected_next!r}")
        last = self.board.last_move
        got = None if state.last_move is None else (state.last_move.row, state.last_move.column)
        if got != last:
            raise RefereeError("wrong_board", f"last_move {got}, engine {last}")

    def _play(self, column: int) -> None:
        try:
            self.board = self.board.play(column)
        except IllegalMoveError as error:
            raise RefereeError("wrong_board", f"illegal move {column}: {error}") from None
        row, column = self.board.last_move or (0, 0)
        line = self.rows[row]
        self.rows[row] = (
            line[:column] + _TOKENS[2 - (len(self.board.moves) & 1)] + line[column + 1 :]
        )

    def check_over(
        self, over: GameOver, forfeited_by: str | None = None, flagged: str | None = None
    ) -> None:
        """Compare the result with the engine's outcome; raises ``RefereeError``.

        ``forfeited_by`` names a player who sent ``quit``: then a forfeit won by the other
        player is the expected end of an unfinished game.  ``flagged`` names a player who
        stopped moving in a timed game: then a win on time by the other player is.
        """
        if over.game_id != self.game_id:
            raise RefereeError("wrong_result", f"result of game {over.game_id}, not {self.game_id}")
        outcome = self.board.outcome
        if outcome.termination is Termination.WIN:
            assert outcome.winner is not None
            winner = self.players[outcome.winner - 1]
            if (over.result, over.winner, over.reason) != ("win", winner, "four_in_a_row"):
                raise RefereeError("wrong_result", f"{over!r}, engine: {winner} won")
            if over.line is None or not self._is_winning_line(over.line, outcome.winner):
                raise RefereeError("wrong_result", f"line {over.line} is not a four of {winner}")
        elif outcome.termination is Termination.DRAW:
            if (over.result, over.winner, over.reason, over.line) != (
                "draw",
                None,
                "board_full",
                None,
            ):
                raise RefereeError("wrong_result", f"{over!r}, engine: a draw")
        elif forfeited_by is not None and forfeited_by in self.players:
            other = self.players[1] if forfeited_by == self.players[0] else self.players[0]
            if (over.result, over.winner, over.reason, over.line) != (
                "win",
                other,
                "forfeit",
                None,
            ):
                raise RefereeError("wrong_result", f"{over!r}, expected {other} wins by forfeit")
        elif flagged is not None and flagged in self.players:
            other = self.players[1] if flagged == self.players[0] else self.players[0]
            if (over.result, over.winner, over.reason, over.line) != (
                "win",
                other,
                "timeout",
                None,
            ):
                raise RefereeError("wrong_result", f"{over!r}, expected {other} wins on time")
        else:
            raise RefereeError("wrong_result", f"{over!r}, engine: the game is not over")

    def _is_winning_line(self, line: list[tuple[int, int]], player: int) -> bool:
        """Four consecutive cells in a straight line, all ``player``'s, through the last move.

        Any such four is accepted, not only the one the engine would pick, since a move can
        complete five in a row or two lines at once.
        """
        cells = sorted(line)
        if len(cells) != 4:
            return False
        (row0, column0), (row1, column1) = cells[0], cells[1]
        step = (row1 - row0, column1 - column0)
        if step not in _DIRECTIONS:
            return False
        expected = [(row0 + k * step[0], column0 + k * step[1]) for k in range(4)]
        token = _TOKENS[player]
        return (
            cells == expected
            and all(
                0 <= r < ROWS and 0 <= c < COLUMNS and self.rows[r][c] == token for r, c in cells
            )
            and self.board.last_move in cells
        )
