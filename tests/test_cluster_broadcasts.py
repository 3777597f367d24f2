"""Broadcasts across a cluster: a ``lobby_update`` / ``game_list_update`` is encoded once in
the core and carried with a sequence number to each edge, which fans it out to its own
connections; an edge that misses one (an entry it never read) resyncs its audience with a
fresh ``user_list`` / ``game_list``, so every watcher ends with the core's lobby.

In one process (``MemoryHub`` loses an entry on purpose) and across real processes on a
real Redis (the entry is deleted from the edge's stream while the edge is stopped)."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import coredis
import trio

from c4actors.cluster import wire
from c4actors.cluster.bus_links import frames_stream
from c4actors.cluster.core import EdgeOutbox
from c4actors.loadtest.connection import open_socket
from c4actors.server import RunningServer
from protocol import (
    Accept,
    Challenge,
    FollowGames,
    GameInfo,
    GameList,
    GameListUpdate,
    GameStarted,
    Invitation,
    InvitationSent,
    LobbyUpdate,
    NewConnection,
    ServerMessage,
    UserInfo,
    UserList,
    Welcome,
    decode_server,
    encode,
)
from tests.cluster_processes import running_cluster
from tests.redis_server import RedisServer
from tests.support import Client, connect, start_game
from tests.test_cluster_relays import memory_cluster

TIMEOUT = 10.0


class Watcher:
    """A socket in the lobby that keeps its view of the lobby (and of the games list) the
    way the page does: a list replaces the view, an update changes it."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.users: dict[str, UserInfo] = {}
        self.online = 0
        self.games: dict[str, GameInfo] = {}
        self.total = 0
        self.lists = 0
        """``user_list`` frames received (the join's own, then resyncs)."""
        self.game_lists = 0

    def apply(self, message: ServerMessage) -> None:
        match message:
            case UserList(users=users, online=online):
                self.users = {user.name: user for user in users}
                self.online = online
                self.lists += 1
            case LobbyUpdate(users=users, left=left, online=online):
                for name in left:
                    self.users.pop(name, None)
                self.users.update((user.name, user) for user in users)
                self.online = online
            case GameList(games=games, total=total):
                self.games = {game.game_id: game for game in games}
                self.total = total
                self.game_lists += 1
            case GameListUpdate(games=games, ended=ended, total=total):
                for game_id in ended:
                    self.games.pop(game_id, None)
                self.games.update((game.game_id, game) for game in games)
                self.total = total

    async def until_users(self, expected: list[UserInfo], online: int) -> None:
        """Read (and apply) frames until the view is ``expected``; fails after TIMEOUT."""
        want = {user.name: user for user in expected}
        with trio.fail_after(TIMEOUT):
            while (self.users, self.online) != (want, online):
                self.apply(await self._receive())

    async def until_names(self, names: set[str]) -> None:
        with trio.fail_after(TIMEOUT):
            while set(self.users) != names:
                self.apply(await self._receive())

    async def until_games(self, game_ids: set[str]) -> None:
        with trio.fail_after(TIMEOUT):
            while (set(self.games), self.total) != (game_ids, len(game_ids)):
                self.apply(await self._receive())

    async def _receive(self) -> ServerMessage:
        text = await self.client.ws.get_message()
        assert isinstance(text, str)
        return decode_server(text)


@asynccontextmanager
async def watcher(url: str, name: str) -> AsyncIterator[Watcher]:
    async with open_socket(url) as ws:
        client = Client(ws, name)
        await client.send(NewConnection(username=name))
        await client.expect(Welcome)
        yield Watcher(client)


def server_url(server: RunningServer) -> str:
    return server.ws_url


async def test_an_edge_that_missed_a_lobby_update_resyncs_its_watchers() -> None:
    async with (
        memory_cluster() as cluster,
        watcher(server_url(cluster.edges[1]), "wendy") as wendy,
        connect(cluster.edges[0], "ann"),
    ):
        core = cluster.core.lobby
        await wendy.until_users(await core.snapshot(), 2)
        assert wendy.lists == 1
        cluster.hub.lose_frames("edge-b", "lobby_update")  # the one naming bob
        async with connect(cluster.edges[0], "bob"):
            with trio.fail_after(TIMEOUT):
                await cluster.hub.wait_lost("edge-b")
            async with connect(cluster.edges[0], "carl"):
                # carl's update does not follow the last one edge-b saw: it asks a resync.
                await wendy.until_users(await core.snapshot(), 4)
                assert wendy.lists == 2
                assert {"ann", "bob", "carl", "wendy"} == set(wendy.users)
                # Then the updates follow as before.
                async with connect(cluster.edges[0], "dora"):
                    await wendy.until_users(await core.snapshot(), 5)
                    assert wendy.lists == 2


