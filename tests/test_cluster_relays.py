"""The relays between a cluster's edges and its core, in one process: a core server and two
edge servers joined by ``MemoryHub`` (the streams as Trio channels), real sockets.

The same relays run over Redis in ``test_cluster.py``; here the transport cannot fail, so
these tests pin the relays' own promises: frames and routes across edges, an edge that
dies (its players' opponents are told; the player resumes through another edge), frames
encoded once per edge, and what travels decoding to what was sent."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import get_args

import attrs
import pytest
import trio
from trio.testing import MockClock
from trio_websocket import ConnectionClosed

from c4actors.actors.game_inbox import PlayMove
from c4actors.actors.lobby import (
    FollowRequest,
    Join,
    JoinAnswer,
    LeaveRequest,
    LobbyInput,
    LobbyStats,
    OnlineQuery,
    Resync,
    SessionGranted,
    Shutdown,
    SnapshotQuery,
    StatsQuery,
    TakeOver,
    WatchRequest,
)
from c4actors.actors.mailbox import Mailbox, Outgoing
from c4actors.cluster import wire
from c4actors.cluster.core import CoreRelay, EdgeOutbox
from c4actors.cluster.edge import CORE_SILENCE, EdgeRelay
from c4actors.cluster.links import CoreLink, MemoryHub
from c4actors.live_games import GameMoved
from c4actors.lobby_state import (
    AccountInfo,
    ColorChanged,
    Connected,
    Disconnected,
    GameEnded,
    Request,
)
from c4actors.move_gate import MoveGate
from c4actors.server import RunningServer, ServerSettings, run_server
from c4actors.websocket_direct import DirectWriter, Written
from c4actors.websocket_frames import PreparedFrame
from protocol import (
    AnswerRematch,
    Chat,
    Error,
    FollowGames,
    GameList,
    GameOver,
    GameStarted,
    GameState,
    Leave,
    LeftLobby,
    LobbyUpdate,
    Move,
    NewConnection,
    OpponentDisconnected,
    OpponentReconnected,
    Quit,
    Rematch,
    RematchOffered,
    Seek,
    UserInfo,
    UserList,
    Welcome,
)
from tests.support import connect, start_game
from tests.task_steps import counting_steps, every_other_task

SETTINGS = ServerSettings(port=0, lobby_tick=0.0, loop_monitor=False, tune_gc=False)


@attrs.frozen
class MemoryCluster:
    hub: MemoryHub
    core: RunningServer
    edges: list[RunningServer]
    stops: list[trio.CancelScope]
    """Cancelling an edge's scope ends it at once, as a SIGKILL would: no goodbye."""


@asynccontextmanager
async def memory_cluster(
    grace_seconds: float = 20.0,
    settings: ServerSettings = SETTINGS,
    wrap: Callable[[CoreLink], CoreLink] = lambda link: link,
) -> AsyncIterator[MemoryCluster]:
    """A core and two edges in one process; ``wrap`` may stand between the core and its link."""
    hub = MemoryHub()
    settings = attrs.evolve(settings, grace_seconds=grace_seconds)
    stop = trio.Event()

    def relay(inbox: trio.MemorySendChannel[LobbyInput]) -> CoreRelay:
        return CoreRelay(wrap(hub.core()), inbox)

    async with trio.open_nursery() as nursery:
        core = await nursery.start(partial(run_server, settings, stop, core=relay))
        edges, scopes = [], []
        for name in ("edge-a", "edge-b"):

            async def edge(
                name: str = name, *, task_status: trio.TaskStatus[RunningServer]
            ) -> None:
                with trio.CancelScope() as scope:
                    scopes.append(scope)
                    link = hub.edge(name)
                    await run_server(
                        settings, stop, task_status=task_status, edge=lambda: EdgeRelay(link)
                    )

            edges.append(await nursery.start(edge))
        try:
            yield MemoryCluster(hub, core, edges, scopes)
        finally:
            stop.set()


