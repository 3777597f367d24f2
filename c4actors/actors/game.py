"""The game actor: one Trio task per game, the only owner of its board.

Players' connections send ``PlayMove`` / ``QuitGame`` straight to the game's inbox
(no lobby hop on the move path); the lobby sends ``SeatLeft`` / ``SeatReturned``
when a player's socket drops or comes back.  The game answers through the players'
mailboxes, which never block, and reports its end to the lobby.

Error handling: any exception inside the game ends this game only.  Both players
get ``error internal_error`` and a ``game_over`` (reason ``aborted``), the traceback
is logged, and the lobby is told so that both players return to the lobby without
a change to their records.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Final

import attrs
import trio

from c4actors.actors.mailbox import Mailbox
from c4actors.game_record import GameRecord, GameResult, GameSetup
from c4actors.lobby_state import GameEnded
from c4actors.metrics import Metrics
from c4actors.rules import Board, IllegalMoveError, Termination
from c4actors.store import Store
from protocol.codec import encode
from protocol.messages import (
    Cell,
    Error,
    GameOver,
    GameOverReason,
    GameStarted,
    GameState,
    OpponentDisconnected,
    OpponentReconnected,
)

log = logging.getLogger("c4actors.game")

GAME_INBOX_SIZE: Final = 64
SAVE_TIMEOUT: Final = 10.0


@attrs.frozen
class PlayMove:
    """From a player's connection: drop a token in ``column``."""

    sender: Mailbox
    name: str
    column: int
    received_at: float = 0.0
    """``trio.current_time()`` when the frame arrived, for the move latency metric."""


@attrs.frozen
class QuitGame:
    """From a player's connection: forfeit."""

    sender: Mailbox
    name: str


@attrs.frozen
class SeatLeft:
    """From the lobby: ``name``'s socket dropped; start their grace period."""

    name: str


@attrs.frozen
class SeatReturned:
    """From the lobby: ``name`` is back on ``mailbox``; resend the game there."""

    name: str
    mailbox: Mailbox


GameInput = PlayMove | QuitGame | SeatLeft | SeatReturned


@attrs.define
class _Seat:
    name: str
    mailbox: Mailbox
    away_deadline: float = math.inf


