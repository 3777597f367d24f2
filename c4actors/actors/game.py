"""The game actor: one Trio task per game, a thin shell around the pure ``game_state`` core.

Players' connections send ``PlayMove`` / ``QuitGame`` straight to the game's inbox
(no lobby hop on the move path); the lobby sends ``SeatLeft`` / ``SeatReturned``
when a player's socket drops or comes back.  The actor turns each into a core event,
applies it with the clock's time, and carries out the effects: messages encoded once
and delivered to the players' mailboxes (which never block), the next deadline (a grace
period's or the turn's) as a cancel scope, and at the end the store and the report to
the lobby (``c4actors.actors.game_end``: which comes first depends on whose records they
are).  Every decision (seats, turns, deadlines, who wins) is the core's.

Chat (``Say``, from a player's connection like a move) goes to the game's pure chat
room (``c4actors.chat_rules``), which the actor holds beside the game.  The chat stays
open for a while after the end (``ChatSettings.after_game_seconds``): the actor then
lives on that long after saving and reporting the game, answering only chat (and moves
with ``game_over``); the players are back in the lobby meanwhile.

Every message is encoded once and framed once (``PreparedFrame``): a socket whose writer is
idle gets its bytes written at once, from this task (``Mailbox.deliver_frame``); the others
get it queued as before.  Spectators (``WatchGame`` / ``UnwatchGame``, from the lobby, which
checked the limits) get each public frame (``Send.spectators``: a position, the end, the
chat) after the players: the same frame, delivered without waiting (a full inbox drops that
spectator, never the game), by a relay task that waits until the players' frames are on
their sockets, then serves the spectators ``FAN_OUT_CHUNK`` at a time (``_relay``).  How many
watch is told to the players at most about once a second (``c4actors.spectator_count``).

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

from c4actors import chat_rules
from c4actors import game_state as core
from c4actors.actors.computer import ComputerPlayer
from c4actors.actors.game_end import save_and_report
from c4actors.actors.game_inbox import (
    KNOCK,
    GameInput,
    GameRequest,
    Knock,
    MovedOn,
    PlayMove,
    QuitGame,
    Say,
    SeatLeft,
    SeatReturned,
    SpectatorDoor,
    UnwatchGame,
    WatchGame,
)
from c4actors.actors.journal import Journal
from c4actors.actors.mailbox import Mailbox
from c4actors.game_frames import encode_frame
from c4actors.game_record import GameRecord, GameSetup
from c4actors.live_games import GameMoved
from c4actors.lobby_state import GameEnded
from c4actors.metrics import Metrics
from c4actors.move_gate import MoveGate
from c4actors.spectator_count import CountNotice
from c4actors.store import Store
from c4actors.time_controls import DEFAULT_FIRST_MOVE_SECONDS
from c4actors.websocket_frames import PreparedFrame
from protocol.codec import encode
from protocol.messages import Error, SpectatorCount, Unwatched

log = logging.getLogger("c4actors.game")

SAVE_TIMEOUT: Final = 10.0
RELAY_MAX_WAIT_STEPS: Final = 16
"""Scheduling steps the spectators' relay waits at most for the players' writers to take
their frame (a writer stuck on a slow socket must not hold the spectators back for long)."""
RELAY_WRITE_STEPS: Final = 2
"""Steps more once they took it, for their write to reach the socket (hypercorn's send lock
is one step), when a player's writer does not report its writes (no direct writer)."""
FAN_OUT_CHUNK: Final = 256
"""Spectators served per scheduling step: a thousand direct writes are a few milliseconds,
and every other task runs in between, as with the lobby's broadcasts."""


@attrs.frozen
class AfterEnd:
    """A finished game's chat restored by a cluster's standby: when it closes and which
    players moved on (``chat_rules.ChatRoom``), its game recorded and reported already."""

    closes_at: float
    moved_on: frozenset[int] = frozenset()


