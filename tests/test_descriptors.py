"""Descriptors and memory of a real ``c4actors serve``: every connection releases its socket
and task however it ends, and the descriptor limit turns into refusals, not timeouts.

Each way of abandoning a connection is tried a few hundred times at once; the server's open
descriptors (``/proc/PID/fd``) must come back to their baseline within a bounded wait.

Memory is measured where it means something: in a server run in this process, after a full
collection, with the allocator's free pages handed back.  The resident size of the ``serve``
process after a round of abandoned connections is not a leak detector, for two reasons found
with ``gc.get_objects()``, ``gc.DEBUG_SAVEALL`` and ``malloc_trim`` in that process:

* every closed connection leaves about 75 objects in reference cycles (hypercorn's
  ``TCPServer``, its ``ProtocolWrapper`` and the bound methods they hold of each other, with
  the h11 / wsproto state, our stream and the user actor hanging from them): about 17 KiB a
  connection that only a full collection frees, and ``c4actors.gc_policy`` (like CPython's
  own 25% rule) makes those rare, so 200 flooders add about 3.5 MiB per round until one runs;
* the allocator's high-water mark moves by several MiB from round to round (after a
  collection, a second round of 200 flooders measured from -5 to +9 MiB: the old check's
  8 MiB limit failed about one run in seven).

After ``gc.collect()`` nothing of the connections stays reachable: the count of their objects
is back to the warm-up's, and with ``malloc_trim(0)`` the resident size after 2N more
connections is within about 2 MiB of that after the first N (8 MiB allowed).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import trio

from c4actors.actors.user import ConnectionSettings
from c4actors.limits import DescriptorBudget
from c4actors.server_process import ServerProcess
from c4actors.web import WebSettings
from protocol import Challenge, NewConnection, encode
from tests import rawws
from tests.serving import descriptors, rss_kib, serve
from tests.support import open_server

CONNECTIONS = 200
"""Per way of abandoning a connection."""
SETTLE_SECONDS = 20.0
"""Longest wait for the server to release what the abandoned connections held."""


async def _joined(stream: trio.SocketStream, host: str, port: int, n: int) -> None:
    await rawws.handshake(stream, host, port)
    hello = encode(NewConnection(username=f"user{n}")).encode()
    await stream.send_all(rawws.frame(rawws.OP_TEXT, hello))


async def tcp_only(stream: trio.SocketStream, host: str, port: int, n: int) -> bool:
    """Connects and says nothing; the server must time it out."""
    return False


async def no_new_connection(stream: trio.SocketStream, host: str, port: int, n: int) -> bool:
    """Completes the WebSocket handshake, then says nothing."""
    await rawws.handshake(stream, host, port)
    return False


async def half_closed(stream: trio.SocketStream, host: str, port: int, n: int) -> bool:
    """Joins, then shuts down its sending side (the server sees the end of the stream)."""
    await _joined(stream, host, port, n)
    await stream.send_eof()
    return False


async def reset(stream: trio.SocketStream, host: str, port: int, n: int) -> bool:
    """Joins, then resets the connection (SO_LINGER 0: RST instead of FIN)."""
    await _joined(stream, host, port, n)
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()
    return True


async def flood_then_drop(stream: trio.SocketStream, host: str, port: int, n: int) -> bool:
    """Joins, floods past the rate limit (the server closes with 1008) with more frames in
    flight, then drops the connection without answering the close."""
    await _joined(stream, host, port, n)
    junk = encode(Challenge(opponent="nobody")).encode()
    with trio.move_on_after(3), contextlib.suppress(trio.BrokenResourceError):
        await stream.send_all(rawws.frame(rawws.OP_TEXT, junk) * 600)
    await stream.aclose()
    return True


Way = Callable[[trio.SocketStream, str, int, int], Awaitable[bool]]
"""Abandons a connection; True if the client closed it itself, else the server must."""
WAYS: dict[str, Way] = {
    "tcp_only": tcp_only,
    "no_new_connection": no_new_connection,
    "half_closed": half_closed,
    "reset": reset,
    "flood_then_drop": flood_then_drop,
}


async def abandon(server: ServerProcess, way: Way, connections: int = CONNECTIONS) -> None:
    """Open ``connections`` connections at once, each abandoned in ``way``; return once each
    is closed, by the client (reset, drop) or else by the server."""
    await abandon_at(server.info.host, server.info.port, way, connections)


async def abandon_at(host: str, port: int, way: Way, connections: int = CONNECTIONS) -> None:
    """``abandon`` for the server listening at ``host``:``port``."""

    async def one(n: int) -> None:
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            if not await way(stream, host, port, n):
                with contextlib.suppress(trio.BrokenResourceError):
                    while await stream.receive_some(65536):
                        pass

    with trio.fail_after(SETTLE_SECONDS):
        async with trio.open_nursery() as nursery:
            for n in range(connections):
                nursery.start_soon(one, n)


async def warm_baseline(server: ServerProcess) -> int:
    """Descriptors after a warm-up: first joins (the store's thread and files), a request."""
    await abandon(server, half_closed, 20)
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        assert (await client.get("/healthz", headers={"connection": "close"})).status_code == 200
    await trio.sleep(0.5)
    return descriptors(server.pid)


async def settled(server: ServerProcess, baseline: int) -> int:
    """The server's descriptor count once it is back to ``baseline`` (or after the wait)."""
    return await settled_pid(server.pid, baseline)


async def settled_pid(pid: int, baseline: int) -> int:
    """Process ``pid``'s descriptor count once it is back to ``baseline`` (or after the wait)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    count = descriptors(pid)
    while count > baseline and time.monotonic() < deadline:
        await trio.sleep(0.2)
        count = descriptors(pid)
    return count


CONNECTION_MODULES = frozenset({"hypercorn", "h11", "h2", "wsproto", "c4actors"})
"""Where a connection's objects come from: its streams, protocol state, tasks' owners and
actor.  Trio's own objects are left out: a cancelled scope stays in Trio's deadline heap
until its deadline passes (a wait bounded in time, not a leak)."""
OBJECTS_SLACK = CONNECTIONS // 10
"""Objects that may appear after the warm-up for reasons other than the connections (a
metric's new label, a cache): a leak of one object per connection exceeds it."""
RSS_SLACK_KIB = 8 * 1024
"""Resident growth (in use, ``resident_in_use_kib``) allowed over 2 x ``CONNECTIONS`` more
connections: 20 KiB kept per connection would exceed it (a flooder's frames, about 30 KiB,
kept by the server measured 17.9 MiB)."""


def resident_in_use_kib() -> int:
    """This process's resident size after a full collection, with the allocator's free
    pages handed back first (glibc's ``malloc_trim``): the memory in use, not the
    high-water mark of the busiest moment."""
    gc.collect()
    ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    return rss_kib(os.getpid())


def connection_objects() -> int:
    """Objects of the connections' own types alive after a full collection."""
    gc.collect()
    return sum(
        1
        for o in gc.get_objects()
        if (type(o).__module__ or "").partition(".")[0] in CONNECTION_MODULES
    )


async def settled_objects(baseline: int) -> int:
    """``connection_objects()`` once back to ``baseline`` (or after the wait): a connection's
    tasks may end a little after its socket is closed."""
    deadline = time.monotonic() + SETTLE_SECONDS
    count = connection_objects()
    while count > baseline and time.monotonic() < deadline:
        await trio.sleep(0.2)
        count = connection_objects()
    return count


@pytest.mark.parametrize("way", WAYS)
async def test_abandoned_connections_release_their_descriptors(tmp_path: Path, way: str) -> None:
    with serve(tmp_path / "db.sqlite3", "--handshake-timeout", "2") as server:
        baseline = await warm_baseline(server)
        await abandon(server, WAYS[way])
        assert await settled(server, baseline) <= baseline
        await abandon(server, WAYS[way])
        assert await settled(server, baseline) <= baseline
        async with httpx.AsyncClient(base_url=server.http_url) as client:
            health = (await client.get("/healthz")).json()
        assert health["users"] == 0
        assert " ERROR " not in server.log()


@pytest.mark.parametrize("way", WAYS)
async def test_abandoned_connections_leave_no_object_and_no_memory_behind(way: str) -> None:
    """After a full collection (module docstring), abandoned connections leave no object of
    theirs, and 2N more connections after the first N do not grow the resident size:
    neither scales with the connections."""
    web = WebSettings(connection=ConnectionSettings(handshake_timeout=2))
    pid = os.getpid()
    async with open_server(web=web) as server:
        await abandon_at(server.host, server.port, half_closed, 20)
        await trio.sleep(0.5)
        baseline, objects = descriptors(pid), connection_objects()
        limit = objects + OBJECTS_SLACK
        await abandon_at(server.host, server.port, WAYS[way])
        assert await settled_pid(pid, baseline) <= baseline
        assert await settled_objects(limit) <= limit
        # In use after the first N (its lazily made state included): 2N more must not add to it.
        rss = resident_in_use_kib()
        for _ in range(2):
            await abandon_at(server.host, server.port, WAYS[way])
            assert await settled_pid(pid, baseline) <= baseline
        kept = await settled_objects(limit) - objects
        grown = resident_in_use_kib() - rss
        assert kept <= OBJECTS_SLACK, f"{way}: {kept} more objects of the connections' types"
        assert grown < RSS_SLACK_KIB, f"{way}: {grown} KiB more after a collection"


async def test_a_low_descriptor_limit_refuses_with_503_and_health_still_answers(
    tmp_path: Path,
) -> None:
    budget = DescriptorBudget(400)
    with serve(tmp_path / "db.sqlite3", "--handshake-timeout", "60", nofile=(200, 400)) as server:
        host, port = server.info.host, server.info.port
        baseline = await warm_baseline(server)
        streams: list[trio.SocketStream] = []
        try:
            for _ in range(budget.websockets):
                stream = await trio.open_tcp_stream(host, port)
                streams.append(stream)
                assert (await rawws.handshake(stream, host, port)).status == 101
            # WebSockets are full: the next handshake is refused at once...
            async with await trio.open_tcp_stream(host, port) as stream:
                assert (await rawws.handshake(stream, host, port)).status == 503
            # ...while plain HTTP still has its share.
            async with httpx.AsyncClient(base_url=server.http_url, timeout=5) as client:
                health = await client.get("/healthz")
                assert health.status_code == 200
            await trio.sleep(0.5)  # the server finishes those two connections
            # Fill the rest of the budget with silent connections: then a newcomer gets a 503
            # from the gate at once instead of waiting in the backlog.
            while len(streams) < budget.connections:
                streams.append(await trio.open_tcp_stream(host, port))
            await trio.sleep(0.2)
            async with await trio.open_tcp_stream(host, port) as stream:
                with trio.fail_after(2):
                    refused = await rawws.read_until_eof(stream)
            assert refused.startswith(b"HTTP/1.1 503 ")
        finally:
            for stream in streams:
                await stream.aclose()
        # Everyone gone: joins work again.
        assert await settled(server, baseline) <= baseline
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            assert (await rawws.handshake(stream, host, port)).status == 101
        assert "descriptor limit 400 (was 200)" in server.log()
        assert f"at most {budget.connections} connections" in server.log()
