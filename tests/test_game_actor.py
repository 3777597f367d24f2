"""The game actor as a shell: real mailboxes and inbox, a recording store, Trio's MockClock.

Grace periods run under pytest-trio's ``autojump_clock``: twenty seconds of grace take
no real time, and the deadline is checked to the clock's exact second.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import attrs
import pytest
import trio
import trio.testing

from c4actors import game_state as core
from c4actors.actors.game import GameActor
from c4actors.actors.game_inbox import (
    GAME_INBOX_SIZE,
    DirectInbox,
    GameInput,
    MovedOn,
    PlayMove,
    QuitGame,
    Say,
    SeatLeft,
    SeatReturned,
    UnwatchGame,
    WatchGame,
)
from c4actors.actors.mailbox import CLOSE_TOO_SLOW, Mailbox, Outgoing
from c4actors.chat_rules import ChatSettings
from c4actors.game_record import GameRecord, GameResult, GameSetup, Player
from c4actors.lobby_state import GameEnded
from c4actors.metrics import Metrics
from c4actors.move_gate import MoveGate
from c4actors.store import Store
from c4actors.websocket_direct import DirectWriter, Written
from c4actors.websocket_frames import PreparedFrame
from protocol import (
    ChatMessage,
    Clocks,
    Error,
    GameOver,
    GameStarted,
    GameState,
    OpponentDisconnected,
    ServerMessage,
    SpectatorCount,
    TimeControl,
    decode_server,
)
from tests.task_steps import counting_steps, every_other_task

GRACE = 20.0
SETUP = GameSetup(
    game_id="g1",
    player1=Player(name="ann", color="red"),
    player2=Player(name="bob", color="yellow"),
)


class RecordingStore:
    """Keeps what the game saves; only ``record_game`` is ever called by a game."""

    def __init__(self) -> None:
        self.records: list[GameRecord] = []

    async def record_game(self, record: GameRecord) -> None:
        self.records.append(record)


@attrs.define
class Socket:
    """One player's end: the mailbox the game delivers to and what arrived there."""

    mailbox: Mailbox
    receive: trio.MemoryReceiveChannel[Outgoing]

    def messages(self) -> list[ServerMessage]:
        out: list[ServerMessage] = []
        while True:
            try:
                item = self.receive.receive_nowait()
            except trio.WouldBlock:
                return out
            assert isinstance(item, str)
            out.append(decode_server(item))


def socket(conn: int) -> Socket:
    send, receive = trio.open_memory_channel[Outgoing](256)
    return Socket(Mailbox(conn, send), receive)


@attrs.define
class Table:
    inbox: trio.MemorySendChannel[GameInput]
    ann: Socket
    bob: Socket
    reports: list[GameEnded]
    store: RecordingStore
    done: trio.Event
    metrics: Metrics
    direct: DirectInbox
    """The inbox as a cluster's core gives it (told its game only with ``direct=True``)."""

    def deadline_lateness(self, kind: str) -> tuple[float, float]:
        """``c4_deadline_lateness_seconds{deadline=kind}``: how many, and their sum."""
        labels = {"deadline": kind}
        get = self.metrics.registry.get_sample_value
        name = "c4_deadline_lateness_seconds"
        return get(f"{name}_count", labels) or 0.0, get(f"{name}_sum", labels) or 0.0