class GatedLink:
    """A core's link whose commits wait while ``gate`` is not set (a slow Redis round
    trip), noting the reads and commits in order."""

    def __init__(self, link: CoreLink) -> None:
        self.link = link
        self.name = link.name
        self.gate = trio.Event()
        self.gate.set()
        self.log: list[tuple[str, str]] = []
        self._noted = trio.Event()

    def _note(self, kind: str, text: str) -> None:
        self.log.append((kind, text))
        self._noted.set()
        self._noted = trio.Event()

    async def until(self, kind: str, part: str) -> None:
        """Until the log holds a ``kind`` whose text has ``part``."""
        while not any(noted == kind and part in text for noted, text in self.log):
            await self._noted.wait()

    async def receive_inputs(self) -> list[str]:
        texts = await self.link.receive_inputs()
        self._note("read", "".join(texts))
        return texts

    async def receive_more(self, block: float) -> list[str]:
        return await self.link.receive_more(block)

    async def load_state(self) -> dict[str, str]:
        return await self.link.load_state()

    async def commit(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        ack: bool,
        records: Sequence[str] = (),
        ended: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._note("commit", " ".join(sorted(puts)))
        await self.gate.wait()
        await self.link.commit(frames, puts, deletes, ack=ack, records=records, ended=ended)
        self._note("committed", " ".join(sorted(puts)))

    async def commit_and_receive(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        records: Sequence[str] = (),
        ended: Sequence[tuple[str, str]] = (),
        committed: Callable[[], None],
    ) -> list[str]:
        await self.commit(frames, puts, deletes, ack=True, records=records, ended=ended)
        committed()
        return await self.receive_inputs()

    @property
    def readable_at(self) -> float:
        return self.link.readable_at


async def test_following_the_games_list_writes_one_field() -> None:
    """Every page follows the list of games on each new session: a follower is one field
    of its own (the core saved all followers at each follow, O(users) per join)."""
    async with memory_cluster() as cluster:
        hub = cluster.hub
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(connect(cluster.edges[n % 2], f"user{n}"))
                for n in range(11)
            ]
            with trio.fail_after(10):
                for client in clients[:10]:
                    await client.send(FollowGames())
                    await client.expect_skipping(GameList, LobbyUpdate, UserList)
            await trio.sleep(0.2)  # every commit of those follows made
            before = len(hub.commits)
            with trio.fail_after(5):
                await clients[10].send(FollowGames())
                await clients[10].expect_skipping(GameList, LobbyUpdate, UserList)
            await trio.sleep(0.2)
            written = {field for fields in hub.commits[before:] for field in fields}
            # Besides the clock and the edges' last input numbers (one small field each).
            assert written - {"clock", "inputs_handled"} == {"follow:11"}
            assert sum(field.startswith("follow:") for field in hub.state) == 11


async def test_the_next_batch_is_read_behind_a_commit_and_committed_after_it() -> None:
    """The core sends its next read behind a batch's commit (one send, one wait:
    ``CoreLink.commit_and_receive``): while that commit waits for Redis the next batch is
    not read yet, and its commit goes out only after the first one's, so frames and state
    stay in order and each commit acknowledges its own batch."""
    links: list[GatedLink] = []

    def gated(link: CoreLink) -> CoreLink:
        links.append(GatedLink(link))
        return links[-1]

    async with (
        memory_cluster(wrap=gated) as cluster,
        connect(cluster.edges[0]) as ann,
        connect(cluster.edges[1]) as bob,
    ):
        (link,) = links
        await trio.sleep(0.3)
        link.gate = trio.Event()
        await ann.send(NewConnection(username="ann"))
        with trio.fail_after(5):
            await link.until("commit", "lobby:u:ann")
        await bob.send(NewConnection(username="bob"))
        await trio.sleep(0.1)
        assert not any('"bob"' in text for kind, text in link.log if kind == "read")
        assert not any("lobby:u:bob" in text for _kind, text in link.log)  # waits for ann's
        link.gate.set()
        with trio.fail_after(5):
            await ann.expect(Welcome)
            await bob.expect(Welcome)
        kinds = [(kind, text) for kind, text in link.log if kind in ("committed", "read")]
        first = next(n for n, (kind, text) in enumerate(kinds) if "lobby:u:ann" in text)
        read = next(n for n, (kind, text) in enumerate(kinds) if '"bob"' in text)
        assert first < read, "bob's batch is read once ann's commit is applied"
        done = [text for kind, text in link.log if kind == "committed"]
        first = next(n for n, text in enumerate(done) if "lobby:u:ann" in text)
        assert "lobby:u:bob" not in done[first]
        assert any("lobby:u:bob" in text for text in done[first + 1 :])
        assert cluster.hub.pending == []  # both batches acknowledged


