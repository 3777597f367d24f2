"""The lobby actor as a shell: its broadcasts go out when the update buffer says, in Trio time.

Run under pytest-trio's ``autojump_clock``: a one-second count tick takes no real time, and
the instants asserted are exact.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from c4actors.actors import lobby as lobby_module
from c4actors.actors.game_inbox import GAME_INBOX_SIZE
from c4actors.actors.lobby import (
    FollowRequest,
    Join,
    JoinAnswer,
    LobbyActor,
    SessionDenied,
    SessionGranted,
    StatsQuery,
    WatchRequest,
)
from c4actors.actors.mailbox import Mailbox, Outgoing
from c4actors.live_games import GameMoved
from c4actors.lobby_state import Connected, Request
from c4actors.metrics import Metrics
from c4actors.move_gate import MoveGate
from c4actors.store.sqlite import SQLiteStore
from c4actors.websocket_direct import DirectWriter, Written
from c4actors.websocket_frames import PreparedFrame
from protocol.messages import Accept, Challenge


@asynccontextmanager
async def running_lobby(**options: Any) -> AsyncIterator[LobbyActor]:
    store = await SQLiteStore.open(":memory:")
    try:
        async with trio.open_nursery() as nursery:
            lobby = LobbyActor(store, Metrics(), grace_seconds=20, **options)
            await nursery.start(lobby.run)
            yield lobby
            nursery.cancel_scope.cancel()
    finally:
        await store.aclose()


class Inbox:
    """One fake connection: its mailbox, and the frames the lobby delivered to it."""

    def __init__(self, conn: int) -> None:
        send, self.receive = trio.open_memory_channel[Outgoing](256)
        self.mailbox = Mailbox(conn, send)

    async def frame(self, kind: str) -> dict[str, Any]:
        """The next frame of ``kind``, skipping control items and other frames."""
        while True:
            item = await self.receive.receive()
            if isinstance(item, str) and json.loads(item)["type"] == kind:
                frame: dict[str, Any] = json.loads(item)
                return frame


async def ask(lobby: LobbyActor, event: Connected, inbox: Inbox) -> JoinAnswer:
    reply, answers = trio.open_memory_channel[JoinAnswer](1)
    await lobby.inbox_send.send(Join(event, inbox.mailbox, reply))
    return await answers.receive()


async def join(lobby: LobbyActor, conn: int, name: str) -> Inbox:
    inbox = Inbox(conn)
    assert await ask(lobby, Connected(conn, name), inbox) == SessionGranted(name)
    await inbox.frame("user_list")
    return inbox


async def mailbox_count(lobby: LobbyActor) -> int:
    reply, answers = trio.open_memory_channel[Any](1)
    await lobby.inbox_send.send(StatsQuery(reply))
    stats = await answers.receive()
    return int(stats.mailboxes)


async def test_a_join_is_answered_on_its_reply_channel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_lobby(tick=0.05) as lobby:
        await join(lobby, 1, "ann")
        taken = Inbox(2)
        assert await ask(lobby, Connected(2, "ANN"), taken) == SessionDenied()
        assert (await taken.frame("error"))["code"] == "name_taken"
        assert await mailbox_count(lobby) == 1, "a refused connection is not kept"


async def test_a_join_the_lobby_never_reads_has_its_reply_closed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = await SQLiteStore.open(":memory:")
    lobby = LobbyActor(store, Metrics(), grace_seconds=20, tick=0.05)
    reply, answers = trio.open_memory_channel[JoinAnswer](1)
    await lobby.inbox_send.send(Join(Connected(1, "ann"), Inbox(1).mailbox, reply))
    with trio.CancelScope() as scope:
        scope.cancel()
        await lobby.run()  # stopped before it reads anything
    with pytest.raises(trio.EndOfChannel):
        await answers.receive()
    await store.aclose()


async def test_a_row_change_reaches_watchers_one_tick_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_lobby(tick=0.05) as lobby:
        ann = await join(lobby, 1, "ann")
        await ann.frame("lobby_update")  # ann's own arrival
        start = trio.current_time()
        await join(lobby, 2, "bob")
        update = await ann.frame("lobby_update")
        assert trio.current_time() - start == pytest.approx(0.05)
        assert [u["name"] for u in update["users"]] == ["bob"]


async def test_a_count_change_alone_reaches_watchers_after_the_count_tick(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_lobby(tick=0.05, list_limit=1) as lobby:
        ann = await join(lobby, 1, "ann")
        await ann.frame("lobby_update")
        start = trio.current_time()
        await join(lobby, 2, "bob")  # beyond the list: only the count changes
        update = await ann.frame("lobby_update")
        assert trio.current_time() - start == pytest.approx(1.0)
        assert update == {"type": "lobby_update", "users": [], "left": [], "online": 2}


async def test_a_zero_tick_broadcasts_every_change_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_lobby(tick=0) as lobby:
        ann = await join(lobby, 1, "ann")
        await ann.frame("lobby_update")
        start = trio.current_time()
        await join(lobby, 2, "bob")
        await ann.frame("lobby_update")
        assert trio.current_time() == start


async def test_an_invitation_expires_at_its_deadline_and_an_answer_after_it_is_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The lobby wakes up at the invitation's deadline (not later, not at a tick), tells
    both sides, and an accept that reaches it afterwards finds no invitation."""
    async with running_lobby(tick=0.05, invitation_timeout=60.0) as lobby:
        # Not around the store's opening: its worker thread would let the clock jump.
        with trio.fail_after(120):
            ann = await join(lobby, 1, "ann")
            bob = await join(lobby, 2, "bob")
            challenged_at = trio.current_time()
            await lobby.inbox_send.send(Request(1, Challenge(opponent="bob"), challenged_at))
            await bob.frame("invitation")
            for inbox, other in ((ann, "bob"), (bob, "ann")):
                notice = await inbox.frame("invitation_cancelled")
                assert trio.current_time() == pytest.approx(challenged_at + 60.0)
                assert notice == {"type": "invitation_cancelled", "by": other, "reason": "expired"}
            await lobby.inbox_send.send(Request(2, Accept(challenger="ann"), trio.current_time()))
            assert (await bob.frame("error"))["code"] == "no_invitation"


