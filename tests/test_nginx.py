"""c4actors behind a real nginx, configured with the documented ``docs/deploy/nginx.conf``:
the page, the API and the WebSocket go through it, and the server sees each client's own
address (``--forwarded-allow-ips 127.0.0.1``).

Clients connect from different loopback addresses (127.0.0.2, 127.0.0.3, ...): to nginx
they are different machines, to c4actors every connection comes from nginx."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
import trustme
from trio_websocket import WebSocketConnection, open_websocket_url, wrap_client_stream

from c4actors.server_process import ServerProcess, running_server
from protocol import GameOver, GameState, Move, Welcome
from tests.nginx import Nginx, find_nginx, render
from tests.support import TIMEOUT, Client, read_status, start_game


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    binary = find_nginx()
    if binary is None:
        reason = "nginx is not installed (apt-get install nginx)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("db") / "c4.sqlite3"
    args = ["--port", "0", "--db", str(db), "--lobby-tick", "0"]
    proxy = ["--forwarded-allow-ips", "127.0.0.1", "--max-per-address", "1"]
    with running_server([*args, *proxy]) as server:
        yield server


@pytest.fixture(scope="module")
def nginx(
    nginx_binary: str, server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    proxy = Nginx.start(
        nginx_binary, tmp_path_factory.mktemp("nginx"), f"127.0.0.1:{server.info.port}"
    )
    try:
        yield proxy
    finally:
        proxy.stop()


@asynccontextmanager
async def websocket_from(
    nginx: Nginx, address: str, headers: list[tuple[bytes, bytes]] | None = None
) -> AsyncIterator[WebSocketConnection]:
    """A WebSocket to nginx from the local ``address``."""
    stream = await trio.open_tcp_stream("127.0.0.1", nginx.port, local_address=address)
    try:
        async with trio.open_nursery() as nursery:
            with trio.fail_after(TIMEOUT):
                ws = await wrap_client_stream(
                    nursery, stream, f"127.0.0.1:{nginx.port}", "/ws", extra_headers=headers
                )
            try:
                yield ws
            finally:
                await ws.aclose()
    finally:
        await stream.aclose()


async def upgrade_status(nginx: Nginx, address: str, extra: str = "") -> int:
    """The status of a WebSocket upgrade sent through nginx from the local ``address``."""
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{nginx.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    stream = await trio.open_tcp_stream("127.0.0.1", nginx.port, local_address=address)
    async with stream:
        await stream.send_all(request.encode())
        return await read_status(stream)


def test_the_documented_file_is_the_one_used() -> None:
    from tests.nginx import TEMPLATE

    text = render(TEMPLATE.read_text(), "443 ssl", "127.0.0.1:8000")
    assert "@" not in text.replace("$http_", "")
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text


async def test_page_and_api_through_nginx(nginx: Nginx) -> None:
    async with httpx.AsyncClient(base_url=nginx.http_url) as http:
        page = await http.get("/")
        assert page.status_code == 200 and "content-security-policy" in page.headers
        health = await http.get("/healthz")
        assert health.json()["status"] == "ok"
        origin = {"Origin": nginx.http_url}
        register = await http.post(
            "/api/register",
            json={"username": "viaproxy", "password": "correct horse"},
            headers=origin,
        )
        assert register.status_code == 201, register.text
        # Served over http by nginx: the cookie is not Secure (X-Forwarded-Proto: http).
        assert "secure" not in register.headers["set-cookie"].lower()


async def test_a_full_game_through_nginx(nginx: Nginx) -> None:
    origin = [(b"origin", nginx.http_url.encode())]
    async with (
        websocket_from(nginx, "127.0.0.4", origin) as ws1,
        websocket_from(nginx, "127.0.0.5", origin) as ws2,
    ):
        ann, bob = Client(ws1), Client(ws2)
        await ann.join("ann")
        await bob.join("bob")
        game_id = await start_game(ann, bob)
        # bob moves first (the accepting player is player 1); bob wins in column 0.
        for turn in range(7):
            mover = bob if turn % 2 == 0 else ann
            await mover.send(Move(game_id=game_id, column=0 if mover is bob else 1))
            for client in (ann, bob):
                await client.expect(GameState)
        for client in (ann, bob):
            over = await client.expect(GameOver)
            assert over.winner == "bob", over


async def test_the_per_address_limit_sees_the_client_behind_nginx(nginx: Nginx) -> None:
    async with websocket_from(nginx, "127.0.0.2"):
        assert await upgrade_status(nginx, "127.0.0.2") == 429
        # Posing as 127.0.0.2 changes nothing: nginx appends the real address.
        spoofed = "X-Forwarded-For: 127.0.0.9\r\n"
        async with websocket_from(nginx, "127.0.0.3", [(b"x-forwarded-for", b"127.0.0.2")]):
            assert await upgrade_status(nginx, "127.0.0.3", spoofed) == 429
            assert await upgrade_status(nginx, "127.0.0.6", spoofed) == 101


def test_nginx_keeps_its_pid_file_and_logs_in_its_directory(nginx: Nginx) -> None:
    written = {path.name for path in Path(nginx.directory).iterdir()}
    assert {"nginx.pid", "error.log", "c4actors.conf", "nginx.conf"} <= written


@pytest.fixture(scope="module")
def tls_nginx(
    nginx_binary: str, server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Nginx, ssl.SSLContext]]:
    """nginx terminating TLS (``listen ... ssl`` and the ``ssl_certificate`` lines of the
    documented file) in front of the same server, with a certificate from a test CA."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    directory = tmp_path_factory.mktemp("nginx-tls")
    chain, key = directory / "chain.pem", directory / "key.pem"
    for index, pem in enumerate(issued.cert_chain_pems):
        pem.write_to_path(str(chain), append=index > 0)
    issued.private_key_pem.write_to_path(str(key))
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    proxy = Nginx.start(nginx_binary, directory, f"127.0.0.1:{server.info.port}", (chain, key))
    try:
        yield proxy, trust
    finally:
        proxy.stop()


async def test_tls_at_nginx_gives_secure_cookies_and_https_origins(
    tls_nginx: tuple[Nginx, ssl.SSLContext],
) -> None:
    nginx, trust = tls_nginx
    origin = {"Origin": nginx.http_url}
    assert nginx.http_url.startswith("https://")
    async with httpx.AsyncClient(base_url=nginx.http_url, verify=trust) as http:
        register = await http.post(
            "/api/register",
            json={"username": "secure", "password": "correct horse"},
            headers=origin,
        )
        # X-Forwarded-Proto: https from nginx: the https page's origin is the server's own.
        assert register.status_code == 201, register.text
        assert "secure" in register.headers["set-cookie"].lower()
        other_site = await http.post(
            "/api/login",
            json={"username": "secure", "password": "correct horse"},
            headers={"Origin": f"http://127.0.0.1:{nginx.port}"},
        )
        assert other_site.status_code == 403
    url = f"wss://127.0.0.1:{nginx.port}/ws"
    async with open_websocket_url(
        url, ssl_context=trust, extra_headers=[(b"origin", nginx.http_url.encode())]
    ) as ws:
        assert isinstance(await Client(ws).join("wss_player"), Welcome)