@asynccontextmanager
async def running_game(
    move_timeout: float = 0.0,
    chat: ChatSettings | None = None,
    setup: GameSetup = SETUP,
    first_move_seconds: float = 30.0,
    move_gate: MoveGate | None = None,
    direct: bool = False,
) -> AsyncIterator[Table]:
    send, receive = trio.open_memory_channel[GameInput](GAME_INBOX_SIZE)
    ann, bob = socket(1), socket(2)
    reports: list[GameEnded] = []
    store = RecordingStore()
    done = trio.Event()
    metrics = Metrics()

    async def report(ended: GameEnded) -> None:
        reports.append(ended)

    actor = GameActor(
        setup,
        (ann.mailbox, bob.mailbox),
        receive,
        report,
        cast(Store, store),
        metrics,
        grace_seconds=GRACE,
        move_timeout=move_timeout,
        chat=chat,
        first_move_seconds=first_move_seconds,
        move_gate=move_gate,
    )
    direct_inbox = DirectInbox(send)
    if direct:
        direct_inbox.game = actor

    async def run() -> None:
        await actor.run()
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        table = Table(send, ann, bob, reports, store, done, metrics, direct_inbox)
        assert [type(m) for m in ann.messages()] == [GameStarted, GameState]
        assert [type(m) for m in bob.messages()] == [GameStarted, GameState]
        yield table
        nursery.cancel_scope.cancel()


def game_over(messages: list[Any]) -> GameOver:
    [over] = [m for m in messages if isinstance(m, GameOver)]
    return over


async def test_a_player_who_stays_away_loses_when_the_grace_period_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game() as table:
        left_at = trio.current_time()
        await table.inbox.send(SeatLeft("bob"))
        await table.done.wait()
        assert trio.current_time() - left_at == GRACE
        messages = table.ann.messages()
        assert messages[0] == OpponentDisconnected(game_id="g1", grace_seconds=GRACE)
        over = game_over(messages)
        assert (over.winner, over.reason) == ("ann", "disconnect")
        result = GameResult(winner="ann", reason="disconnect")
        assert table.reports == [GameEnded("g1", result)]


async def test_coming_back_within_the_grace_period_cancels_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game() as table:
        await table.inbox.send(SeatLeft("bob"))
        await trio.sleep(GRACE - 1)
        bob_again = socket(3)
        await table.inbox.send(SeatReturned("bob", bob_again.mailbox))
        await trio.sleep(10 * GRACE)
        assert not table.done.is_set()
        assert [type(m) for m in bob_again.messages()] == [GameStarted, GameState]
        # The game goes on with the new socket.
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 3))
        await table.inbox.send(PlayMove(bob_again.mailbox, "bob", 3))
        await trio.testing.wait_all_tasks_blocked()
        states = [m for m in bob_again.messages() if isinstance(m, GameState)]
        assert states[-1].moves == [3, 3]


async def test_both_away_when_the_first_deadline_passes_aborts_the_game(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game() as table:
        left_at = trio.current_time()
        await table.inbox.send(SeatLeft("ann"))
        await trio.sleep(5)
        await table.inbox.send(SeatLeft("bob"))
        await table.done.wait()
        assert trio.current_time() - left_at == GRACE
        [ended] = table.reports
        assert ended.result == GameResult(winner=None, reason="aborted")
        assert not ended.result.counts


MOVE_TIMEOUT = 120.0


async def test_a_player_who_does_not_move_loses_on_time_exactly_at_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game(MOVE_TIMEOUT) as table:
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 3))
        await trio.sleep(100)
        await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 3))
        await trio.testing.wait_all_tasks_blocked()
        moved_at = trio.current_time()
        states = [m for m in table.ann.messages() if isinstance(m, GameState)]
        assert (states[-1].next, states[-1].seconds_to_move) == ("ann", MOVE_TIMEOUT)
        await table.done.wait()
        assert trio.current_time() - moved_at == MOVE_TIMEOUT
        for player in (table.ann, table.bob):
            over = game_over(player.messages())
            assert (over.winner, over.reason) == ("bob", "timeout")
        [ended] = table.reports
        assert ended.result == GameResult(winner="bob", reason="timeout", moves=(3, 3))
        assert ended.result.counts


async def test_a_game_nobody_opens_is_aborted_at_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game(MOVE_TIMEOUT) as table:
        started_at = trio.current_time()
        await table.done.wait()
        assert trio.current_time() - started_at == MOVE_TIMEOUT
        [ended] = table.reports
        assert ended.result == GameResult(winner=None, reason="aborted")
        assert table.store.records == []


