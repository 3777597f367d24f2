"""An edge the core declares dead, in one process (``MemoryHub``, real sockets): one that was
only stalled comes back as a new edge and nothing of it is applied twice; nothing of a
dead edge stays in the core or in its committed state, a failover included.

``test_cluster_stalled_edge.py`` does the same with real processes (SIGSTOP, SIGCONT) on a
real Redis."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

import attrs
import pytest
import trio
from trio.testing import MockClock
from trio_websocket import ConnectionClosed

from c4actors.actors.lobby import LobbyInput
from c4actors.cluster import keeper, wire
from c4actors.cluster.core import CoreRelay
from c4actors.cluster.edge import EdgeRelay
from c4actors.cluster.links import EdgeLink, MemoryHub
from c4actors.server import RunningServer, run_server
from protocol import (
    GameStarted,
    GameState,
    Move,
    NewConnection,
    OpponentDisconnected,
    OpponentReconnected,
    UserList,
    Welcome,
)
from tests.support import Client, connect, start_game
from tests.test_cluster_relays import SETTINGS


class StallingLink:
    """An edge's link that stands still while ``stalled`` (as the process under SIGSTOP:
    nothing sent, nothing read), noting each input entry it sends."""

    def __init__(self, link: EdgeLink) -> None:
        self.link = link
        self.sent: list[str] = []
        self.held: list[str] = []
        """Entries made while stalled with ``hold``: sent by ``send_held``."""
        self._hold = False
        self._going = trio.Event()
        self._going.set()

    @property
    def edge(self) -> str:
        return self.link.edge

    @edge.setter
    def edge(self, name: str) -> None:
        self.link.edge = name

    def rename(self) -> None:
        self.link.rename()

    def stall(self, *, hold: bool = False) -> None:
        """Stand still; with ``hold``, every entry made meanwhile is kept (as the entries
        an edge makes when it wakes, before it reads of its death), not waited on."""
        self._going = trio.Event()
        self._hold = hold

    async def send_held(self) -> None:
        held, self.held = self.held, []
        for entry in held:
            await self.link.send_inputs(entry)

    def wake(self) -> None:
        self._going.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.link.run(task_status=task_status)

    async def send_inputs(self, entry: str) -> None:
        if self._hold and not self._going.is_set():
            self.held.append(entry)
            self.sent.append(entry)
            await trio.lowlevel.checkpoint()
            return
        await self._going.wait()
        self.sent.append(entry)
        await self.link.send_inputs(entry)

    async def receive_frames(self) -> list[str]:
        await self._going.wait()
        entries = await self.link.receive_frames()
        await self._going.wait()
        return entries


@attrs.frozen
class Cluster:
    hub: MemoryHub
    cores: list[CoreRelay]
    edges: list[RunningServer]
    links: list[StallingLink]
    relays: list[EdgeRelay]
    scopes: list[trio.CancelScope]
    """Core ``core-1``'s, then each edge's: cancelled, it dies as with SIGKILL."""
    nursery: trio.Nursery
    stop: trio.Event

    async def start_core(self, name: str) -> trio.CancelScope:
        """Core ``name`` started: it serves at once (the hub has no lease)."""
        scope = trio.CancelScope()

        async def core(*, task_status: trio.TaskStatus[RunningServer]) -> None:
            def relay(inbox: trio.MemorySendChannel[LobbyInput]) -> CoreRelay:
                self.cores.append(CoreRelay(self.hub.core(name), inbox))
                return self.cores[-1]

            with scope:
                await run_server(SETTINGS, self.stop, task_status=task_status, core=relay)

        await self.nursery.start(core)
        return scope


@asynccontextmanager
async def memory_cluster(edges: tuple[str, ...] = ("edge-a", "edge-b")) -> AsyncIterator[Cluster]:
    hub = MemoryHub()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        cluster = Cluster(hub, [], [], [], [], [], nursery, stop)
        cluster.scopes.append(await cluster.start_core("core-1"))
        for name in edges:
            link = StallingLink(hub.edge(name))
            scope = trio.CancelScope()
            cluster.links.append(link)
            cluster.scopes.append(scope)

            def relay(link: StallingLink = link) -> EdgeRelay:
                cluster.relays.append(EdgeRelay(link))
                return cluster.relays[-1]

            async def edge(
                link: StallingLink = link,
                scope: trio.CancelScope = scope,
                *,
                task_status: trio.TaskStatus[RunningServer],
            ) -> None:
                with scope:
                    await run_server(
                        attrs.evolve(SETTINGS, grace_seconds=60),
                        stop,
                        task_status=task_status,
                        edge=relay,
                    )

            cluster.edges.append(await nursery.start(edge))
        try:
            yield cluster
        finally:
            stop.set()
            nursery.cancel_scope.cancel()


async def past_the_timeout(clock: MockClock) -> None:
    """Long enough for the core to declare a silent edge dead (the others' heartbeats
    read meanwhile)."""
    for _ in range(int(wire.EDGE_TIMEOUT / wire.HEARTBEAT) + 2):
        clock.jump(wire.HEARTBEAT)
        await trio.sleep(0.05)


def join_of(link: StallingLink, username: str) -> str:
    for text in link.sent:
        items = wire.decode_uplink(text).items
        if any(isinstance(item, wire.JoinIn) and item.username == username for item in items):
            return text
    raise AssertionError(f"no join of {username} sent")


def held_kinds(link: StallingLink) -> set[str]:
    """The kinds of the limit events in the entries ``link`` holds."""
    items = [item for text in link.held for item in wire.decode_uplink(text).items]
    return {item.kind for item in items if isinstance(item, wire.SharedIn)}


async def close_code(client: Client) -> int | None:
    while True:
        try:
            await client.ws.get_message()
        except ConnectionClosed as closed:
            return None if closed.reason is None else closed.reason.code


async def test_a_stalled_edge_declared_dead_comes_back_as_a_new_edge(
    jump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Its player's socket is closed (1012) rather than left a ghost, the page resumes the
    game with its token, and a copy of her join the edge sent again (its reply lost) is
    dropped: handled again, it made a second session of hers."""
    caplog.set_level(logging.INFO, "c4actors.cluster.core")
    async with memory_cluster() as cluster:
        stalling = cluster.links[0]
        async with connect(cluster.edges[1], "bob") as bob, connect(cluster.edges[0], "ann") as ann:
            game_id = await start_game(bob, ann)  # ann moves first
            await ann.send(Move(game_id=game_id, column=3, ply=0))
            for player in (ann, bob):
                assert (await player.expect(GameState)).moves == [3]
            stalling.stall()
            await past_the_timeout(jump_clock)
            assert (await bob.expect(OpponentDisconnected)).game_id == game_id
            assert edges_kept(cluster.hub)[0] == {"edge-b"}, "fenced: not known as live"
            # The edge's appender sends ann's join again, and the edge wakes up.
            await stalling.link.send_inputs(join_of(stalling, "ann"))
            stalling.wake()
            with trio.fail_after(5):
                assert await close_code(ann) == 1012
            assert stalling.edge != "edge-a", "a new edge, under a new name"
            # The page reconnects, through the same edge, and takes the game back.
            async with connect(cluster.edges[0]) as again:
                await again.send(NewConnection(username="ann", resume=ann.token))
                await again.expect(Welcome)
                await again.expect(UserList)
                assert (await again.expect(GameStarted)).game_id == game_id
                assert (await again.expect(GameState)).moves == [3]
                await bob.expect(OpponentReconnected)
                await bob.send(Move(game_id=game_id, column=4, ply=1))
                for player in (again, bob):
                    assert (await player.expect(GameState)).moves == [3, 4]
    assert "dropped an input entry of an edge declared dead edge=edge-a" in caplog.text
    assert "declared dead by the core" in caplog.text


