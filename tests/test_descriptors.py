"""Descriptors and memory of a real ``c4actors serve``: every connection releases its socket
and task however it ends, and the descriptor limit turns into refusals, not timeouts.

Each way of abandoning a connection is tried a few hundred times at once; the server's open
descriptors (``/proc/PID/fd``) must come back to their baseline within a bounded wait.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import trio

from c4actors.limits import DescriptorBudget
from c4actors.server_process import ServerProcess
from protocol import Challenge, NewConnection, encode
from tests import rawws
from tests.serving import descriptors, rss_kib, serve

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
    host, port = server.info.host, server.info.port

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
    deadline = time.monotonic() + SETTLE_SECONDS
    count = descriptors(server.pid)
    while count > baseline and time.monotonic() < deadline:
        await trio.sleep(0.2)
        count = descriptors(server.pid)
    return count


@pytest.mark.parametrize("way", WAYS)
async def test_abandoned_connections_release_their_descriptors(tmp_path: Path, way: str) -> None:
    with serve(tmp_path / "db.sqlite3", "--handshake-timeout", "2") as server:
        baseline = await warm_baseline(server)
        await abandon(server, WAYS[way])
        assert await settled(server, baseline) <= baseline
        # Memory: the first round sets the allocator's high-water mark; a second round must
        # not add to it (a leak of a connection's task and buffers would).
        after_one = rss_kib(server.pid)
        await abandon(server, WAYS[way])
        assert await settled(server, baseline) <= baseline
        grown = rss_kib(server.pid) - after_one
        assert grown < 8 * 1024, f"{way}: the server kept {grown} KiB more"
        async with httpx.AsyncClient(base_url=server.http_url) as client:
            health = (await client.get("/healthz")).json()
        assert health["users"] == 0
        assert " ERROR " not in server.log()


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