async def test_the_game_is_reported_at_once_and_its_chat_lives_on_for_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game(chat=ChatSettings(after_game_seconds=60)) as table:
        await table.inbox.send(Say(table.ann.mailbox, "ann", "good luck", 100.0))
        await table.inbox.send(QuitGame(table.bob.mailbox, "bob"))
        await trio.testing.wait_all_tasks_blocked()
        ended_at = trio.current_time()
        assert [r.result.reason for r in table.reports] == ["forfeit"]
        assert not table.done.is_set()
        await table.inbox.send(Say(table.bob.mailbox, "bob", "gg", 101.0))
        await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 0))
        await trio.testing.wait_all_tasks_blocked()
        messages = table.bob.messages()
        lines = [m.text for m in messages if isinstance(m, ChatMessage)]
        assert lines == ["good luck", "gg"]
        assert [m.code for m in messages if isinstance(m, Error)] == ["game_over"]
        await table.done.wait()
        assert trio.current_time() - ended_at == 60
        with pytest.raises(trio.BrokenResourceError):
            table.inbox.send_nowait(Say(table.ann.mailbox, "ann", "too late", 0.0))


async def test_without_chat_the_game_ends_with_its_last_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game(chat=ChatSettings(enabled=False)) as table:
        await table.inbox.send(Say(table.ann.mailbox, "ann", "hello", 100.0))
        await table.inbox.send(QuitGame(table.bob.mailbox, "bob"))
        await table.done.wait()
        errors = [m for m in table.ann.messages() if isinstance(m, Error)]
        assert [e.code for e in errors] == ["chat_off"]


async def test_the_chat_after_the_end_stops_once_both_players_moved_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game(chat=ChatSettings(after_game_seconds=60)) as table:
        await table.inbox.send(QuitGame(table.bob.mailbox, "bob"))
        await trio.testing.wait_all_tasks_blocked()
        ended_at = trio.current_time()
        await trio.sleep(5)
        await table.inbox.send(MovedOn(table.ann.mailbox.conn))
        await trio.sleep(5)
        assert not table.done.is_set()
        await table.inbox.send(MovedOn(table.bob.mailbox.conn))
        await table.done.wait()
        assert trio.current_time() - ended_at == 10


ONE_PLUS_ONE = attrs.evolve(SETUP, time_control=TimeControl(base_seconds=60, increment_seconds=1))


async def test_a_timed_player_flags_exactly_when_their_clock_runs_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game(MOVE_TIMEOUT, setup=ONE_PLUS_ONE) as table:
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 3, trio.current_time()))
        await trio.sleep(20)  # first moves are free
        await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 3, trio.current_time()))
        await trio.sleep(40)  # ann spends 40 of her 60, gains 1
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 4, trio.current_time()))
        await trio.testing.wait_all_tasks_blocked()
        state = [m for m in table.bob.messages() if isinstance(m, GameState)][-1]
        assert state.clocks == Clocks(player1=21, player2=60)
        await trio.sleep(59)  # bob spends 59 of 60 and moves
        await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 4, trio.current_time()))
        await trio.testing.wait_all_tasks_blocked()
        flag_at = trio.current_time() + 21  # ann does not move again
        await table.done.wait()
        assert trio.current_time() == flag_at
        over = game_over(table.bob.messages())
        assert (over.winner, over.reason) == ("bob", "timeout")
        [ended] = table.reports
        assert ended.result == GameResult(winner="bob", reason="timeout", moves=(3, 3, 4, 4))


async def test_the_server_times_each_deadline_that_ends_a_game_and_only_those(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The timed-games benchmark reads the server's own measure of its timers: a flag on
    time is recorded as 0 s late; a grace period's end apart; a game a move ends, not at all."""
    async with running_game(MOVE_TIMEOUT, setup=ONE_PLUS_ONE) as table:
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 3, trio.current_time()))
        await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 3, trio.current_time()))
        await table.done.wait()
        assert table.deadline_lateness("turn") == (1, 0)
        assert table.deadline_lateness("grace") == (0, 0)
    async with running_game() as table:
        await table.inbox.send(SeatLeft("bob"))
        await table.done.wait()
        assert table.deadline_lateness("grace") == (1, 0)
    async with running_game(MOVE_TIMEOUT) as table:
        for _ in range(3):
            await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 0))
            await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 1))
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 0))
        await table.done.wait()
        assert game_over(table.bob.messages()).reason == "four_in_a_row"
        assert table.deadline_lateness("turn") == (0, 0)


