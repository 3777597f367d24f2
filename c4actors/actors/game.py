"""The game actor: one Trio task per game, a thin shell around the pure ``game_state`` core.

Players' connections send ``PlayMove`` / ``QuitGame`` straight to the game's inbox
(no lobby hop on the move path); the lobby sends ``SeatLeft`` / ``SeatReturned``
when a player's socket drops or comes back.  The actor turns each into a core event,
applies it with the clock's time, and carries out the effects: messages encoded once
and delivered to the players' mailboxes (which never block), the grace deadline as a
cancel scope, and at the end the store and the report to the lobby.  Every decision
(seats, turns, deadlines, who wins) is the core's.

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

from c4actors import game_state as core
from c4actors.actors.mailbox import Mailbox
from c4actors.game_record import GameRecord, GameResult, GameSetup
from c4actors.lobby_state import GameEnded
from c4actors.metrics import Metrics
from c4actors.store import Store
from protocol.codec import encode
from protocol.messages import Error

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
        self.setup = setup
        self.game_id = setup.game_id
        self.inbox = inbox
        self.report = report
        self.store = store
        self.metrics = metrics
        self.grace_seconds = grace_seconds
        self.mailboxes = {mailbox.conn: mailbox for mailbox in mailboxes}
        """The sockets that hold a seat (or held one: a closed mailbox drops what it gets)."""
        self.game: core.Game | None = None
        self.deadline = math.inf
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
                conns = tuple(self.mailboxes)
                game, effects = core.start(self.setup, (conns[0], conns[1]), self.grace_seconds)
                self.game = game
                self._carry_out(effects)
                await self._play()
                self._refuse_late_requests()
        except Exception:
            log.exception("game crashed game_id=%s", self.game_id)
            self._abort(crashed=True)
        except trio.Cancelled:
            shutting_down = True
            self._abort(crashed=False)
            raise
        finally:
            assert self.result is not None
            with trio.CancelScope(shield=True), trio.move_on_after(SAVE_TIMEOUT):
                await self._save_and_report(self.result, shutting_down)

    async def _play(self) -> None:
        while self.result is None:
            if self.deadline == math.inf:
                # Both players here, the usual case: no cancel scope per move.
                item = await self.inbox.receive()
            else:
                with trio.move_on_at(self.deadline) as waiting:
                    item = await self.inbox.receive()
                if waiting.cancelled_caught:
                    self._apply(core.DeadlineReached())
                    continue
            self._handle(item)

    def _handle(self, item: GameInput) -> None:
        match item:
            case PlayMove(sender=sender, name=name, column=column, received_at=received_at):
                self._apply(core.MoveRequested(sender.conn, name, column), sender)
                if received_at:
                    self.metrics.move_seconds.observe(trio.current_time() - received_at)
            case QuitGame(sender=sender, name=name):
                self._apply(core.QuitRequested(sender.conn, name), sender)
            case SeatLeft(name=name):
                self._apply(core.SeatLeft(name))
            case SeatReturned(name=name, mailbox=mailbox):
                self.mailboxes[mailbox.conn] = mailbox
                self._apply(core.SeatReturned(name, mailbox.conn))
                assert self.game is not None
                seated = self.game.connected()
                self.mailboxes = {conn: self.mailboxes[conn] for conn in seated}

    def _refuse_late_requests(self) -> None:
        """Answer moves that were already queued when the game ended, instead of dropping them."""
        while True:
            try:
                item = self.inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return
            if isinstance(item, PlayMove | QuitGame):
                self._handle(item)

    def _abort(self, *, crashed: bool) -> None:
        """End the game as aborted, whatever state the crash left it in (the core's state is
        immutable, so it is the state before the failed event)."""
        if self.game is None:
            return self._record_end(GameResult(winner=None, reason="aborted"))
        self._apply(core.Aborted(crashed=crashed))
        return None

    def _apply(self, event: core.Event, sender: Mailbox | None = None) -> None:
        assert self.game is not None
        self.game, effects = core.apply(self.game, event, trio.current_time())
        self._carry_out(effects, sender)

    def _carry_out(self, effects: list[core.Effect], sender: Mailbox | None = None) -> None:
        for effect in effects:
            match effect:
                case core.Send(to=to, message=message):
                    if isinstance(message, Error):
                        self.metrics.errors.labels(message.code).inc()
                    frame = encode(message)
                    for conn in to:
                        mailbox = self.mailboxes.get(conn)
                        if mailbox is None and sender is not None and sender.conn == conn:
                            mailbox = sender  # a reply to a socket without a seat
                        if mailbox is not None:
                            mailbox.deliver(frame)
                case core.ArmDeadline(at=at):
                    self.deadline = at
                case core.CancelDeadline():
                    self.deadline = math.inf
                case core.Finished(result=result):
                    self._record_end(result)

    def _record_end(self, result: GameResult) -> None:
        self.result = result
        self.metrics.games_finished.labels(result.reason).inc()
        log.info(
            "game ended game_id=%s winner=%s reason=%s moves=%d",
            self.game_id,
            result.winner,
            result.reason,
            len(result.moves),
        )

    # ----------------------------------------------------------------- the end

    async def _save_and_report(self, result: GameResult, shutting_down: bool) -> None:
        if not result.kept:
            # Nothing to store and no record changes: just free the players.
            if not shutting_down:
                await self._report(result)
        elif self.setup.any_registered:
            # Registered records mirror the store: the lobby changes them only once the
            # result is saved.
            recorded = await self._save(result)
            if not shutting_down:
                await self._report(result, recorded=recorded)
        else:
            # Guests' records live in the lobby only: free the players first (they may
            # start their next game), then save the game.
            if not shutting_down:
                await self._report(result)
            await self._save(result)

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
            frame = encode(Error(code="result_not_saved", message=text))
            conns = () if self.game is None else self.game.connected()
            for conn in conns:
                self.mailboxes[conn].deliver(frame)
            return False
        return True
