"""The core's failover with real processes on a real Redis: the standby restores the lobby
and every game exactly, plays the inputs its predecessor left unfinished once, and a
deposed core writes nothing.

Each test starts its own Redis, a core, its standby and two edges
(``tests/cluster_processes.py``), the two players on different edges."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import attrs
import httpx
import trio

from c4actors.actors.lobby import LobbyInput
from c4actors.bus import (
    Append,
    Bus,
    BusUnavailable,
    InMemoryBus,
    Lease,
    Operation,
    StreamId,
    open_redis_bus,
)
from c4actors.cluster.bus_links import (
    GROUP,
    INPUTS,
    LEASE,
    READER_IDLE,
    BusCoreLink,
    BusEdgeLink,
    CoreLease,
    LeaseLost,
    frames_stream,
)
from c4actors.cluster.core import CoreRelay
from c4actors.cluster.edge import EdgeRelay
from c4actors.cluster.recorder import GameRecorder
from c4actors.server import RunningServer, ServerSettings, run_server
from c4actors.server_process import ServerProcess
from protocol import (
    Accept,
    Challenge,
    Chat,
    ChatMessage,
    Error,
    FollowGames,
    GameList,
    GameListUpdate,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    InvitationSent,
    LobbyUpdate,
    Move,
    NewConnection,
    Seek,
    SpectatorCount,
    TimeControl,
    UserList,
    Watch,
    Watching,
    Welcome,
)
from tests.cluster_processes import Cluster, running_cluster, start_node
from tests.redis_server import RedisServer
from tests.support import Client, connect, start_game
from tests.test_cluster_broadcasts import watcher
from tests.test_cluster_faults import WIN, address, moves

BASE_SECONDS = 3.0
"""The timed game's clock: shorter than the outage (the lease's 3 s and the takeover), so a
player charged for the outage would lose on time."""


def bad_lines(*processes: ServerProcess) -> list[str]:
    lines = "\n".join(process.log() for process in processes).splitlines()
    return [line for line in lines if " ERROR " in line or "Traceback" in line]


@asynccontextmanager
async def with_standby(
    redis_url: str, db: Path, extra: Sequence[str] = ()
) -> AsyncIterator[tuple[Cluster, ServerProcess]]:
    """A cluster whose core holds the lease, and a standby core waiting for it."""
    with running_cluster(redis_url, db, extra=extra) as cluster:
        with trio.fail_after(10):
            while "core lease taken" not in cluster.core.log():  # noqa: ASYNC110 (a log)
                await trio.sleep(0.05)
        standby = start_node(redis_url, db, "core", extra)
        try:
            yield cluster, standby
        finally:
            standby.kill()


async def start_timed(challenger: Client, challenged: Client, control: TimeControl) -> str:
    """A timed game; ``challenged`` moves first."""
    skip = (LobbyUpdate,)
    await challenger.send(Challenge(opponent=challenged.name, time_control=control))
    await challenger.expect_skipping(InvitationSent, *skip)
    await challenged.expect_skipping(Invitation, *skip)
    await challenged.send(Accept(challenger=challenger.name))
    started = await challenged.expect_skipping(GameStarted, *skip)
    await challenger.expect_skipping(GameStarted, *skip)
    await challenged.expect(GameState)
    await challenger.expect(GameState)
    return started.game_id


async def test_the_standby_carries_on_a_timed_game_at_the_exact_position(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    extra = ["--min-base-seconds", "1", "--grace", "60"]
    async with with_standby(redis_server.url, tmp_path / "c4.sqlite3", extra) as (cluster, standby):
        edge_a, edge_b = cluster.edges
        async with (
            connect(address(edge_a), "ann") as ann,
            connect(address(edge_b), "bob") as bob,
            open_redis_bus(redis_server.url) as bus,
        ):
            game_id = await start_timed(bob, ann, TimeControl(base_seconds=BASE_SECONDS))
            await moves(ann, bob, game_id, range(3))  # bob's clock runs now
            # What the standby reads: the game as written whole at its start, and the
            # three moves since as its delta (the moves were committed before their frames
            # went out).
            state = await bus.read_hash("c4:state")
            assert json.loads(state[f"game:{game_id}"])["board"] == []
            assert state[f"moves:{game_id}"].startswith(f'[0,"{"".join(map(str, WIN[:3]))}",')
            os.kill(cluster.core.pid, signal.SIGKILL)
            cluster.core.wait()
            # Bob moves during the outage: his edge holds the move, and the standby plays
            # it once, charging him nothing for the outage.
            await bob.send(Move(game_id=game_id, column=WIN[3], ply=3))
            states = []
            for player in (ann, bob):
                with trio.fail_after(20):
                    states.append(await player.expect_skipping(GameState, LobbyUpdate))
            for state in states:
                assert state.moves == WIN[:4]
                assert state.clocks is not None
                assert state.clocks.player2 > BASE_SECONDS - 1.5, state.clocks
            # The same sockets play the game to its end.
            await moves(ann, bob, game_id, range(4, len(WIN)))
            for player in (ann, bob):
                over = await player.expect(GameOver)
                assert (over.winner, over.reason) == ("ann", "four_in_a_row")
        assert "core state restored connections=2 games=1" in standby.log()
        assert bad_lines(*cluster.edges, standby) == [], standby.log()


async def test_spectators_followers_chat_limits_and_the_start_time_survive_a_failover(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """What the lobby and the games hold besides their states: a spectator goes on seeing
    the game's moves and a follower of the games list its changes, the chat's flood limit
    still counts the messages said before, and the record says when the game really began."""
    async with with_standby(redis_server.url, tmp_path / "c4.sqlite3") as (cluster, standby):
        edge_a, edge_b = cluster.edges
        async with (
            connect(address(edge_a), "ann") as ann,
            connect(address(edge_b), "bob") as bob,
            connect(address(edge_a), "cat") as cat,
            connect(address(edge_b), "dan") as dan,
        ):
            await dan.send(FollowGames())
            await dan.expect_skipping(GameList, LobbyUpdate)
            began = time.time()
            game_id = await start_game(bob, ann, skip=(LobbyUpdate,))
            started = time.time()
            await cat.send(Watch(game_id=game_id))
            await cat.expect_skipping(Watching, LobbyUpdate)
            await cat.expect(GameState)
            # The edges ask the new core for their watchers' lists afresh (UserList).
            skip = (LobbyUpdate, SpectatorCount, UserList)

            async def play(plies: range) -> None:
                for ply in plies:
                    await (ann, bob)[ply % 2].send(Move(game_id=game_id, column=WIN[ply], ply=ply))
                    for watcher in (ann, bob, cat):
                        with trio.fail_after(20):
                            state = await watcher.expect_skipping(GameState, *skip)
                        assert state.moves == WIN[: ply + 1]

            await play(range(2))
            # As many as the flood rule lets one say in 10 s.
            for text in ("hello there", "good luck", "nice opening", "your turn"):
                await ann.send(Chat(game_id=game_id, text=text))
                for hearer in (ann, bob, cat):
                    await hearer.expect_skipping(ChatMessage, *skip)
            os.kill(cluster.core.pid, signal.SIGKILL)
            cluster.core.wait()
            await play(range(2, 3))  # the spectator sees the move played by the standby
            # A newcomer's list of users has every user, not only those who changed since.
            async with connect(address(edge_b)) as eve:
                await eve.send(NewConnection(username="eve"))
                await eve.expect(Welcome)
                listed_users = await eve.expect(UserList)
            assert {"ann", "bob", "cat", "dan"} <= {user.name for user in listed_users.users}
            # The follower is still one: the games list reaches it (afresh, then changes).
            with trio.fail_after(20):
                while True:
                    listed = await dan.receive()
                    assert isinstance(listed, (GameListUpdate, GameList, *skip)), listed
                    moved = listed.games if isinstance(listed, GameListUpdate | GameList) else []
                    if [game.moves for game in moved] == [3]:
                        break
            # The fifth message within 10 s is still one too many.
            await ann.send(Chat(game_id=game_id, text="and one more"))
            flood = await ann.expect_skipping(Error, *skip)
            assert (flood.code, flood.ref) == ("chat_flood", "chat")
            await play(range(3, len(WIN)))
            for watcher in (ann, bob, cat):
                over = await watcher.expect_skipping(GameOver, *skip)
                assert (over.winner, over.reason) == ("ann", "four_in_a_row")
        async with httpx.AsyncClient(base_url=address(edge_a).http_url) as http:
            url = f"/api/games/{game_id}"
            with trio.fail_after(10):  # the record is written just after the end
                response = await http.get(url)
                while response.status_code != 200:
                    await trio.sleep(0.1)
                    response = await http.get(url)
        assert began <= response.json()["started_at"] <= started
        assert bad_lines(*cluster.edges, standby) == [], standby.log()


async def test_broadcasts_the_dead_core_had_not_sent_reach_the_watchers_by_the_resync(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The lobby coalesces its broadcasts (here over 30 s): the core dies with a
    ``lobby_update`` and a ``game_list_update`` committed in its state but not sent.  The
    edges, seeing a new core, ask a resync of each channel, and the watcher on the other
    edge gets fresh lists with what it missed (not 30 s later: never, from the new core)."""
    extra = ["--lobby-tick", "30"]
    async with with_standby(redis_server.url, tmp_path / "c4.sqlite3", extra) as (cluster, standby):
        edge_a, edge_b = cluster.edges
        async with watcher(edge_b.ws_url, "wendy") as wendy:
            await wendy.until_names({"wendy"})
            await wendy.client.send(FollowGames())
            await wendy.until_games(set())
            async with (
                connect(address(edge_a), "ann") as ann,
                connect(address(edge_a), "bob") as bob,
            ):
                game_id = await start_game(bob, ann)
                # Committed (both players have game_started); the broadcasts wait for the tick.
                os.kill(cluster.core.pid, signal.SIGKILL)
                cluster.core.wait()
                with trio.fail_after(20):
                    while "core state restored" not in standby.log():  # noqa: ASYNC110 (a log)
                        await trio.sleep(0.05)
                await wendy.until_names({"wendy", "ann", "bob"})
                await wendy.until_games({game_id})
        assert (wendy.lists, wendy.game_lists) == (2, 2)  # its own, then the resync's
        assert "asking a resync" not in "".join(edge.log() for edge in cluster.edges)


