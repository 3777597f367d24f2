"""Slow and abandoned HTTP request bodies, and the cap on requests in progress, over real
sockets: a slow body gets 408 and is closed, a client giving up is one INFO line (the
``no_unexpected_error_logs`` fixture fails a test on any ERROR), and uploads beyond the
HTTP share of the descriptor budget get 503 while WebSocket joins still get through."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pytest
import trio

from c4actors.limits import DescriptorBudget
from c4actors.web import WebSettings
from tests import rawws
from tests.serving import serve
from tests.support import open_server

SLOW_UPLOADS = 100
BODY_TIMEOUT = 1.0


def upload_head(host: str, port: int, length: int = 1000) -> bytes:
    return (
        f"POST /api/login HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def slow_upload(host: str, port: int) -> bytes:
    """Send a body a byte every 0.2 s; what the server answered once it closed."""
    async with await trio.open_tcp_stream(host, port) as stream:
        await stream.send_all(upload_head(host, port))

        async def trickle() -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                while True:
                    await stream.send_all(b" ")
                    await trio.sleep(0.2)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trickle)
            answer = await rawws.read_until_eof(stream)
            nursery.cancel_scope.cancel()
    return answer


async def test_slow_request_bodies_get_408_and_are_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "c4actors.http")
    async with open_server(web=WebSettings(body_timeout=BODY_TIMEOUT)) as server:
        answers: list[bytes] = []

        async def one() -> None:
            answers.append(await slow_upload(server.host, server.port))

        started = trio.current_time()
        with trio.fail_after(BODY_TIMEOUT + 5):
            async with trio.open_nursery() as nursery:
                for _ in range(SLOW_UPLOADS):
                    nursery.start_soon(one)
        assert trio.current_time() - started >= BODY_TIMEOUT
    assert len(answers) == SLOW_UPLOADS
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
    slow = [r for r in caplog.records if "body too slow" in r.getMessage()]
    assert len(slow) == SLOW_UPLOADS
    assert {r.levelno for r in slow} == {logging.INFO}


async def test_a_client_giving_up_on_an_upload_is_one_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "c4actors.http")
    async with open_server() as server:

        async def give_up() -> None:
            async with await trio.open_tcp_stream(server.host, server.port) as stream:
                await stream.send_all(upload_head(server.host, server.port) + b'{"user')
                await trio.sleep(0.2)  # the handler is reading the body now

        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(give_up)
        await trio.sleep(1)  # the server reads each end of stream and logs it
    abandoned = [r for r in caplog.records if "abandoned" in r.getMessage()]
    assert len(abandoned) == 20
    assert {r.levelno for r in abandoned} == {logging.INFO}
    assert all(r.exc_info is None for r in abandoned)


async def test_uploads_beyond_the_http_share_get_503_and_joins_still_work(
    tmp_path: Path,
) -> None:
    budget = DescriptorBudget(400)
    with serve(tmp_path / "db.sqlite3", "--body-timeout", "30", nofile=(400, 400)) as server:
        host, port = server.info.host, server.info.port
        held: list[trio.SocketStream] = []
        try:
            for _ in range(budget.http):
                stream = await trio.open_tcp_stream(host, port)
                held.append(stream)
                await stream.send_all(upload_head(host, port) + b"{")
            await trio.sleep(0.5)  # every one of them is in progress, reading its body
            for _ in range(5):
                async with await trio.open_tcp_stream(host, port) as stream:
                    await stream.send_all(upload_head(host, port) + b"{")
                    with trio.fail_after(2):
                        refused = await rawws.read_until_eof(stream)
                assert refused.startswith(b"HTTP/1.1 503 ")
            async with await trio.open_tcp_stream(host, port) as stream:
                assert (await rawws.handshake(stream, host, port)).status == 101
        finally:
            for stream in held:
                await stream.aclose()
        assert " ERROR " not in server.log()