async def test_a_move_costs_one_commit() -> None:
    """A move's batch is committed with its frames and the game's state: the flusher, woken
    by the frames it delivered, finds nothing left and makes no second commit (a Redis
    round trip) of the clock alone."""
    links: list[GatedLink] = []

    def gated(link: CoreLink) -> CoreLink:
        links.append(GatedLink(link))
        return links[-1]

    async with (
        memory_cluster(wrap=gated) as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
    ):
        (link,) = links
        game_id = await start_game(ann, bob)
        for ply, column in enumerate([3, 2, 3]):
            await trio.sleep(0.1)
            before = len(link.log)
            await (bob, ann)[ply % 2].send(Move(game_id=game_id, column=column, ply=ply))
            for player in (ann, bob):
                await player.expect(GameState)
            await trio.sleep(0.1)  # less than CLOCK_EVERY after the move's commit
            commits = [text for kind, text in link.log[before:] if kind == "commit"]
            assert len(commits) == 1, commits
            assert f"moves:{game_id}" in commits[0]  # the move, not the whole game


async def test_a_game_between_players_on_two_edges() -> None:
    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        for ply, column in enumerate([3, 2, 3, 2, 3, 2, 3]):
            await (bob, ann)[ply % 2].send(Move(game_id=game_id, column=column, ply=ply))
            for player in (ann, bob):
                await player.expect(GameState)
            if ply == 1:
                # A move resent with the ply it was for is not played twice.
                await ann.send(Move(game_id=game_id, column=2, ply=1))
                stale = await ann.expect(Error)
                assert (stale.code, stale.ref) == ("stale_move", "move")
        over = await ann.expect(GameOver)
        assert (over.winner, over.reason) == ("bob", "four_in_a_row")
        assert await bob.expect(GameOver) == over
        # The game is over: the next move is refused as in one process.
        await ann.send(Move(game_id=game_id, column=0))
        error = await ann.expect_skipping(Error, UserList, LobbyUpdate)
        assert (error.code, error.ref) == ("game_over", "move")


async def test_a_rematch_between_players_on_two_edges() -> None:
    """The rematch requests reach the core's lobby like the other lobby requests."""
    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await ann.send(Quit(game_id=game_id))
        for player in (ann, bob):
            await player.expect(GameOver)
            await player.expect(UserList)
        await ann.send(Rematch(game_id=game_id))
        for player in (ann, bob):
            offered = await player.expect_skipping(RematchOffered, LobbyUpdate)
            assert offered.by == "ann"
        await bob.send(AnswerRematch(game_id=game_id, accept=True))
        for player, seat in ((ann, 1), (bob, 2)):
            started = await player.expect_skipping(GameStarted, LobbyUpdate)
            assert (started.rematch_of, started.you) == (game_id, seat)


async def test_a_guest_leaves_and_joins_again_under_another_name_through_an_edge() -> None:
    """``leave`` crosses to the core and its answer comes back before the next frame is read:
    the same socket joins again at once, and the other edge's player sees the new name."""
    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
    ):
        await ann.send(Leave())
        await ann.send(NewConnection(username="zed"))
        assert await ann.expect_skipping(LeftLobby, LobbyUpdate) == LeftLobby(username="ann")
        assert (await ann.expect(Welcome)).username == "zed"
        names = {user.name for user in (await ann.expect(UserList)).users}
        assert names == {"zed", "bob"}
        while True:
            update = await bob.expect(LobbyUpdate)
            if "zed" in {user.name for user in update.users}:
                break
        ann.name = "zed"
        game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
        await bob.send(Move(game_id=game_id, column=3, ply=0))
        for player in (ann, bob):
            assert (await player.expect(GameState)).moves == [3]
        await ann.send(Leave())  # not while playing
        refused = await ann.expect(Error)
        assert (refused.code, refused.ref) == ("not_available", "leave")


