"""``--forwarded-allow-ips``: forwarding headers believed from trusted proxies only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from c4actors.forwarded import (
    Client,
    ForwardedHeader,
    ForwardedLayer,
    TrustedProxies,
    parse_networks,
    resolve,
)
from c4actors.loadtest.connection import open_socket
from c4actors.server import RunningServer
from c4actors.web import WebSettings
from tests.support import handshake_status, open_server

LOCAL = TrustedProxies(parse_networks(["127.0.0.1"]))
ELSEWHERE = TrustedProxies(parse_networks(["10.9.9.9"]))
RFC7239 = TrustedProxies(parse_networks(["127.0.0.1", "10.0.0.0/8"]), ForwardedHeader.FORWARDED)
PEER = Client("127.0.0.1", "http")


def headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in pairs]


# --------------------------------------------------------------------------- the pure rule


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    spoofed = headers(("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"))
    assert resolve(PEER, spoofed, ELSEWHERE) == PEER
    assert resolve(PEER, spoofed, TrustedProxies()) == PEER


def test_a_trusted_proxy_names_the_client_and_its_scheme() -> None:
    forwarded = headers(("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"))
    assert resolve(PEER, forwarded, LOCAL) == Client("203.0.113.7", "https")
    assert resolve(PEER, [], LOCAL) == PEER


def test_the_right_most_untrusted_entry_is_the_client() -> None:
    # The client wrote 6.6.6.6 itself; nginx appended the address it saw.
    chain = headers(("X-Forwarded-For", "6.6.6.6, 203.0.113.7"))
    assert resolve(PEER, chain, LOCAL).address == "203.0.113.7"
    # Two trusted proxies: the client is before both.
    two = TrustedProxies(parse_networks(["127.0.0.1, 10.0.0.0/8"]))
    chain = headers(("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.7, 10.1.2.3"))
    assert resolve(PEER, chain, two).address == "203.0.113.7"
    # Every hop trusted: the left-most.
    assert resolve(PEER, headers(("X-Forwarded-For", "10.0.0.5")), two).address == "10.0.0.5"


def test_malformed_entries_leave_the_nearest_trusted_hop() -> None:
    for value in ("unknown", "not an address", "_hidden", ""):
        assert resolve(PEER, headers(("X-Forwarded-For", value)), LOCAL).address == "127.0.0.1"
    odd_scheme = headers(("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "gopher"))
    assert resolve(PEER, odd_scheme, LOCAL) == Client("203.0.113.7", "http")


def test_ports_and_ipv6_are_understood() -> None:
    assert resolve(PEER, headers(("X-Forwarded-For", "203.0.113.7:5000")), LOCAL).address == (
        "203.0.113.7"
    )
    assert resolve(PEER, headers(("X-Forwarded-For", "[2001:db8::1]:80")), LOCAL).address == (
        "2001:db8::1"
    )
    mapped = TrustedProxies(parse_networks(["::1", "127.0.0.1"]))
    assert resolve(Client("::ffff:127.0.0.1", "http"), [], mapped) == Client(
        "::ffff:127.0.0.1", "http"
    )
    assert mapped.trusts("::ffff:127.0.0.1") and mapped.trusts("::1")


def test_the_forwarded_header() -> None:
    value = 'for=6.6.6.6;proto=http, for="203.0.113.7:4711";proto=https, for=10.0.0.2'
    assert resolve(PEER, headers(("Forwarded", value)), RFC7239) == Client("203.0.113.7", "https")
    ipv6 = headers(("Forwarded", 'for="[2001:db8:cafe::17]:4711";proto=https'))
    assert resolve(PEER, ipv6, RFC7239) == Client("2001:db8:cafe::17", "https")
    # Only the configured family is read: a client's X-Forwarded-For is nothing here.
    assert resolve(PEER, headers(("X-Forwarded-For", "6.6.6.6")), RFC7239) == PEER
    assert resolve(PEER, headers(("Forwarded", "for=6.6.6.6")), LOCAL) == PEER


def test_bad_proxy_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="nginx"):
        parse_networks(["127.0.0.1,nginx"])
    assert len(parse_networks(["127.0.0.1, ::1", "10.0.0.0/8"])) == 3


async def test_the_layer_rewrites_the_scope_for_trusted_peers_only() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    async def nothing() -> Message:
        raise AssertionError("not called")

    async def ignore(message: Message) -> None:
        raise AssertionError("not called")

    layer = ForwardedLayer(app, LOCAL)
    forwarded = headers(("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https"))
    for peer in ("127.0.0.1", "127.0.0.2"):
        for kind, scheme in (("http", "http"), ("websocket", "ws")):
            scope = {"type": kind, "scheme": scheme, "client": (peer, 1), "headers": forwarded}
            await layer(scope, nothing, ignore)
    assert [(scope["client"], scope["scheme"]) for scope in seen] == [
        (("203.0.113.7", 0), "https"),
        (("203.0.113.7", 0), "wss"),
        (("127.0.0.2", 1), "http"),
        (("127.0.0.2", 1), "ws"),
    ]


# --------------------------------------------------------------------------- a real server


def spoof(address: str, proto: str = "http") -> dict[str, str]:
    return {"X-Forwarded-For": address, "X-Forwarded-Proto": proto}


@asynccontextmanager
async def socket_from(server: RunningServer, address: str) -> AsyncIterator[None]:
    """A joined-or-not WebSocket whose proxy says it comes from ``address``."""
    extra = [(b"x-forwarded-for", address.encode())]
    async with open_socket(server.ws_url, headers=extra):
        yield


async def test_spoofed_headers_from_an_untrusted_peer_change_nothing() -> None:
    web = WebSettings(max_per_address=1)
    async with (
        open_server(web=web, proxies=ELSEWHERE) as server,
        socket_from(server, "203.0.113.1"),
    ):
        assert await handshake_status(server, spoof("203.0.113.2")) == 429
    async with open_server(proxies=ELSEWHERE) as server:
        host = f"127.0.0.1:{server.port}"
        assert await handshake_status(server, {"Origin": f"http://{host}"}) == 101
        https_page = {"Origin": f"https://{host}", **spoof("203.0.113.2", "https")}
        assert await handshake_status(server, https_page) == 403
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            register = await http.post(
                "/api/register",
                json={"username": "ann", "password": "correct horse"},
                headers=spoof("203.0.113.9", "https"),
            )
            assert register.status_code == 201
            assert "secure" not in register.headers["set-cookie"].lower()
            # Five failures, each "from" another address: all from 127.0.0.1 for the throttle.
            for n in range(5):
                failed = await http.post(
                    "/api/login",
                    json={"username": "ann", "password": "guess guess"},
                    headers=spoof(f"203.0.113.{10 + n}"),
                )
                assert failed.status_code == 401
            blocked = await http.post(
                "/api/login",
                json={"username": "ann", "password": "guess guess"},
                headers=spoof("203.0.113.20"),
            )
            assert blocked.status_code == 429


async def test_a_trusted_proxy_is_believed() -> None:
    web = WebSettings(max_per_address=1)
    # The TCP gate does not cap the proxy's own address; the WebSocket caps each client.
    async with open_server(web=web, proxies=LOCAL) as server, socket_from(server, "203.0.113.1"):
        assert await handshake_status(server, spoof("203.0.113.1")) == 429
        assert await handshake_status(server, spoof("203.0.113.2")) == 101
    async with open_server(proxies=LOCAL) as server:
        # The page was served over HTTPS by the proxy: its origin is https://host.
        host = f"127.0.0.1:{server.port}"
        https_page = {"Origin": f"https://{host}", **spoof("203.0.113.2", "https")}
        assert await handshake_status(server, https_page) == 101
        assert await handshake_status(server, {"Origin": f"https://{host}"}) == 403
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            register = await http.post(
                "/api/register",
                json={"username": "ann", "password": "correct horse"},
                headers=spoof("203.0.113.9", "https"),
            )
            assert register.status_code == 201
            assert "secure" in register.headers["set-cookie"].lower()
            http.cookies.clear()
            for _ in range(5):
                failed = await http.post(
                    "/api/login",
                    json={"username": "ann", "password": "guess guess"},
                    headers=spoof("203.0.113.10"),
                )
                assert failed.status_code == 401
            blocked = await http.post(
                "/api/login",
                json={"username": "ann", "password": "guess guess"},
                headers=spoof("203.0.113.10"),
            )
            assert blocked.status_code == 429
            elsewhere = await http.post(
                "/api/login",
                json={"username": "ann", "password": "guess guess"},
                headers=spoof("203.0.113.11"),
            )
            assert elsewhere.status_code == 401, "another client behind the proxy is not blocked"
