"""No HTTP/2 over cleartext TCP: the server has no TLS, so it speaks HTTP/1.1 only."""

from __future__ import annotations

import trio

from c4actors.server import RunningServer
from tests.support import TIMEOUT, open_server

H2C_UPGRADE = (
    b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
    b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
)
PRIOR_KNOWLEDGE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")
"""The HTTP/2 connection preface, then an empty SETTINGS frame."""


async def exchange(server: RunningServer, request: bytes) -> bytes:
    """Send ``request``; everything the server answers until it has sent a whole head and
    paused, or closed the connection."""
    stream = await trio.open_tcp_stream(server.host, server.port)
    async with stream:
        await stream.send_all(request)
        answer = b""
        with trio.move_on_after(TIMEOUT):
            while b"\r\n\r\n" not in answer:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                answer += chunk
    return answer


async def test_an_h2c_upgrade_is_answered_in_http_1_1() -> None:
    async with open_server() as server:
        answer = await exchange(server, H2C_UPGRADE)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    assert b"upgrade: h2c" not in answer.lower()


async def test_the_http2_preface_is_refused_with_505() -> None:
    async with open_server() as server:
        answer = await exchange(server, PRIOR_KNOWLEDGE)
    assert answer.startswith(b"HTTP/1.1 505"), answer[:100]