class GameActor:
    """Runs one game from ``game_started`` to ``game_over``; see the module docstring."""

    def __init__(
        self,
        setup: GameSetup,
        mailboxes: tuple[Mailbox, ...],
        inbox: trio.MemoryReceiveChannel[GameInput],
        report: Callable[[GameEnded], Awaitable[None]],
        store: Store,
        metrics: Metrics,
        *,
        grace_seconds: float,
        move_timeout: float = 0.0,
        chat: chat_rules.ChatSettings | None = None,
        first_move_seconds: float = DEFAULT_FIRST_MOVE_SECONDS,
        progress: Callable[[GameMoved], None] | None = None,
        computer: ComputerPlayer | None = None,
        door: SpectatorDoor | None = None,
        journal: Journal | None = None,
        restored: core.Game | None = None,
        move_gate: MoveGate | None = None,
        spectators: list[Mailbox] | None = None,
        voices: tuple[chat_rules.Voice, chat_rules.Voice] | None = None,
        after_end: AfterEnd | None = None,
    ) -> None:
        self.game_id = setup.game_id
        self._recorded = after_end is not None
        """Restored after its end (``after_end``): recorded and reported already, only its
        chat runs, until it closes."""
        self.move_gate = move_gate
        """Where each move waits for its turn at saturation (``c4actors.move_gate``)."""
        self.door = door if door is not None else SpectatorDoor()
        """Where the lobby leaves watch and unwatch requests (beside the bounded inbox)."""
        self.progress = progress
        """Told each new move count (the lobby's list of games); must never wait."""
        self.inbox, self.report, self.store, self.metrics = inbox, report, store, metrics
        self.mailboxes = {mailbox.conn: mailbox for mailbox in mailboxes}
        """The mailboxes of the sockets that hold a seat."""
        self.journal = journal
        """Told each new state of the game (a cluster's core keeps it in Redis)."""
        if restored is None:
            conns = (mailboxes[0].conn, mailboxes[1].conn)
            self.game, self._started = core.start(
                setup,
                conns,
                grace_seconds,
                trio.current_time(),
                move_timeout=move_timeout,
                first_move_seconds=first_move_seconds,
                started_at=time.time(),
            )
        else:
            # Carried on from another core's snapshot (its times already on this clock):
            # the players have their game_started, the spectators their watching (and
            # both the count); the deadline is armed again, the chat's voices restored.
            self.game = restored
            deadline = restored.deadline
            self._started = [] if deadline is None else [core.ArmDeadline(deadline)]
        if journal is not None and after_end is None:
            journal.game_changed(self.game)
        self.chat = chat_rules.ChatRoom(settings=chat or chat_rules.ChatSettings(enabled=False))
        if voices is not None:
            self.chat = attrs.evolve(self.chat, voices=voices)
        if after_end is not None:
            self.chat = attrs.evolve(
                self.chat, closes_at=after_end.closes_at, moved_on=after_end.moved_on
            )
        self.deadline = math.inf
        self._last_now = -math.inf
        self.spectators: dict[int, Mailbox] = {m.conn: m for m in spectators or ()}
        """The mailboxes of the connections watching, served after the players."""
        watching = len(self.spectators)
        self._count = CountNotice(count=watching, sent=watching)
        """When the players are next told how many watch (``spectator_count``)."""
        self._for_spectators: list[PreparedFrame] = []
        """Public frames the players were given and the spectators not yet (``_relay``)."""
        self._round: list[PreparedFrame] = []
        self._round_to: list[Mailbox] = []
        self._round_at = 0
        """The fan-out under way: these frames, to these spectators, served up to here."""
        self._relay_wake = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._relaying = False
        self.computer = computer
        """The computer's seat, in a game against it (its mailbox is one of ``mailboxes``)."""
        self._thinking_at = -1
        """Plies on the board when the computer last started thinking (once per turn)."""
        self._thinking: trio.CancelScope | None = None
        """The computer's thinking in progress, cancelled when the game ends."""
        self._waiting: trio.CancelScope | None = None
        """The cancel scope ``_play`` waits in for its next item, while it waits there:
        an item may then be handled in its sender's task (``handle_now``)."""
        self._failed: Exception | None = None
        """What ``handle_now`` raised: the game's own task raises it once woken."""

    async def run(self) -> None:
        """Play the game; once someone watches, the spectators' relay runs beside it."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self.spectators:  # restored with its spectators
                    self._relaying = True
                    nursery.start_soon(self._relay, name=f"spectators of {self.game_id}")
                try:
                    await self._run()
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            self._serve_spectators()  # the last frames (the end) still reach them

    async def _relay(self) -> None:
        """Hand the spectators each public frame once the players' frames are on their sockets.

        A player's frame is usually written directly in the game's own step; one queued
        for its writer task (which was busy) is waited for, a few scheduling steps at most
        (``RELAY_MAX_WAIT_STEPS``): the writers all wake in Trio's next batch, in an order
        Trio leaves to chance, so a thousand spectators' writes could otherwise come before
        a player's.  Then the spectators are served ``FAN_OUT_CHUNK`` per step.  Started with
        the first spectator: an unwatched game has no relay."""
        while True:
            await self._relay_wake.wait()
            self._relay_wake = trio.Event()
            players = list(self.mailboxes.values())
            for _ in range(RELAY_MAX_WAIT_STEPS):
                if not any(mailbox.unwritten() for mailbox in players):
                    break
                await trio.lowlevel.cancel_shielded_checkpoint()
            if any(mailbox.direct is None for mailbox in players):
                # Their writer took the frame; a few steps more for its write to be done.
                for _ in range(RELAY_WRITE_STEPS):
                    await trio.lowlevel.cancel_shielded_checkpoint()
            self._start_round()
            while not self._serve_round(FAN_OUT_CHUNK):
                await trio.lowlevel.cancel_shielded_checkpoint()

    def _start_round(self) -> None:
        """Begin serving the frames waiting for the spectators (if the last round is done),
        to those watching now."""
        if self._round_at < len(self._round_to) or not self._for_spectators:
            return
        self._round, self._for_spectators = self._for_spectators, []
        self._round_to, self._round_at = list(self.spectators.values()), 0

    def _serve_round(self, limit: int) -> bool:
        """Serve the round's frames to its next ``limit`` spectators; True once it is done."""
        start, frames = self._round_at, self._round
        end = self._round_at = min(len(self._round_to), start + limit)
        sent = 0
        for mailbox in self._round_to[start:end]:
            for frame in frames:
                sent += mailbox.deliver_frame(frame)
        if sent:
            self.metrics.messages_out.inc(sent)
        if end < len(self._round_to):
            return False
        self._round, self._round_to, self._round_at = [], [], 0  # done: hold no mailbox
        return True

    def _serve_spectators(self) -> None:
        """Serve the spectators every frame waiting for them, now (the round under way
        first, so each spectator's frames stay in order)."""
        self._serve_round(len(self._round_to))
        self._start_round()
        self._serve_round(len(self._round_to))

    async def _spectators_served(self) -> None:
        """Let the relay hand the spectators the last frames (the end) before the lobby hears
        of it: they then hear ``game_over`` before anything the lobby says about the players'
        return, in one process as through a cluster's core.  A few steps (the relay's own
        bounds), then whatever is left is served at once."""
        for _ in range(RELAY_MAX_WAIT_STEPS + RELAY_WRITE_STEPS + 2):
            if not self._for_spectators and not self._round_to:
                return
            await trio.lowlevel.cancel_shielded_checkpoint()
        self._serve_spectators()

    async def _run(self) -> None:
        """Play the game to its end, save it, then report the result to the lobby (always).

        Cancelled (the server is shutting down): the game is saved as aborted, so it is
        never lost silently; the lobby is going away and is not told.  In a cluster's core
        (a journal) the game is not over then: the standby carries it on from what was
        committed, so this process neither ends it nor writes its record (a deposed core
        writes nothing).
        """
        shutting_down = False
        handed_over = self._recorded
        async with self.inbox:
            try:
                self._carry_out(self._started)
                await self._play()
            except Exception:
                log.exception("game crashed game_id=%s", self.game_id)
                self._apply(core.Aborted(crashed=True))
            except trio.Cancelled:
                shutting_down = True
                handed_over = self._recorded or (self.journal is not None and not self.game.is_over)
                if not handed_over:
                    self._apply(core.Aborted())
                raise
            finally:
                if self._thinking is not None:
                    self._thinking.cancel()  # the game is over: the computer stops thinking
                if not handed_over:
                    await self._record(shutting_down)
            try:
                await self._chat_after_the_end()
            except Exception:
                log.exception("game chat crashed game_id=%s", self.game_id)
            try:
                self._refuse_late_requests()
            except Exception:  # a crashed game must not take the lobby down with it
                log.exception("game crashed refusing late requests game_id=%s", self.game_id)

    async def _record(self, shutting_down: bool) -> None:
        """Save the finished game and report it to the lobby (not when shutting down)."""
        assert self.game.result is not None
        record = GameRecord(
            setup=self.game.setup,
            result=self.game.result,
            started_at=self.game.started_at,
            ended_at=time.time(),
        )
        report = None if shutting_down else self.report
        if report is not None:
            await self._spectators_served()
        if self.journal is None:
            with trio.CancelScope(shield=True), trio.move_on_after(SAVE_TIMEOUT):
                await save_and_report(record, self.store, report, self._tell_not_saved)
            return
        # A cluster's core: the record is committed with the game's removal (noted with no
        # checkpoint between, so in the same commit: a standby restores the game and it
        # ends again, or the record is in the stream, never both) and the edges write it
        # to the store (``c4actors.cluster.recorder``): nothing to wait for here.
        if report is not None:
            with (
                trio.CancelScope(shield=True),
                trio.move_on_after(SAVE_TIMEOUT),
                contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
            ):
                await report(GameEnded(self.game_id, record.result))
        if record.result.kept:
            self.journal.game_recorded(record)
        if not shutting_down:
            self.journal.game_gone(self.game_id)

    async def _chat_after_the_end(self) -> None:
        """Keep the inbox open while the chat is: only chat is still heard (the core answers
        a move or a quit ``game_over``).  Cancelled with the server like the game."""
        if not self.chat.lingers or self.chat.closes_at is None:
            return
        self._chat_noted()
        with trio.move_on_at(self.chat.closes_at):
            while self.chat.closes_at is not None and trio.current_time() < self.chat.closes_at:
                self._handle(await self.inbox.receive())
        if self.journal is not None:
            self.journal.chat_lingers(self.game, None)  # closed (not when cancelled)

    def _chat_noted(self) -> None:
        """Tell the journal the finished game's chat as it is now (a cluster's standby runs
        it again until it closes)."""
        if self.journal is not None:
            self.journal.chat_lingers(self.game, self.chat)

    async def _play(self) -> None:
        """Handle the inbox until the game is over, waking at the armed deadline.

        One cancel scope serves move after move, its deadline moved to each new turn's
        (``_wake_at``): a deadline is re-armed on every move, and a scope made, entered and
        left per move cost more than moving one (the only checkpoint inside is the
        ``receive``, so the deadline can only interrupt the wait).  A new scope is made only
        after one fired.  A move the gate holds (``move_gate``, at saturation) leaves the
        scope and waits outside it: received before the deadline, it is played as it came
        (at its arrival time), never lost to the deadline firing while it waits."""
        gate = self.move_gate
        while not self.game.is_over:
            held: PlayMove | None = None
            with trio.CancelScope() as waiting:
                while not self.game.is_over:
                    self._let_the_computer_move()
                    self._rearm(waiting)
                    self._waiting = waiting
                    try:
                        item = await self.inbox.receive()
                    finally:
                        self._waiting = None
                    if self._failed is not None:
                        raise self._failed  # in ``handle_now``, from another task
                    if gate is not None and isinstance(item, PlayMove) and not gate.admits_now():
                        held = item
                        break
                    self._handle(item)
                    if self._count.due is not None:
                        self._tell_count()  # at once, if a quiet interval came before
            if held is not None and gate is not None:
                await gate.wait_turn()
                self._handle(held)
                if self._count.due is not None:
                    self._tell_count()
                continue
            if not waiting.cancelled_caught:
                continue
            if trio.current_time() < self.deadline:
                self._tell_count()  # only the count notice was due
                continue
            # Moves already queued were received before now: they are played at the time
            # they arrived, so one that beat the flag still counts.
            self._handle_queued()
            self._apply(core.DeadlineReached())

    def handle_now(self, item: GameInput, admitted: bool = False) -> bool:
        """Handle ``item`` in the caller's task, as ``_play`` would have on receiving it, if
        the game waits idle in ``_play`` for its next item (``game_inbox.DirectInbox``: its
        caller checked that nothing is queued and the task is parked); False: not now, queue
        it.  A computer's game, and a move the move gate holds, take the queue (the task
        has its own work then); ``admitted``: a move its caller had the gate admit (a
        cluster's relay, ``CoreRelay._handle_entries``), not asked again.  What fails is raised by
        the game's own task, which the caller wakes (``wants_waking``), as if it had failed
        there."""
        waiting, gate = self._waiting, self.move_gate
        if waiting is None or self.computer is not None:
            return False
        if (
            not admitted
            and gate is not None
            and isinstance(item, PlayMove)
            and not gate.admits_now()
        ):
            return False
        self._waiting = None  # nothing it causes comes back here (it would, through the inbox)
        try:
            self._handle(item)
            if self._count.due is not None:
                self._tell_count()
        except Exception as error:
            self._failed = error
            return True
        if not self.game.is_over:
            self._rearm(waiting)
            self._waiting = waiting
        return True

    @property
    def wants_waking(self) -> bool:
        """After ``handle_now``: the task must run (the game is over, or the item failed)."""
        return self._failed is not None or self.game.is_over

    def _rearm(self, waiting: trio.CancelScope) -> None:
        """Make ``waiting`` wake the game no later than its next deadline (``_wake_at``).
        Only ever brought forward: a move pushes the turn's deadline back, and moving a
        scope's deadline costs Trio a heap push (and a generator context manager) on every
        move.  A scope that fires before the game's deadline only wakes ``_play`` early,
        which sees it is not due and waits again with the right one: once per turn's length
        at most, against once per move."""
        wake = self._wake_at()
        if wake < waiting.deadline:
            waiting.deadline = wake

    def _wake_at(self) -> float:
        """The armed deadline, or the spectator count's notice if that is due first."""
        count_due = self._count.due
        return self.deadline if count_due is None else min(self.deadline, count_due)

    def _let_the_computer_move(self) -> None:
        """On the computer's turn, start it thinking (once a turn); its move comes back
        through the inbox like a person's."""
        computer, game = self.computer, self.game
        if computer is None or game.is_over or game.mover != computer.computer.seat:
            return
        plies = len(game.board.moves)
        if plies == self._thinking_at or self._nursery is None:
            return
        self._thinking_at = plies
        self._nursery.start_soon(self._think, computer, game.board.moves)

    async def _think(self, computer: ComputerPlayer, moves: tuple[int, ...]) -> None:
        with trio.CancelScope() as self._thinking:
            if self.game.is_over:
                return
            await computer.play(moves)

    def _handle(self, item: GameInput) -> None:
        if self.door:
            # Spectators who asked before this item: in the order the lobby routed them.
            for waiting in self.door.take():
                self._handle(waiting)
        match item:
            case PlayMove(
                sender=sender, name=name, column=column, received_at=received_at, ply=ply
            ):
                move = core.MoveRequested(sender.conn, name, column, ply)
                self._apply(move, sender, received_at)
                if received_at:
                    self.metrics.move_seconds.observe(trio.current_time() - received_at)
            case QuitGame(sender=sender, name=name):
                self._apply(core.QuitRequested(sender.conn, name), sender)
            case MovedOn(conn=conn):
                self.chat = self.chat.player_moved_on(conn, self.game, trio.current_time())
                if self.game.is_over:
                    self._chat_noted()
            case GameRequest(sender=sender, event=event):
                self._apply(event, sender)
            case Say(sender=sender, name=name, text=text, sent_at=sent_at):
                request = chat_rules.ChatRequest(sender.conn, name, text, sent_at)
                before_chat = self.chat
                self.chat, effects = chat_rules.say(
                    self.chat, self.game, request, trio.current_time()
                )
                if self.journal is not None and self.chat is not before_chat:
                    if self.game.is_over:
                        self._chat_noted()  # its game's fields are gone (or soon will be)
                    else:
                        self.journal.chat_changed(self.game_id, self.chat.voices)
                self._carry_out(effects, sender)
            case WatchGame(mailbox=mailbox, spectators=spectators):
                self._watch(mailbox, spectators)
            case UnwatchGame(conn=conn, tell=tell):
                self._serve_spectators()  # what was public before it left, then no more
                leaving = self.spectators.pop(conn, None)
                self._count.set(len(self.spectators))
                if leaving is not None and tell:
                    leaving.deliver(encode(Unwatched(game_id=self.game_id)))
            case Knock():
                pass  # the door was opened above
            case SeatLeft(name=name):
                self._apply(core.SeatLeft(name))
            case SeatReturned(name=name, mailbox=mailbox):
                self.mailboxes[mailbox.conn] = mailbox
                self._apply(core.SeatReturned(name, mailbox.conn))
                self.mailboxes = {c: self.mailboxes[c] for c in self.game.connected()}

    def _watch(self, mailbox: Mailbox, spectators: int) -> None:
        """A new spectator gets the players, colours and position now; then it hears what
        the players hear.  A finished game is refused (the lobby routed the request before
        it heard of the end)."""
        if self.game.is_over:
            refusal = Error(code="game_over", message="this game is over", ref="watch")
            self.metrics.errors.labels(refusal.code).inc()
            mailbox.deliver(encode(refusal))
            return
        # Frames still on their way to the others show older positions than the one this
        # spectator is about to get: they go out first, never after it.
        self._serve_spectators()
        self.spectators[mailbox.conn] = mailbox
        if not self._relaying and self._nursery is not None:
            self._relaying = True
            self._nursery.start_soon(self._relay, name=f"spectators of {self.game_id}")
        self._count.set(len(self.spectators))
        for message in core.watching(
            self.game, spectators, max(self._last_now, trio.current_time())
        ):
            mailbox.deliver(encode(message))

    def _tell_count(self) -> None:
        """Tell the players how many watch, if that is due now: at most about once a second
        (``CountNotice``).  Not the spectators: each got the count in its ``watching``, and
        a thousand of them need not hear every arrival."""
        count = self._count.take(trio.current_time())
        if count is None or self.game.is_over:
            return
        frame = encode(SpectatorCount(game_id=self.game_id, spectators=count))
        for mailbox in self.mailboxes.values():
            mailbox.deliver(frame)

    def _refuse_late_requests(self) -> None:
        """Answer moves (and watches) that were already queued when the game ended, instead
        of dropping them."""
        self._handle_queued()
        self._handle(KNOCK)

    def _handle_queued(self) -> None:
        while True:
            try:
                self._handle(self.inbox.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return

    def _apply(self, event: core.Event, sender: Mailbox | None = None, at: float = 0.0) -> None:
        """Feed one event to the core at time ``at`` (when its frame arrived; 0: now), never
        earlier than an event before it. The ``Game`` is immutable, so whatever fails here,
        the abort that follows starts from a whole state, never a half-changed one."""
        self._last_now = max(self._last_now, at or trio.current_time())
        before = self.game
        self.game, effects = core.apply(before, event, self._last_now)
        if self.journal is not None and self.game is not before:
            self.journal.game_changed(self.game)
        self._carry_out(effects, sender, at)
        if self.progress is not None and len(self.game.board.moves) != len(before.board.moves):
            self.progress(GameMoved(self.game_id, len(self.game.board.moves)))
        if self.game.is_over and not before.is_over:
            self._time_the_deadline(before)

    def _time_the_deadline(self, before: core.Game) -> None:
        """If a deadline ended the game, how late its ``game_over`` was queued (the server's
        own measure of its timers: ``c4_deadline_lateness_seconds``, what the timed-games
        benchmark reads)."""
        due = before.deadline
        if due is None or self._last_now < due:
            return  # a move, a quit or an abort ended it, not a deadline
        kind = "turn" if due == before.turn_deadline else "grace"
        lateness = trio.current_time() - due
        self.metrics.deadline_lateness_seconds.labels(kind).observe(max(0.0, lateness))

    def _carry_out(
        self, effects: list[core.Effect], sender: Mailbox | None = None, answers: float = 0.0
    ) -> None:
        """``answers``: when the sender's frame arrived (a move's), to time the replies to it."""
        for effect in effects:
            match effect:
                case core.Send(to=to, message=message, spectators=public):
                    if isinstance(message, Error):
                        self.metrics.errors.labels(message.code).inc()
                    frame = PreparedFrame(encode_frame(message))  # game_state by hand
                    self._deliver(to, frame, sender, answers)
                    if public and self.spectators:
                        # The same frame, after the players (``_relay``): a spectator costs
                        # them nothing (``deliver`` never waits; a full inbox drops it).
                        self._for_spectators.append(frame)
                        self._relay_wake.set()
                case core.ArmDeadline(at=at):
                    self.deadline = at
                case core.CancelDeadline():
                    self.deadline = math.inf
                case core.Finished(result=result):
                    self.chat = self.chat.game_ended(trio.current_time())
                    self.metrics.games_finished.labels(result.reason).inc()
                    log.info(
                        "game ended game_id=%s winner=%s reason=%s moves=%d",
                        self.game_id,
                        result.winner,
                        result.reason,
                        len(result.moves),
                    )

    def _deliver(
        self,
        to: tuple[int, ...],
        frame: PreparedFrame,
        sender: Mailbox | None = None,
        answers: float = 0.0,
    ) -> None:
        sent = 0
        for conn in to:
            mailbox = self.mailboxes.get(conn)
            if mailbox is None and sender is not None and sender.conn == conn:
                mailbox = sender  # a reply to a socket that holds no seat
            if mailbox is None:
                continue
            if answers and sender is not None and sender.conn == conn:
                if mailbox.deliver_frame(frame, answers, "move"):
                    sent += 1  # written now: the reply's time is known now
                    seconds = max(0.0, trio.current_time() - answers)
                    self.metrics.reply_seconds.labels("move").observe(seconds)
            else:
                sent += mailbox.deliver_frame(frame)
        if sent:
            self.metrics.messages_out.inc(sent)

    def _tell_not_saved(self) -> None:
        text = "the result could not be saved: records are unchanged"
        error = Error(code="result_not_saved", message=text)
        self._carry_out([core.Send(self.game.connected(), error)])