async def test_an_answer_that_arrives_after_the_deadline_finds_the_invitation_expired(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Deadlines pass before the events behind them: an accept that reaches a lobby whose
    deadline has passed does not start a game from the expired invitation."""
    async with running_lobby(tick=0.05, invitation_timeout=60.0) as lobby:
        with trio.fail_after(120):
            await join(lobby, 1, "ann")
            bob = await join(lobby, 2, "bob")
            challenged_at = trio.current_time()
            await lobby.inbox_send.send(Request(1, Challenge(opponent="bob"), challenged_at))
            await bob.frame("invitation")
            # The deadline passes and the accept is queued before the lobby wakes up.
            autojump_clock.jump(61.0)
            await lobby.inbox_send.send(Request(2, Accept(challenger="ann"), trio.current_time()))
            assert (await bob.frame("invitation_cancelled"))["reason"] == "expired"
            assert (await bob.frame("error"))["code"] == "no_invitation"


class StepCounter(trio.abc.Instrument):
    """Counts the task steps of the tasks whose name ends with ``suffix``."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        self.steps = 0

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if task.name.endswith(self.suffix):
            self.steps += 1


async def test_the_lobby_handles_what_is_queued_in_one_step_not_one_event_per_turn(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Fairness under load (issue 17): one lobby serves every connection, so it takes a batch
    of queued events per scheduler turn instead of one; else busy game tasks starve it."""
    async with running_lobby(tick=0.05) as lobby:
        await trio.testing.wait_all_tasks_blocked()
        counter = StepCounter("LobbyActor.run")
        replies = []
        trio.lowlevel.add_instrument(counter)
        try:
            for _ in range(lobby_module.LOBBY_BATCH // 2):
                reply, answers = trio.open_memory_channel[Any](1)
                lobby.inbox_send.send_nowait(StatsQuery(reply))
                replies.append(answers)
            for answers in replies:
                await answers.receive()
        finally:
            trio.lowlevel.remove_instrument(counter)
        assert counter.steps <= 2, f"{len(replies)} queued events took {counter.steps} steps"


async def test_a_batch_is_bounded_so_the_lobby_still_takes_turns(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_lobby(tick=0.05) as lobby:
        await trio.testing.wait_all_tasks_blocked()
        counter = StepCounter("LobbyActor.run")
        replies = []
        trio.lowlevel.add_instrument(counter)
        try:
            for _ in range(3 * lobby_module.LOBBY_BATCH):
                reply, answers = trio.open_memory_channel[Any](1)
                lobby.inbox_send.send_nowait(StatsQuery(reply))
                replies.append(answers)
            for answers in replies:
                await answers.receive()
        finally:
            trio.lowlevel.remove_instrument(counter)
        assert 3 <= counter.steps <= 4


async def test_a_broadcast_to_many_watchers_lets_other_tasks_run_between_chunks(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``lobby_update`` goes out ``FLUSH_CHUNK`` watchers a step (here 2 of 6), so a task
    running meanwhile sees it delivered to some watchers and not yet to others."""
    monkeypatch.setattr(lobby_module, "FLUSH_CHUNK", 2)
    async with running_lobby(tick=0) as lobby:  # a change is broadcast at once
        watchers = [await join(lobby, conn, f"w{conn}") for conn in range(1, 7)]
        await trio.sleep(1)  # every arrival broadcast; then nothing is pending
        for watcher in watchers:
            while True:
                try:
                    watcher.receive.receive_nowait()
                except trio.WouldBlock:
                    break
        seen: list[int] = []

        async def probe() -> None:
            for _ in range(1000):  # bounded: a step each, while zed joins
                seen.append(sum(w.receive.statistics().current_buffer_used > 0 for w in watchers))
                if seen[-1] == len(watchers):
                    return
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe)
            await join(lobby, 7, "zed")
        assert seen[-1] == len(watchers)
        assert any(0 < count < len(watchers) for count in seen), seen
        for watcher in watchers:
            update = await watcher.frame("lobby_update")
            assert [u["name"] for u in update["users"]] == ["zed"]


async def test_a_burst_of_watches_larger_than_the_game_inbox_is_answered_whole(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A thousand spectators arriving at once (the lobby handles 64 events a step) must not
    overflow the game's bounded inbox: each ``watch`` the lobby allowed reaches the game,
    and an ``unwatch`` right after its ``watch`` is not overtaken by it."""
    async with running_lobby(tick=0.05) as lobby:
        ann = await join(lobby, 1, "ann")
        await join(lobby, 2, "bob")
        await lobby.inbox_send.send(Request(1, Challenge(opponent="bob"), trio.current_time()))
        await lobby.inbox_send.send(Request(2, Accept(challenger="ann"), trio.current_time()))
        game_id = (await ann.frame("game_started"))["game_id"]
        count = 3 * GAME_INBOX_SIZE
        spectators = [await join(lobby, conn, f"s{conn}") for conn in range(10, 10 + count)]
        for conn in range(10, 10 + count):
            lobby.inbox_send.send_nowait(WatchRequest(conn, game_id))
        lobby.inbox_send.send_nowait(WatchRequest(10, game_id, watch=False))
        with trio.fail_after(120):  # without the fix, dropped watches never answer
            for spectator in spectators:
                assert (await spectator.frame("watching"))["game_id"] == game_id
            assert (await spectators[0].frame("unwatched"))["game_id"] == game_id
            await trio.sleep(2)  # the count notice's second has passed
            notices = []
            while (item := ann.receive.receive_nowait()) is not None:
                if isinstance(item, str) and json.loads(item)["type"] == "spectator_count":
                    notices.append(json.loads(item)["spectators"])
                if ann.receive.statistics().current_buffer_used == 0:
                    break
            assert notices[-1] == count - 1


async def test_move_counts_knock_once_and_never_queue_ahead_of_a_challenge(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Fairness at saturation (issue 17): every move reports its count to the lobby (the
    list of games), and one inbox item per move put hundreds of counts ahead of each
    challenge.  A thousand reports in one step make one knock (handed straight to the
    waiting lobby: nothing stays queued), and the follower still sees the latest count."""
    async with running_lobby(tick=0.05) as lobby:
        ann = await join(lobby, 1, "ann")
        await join(lobby, 2, "bob")
        cat = await join(lobby, 3, "cat")
        await lobby.inbox_send.send(FollowRequest(3))
        await cat.frame("game_list")
        await lobby.inbox_send.send(Request(1, Challenge(opponent="bob"), trio.current_time()))
        await lobby.inbox_send.send(Request(2, Accept(challenger="ann"), trio.current_time()))
        game_id = (await ann.frame("game_started"))["game_id"]
        assert lobby.metrics.registry.get_sample_value("c4_lobby_wait_seconds_count") == 2
        assert (await cat.frame("game_list_update"))["games"][0]["moves"] == 0
        await trio.testing.wait_all_tasks_blocked()
        for moves in range(1, 1001):
            lobby.report_moves(GameMoved(game_id, moves))
        lobby.report_moves(GameMoved(game_id, 7))  # a late report never takes a count back
        assert lobby.inbox_send.statistics().current_buffer_used == 0
        update = await cat.frame("game_list_update")
        assert [(g["game_id"], g["moves"]) for g in update["games"]] == [(game_id, 1000)]
        # Handled: the next report knocks again.
        await trio.testing.wait_all_tasks_blocked()
        lobby.report_moves(GameMoved(game_id, 1001))
        assert (await cat.frame("game_list_update"))["games"][0]["moves"] == 1001


async def test_the_move_gate_is_told_of_lobby_work_but_not_of_move_counts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``work_waiting`` (issue 17): the move gate holds moves only while the lobby path has
    work, so it must see a request handed to the waiting lobby or queued behind the knock
    for move counts, and a challenge unanswered; the knock alone is no lobby work."""
    async with running_lobby(tick=0.05) as lobby:
        ann = await join(lobby, 1, "ann")
        await join(lobby, 2, "bob")
        cat = await join(lobby, 3, "cat")
        await trio.testing.wait_all_tasks_blocked()
        assert not lobby.work_waiting()
        lobby.inbox_send.send_nowait(Request(1, Challenge(opponent="bob"), trio.current_time()))
        assert lobby.work_waiting(), "handed to the lobby, not yet handled"
        await trio.testing.wait_all_tasks_blocked()
        assert lobby.work_waiting(), "the invitation waits for its answer"
        lobby.inbox_send.send_nowait(Request(2, Accept(challenger="ann"), trio.current_time()))
        game_id = (await ann.frame("game_started"))["game_id"]
        await trio.testing.wait_all_tasks_blocked()
        assert not lobby.work_waiting()
        lobby.report_moves(GameMoved(game_id, 1))
        assert not lobby.work_waiting(), "only the move counts' knock"
        lobby.inbox_send.send_nowait(Request(3, Challenge(opponent="ann"), trio.current_time()))
        assert lobby.work_waiting(), "a request queued behind the knock"
        await trio.testing.wait_all_tasks_blocked()
        assert (await cat.frame("error"))["code"] == "not_available"
        assert not lobby.work_waiting()


async def test_the_lobbys_own_steps_do_not_spend_the_move_gates_budget(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start burst (issue 17): the lobby's steps (64 challenges and accepts, about 8 ms)
    spent the gate's budget alone and held the few first moves turn after turn.  The gate is
    not installed here: its turn is started by hand, its clock moved by the lobby's work."""
    now = [0.0]
    gate = MoveGate(0.005, clock=lambda: now[0])
    async with running_lobby(tick=0.05, move_gate=gate) as lobby:
        await join(lobby, 1, "ann")
        await join(lobby, 2, "bob")
        await trio.testing.wait_all_tasks_blocked()
        dispatch = lobby._dispatch

        def slow_dispatch(item: Any) -> None:
            now[0] += 0.008
            dispatch(item)

        monkeypatch.setattr(lobby, "_dispatch", slow_dispatch)
        lobby.inbox_send.send_nowait(Request(1, Challenge(opponent="bob"), trio.current_time()))
        gate.after_io_wait(0.0)  # a turn with lobby work: the gate holds moves past 5 ms
        await trio.testing.wait_all_tasks_blocked()
        now[0] += 0.002
        assert gate.admits_now(), "8 ms of the lobby's own and 2 of the moves': within budget"
        now[0] += 0.004
        assert not gate.admits_now(), "6 ms of the moves': spent"


class LoggingWriter(DirectWriter):
    """A socket's direct writer that takes every frame, into a log shared with the writers."""

    def __init__(self, conn: int, log: list[tuple[str, int, str]]) -> None:
        self.conn, self.log = conn, log

    def write_nowait(self, frame: PreparedFrame) -> Written:
        self.log.append(("direct", self.conn, json.loads(frame.text)["type"]))
        return Written.WHOLE


async def write_queued(
    conn: int, receive: trio.MemoryReceiveChannel[Outgoing], mailbox: Mailbox, log: list[Any]
) -> None:
    """The connection's writer task, as far as the mailbox can tell: it takes what is
    queued, logs it and reports it written."""
    position = 0
    async for item in receive:
        position += 1
        if isinstance(item, str):
            log.append(("writer", conn, json.loads(item)["type"]))
        mailbox.written(position)


async def test_the_lobby_writes_its_answers_to_an_idle_socket_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A challenge's ``invitation`` and ``invitation_sent`` are written by the lobby to the
    sockets at once when nothing is queued for them, as a game's frames are: no writer task
    to wake, one scheduler turn less each way on a pair's path to its next game (issue 17).
    The reply is still timed and counted."""
    log: list[tuple[str, int, str]] = []
    async with running_lobby(tick=0.05) as lobby, trio.open_nursery() as writers:
        for conn, name in ((1, "ann"), (2, "bob")):
            send, receive = trio.open_memory_channel[Outgoing](256)
            mailbox = Mailbox(conn, send, direct=LoggingWriter(conn, log))
            writers.start_soon(write_queued, conn, receive, mailbox, log)
            reply, answers = trio.open_memory_channel[JoinAnswer](1)
            await lobby.inbox_send.send(Join(Connected(conn, name), mailbox, reply))
            assert await answers.receive() == SessionGranted(name)
        await trio.sleep(1)  # a frame's arrival time 0 would mean "not timed"
        log.clear()
        registry = lobby.metrics.registry
        sent_before = registry.get_sample_value("c4_messages_out_total") or 0
        await lobby.inbox_send.send(Request(1, Challenge(opponent="bob"), trio.current_time()))
        await trio.testing.wait_all_tasks_blocked()
        assert ("direct", 2, "invitation") in log
        assert ("direct", 1, "invitation_sent") in log
        assert registry.get_sample_value("c4_reply_seconds_count", {"path": "lobby"}) == 1
        direct = sum(1 for how, _, _ in log if how == "direct")
        assert registry.get_sample_value("c4_messages_out_total") == sent_before + direct
        writers.cancel_scope.cancel()


async def test_a_game_list_change_nobody_follows_is_not_broadcast(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No follower in the lobby: the update is dropped, not encoded and handed to the
    broadcaster (a cluster's core would send it to every edge for nobody; issue 16).  Once
    someone follows, the changes reach them as before."""
    async with running_lobby(tick=0.05) as lobby:
        calls: list[tuple[str, int]] = []

        def recording(
            audience: lobby_module.Audience, frame: str, targets: list[Mailbox]
        ) -> list[Mailbox]:
            calls.append((audience, len(targets)))
            return targets

        lobby.broadcast = recording
        ann = await join(lobby, 1, "ann")
        await join(lobby, 2, "bob")
        await trio.sleep(2)  # their arrivals broadcast to them
        assert ("lobby", 2) in calls, "the watchers' updates still go out"
        await lobby.inbox_send.send(Request(1, Challenge(opponent="bob"), trio.current_time()))
        await lobby.inbox_send.send(Request(2, Accept(challenger="ann"), trio.current_time()))
        game_id = (await ann.frame("game_started"))["game_id"]
        lobby.report_moves(GameMoved(game_id, 1))
        await trio.sleep(2)  # past every tick: anything pending has been flushed
        assert [call for call in calls if call[0] == "games"] == []
        cat = await join(lobby, 3, "cat")
        await lobby.inbox_send.send(FollowRequest(3))
        await cat.frame("game_list")
        lobby.report_moves(GameMoved(game_id, 2))
        assert (await cat.frame("game_list_update"))["games"][0]["moves"] == 2
        assert ("games", 1) in calls
