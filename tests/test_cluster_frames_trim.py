"""An edge trims its frames stream to what it has read (``bus_links.BusEdgeLink``), on a
real Redis: the batches it has handled do not wait there for ``FRAMES_MAXLEN`` newer ones
(a join's batch carries a ``user_list`` of about 5 KB: 10,000 idle users cost Redis 11.3
KiB each), and an entry it has not read yet is never trimmed, across a killed connection
too."""

from __future__ import annotations

from pathlib import Path

import coredis
import trio

from c4actors.bus import open_redis_bus
from c4actors.cluster.bus_links import BusEdgeLink, frames_stream
from tests.cluster_processes import running_cluster
from tests.redis_server import RedisServer, command
from tests.test_cluster_broadcasts import connect_to

EVERY = 0.05


async def _length(redis_server: RedisServer, stream: str) -> int:
    client: coredis.Redis[str] = coredis.Redis.from_url(redis_server.url, decode_responses=True)
    async with client:
        return await client.xlen(stream)


async def test_an_edge_trims_what_it_has_read_and_nothing_else(redis_server: RedisServer) -> None:
    stream = frames_stream("edge-x")
    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        link = BusEdgeLink(bus, "edge-x", trim_every=EVERY)
        await nursery.start(link.run)
        sent = [f"batch {n} " + "x" * 5000 for n in range(30)]
        for text in sent:
            await bus.append(stream, {"d": text})
        received: list[str] = []
        with trio.fail_after(5):
            while len(received) < len(sent):
                received += await link.receive_frames()
        assert received == sent
        for n in range(30, 35):  # not read yet
            await bus.append(stream, {"d": f"batch {n}"})
        await trio.sleep(4 * EVERY)
        # The last entry read stays (reads go on after it), the unread ones too.
        assert await _length(redis_server, stream) == 1 + 5
        command(redis_server.port, "CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
        with trio.fail_after(5):
            later = await link.receive_frames()
        assert later == [f"batch {n}" for n in range(30, 35)]
        await trio.sleep(4 * EVERY)
        assert await _length(redis_server, stream) == 1
        nursery.cancel_scope.cancel()


async def test_an_edge_that_does_not_trim_keeps_every_batch(redis_server: RedisServer) -> None:
    """``trim_every=None``: the stream keeps what was read (bounded by ``maxlen`` alone)."""
    stream = frames_stream("edge-x")
    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        link = BusEdgeLink(bus, "edge-x", trim_every=None)
        await nursery.start(link.run)
        for n in range(10):
            await bus.append(stream, {"d": f"batch {n}"})
        with trio.fail_after(5):
            assert len(await link.receive_frames()) == 10
        await trio.sleep(4 * EVERY)
        assert await _length(redis_server, stream) == 10
        nursery.cancel_scope.cancel()


async def test_a_cluster_s_edges_keep_no_joins_batches_in_redis(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Real processes: after users joined on both edges (each join's batch with its
    ``user_list``), each edge's stream is trimmed to about its last batch."""
    with running_cluster(redis_server.url, tmp_path / "c4.sqlite3") as cluster:
        async with (
            connect_to(cluster.edges[0].ws_url, "ann"),
            connect_to(cluster.edges[1].ws_url, "bob"),
            connect_to(cluster.edges[0].ws_url, "cid"),
            connect_to(cluster.edges[1].ws_url, "dee"),
        ):
            client: coredis.Redis[str] = coredis.Redis.from_url(
                redis_server.url, decode_responses=True
            )
            async with client:
                streams = [key async for key in client.scan_iter(match=frames_stream("*"))]
                assert len(streams) == 2
                with trio.fail_after(10):
                    # Heartbeats come every 0.5 s: at most one unread batch, plus the last.
                    while max([await client.xlen(key) for key in streams]) > 2:  # noqa: ASYNC110 (Redis)
                        await trio.sleep(0.1)
