"""An edge wrongly declared dead, with real processes on a real Redis: it stood still
(SIGSTOP) for longer than ``wire.EDGE_TIMEOUT``, the core declared it dead, and then it
woke up (SIGCONT).

The core told the lobby its connections left; the edge's appender may send again entries
the core had handled (a reply lost on the way).  Nothing of it may be applied twice, and
nobody may be left with a socket the lobby does not know (a ghost).  The copy of an entry
is made by the test (the resend of an append whose reply was lost: what ``bus.Appender``
does), while the edge stands still, after a failover too."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import trio
from trio_websocket import ConnectionClosed

from c4actors.bus import open_redis_bus
from c4actors.bus.interface import Bus
from c4actors.cluster import wire
from c4actors.cluster.bus_links import (
    FAREWELL_KEEP,
    INPUTS,
    BusCoreLink,
    CoreLease,
    frames_stream,
)
from c4actors.cluster.keeper import INPUTS_HANDLED, STATE
from protocol import (
    GameOver,
    GameStarted,
    GameState,
    LobbyUpdate,
    NewConnection,
    OpponentDisconnected,
    OpponentReconnected,
    UserList,
    Welcome,
)
from tests.redis_server import RedisServer
from tests.support import Client, connect, start_game
from tests.test_cluster_failover import bad_lines, with_standby
from tests.test_cluster_faults import WIN, address, edge_name, expires_in, moves


async def joined_entry(bus: Bus, username: str) -> str:
    """The input entry that carried ``username``'s join, as it is in the stream."""
    for entry in await bus.read_after(INPUTS, "0-0", count=10_000):
        text = entry.fields["e"]
        items = wire.decode_uplink(text).items
        if any(isinstance(item, wire.JoinIn) and item.username == username for item in items):
            return text
    raise AssertionError(f"no join of {username} in the inputs")


async def closed_code(client: Client) -> int | None:
    """The close code of ``client``'s socket, once the server closes it."""
    while True:
        try:
            await client.ws.get_message()
        except ConnectionClosed as closed:
            return None if closed.reason is None else closed.reason.code