class GameActor:
    """Runs one game from ``game_started`` to ``game_over``; see the module docstring."""

    def __init__(
        self,
        setup: GameSetup,
        mailboxes: tuple[Mailbox, Mailbox],
        inbox: trio.MemoryReceiveChannel[GameInput],
        report: Callable[[GameEnded], Awaitable[None]],
        store: Store,
        metrics: Metrics,
        *,
        grace_seconds: float,
    ) -> None:
        self.metrics = metrics
        self.setup = setup
        self.game_id = setup.game_id
        self.seats = (
            _Seat(setup.player1.name, mailboxes[0]),
            _Seat(setup.player2.name, mailboxes[1]),
        )
        self.inbox = inbox
        self.report = report
        self.store = store
        self.grace_seconds = grace_seconds
        self.colors = setup.colors
        self.board = Board.empty()
        self.last_state = ""
        self.result: GameResult | None = None
        self.started_at = time.time()

    async def run(self) -> None:
        """Play the game to its end, save it, then report the result to the lobby (always).

        Cancelled (the server is shutting down): the game is saved as aborted, so it is
        never lost silently; the lobby is going away and is not told.
        """
        shutting_down = False
        try:
            async with self.inbox:
                for number, seat in enumerate(self.seats, start=1):
                    self._send_started(seat, number)
                self._publish_state()
                await self._play()
                self._refuse_late_requests()
        except Exception:
            log.exception("game crashed game_id=%s", self.game_id)
            error = encode(Error(code="internal_error", message="this game crashed and ended"))
            self._broadcast(error)
            self._finish(None, "aborted")
        except trio.Cancelled:
            shutting_down = True
            self._finish(None, "aborted")
            raise
        finally:
            assert self.result is not None
            with trio.CancelScope(shield=True), trio.move_on_after(SAVE_TIMEOUT):
                if self.setup.any_registered:
                    # Registered records mirror the store: the lobby changes them only once
                    # the result is saved.
                    recorded = await self._save(self.result)
                    if not shutting_down:
                        await self._report(self.result, recorded=recorded)
                else:
                    # Guests' records live in the lobby only: free the players first (they
                    # may start their next game), then save the game.
                    if not shutting_down:
                        await self._report(self.result)
                    await self._save(self.result)

    async def _report(self, result: GameResult, *, recorded: bool = True) -> None:
        # The lobby is gone only when the whole server is stopping.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.report(GameEnded(self.game_id, result, recorded))

    async def _save(self, result: GameResult) -> bool:
        """Store the finished game; on failure tell both players their records did not change."""
        record = GameRecord(
            setup=self.setup, result=result, started_at=self.started_at, ended_at=time.time()
        )
        try:
            await self.store.record_game(record)
        except Exception:
            log.exception("could not save game game_id=%s", self.game_id)
            text = "the result could not be saved: records are unchanged"
            self._broadcast(encode(Error(code="result_not_saved", message=text)))
            return False
        return True

    async def _play(self) -> None:
        while self.result is None:
            deadline = min(seat.away_deadline for seat in self.seats)
            if deadline == math.inf:
                # Both players here, the usual case: no cancel scope per move.
                item = await self.inbox.receive()
            else:
                with trio.move_on_at(deadline) as waiting:
                    item = await self.inbox.receive()
                if waiting.cancelled_caught:
                    gone = min(self.seats, key=lambda seat: seat.away_deadline)
                    self._finish(self._other(gone).name, "disconnect")
                    return
            self.handle(item)

    def _refuse_late_requests(self) -> None:
        """Answer moves that were already queued when the game ended, instead of dropping them."""
        while True:
            try:
                item = self.inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return
            if isinstance(item, PlayMove | QuitGame):
                self._reply(item.sender, "game_over", "this game is over")

    def handle(self, item: GameInput) -> None:
        """Apply one input; may finish the game."""
        match item:
            case PlayMove(sender=sender, name=name, column=column, received_at=received_at):
                self._move(sender, name, column)
                if received_at:
                    self.metrics.move_seconds.observe(trio.current_time() - received_at)
            case QuitGame(sender=sender, name=name):
                seat = self._seat_of(sender, name)
                if seat is not None:
                    self._finish(self._other(seat).name, "forfeit")
            case SeatLeft(name=name):
                self._seat_left(name)
            case SeatReturned(name=name, mailbox=mailbox):
                self._seat_returned(name, mailbox)

    def _move(self, sender: Mailbox, name: str, column: int) -> None:
        seat = self._seat_of(sender, name)
        if seat is None:
            return
        if self.board.turn != self.seats.index(seat) + 1 and not self.board.is_over:
            self._reply(sender, "not_your_turn", "wait for your opponent's move")
            return
        try:
            self.board = self.board.play(column)
        except IllegalMoveError as error:
            self._reply(sender, error.code, error.message)
            return
        self._publish_state()
        outcome = self.board.outcome
        if outcome.termination is Termination.WIN:
            assert outcome.winner is not None
            self._finish(self.seats[outcome.winner - 1].name, "four_in_a_row", outcome.line)
        elif outcome.termination is Termination.DRAW:
            self._finish(None, "board_full")

    def _seat_left(self, name: str) -> None:
        seat = self._seat_named(name)
        if seat is None:
            return
        if self.grace_seconds <= 0:
            self._finish(self._other(seat).name, "disconnect")
            return
        seat.away_deadline = trio.current_time() + self.grace_seconds
        notice = OpponentDisconnected(game_id=self.game_id, grace_seconds=self.grace_seconds)
        self._other(seat).mailbox.deliver(encode(notice))

    def _seat_returned(self, name: str, mailbox: Mailbox) -> None:
        seat = self._seat_named(name)
        if seat is None:
            return
        was_away = seat.away_deadline != math.inf
        seat.mailbox, seat.away_deadline = mailbox, math.inf
        self._send_started(seat, self.seats.index(seat) + 1)
        mailbox.deliver(self.last_state)
        if was_away:
            self._other(seat).mailbox.deliver(encode(OpponentReconnected(game_id=self.game_id)))

    # ----------------------------------------------------------------- output

    def _send_started(self, seat: _Seat, number: int) -> None:
        started = GameStarted(
            game_id=self.game_id,
            player1=self.seats[0].name,
            player2=self.seats[1].name,
            colors=self.colors,
            you=1 if number == 1 else 2,
        )
        seat.mailbox.deliver(encode(started))

    def _publish_state(self) -> None:
        board = self.board
        last = board.last_move
        state = GameState(
            game_id=self.game_id,
            board=board.to_rows(),
            moves=list(board.moves),
            next=None if board.is_over else self.seats[board.turn - 1].name,
            last_move=None if last is None else Cell(row=last[0], column=last[1]),
        )
        self.last_state = encode(state)
        self._broadcast(self.last_state)

    def _finish(
        self,
        winner: str | None,
        reason: GameOverReason,
        line: tuple[tuple[int, int], ...] | None = None,
    ) -> None:
        if self.result is not None:
            return
        self.result = GameResult(winner=winner, reason=reason, moves=self.board.moves)
        self.metrics.games_finished.labels(reason).inc()
        over = GameOver(
            game_id=self.game_id,
            result="draw" if winner is None else "win",
            winner=winner,
            reason=reason,
            line=None if line is None else [(row, column) for row, column in line],
        )
        self._broadcast(encode(over))
        log.info(
            "game ended game_id=%s winner=%s reason=%s moves=%d",
            self.game_id,
            winner,
            reason,
            len(self.board.moves),
        )

    def _broadcast(self, frame: str) -> None:
        for seat in self.seats:
            seat.mailbox.deliver(frame)

    # ----------------------------------------------------------------- seats

    def _seat_named(self, name: str) -> _Seat | None:
        for seat in self.seats:
            if seat.name == name:
                return seat
        return None

    def _seat_of(self, sender: Mailbox, name: str) -> _Seat | None:
        """The sender's seat, if the sender is the seat's current connection."""
        seat = self._seat_named(name)
        if seat is None or seat.mailbox is not sender:
            self._reply(sender, "unknown_game", "you are not playing in this game")
            return None
        return seat

    def _reply(self, mailbox: Mailbox, code: str, message: str) -> None:
        self.metrics.errors.labels(code).inc()
        mailbox.deliver(encode(Error(code=code, message=message, ref="move")))

    def _other(self, seat: _Seat) -> _Seat:
        return self.seats[1] if seat is self.seats[0] else self.seats[0]