async def test_a_flag_handled_late_is_recorded_as_late_as_it_was(
    mock_clock: trio.testing.MockClock,
) -> None:
    """A server too busy to wake on time: the clock jumps 4 s past the flag before the game
    runs again, and the lateness says so (the game still ends by the flag)."""
    async with running_game(MOVE_TIMEOUT, setup=ONE_PLUS_ONE) as table:
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 3, trio.current_time()))
        await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 3, trio.current_time()))
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(60 + 4)  # ann's 60 s run out; nothing ran meanwhile
        await table.done.wait()
        assert game_over(table.bob.messages()).reason == "timeout"
        count, total = table.deadline_lateness("turn")
        assert count == 1 and total == pytest.approx(4)


async def test_a_timed_game_whose_first_move_never_comes_is_aborted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game(MOVE_TIMEOUT, setup=ONE_PLUS_ONE, first_move_seconds=30) as table:
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 3))
        await trio.testing.wait_all_tasks_blocked()
        moved_at = trio.current_time()
        await table.done.wait()
        assert trio.current_time() - moved_at == 30
        [ended] = table.reports
        assert ended.result == GameResult(winner=None, reason="aborted", moves=(3,))
        assert not ended.result.counts and table.store.records == []


async def test_a_timed_player_who_is_away_flags_before_their_grace_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    short = attrs.evolve(SETUP, time_control=TimeControl(base_seconds=15))
    async with running_game(MOVE_TIMEOUT, setup=short) as table:
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 3))
        await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 3))
        await trio.testing.wait_all_tasks_blocked()
        started = trio.current_time()
        await table.inbox.send(SeatLeft("ann"))  # grace 20 s; her clock has 15
        await table.done.wait()
        assert trio.current_time() - started == 15
        [ended] = table.reports
        assert (ended.result.winner, ended.result.reason) == ("bob", "timeout")


async def test_time_is_charged_from_when_each_move_was_received(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A move that waited in the inbox is played at its arrival time, not when handled."""
    async with running_game(MOVE_TIMEOUT, setup=ONE_PLUS_ONE) as table:
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 3))
        await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 3))
        await trio.testing.wait_all_tasks_blocked()
        turn_began = trio.current_time()
        await trio.sleep(30)
        arrived = trio.current_time() - 10  # it reached the server 10 s ago
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 4, arrived))
        await trio.testing.wait_all_tasks_blocked()
        state = [m for m in table.bob.messages() if isinstance(m, GameState)][-1]
        assert state.clocks == Clocks(player1=60 - (arrived - turn_began) + 1, player2=60)


async def test_a_move_the_gate_holds_past_the_deadline_is_still_played(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A move received before the flag but held by the move gate (saturation) waits outside
    the deadline's scope: it is played at its arrival time, and the deadline firing while it
    waits does not lose it (here ann's move beats her flag, so bob's clock runs out)."""
    gate_clock = [0.0]
    gate = MoveGate(0.005, clock=lambda: gate_clock[0])  # not installed: turns by hand
    gate.after_io_wait(0.0)
    fifteen = attrs.evolve(SETUP, time_control=TimeControl(base_seconds=15))
    async with running_game(MOVE_TIMEOUT, setup=fifteen, move_gate=gate) as table:
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 3))
        await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 3))
        await trio.testing.wait_all_tasks_blocked()
        assert gate.waited == 0
        gate_clock[0] = 1.0  # this turn's budget is spent: the next move waits
        await trio.sleep(5)
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 4, trio.current_time()))
        await trio.testing.wait_all_tasks_blocked()
        assert gate.waited == 1
        await trio.sleep(20)  # ann's 15 s are over while her move waits for a turn
        assert not table.done.is_set()
        gate.after_io_wait(0.0)  # a new turn: her move starts
        await table.done.wait()
        [ended] = table.reports
        assert (ended.result.winner, ended.result.reason) == ("ann", "timeout")