async def test_an_edge_that_missed_a_game_list_update_resyncs_its_followers() -> None:
    async with (
        memory_cluster() as cluster,
        watcher(server_url(cluster.edges[1]), "wendy") as wendy,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[0], "bob") as bob,
        connect(cluster.edges[0], "carl") as carl,
        connect(cluster.edges[0], "dora") as dora,
    ):
        await wendy.client.send(FollowGames())
        await wendy.until_games(set())
        await ann.send(Challenge(opponent="bob"))
        await ann.expect_skipping(InvitationSent, LobbyUpdate)
        await bob.expect_skipping(Invitation, LobbyUpdate)
        # The batch with the game list's update (and the lobby's) for its start is lost.
        cluster.hub.lose_frames("edge-b", "game_list_update")
        await bob.send(Accept(challenger="ann"))
        first = (await bob.expect_skipping(GameStarted, LobbyUpdate)).game_id
        with trio.fail_after(TIMEOUT):
            await cluster.hub.wait_lost("edge-b")
        second = await start_game(carl, dora)
        await wendy.until_games({first, second})
        await wendy.until_users(await cluster.core.lobby.snapshot(), 5)
        assert (wendy.lists, wendy.game_lists) == (2, 2)


async def test_broadcasts_resync_across_real_processes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A real cluster: edge B is stopped (SIGSTOP) while a user joins, the entry with that
    change is deleted from B's stream, and B is resumed; the next change shows it the
    gap, and its watcher ends with the same lobby as a watcher on edge A."""
    with running_cluster(redis_server.url, tmp_path / "c4.sqlite3") as cluster:
        edge_a, edge_b = cluster.edges
        client: coredis.Redis[str] = coredis.Redis.from_url(redis_server.url, decode_responses=True)
        async with (
            client,
            watcher(edge_a.ws_url, "anna") as anna,
            watcher(edge_b.ws_url, "wendy") as wendy,
        ):
            await anna.until_names({"anna", "wendy"})
            await wendy.until_names({"anna", "wendy"})
            streams = [key async for key in client.scan_iter(match=frames_stream("*"))]
            stream_b = next(key for key in streams if f"-{edge_b.pid}-" in key)
            (last,) = await client.xrevrange(stream_b, "+", "-", count=1)
            os.kill(edge_b.pid, signal.SIGSTOP)
            try:
                # A read B had waiting is answered with this empty batch (from the same
                # core), not with the entry deleted below.
                batch = wire.decode_downlink(last.field_values["d"])
                empty = wire.encode_downlink(wire.Downlink([], [], batch.core, batch.seq))
                last_id = await client.xadd(stream_b, {"d": empty})
                async with connect_to(edge_a.ws_url, "bob"):
                    with trio.fail_after(TIMEOUT):
                        while not (entries := await client.xrange(stream_b, f"({last_id}", "+")):  # noqa: ASYNC110 (Redis)
                            await trio.sleep(0.02)
                    await client.xdel(stream_b, [entry.identifier for entry in entries])
                    os.kill(edge_b.pid, signal.SIGCONT)
                    async with connect_to(edge_a.ws_url, "carl"):
                        await anna.until_names({"anna", "wendy", "bob", "carl"})
                        await wendy.until_users(list(anna.users.values()), anna.online)
                        assert wendy.lists == 2  # its own, then the resync's
            finally:
                os.kill(edge_b.pid, signal.SIGCONT)
        assert "Traceback" not in cluster.log(), cluster.log()
        assert "asking a resync" in cluster.log()


@asynccontextmanager
async def connect_to(url: str, name: str) -> AsyncIterator[Client]:
    async with open_socket(url) as ws:
        client = Client(ws)
        await client.join(name)
        yield client


def test_a_broadcast_is_one_op_per_edge_with_the_changes_of_its_audience() -> None:
    outbox = EdgeOutbox("edge-a", "core-1")
    first, second = (
        encode(LobbyUpdate(users=[], left=["x"], online=1)),
        encode(LobbyUpdate(users=[], left=["y"], online=1)),
    )
    outbox.broadcast("lobby", 1, first, set(range(1, 101)))
    outbox.broadcast("lobby", 2, second, set(range(2, 102)))
    text = outbox.take()
    assert text is not None
    entry = wire.decode_downlink(text)
    assert [op.value for op in entry.ops] == [
        {"ch": "lobby", "seq": 1, "full": list(range(1, 101))},
        {"ch": "lobby", "seq": 2, "add": [101], "drop": [1]},
    ]
    assert entry.frames == [first, second]
    assert wire.encode_downlink(entry) == text
    # A resync asked: the next broadcast carries the whole audience again.
    outbox.audiences.pop("lobby")
    outbox.broadcast("lobby", 3, first, {5})
    again = outbox.take()
    assert again is not None
    assert wire.decode_downlink(again).ops[0].value == {"ch": "lobby", "seq": 3, "full": [5]}