async def test_an_edge_declared_dead_that_wakes_up_applies_nothing_twice_and_leaves_no_ghost(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with with_standby(redis_server.url, tmp_path / "c4.sqlite3", extra=["--grace", "60"]) as (
        cluster,
        standby,
    ):
        stalled, other = cluster.edges
        async with (
            connect(address(other), "bob") as bob,
            connect(address(stalled), "ann") as ann,
            open_redis_bus(redis_server.url) as bus,
        ):
            game_id = await start_game(bob, ann, skip=(LobbyUpdate,))  # ann moves first
            await moves(ann, bob, game_id, range(2))
            join = await joined_entry(bus, "ann")
            old = edge_name(stalled)
            assert json.loads(join)["seq"] <= 1024, "numbered like a new edge's first entries"
            os.kill(stalled.pid, signal.SIGSTOP)
            # The core hears the edge no more: ann's opponent is told, her grace starts.
            with trio.fail_after(15):
                gone = await bob.expect_skipping(OpponentDisconnected, LobbyUpdate)
            assert gone.game_id == game_id
            # Her page comes back through the other edge with its resume token (a reload).
            async with connect(address(other)) as again:
                again.name = "ann"
                await again.send(NewConnection(username="ann", resume=ann.token))
                await again.expect(Welcome)
                await again.expect(UserList)
                assert (await again.expect(GameStarted)).game_id == game_id
                assert (await again.expect(GameState)).moves == WIN[:2]
                await bob.expect_skipping(OpponentReconnected, LobbyUpdate)
                # The core dies; the standby takes over with what it committed (the fence).
                os.kill(cluster.core.pid, signal.SIGKILL)
                with trio.fail_after(20):  # each receive waits 10 s at most: the takeover first
                    while "core state restored" not in standby.log():  # noqa: ASYNC110 (a log)
                        await trio.sleep(0.05)
                await moves(again, bob, game_id, range(2, 3))
                # The stalled edge's appender sends its join again (its reply was lost),
                # then the edge wakes up.
                await bus.append(INPUTS, {"e": join})
                os.kill(stalled.pid, signal.SIGCONT)
                # Its socket is closed for the page to reconnect, not left a ghost.
                with trio.fail_after(15):
                    assert await closed_code(ann) == 1012
                # Its old name's stream of batches goes (it held up to 10,000 for ever).
                assert 0 < expires_in(redis_server, frames_stream(old)) <= FAREWELL_KEEP
                # The join was not applied again: ann's session stays on her new socket
                # (a second join of hers would have taken it over: closed, 4000).
                await moves(again, bob, game_id, range(3, len(WIN)))
                for player in (again, bob):
                    over = await player.expect(GameOver)
                    assert (over.winner, over.reason) == ("ann", "four_in_a_row")
            # The edge serves again, as a new edge.
            async with connect(address(stalled), "dan") as dan:
                assert dan.token
        log = "\n".join(process.log() for process in (*cluster.processes, standby))
        assert "declared dead by the core" in stalled.log()
        assert "dropped an input entry of an edge declared dead" in standby.log()
        assert bad_lines(*cluster.edges, standby) == [], log


async def test_an_edge_stalled_past_1025_deaths_and_a_failover_applies_nothing_twice(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """While the edge stands still, 1,025 other edges announce themselves and die, and
    the core fails over: the copy of ann's join the edge's appender sends when it wakes is
    still dropped.  (The core kept the names of the latest 1,024 dead edges: past them,
    the copy made the edge a new one again and the join was handled a second time, a
    session of ann's on a socket about to close.)  Nothing of a dead edge stays in the
    committed state."""
    async with with_standby(redis_server.url, tmp_path / "c4.sqlite3") as (cluster, standby):
        stalled, other = cluster.edges
        async with (
            connect(address(other), "bob"),
            connect(address(stalled), "ann") as ann,
            open_redis_bus(redis_server.url) as bus,
        ):
            join = await joined_entry(bus, "ann")
            old = edge_name(stalled)
            os.kill(stalled.pid, signal.SIGSTOP)
            with trio.fail_after(15):
                while f"edge gone edge={old}" not in cluster.core.log():  # noqa: ASYNC110
                    await trio.sleep(0.05)
            for n in range(1025):
                announcement = wire.Uplink(f"short-lived-{n}", [], 1)
                await bus.append(INPUTS, {"e": wire.encode_uplink(announcement)})
            with trio.fail_after(30):
                while cluster.core.log().count("edge gone edge=short-lived-") < 1025:  # noqa: ASYNC110
                    await trio.sleep(0.1)
            os.kill(cluster.core.pid, signal.SIGKILL)
            with trio.fail_after(20):
                while "core state restored" not in standby.log():  # noqa: ASYNC110 (a log)
                    await trio.sleep(0.05)
            await bus.append(INPUTS, {"e": join})
            os.kill(stalled.pid, signal.SIGCONT)
            with trio.fail_after(15):
                assert await closed_code(ann) == 1012
            # The edge serves again, as a new edge, and ann signs in anew there.
            async with connect(address(stalled), "ann") as again:
                assert again.token
            state = await bus.read_hash(STATE)
        assert "dropped an input entry of an edge declared dead edge=" + old in standby.log()
        handled = json.loads(state[INPUTS_HANDLED])
        assert old not in handled and not any(edge.startswith("short") for edge in handled)
        rows = [json.loads(text)[0] for field, text in state.items() if field.startswith("conn:")]
        assert old not in rows, "no session of the join's copy"
        assert bad_lines(*cluster.edges, standby) == []


async def test_a_farewell_sent_again_leaves_the_deaths_own_first(
    redis_server: RedisServer,
) -> None:
    """The death's farewell (with the numbers of the entries the core handled) trims the
    dead edge's stream to it; one sent again for an entry dropped later is appended after
    it, so the edge still reads the death's first.  (Each trimmed the stream to itself:
    the edge, reading after such a one, did not know which limit events to send again.)"""
    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        lease = CoreLease(bus, "core-1")
        await nursery.start(lease.run)
        link = BusCoreLink(bus, "core-1", lease)
        stream = frames_stream("edge-x")
        for n in range(300):  # what the core sent it before: up to 10,000 batches
            await link.commit([("edge-x", f"batch {n}")], {}, [], ack=False)
        await link.commit([], {}, [], ack=False, ended=[("edge-x", "death", True)])
        entries = [entry.fields["d"] for entry in await bus.read_after(stream, "0-0")]
        assert entries[-1] == "death" and len(entries) <= 100, "trimmed to its last node"
        await link.commit([], {}, [], ack=False, ended=[("edge-x", "again", False)])
        await link.commit([], {}, [], ack=False, ended=[("edge-x", "again", False)])
        after = [entry.fields["d"] for entry in await bus.read_after(stream, "0-0")]
        assert after == [*entries, "again", "again"]
        assert 0 < expires_in(redis_server, stream) <= FAREWELL_KEEP
        nursery.cancel_scope.cancel()