class RecordingMailbox(Mailbox):
    """A mailbox that also writes each delivery, in order, to a log shared by the table."""

    __slots__ = ("log",)

    def __init__(
        self, conn: int, send: trio.MemorySendChannel[Outgoing], log: list[tuple[int, str]]
    ) -> None:
        super().__init__(conn, send)
        self.log = log

    def deliver(self, item: Outgoing) -> bool:
        if isinstance(item, str):
            self.log.append((self.conn, item))
        return super().deliver(item)


async def test_each_move_is_one_frame_for_the_players_first_then_every_spectator(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[int, str]] = []
    async with running_game() as table:
        spectators = []
        for conn in (11, 12, 13):
            send, receive = trio.open_memory_channel[Outgoing](256)
            spectators.append((RecordingMailbox(conn, send, log), receive))
        for mailbox, _ in spectators:
            await table.inbox.send(WatchGame(mailbox, 1))
        await trio.testing.wait_all_tasks_blocked()
        # The players come back on recording mailboxes too, so one log orders everyone.
        ann_send, _ann_receive = trio.open_memory_channel[Outgoing](256)
        bob_send, _bob_receive = trio.open_memory_channel[Outgoing](256)
        ann = RecordingMailbox(21, ann_send, log)
        bob = RecordingMailbox(22, bob_send, log)
        await table.inbox.send(SeatReturned("ann", ann))
        await table.inbox.send(SeatReturned("bob", bob))
        await trio.testing.wait_all_tasks_blocked()
        log.clear()
        await table.inbox.send(PlayMove(ann, "ann", 3))
        await trio.testing.wait_all_tasks_blocked()
        assert [conn for conn, _ in log] == [21, 22, 11, 12, 13]
        # One frame: the very same string object went to every socket.
        assert len({id(frame) for _, frame in log}) == 1
        assert isinstance(decode_server(log[0][1]), GameState)


async def test_a_spectator_whose_inbox_is_full_is_dropped_and_the_players_go_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game() as table:
        send, _receive = trio.open_memory_channel[Outgoing](3)  # never read
        slow = Mailbox(11, send)
        await table.inbox.send(WatchGame(slow, 1))  # watching + game_state: 2 of 3
        for mover, column in (("ann", 0), ("bob", 1), ("ann", 0)):
            mailbox = table.ann.mailbox if mover == "ann" else table.bob.mailbox
            await table.inbox.send(PlayMove(mailbox, mover, column))
        await trio.testing.wait_all_tasks_blocked()
        assert slow.closed and slow.close_code == CLOSE_TOO_SLOW
        for player in (table.ann, table.bob):
            states = [m for m in player.messages() if isinstance(m, GameState)]
            assert [s.moves for s in states] == [[0], [0, 1], [0, 1, 0]]
        assert not table.ann.mailbox.closed and not table.bob.mailbox.closed


async def test_the_players_hear_the_spectator_count_at_most_once_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game() as table:
        watchers = [socket(conn) for conn in (11, 12, 13)]
        start = trio.current_time()
        for number, watcher in enumerate(watchers, 1):
            await table.inbox.send(WatchGame(watcher.mailbox, number))
        await trio.testing.wait_all_tasks_blocked()
        # The first change goes out at once; the two others wait for the second to pass.
        assert table.ann.messages() == [SpectatorCount(game_id="g1", spectators=1)]
        await trio.sleep(0.5)
        await table.inbox.send(UnwatchGame(11, tell=False))
        await trio.testing.wait_all_tasks_blocked()
        assert table.bob.messages() == [SpectatorCount(game_id="g1", spectators=1)]
        await trio.sleep(1.0)
        assert trio.current_time() - start == 1.5
        # One notice at start + 1 s, with the count then: 2 (three came, one went).
        assert table.ann.messages() == [SpectatorCount(game_id="g1", spectators=2)]
        # Spectators got their count in ``watching``: no notices for them.
        assert not [m for m in watchers[2].messages() if isinstance(m, SpectatorCount)]
        # Nothing more while nothing changes.
        await trio.sleep(10)
        assert table.ann.messages() == []