async def test_a_dead_edge_s_player_resumes_through_the_other_edge(
    jump_clock: MockClock,
) -> None:
    async with (
        memory_cluster(grace_seconds=30) as cluster,
        connect(cluster.edges[1], "ann") as ann,
    ):
        async with connect(cluster.edges[0], "bob") as bob:
            game_id = await start_game(ann, bob)
            await bob.send(Move(game_id=game_id, column=3))
            for player in (ann, bob):
                await player.expect(GameState)
            token = bob.token
            cluster.stops[0].cancel()  # edge a dies with bob's socket
            await trio.sleep(0.2)
        # The core notices the silence (edge b keeps sending its heartbeats meanwhile), and
        # bob's opponent is told.
        for _ in range(int(wire.EDGE_TIMEOUT / wire.HEARTBEAT) + 2):
            jump_clock.jump(wire.HEARTBEAT)
            await trio.sleep(0.05)
        assert (await ann.expect(OpponentDisconnected)).game_id == game_id
        async with connect(cluster.edges[1]) as again:
            await again.send(NewConnection(username="bob", resume=token))
            await again.expect(Welcome)
            await again.expect(UserList)
            assert (await again.expect(GameStarted)).game_id == game_id
            assert (await again.expect(GameState)).moves == [3]
            await ann.expect(OpponentReconnected)
            await ann.send(Move(game_id=game_id, column=4))
            for player in (ann, again):
                assert (await player.expect(GameState)).moves == [3, 4]


async def test_an_outage_of_the_streams_disconnects_nobody(jump_clock: MockClock) -> None:
    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        cluster.hub.pause()
        await bob.send(Move(game_id=game_id, column=3))
        # Far longer than an edge may stay silent; the edges' heartbeats are not read.
        for _ in range(3 * int(wire.EDGE_TIMEOUT / wire.HEARTBEAT)):
            jump_clock.jump(wire.HEARTBEAT)
            await trio.sleep(0.02)
        cluster.hub.resume()
        # The move waited for the streams, and nobody was taken for gone.
        for player in (ann, bob):
            assert (await player.expect(GameState)).moves == [3]
        await ann.send(Move(game_id=game_id, column=4))
        for player in (ann, bob):
            assert (await player.expect(GameState)).moves == [3, 4]


def test_a_frame_delivered_to_many_connections_travels_once() -> None:
    outbox = EdgeOutbox("edge-a")
    update, other = '{"type":"lobby_update"}', '{"type":"error"}'
    for conn in range(1, 101):
        outbox.deliver(conn, update)
    outbox.deliver(7, other)
    text = outbox.take()
    assert text is not None and outbox.take() is None
    entry = wire.decode_downlink(text)
    assert entry.frames == [update, other]
    assert [op.conn for op in entry.ops] == [*range(1, 101), 7]
    assert wire.encode_downlink(entry) == text
    assert text.count("lobby_update") == 1


def test_every_input_round_trips() -> None:
    items: list[wire.UplinkItem] = [
        wire.JoinIn(1, "ann", "token", AccountInfo("ann", "#112233", 1, 2, 3), True),
        wire.LeftIn(1),
        wire.RequestIn(2, '{"type":"seek"}'),
        wire.ColorIn("ann", "#445566"),
        wire.WatchIn(3, "g1", False),
        wire.GameIn(4, "g1", "bob", "chat", text="hi ✓", sent_at=12.5),
        wire.GameIn(4, "g1", "bob", "answer_draw", accept=True),
        wire.MovedOnIn(4, "g1"),
        wire.QueryIn(9, "online", "ann"),
        wire.AliveIn(),
        wire.ResyncIn("games"),
    ]
    entry = wire.Uplink("edge-a", items)
    assert wire.decode_uplink(wire.encode_uplink(entry)) == entry


@pytest.mark.parametrize(
    "text", ["", "[]", '{"edge":"a"}', '{"edge":"a","items":[{"k":"Nope"}]}', "{"]
)
def test_an_entry_of_another_shape_is_refused_clearly(text: str) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_uplink(text)
    with pytest.raises(wire.WireError):
        wire.decode_downlink(text)


