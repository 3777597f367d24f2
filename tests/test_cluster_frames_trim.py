"""An edge trims its frames stream to what it has read (``bus_links.BusEdgeLink``), on a
real Redis: the batches it has handled do not wait there for ``FRAMES_MAXLEN`` newer ones
(a join's batch carries a ``user_list`` of about 5 KB: 10,000 idle users cost Redis 11.3
KiB each), and an entry it has not read yet is never trimmed, across a killed connection
too; a trim refused (an outage, a failed save) is made again later, the edge unharmed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import coredis
import coredis.exceptions
import pytest
import trio

from c4actors.bus import START, BusUnavailable, InMemoryBus, StreamId, open_redis_bus, resp
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


class RefusesTrims(InMemoryBus):
    """Refuses its first ``refusals`` trims (an outage, or Redis refusing writes)."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    async def trim_before(self, stream: str, before: StreamId) -> int:
        if self.refusals:
            self.refusals -= 1
            raise BusUnavailable("refused")
        return await super().trim_before(stream, before)


async def test_a_refused_trim_is_made_again_at_the_next_turn() -> None:
    bus = RefusesTrims(refusals=3)
    stream = frames_stream("edge-x")
    async with trio.open_nursery() as nursery:
        link = BusEdgeLink(bus, "edge-x", trim_every=EVERY)
        await nursery.start(link.run)
        for n in range(5):
            await bus.append(stream, {"d": f"batch {n}"})
        with trio.fail_after(5):
            assert len(await link.receive_frames()) == 5
            while len(await bus.read_after(stream, START)) > 1:  # noqa: ASYNC110 (a stream)
                await trio.sleep(EVERY)
        assert bus.refusals == 0
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("lean", [True, False], ids=["lean pool", "coredis"])
async def test_a_trim_redis_refuses_is_unavailable(
    redis_server: RedisServer, lean: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MISCONF (a failed save stops every write; XTRIM frees memory, so OOM never refuses
    it) is an outage to the trimming edge, not an error that ends it: the reply is put in
    Redis's place here, as a root test process cannot make a save fail."""
    refusal = "MISCONF Redis is configured to save RDB snapshots, but it's unable to"
    async with open_redis_bus(redis_server.url) as bus:
        if lean:
            fast = bus._fast

            async def refusing(commands: Any, **kwargs: Any) -> list[resp.Reply]:
                if commands[0][0] == "XTRIM":
                    return [resp.RespError(refusal)]
                return await fast(commands, **kwargs)

            monkeypatch.setattr(bus, "_fast", refusing)
        else:
            bus._lean = None

            async def refused(*args: Any, **kwargs: Any) -> int:
                raise coredis.exceptions.ResponseError(refusal)

            monkeypatch.setattr(bus._client, "xtrim", lambda *a, **k: refused())
        first = await bus.append("s", {"n": "1"})
        await bus.append("s", {"n": "2"})
        with pytest.raises(BusUnavailable, match="MISCONF"):
            await bus.trim_before("s", first)