async def test_a_finished_games_chat_survives_a_failover(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The chat stays open a while after the game's end, its record written and the lobby
    told: a standby runs it again, so the players and the spectator who saw the end go on
    hearing it, and its flood rule still remembers what was said before the outage."""
    async with with_standby(redis_server.url, tmp_path / "c4.sqlite3") as (cluster, standby):
        edge_a, edge_b = cluster.edges
        async with (
            connect(address(edge_a), "ann") as ann,
            connect(address(edge_b), "bob") as bob,
            connect(address(edge_a), "cat") as cat,
            open_redis_bus(redis_server.url) as bus,
        ):
            game_id = await start_game(bob, ann, skip=(LobbyUpdate,))
            await cat.send(Watch(game_id=game_id))
            await cat.expect_skipping(Watching, LobbyUpdate)
            for player in (ann, bob):
                await player.expect_skipping(SpectatorCount, LobbyUpdate)
            skip = (LobbyUpdate, UserList, SpectatorCount, GameState, GameList, GameListUpdate)
            await moves(ann, bob, game_id, range(len(WIN)))
            for hearer in (ann, bob, cat):
                over = await hearer.expect_skipping(GameOver, *skip)
                assert over.winner == "ann"
            await ann.send(Chat(game_id=game_id, text="good game"))
            for hearer in (ann, bob, cat):
                assert (await hearer.expect_skipping(ChatMessage, *skip)).text == "good game"
            with trio.move_on_after(10):  # the chat's state committed (the game's record too)
                while f"ended:{game_id}" not in await bus.read_hash("c4:state"):  # noqa: ASYNC110 (Redis)
                    await trio.sleep(0.05)
            os.kill(cluster.core.pid, signal.SIGKILL)
            cluster.core.wait()
            with trio.fail_after(20):
                while "core state restored" not in standby.log():  # noqa: ASYNC110 (a log)
                    await trio.sleep(0.05)
            await bob.send(Chat(game_id=game_id, text="well played"))
            for hearer in (ann, bob, cat):
                with trio.fail_after(10):
                    said = await hearer.expect_skipping(ChatMessage, *skip)
                assert said.text == "well played"
            await ann.send(Chat(game_id=game_id, text="Good game!"))  # said before the outage
            flood = await ann.expect_skipping(Error, *skip)
            assert (flood.code, flood.ref) == ("chat_flood", "chat")
        assert bad_lines(*cluster.edges, standby) == [], standby.log()


async def test_an_unfinished_input_is_played_once_and_the_deposed_core_writes_nothing(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with with_standby(redis_server.url, tmp_path / "c4.sqlite3") as (cluster, standby):
        edge_a, edge_b = cluster.edges
        async with (
            connect(address(edge_a), "ann") as ann,
            connect(address(edge_b), "bob") as bob,
            open_redis_bus(redis_server.url) as bus,
        ):
            game_id = await start_game(bob, ann, skip=(LobbyUpdate,))
            await moves(ann, bob, game_id, range(2))
            os.kill(cluster.core.pid, signal.SIGSTOP)  # the core stands still
            await ann.send(Move(game_id=game_id, column=WIN[2], ply=2))
            # The move is read for a consumer that never finishes it (the frozen core, if
            # it was waiting in its read, else this reader): it is pending, unacknowledged.
            with trio.fail_after(10):
                while await bus.pending_count(INPUTS, GROUP) == 0:
                    await bus.read_group(INPUTS, GROUP, "core-frozen", block=0.2)
            # The standby takes the lease, claims the move and plays it, once.
            for player in (ann, bob):
                with trio.fail_after(20):
                    state = await player.expect_skipping(GameState, LobbyUpdate)
                assert state.moves == WIN[:3]
            # The frozen core wakes up, deposed: whatever it does is refused, and it stops.
            os.kill(cluster.core.pid, signal.SIGCONT)
            with trio.fail_after(20):
                while cluster.core.process.poll() is None:  # noqa: ASYNC110 (a process)
                    await trio.sleep(0.1)
            assert "LeaseLost" in cluster.core.log()
            # Nothing of it reached the players: the next frame each gets is the next move.
            await moves(ann, bob, game_id, range(3, len(WIN)))
            for player in (ann, bob):
                over = await player.expect(GameOver)
                assert (over.winner, over.reason) == ("ann", "four_in_a_row")
            # Every input is acknowledged by the commit of its batch; the edges' heartbeats
            # (one a second each) may be read and their commit in flight at any instant.
            with trio.fail_after(5):
                while await bus.pending_count(INPUTS, GROUP) != 0:  # noqa: ASYNC110 (Redis)
                    await trio.sleep(0.05)
        assert "claimed inputs count=" in standby.log()
        assert bad_lines(*cluster.edges, standby) == [], standby.log()


async def test_a_deposed_cores_commit_is_refused_whole(autojump_clock: trio.abc.Clock) -> None:
    bus = InMemoryBus()
    old = CoreLease(bus, "core-old")
    async with trio.open_nursery() as nursery:
        await nursery.start(old.run)
        await old.held.wait()
        link = BusCoreLink(bus, "core-old", old)
        nursery.cancel_scope.cancel()  # the old core stands still: its lease is not renewed
    await trio.sleep(10)  # the lease expires; a new core takes it
    new = await bus.acquire_lease(LEASE, "core-new", 3.0)
    assert isinstance(new, Lease) and new.epoch > old.lease.epoch
    await bus.ensure_group(INPUTS, GROUP)
    with trio.fail_after(60):
        try:
            await link.commit([("edge-a", "frames")], {"lobby": "stale"}, [], ack=True)
        except LeaseLost:
            pass
        else:
            raise AssertionError("the deposed core's commit went through")
    assert await bus.read_after(frames_stream("edge-a"), "0-0") == []
    assert await bus.read_hash("c4:state") == {}


async def test_a_core_that_takes_over_drops_its_dead_predecessors_reader(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Each core process is a consumer of the inputs' group: a dead one's stayed in Redis
    for ever (every failover, every restart).  The next core claims what it held, then
    drops it from the group."""
    bus = InMemoryBus()
    await bus.append(INPUTS, {"e": "read, never finished"})
    old = CoreLease(bus, "core-old")
    async with trio.open_nursery() as nursery:
        await nursery.start(old.run)
        assert len(await BusCoreLink(bus, "core-old", old).receive_inputs()) == 1
        nursery.cancel_scope.cancel()  # the old core dies
    new = CoreLease(bus, "core-new")
    async with trio.open_nursery() as nursery:
        await nursery.start(new.run)
        link = BusCoreLink(bus, "core-new", new)
        assert await link.receive_inputs() == ["read, never finished"]
        await link.commit([], {}, [], ack=True)
        await bus.append(INPUTS, {"e": "later"})
        assert await link.receive_inputs() == ["later"]  # pending: the new core's is kept
        with trio.move_on_after(2 * READER_IDLE):
            while True:  # the idle reads after it
                await link.receive_inputs()
        # Only the old core's consumer held nothing: it was dropped (none is left to drop).
        assert await bus.drop_idle_consumers(INPUTS, GROUP, idle=0) == []

        nursery.cancel_scope.cancel()


async def test_each_commit_acknowledges_its_own_batch_read_while_another_was_in_flight(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The core reads the next batch before the previous one's commit is made: each commit
    with ``ack`` acknowledges the oldest batch read and not yet acknowledged, never the one
    read after it (that one stays pending until its own commit)."""
    bus = InMemoryBus()
    lease = CoreLease(bus, "core")
    async with trio.open_nursery() as nursery:
        await nursery.start(lease.run)
        await lease.held.wait()
        link = BusCoreLink(bus, "core", lease)
        await bus.ensure_group(INPUTS, GROUP)
        await bus.append(INPUTS, {"e": "first"})
        assert await link.receive_inputs() == ["first"]
        await bus.append(INPUTS, {"e": "second"})
        assert await link.receive_inputs() == ["second"]  # while the first is uncommitted
        await link.commit([], {"a": "1"}, [], ack=True)
        assert await bus.pending_count(INPUTS, GROUP) == 1  # the second is still pending
        await link.commit([], {"a": "2"}, [], ack=True)
        assert await bus.pending_count(INPUTS, GROUP) == 0
        nursery.cancel_scope.cancel()


class LosesACommitsReply(InMemoryBus):
    """A bus that applies the first commit whose frames contain ``needle`` and loses its
    reply (as when the connection drops just after Redis ran the script): the core cannot
    tell it from a commit that never happened, and makes it again."""

    needle: str | None = None
    lost = 0

    async def commit(self, lease: Lease, operations: Sequence[Operation]) -> list[StreamId]:
        ids = await super().commit(lease, operations)
        needle = self.needle
        appends = [op for op in operations if isinstance(op, Append)]
        if needle is not None and any(needle in op.fields["d"] for op in appends):
            self.needle = None
            self.lost += 1
            raise BusUnavailable("the connection dropped before the reply")
        return ids


@asynccontextmanager
async def in_process_cluster(
    bus: Bus, db: Path | None = None
) -> AsyncIterator[list[RunningServer]]:
    """A core and two edges ("edge-a", "edge-b") in this process on ``bus``: the cluster
    of the tests whose faults are the bus's own.  With ``db``, the three share that SQLite
    file and each edge runs its game recorder (as ``cluster.node`` runs them)."""
    stop = trio.Event()
    settings = ServerSettings(port=0, lobby_tick=0.0, loop_monitor=False, tune_gc=False)
    if db is not None:
        settings = attrs.evolve(settings, db_path=str(db))
    async with trio.open_nursery() as nursery:
        lease = CoreLease(bus, "core-1")
        await nursery.start(lease.run)

        def relay(inbox: trio.MemorySendChannel[LobbyInput]) -> CoreRelay:
            return CoreRelay(BusCoreLink(bus, "core-1", lease), inbox)

        await nursery.start(partial(run_server, settings, stop, core=relay))
        edges = []
        for name in ("edge-a", "edge-b"):
            edge_link = BusEdgeLink(bus, name)
            edge = await nursery.start(
                partial(run_server, settings, stop, edge=partial(EdgeRelay, edge_link))
            )
            if db is not None:
                await nursery.start(GameRecorder(bus, name, edge.store).run)
            edges.append(edge)
        yield edges
        stop.set()
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def a_game_across_two_edges(bus: Bus) -> AsyncIterator[tuple[Client, Client, str]]:
    """ann on edge-a and bob on edge-b of ``in_process_cluster(bus)``, in a game ann
    challenged (bob moves first): the scene of the tests of one input's or commit's fault,
    on an in-memory bus that injects it or on a real Redis."""
    async with (
        in_process_cluster(bus) as edges,
        connect(edges[0], "ann") as ann,
        connect(edges[1], "bob") as bob,
    ):
        yield ann, bob, await start_game(ann, bob)


async def in_inputs_twice(bus: InMemoryBus, text: str) -> None:
    """Until the input stream holds ``text`` twice (an edge appended an input again after
    its first append's reply was lost): 5 s at most."""
    with trio.fail_after(5):
        while True:
            inputs = [e.fields["e"] for e in await bus.read_after(INPUTS, "0-0")]
            if sum(text in entry for entry in inputs) == 2:
                return
            await trio.sleep(0.01)


async def repeats(bus: InMemoryBus, edge: str) -> int:
    """How many times the batch of the commit that lost its reply is in ``edge``'s stream."""
    batches = [entry.fields["d"] for entry in await bus.read_after(frames_stream(edge), "0-0")]
    return sum("[3,2]" in batch for batch in batches)


async def test_a_commit_made_again_after_its_reply_was_lost_sends_its_frames_once() -> None:
    bus = LosesACommitsReply()
    async with a_game_across_two_edges(bus) as (ann, bob, game_id):  # bob moves first
        await bob.send(Move(game_id=game_id, column=3, ply=0))
        for player in (ann, bob):
            assert (await player.expect(GameState)).moves == [3]
        bus.needle = "[3,2]"  # the commit of ann's move: its frames to both edges
        await ann.send(Move(game_id=game_id, column=2, ply=1))
        for player in (ann, bob):
            assert (await player.expect(GameState)).moves == [3, 2]
        assert bus.lost == 1
        # The core made the commit again (after a short wait): the batch is in each
        # edge's stream twice, ahead of anything the next move sends.
        with trio.fail_after(5):
            for name in ("edge-a", "edge-b"):
                while await repeats(bus, name) < 2:  # noqa: ASYNC110 (a stream)
                    await trio.sleep(0.01)
        # Each player got it once: the next frame is the next move's.
        await bob.send(Move(game_id=game_id, column=3, ply=2))
        for player in (ann, bob):
            assert (await player.expect(GameState)).moves == [3, 2, 3]


async def test_during_an_outage_edges_refuse_other_actions_and_hold_a_move_played_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The core is killed and no standby serves for a while: each edge, once the core has
    been silent long enough, keeps every socket, holds a move and refuses anything else at
    once (``server_recovering``, a new connection too); a core started later plays the held
    move once and serves the rest again."""
    db = tmp_path / "c4.sqlite3"
    with running_cluster(redis_server.url, db, extra=["--grace", "60"]) as cluster:
        edge_a, edge_b = cluster.edges
        async with (
            connect(address(edge_a), "ann") as ann,
            connect(address(edge_b), "bob") as bob,
            connect(address(edge_a), "cat") as cat,
        ):
            game_id = await start_game(bob, ann, skip=(LobbyUpdate,))  # ann moves first
            os.kill(cluster.core.pid, signal.SIGKILL)
            cluster.core.wait()
            with trio.fail_after(15):
                for edge in cluster.edges:
                    while "core silent for" not in edge.log():  # noqa: ASYNC110 (a log)
                        await trio.sleep(0.05)
            await ann.send(Move(game_id=game_id, column=WIN[0], ply=0))  # held
            await ann.send(Chat(game_id=game_id, text="still there?"))
            await cat.send(Seek())
            skip = (LobbyUpdate, UserList)
            with trio.fail_after(5):
                refused = [await ann.expect(Error), await cat.expect_skipping(Error, *skip)]
            assert [(e.code, e.ref) for e in refused] == [
                ("server_recovering", "chat"),
                ("server_recovering", "seek"),
            ]
            async with connect(address(edge_b)) as dan:
                await dan.send(NewConnection(username="dan"))
                with trio.fail_after(5):
                    refusal = await dan.expect(Error)
                assert (refusal.code, refusal.ref) == ("server_recovering", "new_connection")
            # A core serves again: the held move is played, once (a second time would be
            # refused ``stale_move``, an error the next expect would meet).
            standby = start_node(redis_server.url, db, "core", ["--grace", "60"])
            try:
                for player in (ann, bob):
                    with trio.fail_after(20):
                        state = await player.expect_skipping(GameState, *skip)
                    assert state.moves == WIN[:1]
                await bob.send(Move(game_id=game_id, column=WIN[1], ply=1))
                for player in (ann, bob):
                    assert (await player.expect_skipping(GameState, *skip)).moves == WIN[:2]
                await cat.send(Seek())
                await cat.send(Seek())
                with trio.fail_after(10):
                    again = await cat.expect_skipping(Error, *skip)
                assert again.code == "already_seeking"  # the first one was carried out
                assert "core state restored connections=3 games=1" in standby.log()
                assert bad_lines(*cluster.edges, standby) == [], standby.log()
            finally:
                standby.kill()


class LosesAnAppendsReply(InMemoryBus):
    """A bus that appends the first input entry containing ``needle`` and loses the reply:
    the edge cannot tell it from an append that never happened, and makes it again."""

    needle: str | None = None

    async def append(
        self, stream: str, fields: Mapping[str, str], *, maxlen: int | None = None
    ) -> StreamId:
        entry_id = await super().append(stream, fields, maxlen=maxlen)
        needle = self.needle
        if needle is not None and stream == INPUTS and needle in fields.get("e", ""):
            self.needle = None
            raise BusUnavailable("the connection dropped before the reply")
        return entry_id


async def test_an_input_appended_again_after_its_reply_was_lost_is_handled_once() -> None:
    bus = LosesAnAppendsReply()
    async with a_game_across_two_edges(bus) as (ann, bob, game_id):
        bus.needle = "said once"
        await ann.send(Chat(game_id=game_id, text="said once"))
        for player in (ann, bob):
            assert (await player.expect(ChatMessage)).text == "said once"
        # The edge appended it again (after a short wait): it is in the stream twice.
        await in_inputs_twice(bus, "said once")
        # Said once: the next line each player hears is the next one.
        await ann.send(Chat(game_id=game_id, text="and then this"))
        for player in (ann, bob):
            assert (await player.expect(ChatMessage)).text == "and then this"


class HoldsARepeatedAppend(InMemoryBus):
    """A bus that appends the first input entry containing ``needle`` and loses the reply,
    then refuses the edge's appends of it again (unavailable) until ``release`` is set: the
    repeat reaches the stream only once the test has let another core take over."""

    needle: str | None = None
    held: str | None = None
    release = trio.Event()

    async def append(
        self, stream: str, fields: Mapping[str, str], *, maxlen: int | None = None
    ) -> StreamId:
        text = fields.get("e", "")
        if stream == INPUTS and self.held is not None and self.held in text:
            if not self.release.is_set():
                raise BusUnavailable("still away")
            self.held = None
        entry_id = await super().append(stream, fields, maxlen=maxlen)
        needle = self.needle
        if needle is not None and stream == INPUTS and needle in text:
            self.needle, self.held = None, needle
            raise BusUnavailable("the connection dropped before the reply")
        return entry_id


async def greeted(bus: InMemoryBus, edge: str, core: str) -> bool:
    """Whether ``core`` sent ``edge`` a batch (it took over, restored the state)."""
    batches = await bus.read_after(frames_stream(edge), "0-0")
    return any(core in entry.fields["d"] for entry in batches)


async def test_an_input_appended_again_across_a_failover_is_handled_once() -> None:
    """The first copy is handled and committed by one core; the edge's repeat arrives once
    another core took over: that core knows the edge's last entry handled (committed with
    the state), so it drops the repeat (a chat has no ``ply`` to refuse it by)."""
    bus = HoldsARepeatedAppend()
    bus.release = trio.Event()
    settings = ServerSettings(port=0, lobby_tick=0.0, loop_monitor=False, tune_gc=False)
    stop = trio.Event()

    async def run_core(
        name: str, scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        with scope:
            lease = CoreLease(bus, name)
            async with trio.open_nursery() as nursery:
                await nursery.start(lease.run)

                def relay(inbox: trio.MemorySendChannel[LobbyInput]) -> CoreRelay:
                    return CoreRelay(BusCoreLink(bus, name, lease), inbox)

                await nursery.start(partial(run_server, settings, stop, core=relay))
                task_status.started()

    async with trio.open_nursery() as nursery:
        first = trio.CancelScope()
        await nursery.start(run_core, "core-1", first)
        edges = [
            await nursery.start(
                partial(run_server, settings, stop, edge=partial(EdgeRelay, BusEdgeLink(bus, name)))
            )
            for name in ("edge-a", "edge-b")
        ]
        async with connect(edges[0], "ann") as ann, connect(edges[1], "bob") as bob:
            game_id = await start_game(ann, bob)
            bus.needle = "said once"
            await ann.send(Chat(game_id=game_id, text="said once"))
            for player in (ann, bob):
                assert (await player.expect(ChatMessage)).text == "said once"
            # The first core dies (nothing more of it runs); another takes over.
            first.cancel()
            await nursery.start(run_core, "core-2", trio.CancelScope())
            with trio.fail_after(10):
                for edge in ("edge-a", "edge-b"):  # it restored the state and greeted both
                    while not await greeted(bus, edge, "core-2"):  # noqa: ASYNC110 (a stream)
                        await trio.sleep(0.01)
            bus.release.set()  # the edge's repeat reaches the stream now
            await in_inputs_twice(bus, "said once")
            # Said once: the next line each player hears is the next one.
            await ann.send(Chat(game_id=game_id, text="and then this"))
            skip = (UserList, LobbyUpdate)
            for player in (ann, bob):
                with trio.fail_after(10):
                    said = await player.expect_skipping(ChatMessage, *skip)
                assert said.text == "and then this"
        stop.set()
        nursery.cancel_scope.cancel()