async def test_every_lobby_input_of_a_connection_is_relayed_to_the_core() -> None:
    """A new kind of lobby input fails here until the edge relays it (or it is the core's
    own): in a cluster it would otherwise be dropped without a word."""
    mailbox_send, _ = trio.open_memory_channel[Outgoing](1)
    mailbox = Mailbox(5, mailbox_send)
    join_reply, _ = trio.open_memory_channel[JoinAnswer](1)
    users, _ = trio.open_memory_channel[list[UserInfo]](1)
    online, _ = trio.open_memory_channel[bool](1)
    stats, _ = trio.open_memory_channel[LobbyStats](1)
    leave_reply, _ = trio.open_memory_channel[bool](1)
    relayed: list[LobbyInput] = [
        Join(Connected(5, "ann"), mailbox, join_reply),
        LeaveRequest(Request(5, Leave(), 0.0), leave_reply),
        Disconnected(5),
        Request(5, Seek(), 0.0),
        ColorChanged("ann", "#123456"),
        SnapshotQuery(users),
        OnlineQuery("ann", online),
        StatsQuery(stats),
        WatchRequest(5, "g1"),
        FollowRequest(5),
    ]
    core_only = {GameEnded, GameMoved, TakeOver, Shutdown, Resync}  # Resync: made by the core relay
    assert {type(item) for item in relayed} | core_only == set(get_args(LobbyInput))
    hub = MemoryHub()
    relay = EdgeRelay(hub.edge("edge-a"))
    core = hub.core()
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        for item in relayed:
            await relay.inbox_send.send(item)
            with trio.fail_after(5):
                while True:
                    entries = [wire.decode_uplink(text) for text in await core.receive_inputs()]
                    items = [i for e in entries for i in e.items if not isinstance(i, wire.AliveIn)]
                    if items:
                        break
            assert len(items) == 1, (item, items)
        nursery.cancel_scope.cancel()


async def two_cores(
    hub: MemoryHub, stop: trio.Event, nursery: trio.Nursery
) -> tuple[trio.CancelScope, Callable[[], Awaitable[RunningServer]]]:
    """Core ``core-1`` started (cancel the scope: it dies as with SIGKILL), and how to
    start its standby ``core-2``."""
    first = trio.CancelScope()

    async def core(name: str, *, task_status: trio.TaskStatus[RunningServer]) -> None:
        def relay(inbox: trio.MemorySendChannel[LobbyInput]) -> CoreRelay:
            return CoreRelay(hub.core(name), inbox)

        with first if name == "core-1" else trio.CancelScope():
            await run_server(SETTINGS, stop, task_status=task_status, core=relay)

    await nursery.start(core, "core-1")
    return first, partial(nursery.start, core, "core-2")


async def test_when_another_core_takes_over_the_sessions_and_the_game_go_on() -> None:
    hub = MemoryHub()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        first, standby = await two_cores(hub, stop, nursery)
        edges = [
            await nursery.start(partial(run_server, SETTINGS, stop, edge=partial(EdgeRelay, link)))
            for link in (hub.edge("edge-a"), hub.edge("edge-b"))
        ]
        async with connect(edges[0], "ann") as ann, connect(edges[1], "bob") as bob:
            game_id = await start_game(ann, bob)  # bob moves first
            for ply, column in enumerate([3, 2]):
                await (bob, ann)[ply].send(Move(game_id=game_id, column=column, ply=ply))
                for player in (ann, bob):
                    assert len((await player.expect(GameState)).moves) == ply + 1
            first.cancel()  # the core dies; the standby takes over
            await standby()
            # No socket closed: the same sessions play on at the same position.
            await bob.send(Move(game_id=game_id, column=3, ply=2))
            for player in (ann, bob):
                with trio.fail_after(10):
                    assert (await player.expect(GameState)).moves == [3, 2, 3]
            # A move resent for a ply already played is refused, as on the first core.
            await bob.send(Move(game_id=game_id, column=3, ply=2))
            stale = await bob.expect(Error)
            assert (stale.code, stale.ref) == ("stale_move", "move")
            for ply, column in enumerate([2, 3, 2, 3], start=3):
                await (bob, ann)[ply % 2].send(Move(game_id=game_id, column=column, ply=ply))
                for player in (ann, bob):
                    await player.expect(GameState)
            over = await ann.expect(GameOver)
            assert (over.winner, over.reason) == ("bob", "four_in_a_row")
        stop.set()


async def test_a_core_that_finds_no_state_closes_the_old_sessions() -> None:
    hub = MemoryHub()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        first, standby = await two_cores(hub, stop, nursery)
        link = hub.edge("edge-a")
        edge = await nursery.start(
            partial(run_server, SETTINGS, stop, edge=lambda: EdgeRelay(link))
        )
        async with connect(edge, "ann") as ann:
            first.cancel()  # the core dies, and what it committed is lost with Redis's data
            hub.state.clear()
            await standby()
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(10):
                while True:
                    await ann.receive()
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1012
        # The new core serves: a new session, a game.
        async with connect(edge, "ann") as ann, connect(edge, "bob") as bob:
            game_id = await start_game(ann, bob)
            await bob.send(Move(game_id=game_id, column=0, ply=0))
            for player in (ann, bob):
                assert (await player.expect(GameState)).moves == [0]
        stop.set()