async def test_the_players_writers_take_each_move_before_any_spectators_writer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Not only delivered first: written first.  Every connection's writer is a task, and
    Trio runs the tasks woken in one step in an order it leaves to chance (half its batches
    reversed), so ten moves in a row would see a spectator's writer beat a player's."""
    taken: list[int] = []

    async def writer(conn: int, receive: trio.MemoryReceiveChannel[Outgoing]) -> None:
        async for _ in receive:
            taken.append(conn)

    async with running_game() as table, trio.open_nursery() as writers:

        def connection(conn: int) -> Mailbox:
            send, receive = trio.open_memory_channel[Outgoing](256)
            writers.start_soon(writer, conn, receive)
            return Mailbox(conn, send)

        ann, bob = connection(21), connection(22)
        await table.inbox.send(SeatReturned("ann", ann))
        await table.inbox.send(SeatReturned("bob", bob))
        for conn in range(100, 120):
            await table.inbox.send(WatchGame(connection(conn), conn - 99))
        await trio.sleep(2)  # the players have been told how many watch: no more notices
        for number, column in enumerate([0, 1, 1, 0, 2, 3, 3, 2, 4, 5]):  # nobody wins
            taken.clear()
            mover = (ann, "ann") if number % 2 == 0 else (bob, "bob")
            await table.inbox.send(PlayMove(mover[0], mover[1], column))
            await trio.testing.wait_all_tasks_blocked()
            assert len(taken) == 22 and sorted(taken[:2]) == [21, 22], taken
        writers.cancel_scope.cancel()


class RecordingWriter(DirectWriter):
    """A direct writer whose socket takes every frame (or none: ``full``), into one log."""

    def __init__(self, conn: int, log: list[tuple[int, str]], full: bool = False) -> None:
        self.conn, self.log, self.full = conn, log, full

    def write_nowait(self, frame: PreparedFrame) -> Written:
        if self.full:
            return Written.NOTHING
        self.log.append((self.conn, frame.text))
        return Written.WHOLE


async def test_with_direct_writers_the_players_are_written_first_and_no_spectator_task_wakes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each move is written to the players' sockets, then to every spectator's, from the
    game's own tasks: nothing is queued for a spectator's writer task.  A player whose frame
    had to be queued (its socket was full) is still written before any spectator: the
    relay waits until its writer reports the frame written."""
    log: list[tuple[int, str]] = []
    async with running_game() as table, trio.open_nursery() as writers:
        spectators: list[tuple[Mailbox, trio.MemoryReceiveChannel[Outgoing]]] = []
        for conn in range(100, 110):
            send, receive = trio.open_memory_channel[Outgoing](256)
            mailbox = Mailbox(conn, send, direct=RecordingWriter(conn, log))
            spectators.append((mailbox, receive))
            await table.inbox.send(WatchGame(mailbox, conn - 99))
        await trio.testing.wait_all_tasks_blocked()
        for mailbox, receive in spectators:  # their welcome (queued), as a writer would
            position = 0
            while True:
                try:
                    receive.receive_nowait()
                except trio.WouldBlock:
                    break
                position += 1
                mailbox.written(position)
            assert not mailbox.unwritten()

        async def writer(mailbox: Mailbox, receive: trio.MemoryReceiveChannel[Outgoing]) -> None:
            position = 0
            async for item in receive:
                for _ in range(3):  # a write through hypercorn takes a few steps
                    await trio.lowlevel.checkpoint()
                assert isinstance(item, str)
                log.append((mailbox.conn, item))
                position += 1
                mailbox.written(position)

        players = []
        for conn, name in ((21, "ann"), (22, "bob")):
            send, receive = trio.open_memory_channel[Outgoing](256)
            mailbox = Mailbox(conn, send, direct=RecordingWriter(conn, log))
            writers.start_soon(writer, mailbox, receive)
            await table.inbox.send(SeatReturned(name, mailbox))
            players.append(mailbox)
        ann, bob = players
        await trio.sleep(2)  # the players have been told how many watch: no more notices
        for number, column in enumerate([0, 1, 1, 0, 2, 3]):  # nobody wins
            log.clear()
            assert isinstance(bob.direct, RecordingWriter)
            bob.direct.full = number >= 3  # from the 4th move, bob's frames are queued
            mover = (ann, "ann") if number % 2 == 0 else (bob, "bob")
            await table.inbox.send(PlayMove(mover[0], mover[1], column))
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(conn for conn, _ in log[:2]) == [21, 22], log
            assert sorted(conn for conn, _ in log[2:]) == list(range(100, 110)), log
            assert len({text for _, text in log}) == 1
        for _, receive in spectators:
            with pytest.raises(trio.WouldBlock):
                receive.receive_nowait()
        writers.cancel_scope.cancel()


