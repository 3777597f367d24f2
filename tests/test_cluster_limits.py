"""The limits the edges of a cluster share (``c4actors.cluster.shared_limits``): WebSockets
per address, failed logins and registrations count across every edge, as on one server, and
a session cookie signed on one edge is good on the others.

In one process (a core and edge servers joined by ``MemoryHub``, real sockets), then across
real processes on a real Redis."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
from trio.testing import MockClock

from c4actors.cluster import wire
from c4actors.cluster.edge import EdgeRelay
from c4actors.loadtest.connection import open_socket
from c4actors.server import RunningServer, ServerSettings, run_server
from c4actors.throttle import MAX_FAILURES_PER_PAIR
from tests.cluster_processes import running_cluster
from tests.redis_server import RedisServer
from tests.support import read_status
from tests.test_cluster_relays import SETTINGS, memory_cluster

TIMEOUT = 10.0
PASSWORD = "correct horse"


async def until_status(ws_url: str, status: int) -> None:
    """Until a WebSocket handshake to ``ws_url`` gets ``status``: an event from another
    edge takes a moment to arrive."""
    address = urllib.parse.urlsplit(ws_url)
    assert address.hostname is not None and address.port is not None
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {address.netloc}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with trio.fail_after(TIMEOUT):
        while True:
            stream = await trio.open_tcp_stream(address.hostname, address.port)
            async with stream:
                await stream.send_all(request.encode())
                if await read_status(stream) == status:
                    return
            await trio.sleep(0.02)


@asynccontextmanager
async def sockets(ws_url: str, count: int) -> AsyncIterator[None]:
    """``count`` WebSockets to ``ws_url``, open for the block."""
    async with AsyncExitStack() as stack:
        for _ in range(count):
            await stack.enter_async_context(open_socket(ws_url))
        yield


def settings_with(**web: Any) -> ServerSettings:
    return attrs.evolve(SETTINGS, web=attrs.evolve(SETTINGS.web, **web))


async def test_websockets_per_address_count_across_edges(jump_clock: MockClock) -> None:
    async with memory_cluster(settings=settings_with(max_per_address=3)) as cluster:
        edge_a, edge_b = (edge.ws_url for edge in cluster.edges)
        async with sockets(edge_a, 2):
            # Two on edge A: the third from this address is edge B's last place...
            async with sockets(edge_b, 1):
                await until_status(edge_b, 429)
                await until_status(edge_a, 429)
            # ...which it frees when it closes.
            await until_status(edge_b, 101)
            async with sockets(edge_b, 1):
                await until_status(edge_b, 429)
                # Edge A dies with its two sockets: once the core notices, edge B forgets them.
                cluster.stops[0].cancel()
                for _ in range(int(wire.EDGE_TIMEOUT / wire.HEARTBEAT) + 2):
                    jump_clock.jump(wire.HEARTBEAT)
                    await trio.sleep(0.05)
                await until_status(edge_b, 101)


async def test_a_new_edge_learns_the_others_websockets() -> None:
    settings = settings_with(max_per_address=2)
    async with (
        memory_cluster(settings=settings) as cluster,
        sockets(cluster.edges[0].ws_url, 2),
        trio.open_nursery() as nursery,
    ):
        await until_status(cluster.edges[1].ws_url, 429)
        stop = trio.Event()
        link = cluster.hub.edge("edge-c")
        serve = partial(run_server, settings, stop, edge=lambda: EdgeRelay(link))
        edge_c: RunningServer = await nursery.start(serve)
        await until_status(edge_c.ws_url, 429)
        stop.set()


async def test_failed_logins_and_registrations_count_across_edges() -> None:
    async with (
        memory_cluster(settings=settings_with(registrations_per_address=2)) as cluster,
        httpx.AsyncClient(base_url=cluster.edges[0].http_url) as on_a,
        httpx.AsyncClient(base_url=cluster.edges[1].http_url) as on_b,
    ):
        await login_throttled_across(on_a, on_b)
        # Two registrations an hour from one address (ann's was the first), wherever.
        bob = {"username": "bob", "password": PASSWORD, "color": "blue"}
        assert (await on_b.post("/api/register", json=bob)).status_code == 201
        carl = {"username": "carl", "password": PASSWORD, "color": "green"}
        with trio.fail_after(TIMEOUT):
            while (refused := await on_a.post("/api/register", json=carl)).status_code != 429:
                raise AssertionError(f"a third registration from one address: {refused.text}")


async def login_throttled_across(
    on_a: httpx.AsyncClient, on_b: httpx.AsyncClient, *, one_store: bool = False
) -> None:
    """Ann registers on edge A; five failed logins on edge A, and the sixth try, on edge B,
    must wait.  ``one_store`` (the edges share a database and its secret, as a cluster's
    processes do): edge B accepts the session cookie edge A signed."""
    signup = {"username": "ann", "password": PASSWORD, "color": "red"}
    assert (await on_a.post("/api/register", json=signup)).status_code == 201
    if one_store:
        on_b.cookies.set("c4session", on_a.cookies["c4session"])
        me = await on_b.get("/api/me")
        assert me.status_code == 200 and me.json()["name"] == "ann", me.text
    wrong = {"username": "ann", "password": "bad"}
    for _ in range(5):
        assert (await on_a.post("/api/login", json=wrong)).status_code == 401
    # Edge B hears of them after a moment.  Until then a right password there would succeed
    # and clear the failures (the window the module's docstring allows), so the waiting is
    # done with wrong ones, fewer than a pair's limit: only edge A's failures can make B
    # refuse.
    for _ in range(MAX_FAILURES_PER_PAIR - 1):
        response = await on_b.post("/api/login", json=wrong)
        if response.status_code != 401:
            break
        await trio.sleep(TIMEOUT / MAX_FAILURES_PER_PAIR)
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "too_many_attempts"
    # And the right password waits as well, on either edge.
    for edge in (on_b, on_a):
        right = await edge.post("/api/login", json={"username": "ann", "password": PASSWORD})
        assert right.status_code == 429, right.text
        assert right.json()["error"] == "too_many_attempts"


async def test_limits_are_shared_across_real_processes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    extra = ["--max-per-address", "3"]
    with running_cluster(redis_server.url, tmp_path / "c4.sqlite3", extra=extra) as cluster:
        edge_a, edge_b = cluster.edges
        async with (
            httpx.AsyncClient(base_url=edge_a.http_url) as on_a,
            httpx.AsyncClient(base_url=edge_b.http_url) as on_b,
        ):
            await login_throttled_across(on_a, on_b, one_store=True)
        async with sockets(edge_a.ws_url, 2):
            async with sockets(edge_b.ws_url, 1):
                await until_status(edge_a.ws_url, 429)
            await until_status(edge_a.ws_url, 101)
        assert "Traceback" not in cluster.log(), cluster.log()