async def test_during_a_core_outage_edges_hold_moves_and_refuse_the_rest() -> None:
    hub = MemoryHub()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        first, standby = await two_cores(hub, stop, nursery)
        edge_a = await nursery.start(
            partial(run_server, SETTINGS, stop, edge=partial(EdgeRelay, hub.edge("edge-a")))
        )
        edge_b = await nursery.start(
            partial(
                run_server,
                SETTINGS,
                stop,
                edge=partial(EdgeRelay, hub.edge("edge-b"), held_limit=1),
            )
        )
        async with (
            connect(edge_a, "ann") as ann,
            connect(edge_b, "bob") as bob,
            connect(edge_a, "cat") as cat,
        ):
            game_id = await start_game(ann, bob)  # bob moves first
            first.cancel()  # the core dies; no standby yet
            await trio.sleep(CORE_SILENCE + 1.0)
            # Moves and quits are held (up to the limit); anything else is refused at once.
            await bob.send(Move(game_id=game_id, column=3, ply=0))
            await bob.send(Move(game_id=game_id, column=3, ply=0))  # beyond edge-b's limit
            await bob.send(Chat(game_id=game_id, text="still there?"))
            await cat.send(Seek())
            with trio.fail_after(5):
                refusals = [await bob.expect(Error), await bob.expect(Error)]
                refused = await cat.expect_skipping(Error, LobbyUpdate)
            assert [(e.code, e.ref) for e in refusals] == [
                ("server_recovering", "move"),
                ("server_recovering", "chat"),
            ]
            assert (refused.code, refused.ref) == ("server_recovering", "seek")
            async with connect(edge_a) as dan:
                await dan.send(NewConnection(username="dan"))
                with trio.fail_after(5):
                    refused = await dan.expect(Error)
                assert (refused.code, refused.ref) == ("server_recovering", "new_connection")
            # A core serves again: the held move is played once, and requests go through.
            await standby()
            for player in (ann, bob):
                with trio.fail_after(10):
                    assert (await player.expect_skipping(GameState, UserList)).moves == [3]
            await cat.send(Seek())
            await cat.send(Seek())
            with trio.fail_after(10):
                again = await cat.expect_skipping(Error, LobbyUpdate, UserList)
            assert again.code == "already_seeking"  # the first one was carried out
        stop.set()


async def test_a_join_writes_a_few_fields_however_many_users_there_are() -> None:
    """The lobby is committed by parts: the commit of one more join writes the new user,
    their socket, their place in the list and the relay's row, not the whole lobby."""
    async with memory_cluster() as cluster:
        hub = cluster.hub
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(connect(cluster.edges[0])) for _ in range(21)
            ]
            with trio.fail_after(10):
                for number, client in enumerate(clients[:20]):
                    await client.send(NewConnection(username=f"user{number}"))
                    await client.expect(Welcome)
            await trio.sleep(0.2)  # every commit of those joins made
            before = len(hub.commits)
            with trio.fail_after(5):
                await clients[20].send(NewConnection(username="last"))
                await clients[20].expect(Welcome)
            await trio.sleep(0.2)
            written = {field for fields in hub.commits[before:] for field in fields}
            lobby_fields = written - {"clock", "inputs_handled"}
            assert "lobby:u:last" in lobby_fields
            assert not any(field.startswith("lobby:u:user") for field in lobby_fields)
            assert len(lobby_fields) <= 8, sorted(lobby_fields)


class _RecordingWriter(DirectWriter):
    """A direct writer whose socket takes every frame, into one log (frames by identity)."""

    def __init__(
        self, conn: int, log: list[tuple[int, PreparedFrame]], written: trio.Event
    ) -> None:
        self.conn, self.log, self.written = conn, log, written

    def write_nowait(self, frame: PreparedFrame) -> Written:
        self.log.append((self.conn, frame))
        if len(self.log) == 4:
            self.written.set()
        return Written.WHOLE