async def test_the_spectators_hear_the_end_before_the_lobby_is_told(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The lobby's news of the players' return must not overtake the ``game_over`` on its way
    to a spectator (who is in the lobby too): the relay serves them before the report."""
    heard: list[str] = []
    send, receive = trio.open_memory_channel[GameInput](GAME_INBOX_SIZE)
    ann, bob = socket(1), socket(2)
    spectator_send, _spectator_receive = trio.open_memory_channel[Outgoing](256)
    spectator = RecordingMailbox(11, spectator_send, [])

    async def report(ended: GameEnded) -> None:
        heard.append("report")

    actor = GameActor(
        SETUP,
        (ann.mailbox, bob.mailbox),
        receive,
        report,
        cast(Store, RecordingStore()),
        Metrics(),
        grace_seconds=GRACE,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run)
        await send.send(WatchGame(spectator, 1))
        await trio.testing.wait_all_tasks_blocked()
        spectator.log.clear()
        await send.send(QuitGame(ann.mailbox, "ann"))
        with trio.fail_after(5):
            while "report" not in heard:
                await trio.lowlevel.checkpoint()
                heard.extend(type(decode_server(frame)).__name__ for _, frame in spectator.log)
                spectator.log.clear()
    assert heard[heard.index("report") - 1] == "GameOver", heard


@pytest.mark.parametrize(("after_flag", "counts"), [(-0.001, True), (0.0, False), (0.001, False)])
async def test_a_move_just_before_the_flag_counts_and_one_at_or_after_it_does_not(
    autojump_clock: trio.testing.MockClock, after_flag: float, counts: bool
) -> None:
    """ann's clock (60 s) starts at bob's first move: her move 1 ms before it runs out is
    played; at the flag, or 1 ms after, the game is already over on time."""
    async with running_game(MOVE_TIMEOUT, setup=ONE_PLUS_ONE) as table:
        await table.inbox.send(PlayMove(table.ann.mailbox, "ann", 3, trio.current_time()))
        await table.inbox.send(PlayMove(table.bob.mailbox, "bob", 3, trio.current_time()))
        await trio.testing.wait_all_tasks_blocked()
        flag_at = trio.current_time() + 60
        table.ann.messages()
        await trio.sleep_until(flag_at + after_flag)
        late = PlayMove(table.ann.mailbox, "ann", 4, trio.current_time())
        if counts:
            await table.inbox.send(late)
            await trio.testing.wait_all_tasks_blocked()
            state = [m for m in table.ann.messages() if isinstance(m, GameState)][-1]
            assert state.moves == [3, 3, 4] and state.next == "bob"
            # 1 ms left, plus the increment.
            assert state.clocks is not None and state.clocks.player1 == pytest.approx(1.001)
            assert not table.reports
        else:
            # The game is over at the flag's exact time, whichever the actor sees first: the
            # late move (the core ends the game by the flag) or the deadline (its inbox is
            # closed, and the connection answers `game_over` itself).
            with contextlib.suppress(trio.BrokenResourceError):
                table.inbox.send_nowait(late)
            await table.done.wait()
            over = game_over(table.ann.messages())
            assert (over.winner, over.reason) == ("bob", "timeout")
            [ended] = table.reports
            assert ended.result.moves == (3, 3)


# --------------------------------------------------------------------------- the core's inbox


def states(socket: Socket) -> list[list[int]]:
    return [m.moves for m in socket.messages() if isinstance(m, GameState)]


async def test_a_game_waiting_idle_handles_a_direct_move_in_the_senders_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game(MOVE_TIMEOUT, direct=True) as table:
        with counting_steps(every_other_task()) as steps:
            for ply, (player, name) in enumerate([(table.ann, "ann"), (table.bob, "bob")] * 2):
                table.direct.send_nowait(PlayMove(player.mailbox, name, 3 + ply % 2, ply=ply))
                # Handled before the sender yields: the frames are in the mailboxes already.
                assert states(table.ann)[-1] == states(table.bob)[-1] == [3, 4, 3, 4][: ply + 1]
            await trio.testing.wait_all_tasks_blocked()
        assert steps.steps == 0, steps.by_name  # the game's task was never woken
        # The turn's deadline still ends the game exactly one timeout after the last move,
        # though its cancel scope was never moved past the first deadline (``_rearm``).
        moved_at = trio.current_time()
        await table.done.wait()
        assert trio.current_time() - moved_at == MOVE_TIMEOUT
        assert (game_over(table.ann.messages()).reason, table.reports[0].result.winner) == (
            "timeout",
            "bob",
        )


async def test_a_direct_item_behind_a_queued_one_is_queued_and_handled_after_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game(direct=True) as table:
        # Handed to the game's task, which has not run yet: it no longer waits idle.
        table.inbox.send_nowait(PlayMove(table.ann.mailbox, "ann", 3, ply=0))
        table.direct.send_nowait(PlayMove(table.bob.mailbox, "bob", 4, ply=1))
        assert states(table.ann) == []  # neither handled in this task
        await trio.testing.wait_all_tasks_blocked()
        assert states(table.ann) == states(table.bob) == [[3], [3, 4]]


async def test_a_direct_move_that_ends_the_game_wakes_its_task_to_record_and_report(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_game(direct=True) as table:
        for ply, column in enumerate([3, 4, 3, 4, 3, 4, 3]):
            player, name = (table.ann, "ann") if ply % 2 == 0 else (table.bob, "bob")
            table.direct.send_nowait(PlayMove(player.mailbox, name, column, ply=ply))
        with trio.fail_after(1):
            await table.done.wait()
        over = game_over(table.bob.messages())
        assert (over.winner, over.reason) == ("ann", "four_in_a_row")
        [ended] = table.reports
        assert ended.result.winner == "ann"
        assert [record.result.winner for record in table.store.records] == ["ann"]


@pytest.mark.expect_error_logs
async def test_a_direct_item_that_fails_aborts_the_game_as_in_its_own_task(
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    apply = core.apply

    def failing(game: core.Game, event: core.Event, now: float) -> Any:
        if isinstance(event, core.MoveRequested):
            raise RuntimeError("a bug")
        return apply(game, event, now)

    async with running_game(direct=True) as table:
        monkeypatch.setattr(core, "apply", failing)
        table.direct.send_nowait(PlayMove(table.ann.mailbox, "ann", 3, ply=0))  # never raises
        with trio.fail_after(1):
            await table.done.wait()
        for player in (table.ann, table.bob):
            messages = player.messages()
            crash = Error(code="internal_error", message="this game crashed and ended")
            assert crash in messages
            assert game_over(messages).reason == "aborted"
        assert [ended.result.reason for ended in table.reports] == ["aborted"]
        assert "game crashed game_id=g1" in caplog.text