async def test_an_edge_stalled_past_any_number_of_deaths_is_still_fenced(
    jump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """1,025 other edges announce themselves and die while edge-a stands still: a copy of
    ann's join it sends when it wakes is still dropped, and nothing of the dead edges is
    kept.  (The core kept the names of the latest 1,024 dead edges: past them, the copy
    made edge-a a new edge again and handled the join a second time, a ghost session.)"""
    caplog.set_level(logging.INFO, "c4actors.cluster.core")
    async with memory_cluster() as cluster:
        stalling = cluster.links[0]
        core = cluster.cores[0]
        async with connect(cluster.edges[1], "bob"), connect(cluster.edges[0], "ann") as ann:
            stalling.stall()
            await past_the_timeout(jump_clock)
            assert "edge-a" not in core._handled.upto
            for n in range(1025):
                name = f"short-lived-{n}"
                await cluster.hub.edge(name).send_inputs(
                    wire.encode_uplink(wire.Uplink(name, [], 1))
                )
            with trio.fail_after(5):
                while len(core._heard) < 1026:  # noqa: ASYNC110 (the core reads them)
                    await trio.sleep(0.01)
            await past_the_timeout(jump_clock)
            with trio.fail_after(10):
                while set(core._heard) != {"edge-b"}:  # noqa: ASYNC110 (each death a commit)
                    await trio.sleep(0.01)
            assert set(core._handled.upto) == {"edge-b"}
            await stalling.link.send_inputs(join_of(stalling, "ann"))
            stalling.wake()
            with trio.fail_after(5):
                assert await close_code(ann) == 1012
            await trio.testing.wait_all_tasks_blocked()
            assert [key for key in core._conns if key[0] == "edge-a"] == [], "no ghost session"
            handled, rows, _ = edges_kept(cluster.hub)
            assert "edge-a" not in handled and rows == {"edge-b"}
            assert len(handled) <= 2, "the living edges only: edge-b and edge-a's new name"
    assert "dropped an input entry of an edge declared dead edge=edge-a" in caplog.text


async def test_limit_events_of_an_edge_declared_dead_count_once_under_its_new_name(
    jump_clock: MockClock,
) -> None:
    """A failed login the edge recorded when it woke, before it read that it was declared
    dead, went out under its old name and was dropped: the other edges never counted it,
    and a guesser had one more try.  Sent again under the new name (the death's
    ``edge_gone`` says which entries the core handled), it counts once, and the one
    recorded before the death is not counted twice.  So does a socket opened then (its
    count went under the old name too): the edge's open sockets count again under the new
    name, as the others dropped the old name's counts (a cap undercounted)."""
    pair = ("ann", "10.0.0.9")
    async with memory_cluster() as cluster:
        stalling = cluster.links[0]
        edge_a, edge_b = cluster.relays
        assert edge_a._shared is not None and edge_b._shared is not None
        throttle_a, limits_b = edge_a._shared.throttle, edge_b._shared

        def counted() -> int:
            return len(limits_b.throttle._pairs.get(pair, ()))

        async with connect(cluster.edges[1], "bob"):
            throttle_a.failed(*pair, time.monotonic())
            with trio.fail_after(5):
                while counted() < 1:  # noqa: ASYNC110 (through the core)
                    await trio.sleep(0.01)
            stalling.stall(hold=True)
            # The entries that carry the failure and the socket's count go out under the
            # old name once the core declared it dead, as when it wakes (the handshake's
            # timeout, 10 s, is not reached here).
            async with connect(cluster.edges[0]):
                throttle_a.failed(*pair, time.monotonic())
                with trio.fail_after(5):
                    while {"ws_open", "login_failed"} - held_kinds(stalling):  # noqa: ASYNC110
                        await trio.sleep(0.01)
                await past_the_timeout(jump_clock)
                await stalling.send_held()
                stalling.wake()
                with trio.fail_after(5):
                    while counted() < 2 or not limits_b.connections._others:  # noqa: ASYNC110
                        await trio.sleep(0.01)
                assert limits_b.connections._others == {stalling.edge: {"127.0.0.1": 1}}
                for _ in range(2):
                    jump_clock.jump(wire.HEARTBEAT)
                    await trio.sleep(0.05)
                assert counted() == 2, "each failure once"
                assert limits_b.connections._others == {
                    stalling.edge: edge_a._shared.connections.counts()
                }


async def test_an_edge_that_comes_back_asks_its_pending_queries_again(
    jump_clock: MockClock,
) -> None:
    """A query sent under the old name is dropped by the core (the edge is fenced): the
    edge asks it again under the new one, so the HTTP request is answered."""
    async with memory_cluster() as cluster:
        stalling = cluster.links[0]
        async with connect(cluster.edges[1], "bob"):
            stalling.stall()
            await past_the_timeout(jump_clock)
            answers: list[bool] = []

            async def ask() -> None:
                answers.append(await cluster.edges[0].lobby.is_online("bob"))

            cluster.nursery.start_soon(ask)
            await trio.sleep(0.1)
            stalling.wake()
            with trio.fail_after(5):
                while not answers:  # noqa: ASYNC110 (a reply through the relays)
                    await trio.sleep(0.01)
            assert answers == [True]


def edges_kept(hub: MemoryHub) -> tuple[set[str], set[str], list[str]]:
    """The edges in the committed state: with input numbers (those known as live), with
    connections, and an older core's fenced names (none: nothing is kept of a dead edge)."""
    state = hub.state
    handled = set(json.loads(state.get(keeper.INPUTS_HANDLED, "{}")))
    rows = {
        json.loads(text)[0] for field, text in state.items() if field.startswith(keeper.CONN_PREFIX)
    }
    return handled, rows, json.loads(state.get(keeper.EDGES_FENCED, "[]"))


async def test_nothing_of_a_dead_edge_stays_in_the_core(jump_clock: MockClock) -> None:
    """The core kept when it last sent each edge a batch after the edge died: one entry
    per dead edge, for ever."""
    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann"),
        connect(cluster.edges[1], "bob"),
    ):
        assert edges_kept(cluster.hub) == ({"edge-a", "edge-b"}, {"edge-a", "edge-b"}, [])
        cluster.scopes[1].cancel()  # edge-a dies (SIGKILL)
        await past_the_timeout(jump_clock)
        core = cluster.cores[0]
        kept: list[Collection[str]] = [
            core._heard,
            core._outboxes,
            core._sent_at,
            core._sockets,
            core._handled.upto,
        ]
        assert [edge for table in kept for edge in table if edge == "edge-a"] == []
        assert [edge for edge, _ in core._conns if edge == "edge-a"] == []
        assert edges_kept(cluster.hub) == ({"edge-b"}, {"edge-b"}, [])


async def test_an_edge_that_dies_during_a_failover_is_forgotten_by_the_standby(
    jump_clock: MockClock,
) -> None:
    """An edge with no connection that dies while no core serves: the standby restored its
    input numbers but never heard from it, and kept them for ever (it watched only the
    edges with connections)."""
    async with memory_cluster() as cluster:
        with trio.fail_after(5):
            while edges_kept(cluster.hub)[0] != {"edge-a", "edge-b"}:  # noqa: ASYNC110
                await trio.sleep(0.01)
        cluster.scopes[0].cancel()  # the core dies
        cluster.scopes[1].cancel()  # and edge-a, meanwhile
        await cluster.start_core("core-2")
        await past_the_timeout(jump_clock)
        assert edges_kept(cluster.hub) == ({"edge-b"}, set(), [])