async def test_an_edge_writes_the_core_s_frames_directly_each_framed_once() -> None:
    """As the game actor does in one process: a frame for sockets whose writers are idle is
    written from the relay's task (no writer task woken, no hypercorn send path per
    socket), framed once for all of them; a socket with frames queued gets it queued."""
    hub = MemoryHub()
    relay = EdgeRelay(hub.edge("edge-a"))
    core = hub.core()
    log: list[tuple[int, PreparedFrame]] = []
    four_written = trio.Event()
    inboxes = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        for conn in (1, 2, 3):
            send, inboxes[conn] = trio.open_memory_channel[Outgoing](10)
            mailbox = Mailbox(conn, send, direct=_RecordingWriter(conn, log, four_written))
            join_reply, _ = trio.open_memory_channel[JoinAnswer](1)
            await relay.inbox_send.send(Join(Connected(conn, f"u{conn}"), mailbox, join_reply))
            if conn == 3:
                mailbox.deliver("queued first")  # its writer has not taken this yet
        await trio.testing.wait_all_tasks_blocked()  # the relay knows the three
        state, update = '{"type":"game_state"}', '{"type":"lobby_update"}'
        ops = [
            wire.Op("deliver", 1, frame=0),
            wire.Op("deliver", 2, frame=0),
            wire.Op("deliver", 3, frame=0),
            wire.Op("broadcast", 0, frame=1, value={"ch": "lobby", "seq": 1, "full": [1, 2]}),
        ]
        entry = wire.encode_downlink(wire.Downlink([state, update], ops, "core-1"))
        await core.commit([("edge-a", entry)], {}, [], ack=False)
        with trio.fail_after(5):
            await four_written.wait()
        assert [(conn, frame.text) for conn, frame in log] == [
            (1, state),
            (2, state),
            (1, update),
            (2, update),
        ]
        assert log[0][1] is log[1][1] and log[2][1] is log[3][1]
        assert [inboxes[3].receive_nowait() for _ in range(2)] == ["queued first", state]
        for conn in (1, 2):
            with pytest.raises(trio.WouldBlock):
                inboxes[conn].receive_nowait()
        nursery.cancel_scope.cancel()


async def test_a_player_s_move_reaches_the_stream_in_the_uplink_s_steps_alone() -> None:
    """The route an edge gives a user actor for a game takes a move in the caller's task,
    as a game's inbox does in one process: the move costs the edge the uplink task's steps
    (woken, then its append: three with the in-memory link), with no forwarder task woken
    per move in between (five steps then)."""
    hub = MemoryHub()
    relay = EdgeRelay(hub.edge("edge-a"))
    core = hub.core()
    send, _ = trio.open_memory_channel[Outgoing](10)
    mailbox = Mailbox(1, send)
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        join_reply, answers = trio.open_memory_channel[JoinAnswer](1)
        await relay.inbox_send.send(Join(Connected(1, "ann"), mailbox, join_reply))
        with trio.fail_after(5):
            while not any("JoinIn" in text for text in await core.receive_inputs()):
                pass
        ops = [wire.Op("answer", 1, text="ann"), wire.Op("route", 1, text="g1")]
        entry = wire.encode_downlink(wire.Downlink([], ops, "core-1", 1))
        await core.commit([("edge-a", entry)], {}, [], ack=True)
        with trio.fail_after(5):
            assert isinstance(await answers.receive(), SessionGranted)
        (joined,) = mailbox.take_routes()
        await trio.testing.wait_all_tasks_blocked()
        for ply in range(3):
            with counting_steps(every_other_task()) as steps:
                joined.game_inbox.send_nowait(PlayMove(mailbox, "ann", ply, 0.0, ply))
                with trio.fail_after(5):
                    texts = await core.receive_inputs()
                await trio.testing.wait_all_tasks_blocked()
            items = [i for text in texts for i in wire.decode_uplink(text).items]
            move = wire.GameIn(1, "g1", "ann", "move", column=ply, ply=ply)
            assert [i for i in items if not isinstance(i, wire.AliveIn)] == [move]
            assert steps.steps <= 3, steps.steps
        nursery.cancel_scope.cancel()


async def test_an_edge_runs_no_move_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The move gate holds the game actors' moves at saturation: an edge has none, so it
    runs no gate, whose instrument would cost every scheduler turn of the edge."""
    turns: list[float] = []
    monkeypatch.setattr(MoveGate, "after_io_wait", lambda gate, timeout: turns.append(timeout))
    hub = MemoryHub()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        link = hub.edge("edge-a")
        edge = await nursery.start(
            partial(run_server, SETTINGS, stop, edge=lambda: EdgeRelay(link))
        )
        async with connect(edge) as ann:
            await ann.send(NewConnection(username="ann"))  # waits: no core answers
            await trio.sleep(0.05)
        stop.set()
    assert SETTINGS.move_budget > 0
    assert turns == []
