"""The compression policy over real sockets: off by default, bounded when enabled.

Frames are written by hand (``tests/rawws.py``): no client library sends a compressed frame
to a server that declined compression, or a compression bomb.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from pathlib import Path

import trio
from hypothesis import given
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import CloseConnection, Ping, TextMessage
from wsproto.extensions import PerMessageDeflate

from c4actors.actors.user import ConnectionSettings
from c4actors.web import WebSettings
from c4actors.websocket_compression import BoundedDeflate, FailingConnection, SizeLimit
from protocol import NewConnection, Welcome, decode_server, encode
from tests import rawws
from tests.serving import rss_kib, serve
from tests.support import open_server

OFFER = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
"""What a browser offers."""
BOMB_BYTES = 256 * 1024 * 1024


def deflate(data: bytes, window_bits: int = 12) -> bytes:
    """One message compressed as permessage-deflate sends it (RFC 7692 section 7.2.1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -window_bits)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def bomb(inflated_bytes: int) -> bytes:
    """About a thousandth of ``inflated_bytes``, inflating to that many spaces (valid text)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -12)
    chunk = b" " * (1 << 20)
    parts = [compressor.compress(chunk) for _ in range(inflated_bytes >> 20)]
    return (b"".join(parts) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def inflate(payload: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


async def test_compression_is_not_negotiated_by_default() -> None:
    async with open_server() as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            answer = await rawws.handshake(stream, server.host, server.port, OFFER)
    assert answer.status == 101
    assert "sec-websocket-extensions" not in answer.headers


async def test_a_compressed_frame_is_a_protocol_error_when_compression_is_off() -> None:
    async with open_server() as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            answer = await rawws.handshake(stream, server.host, server.port, OFFER)
            hello = encode(NewConnection(username="ann")).encode()
            await stream.send_all(rawws.frame(rawws.OP_TEXT, deflate(hello), rsv1=True))
            received = await rawws.read_until_eof(stream, answer.rest)
    assert rawws.close_code(received) == 1002


async def test_enabled_compression_is_bounded_and_works() -> None:
    web = WebSettings(compression=True)
    async with open_server(web=web) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            answer = await rawws.handshake(stream, server.host, server.port, OFFER)
            assert answer.status == 101
            params = {p.strip() for p in answer.headers["sec-websocket-extensions"].split(";")}
            assert params == {
                "permessage-deflate",
                "client_no_context_takeover",
                "server_no_context_takeover",
                "client_max_window_bits=12",
                "server_max_window_bits=12",
            }
            hello = encode(NewConnection(username="ann")).encode()
            await stream.send_all(rawws.frame(rawws.OP_TEXT, deflate(hello), rsv1=True))
            received = bytearray(answer.rest)
            with trio.fail_after(rawws.TIMEOUT):
                while not rawws.server_frames(received):
                    received += await stream.receive_some(65536)
    assert received[0] & 0x40, "the server's frame is compressed (RSV1)"
    opcode, payload = rawws.server_frames(received)[0]
    assert opcode == rawws.OP_TEXT
    assert isinstance(decode_server(inflate(payload).decode()), Welcome)


async def test_a_client_that_cannot_bound_its_window_gets_no_compression() -> None:
    async with open_server(web=WebSettings(compression=True)) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            offer = {"Sec-WebSocket-Extensions": "permessage-deflate"}
            answer = await rawws.handshake(stream, server.host, server.port, offer)
    assert answer.status == 101
    assert "sec-websocket-extensions" not in answer.headers


async def test_a_message_inflating_past_the_limit_is_closed_with_1009() -> None:
    web = WebSettings(compression=True, connection=ConnectionSettings(max_message_bytes=1000))
    async with open_server(web=web) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            answer = await rawws.handshake(stream, server.host, server.port, OFFER)
            # Twice the limit may reach the user actor; one byte more is cut while inflating.
            text = json.dumps({"type": "new_connection", "username": "x" * 2100}).encode()
            await stream.send_all(rawws.frame(rawws.OP_TEXT, deflate(text), rsv1=True))
            received = await rawws.read_until_eof(stream, answer.rest)
    assert rawws.close_code(received) == 1009


async def test_a_compression_bomb_is_refused_without_memory_growth(tmp_path: Path) -> None:
    payload = bomb(BOMB_BYTES)
    assert len(payload) < 300_000
    with serve(tmp_path / "db.sqlite3", "--websocket-compression") as process:
        server = process.info
        # Warm up: one honest connection, so the baseline includes what any connection costs.
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            answer = await rawws.handshake(stream, server.host, server.port, OFFER)
            await stream.send_all(rawws.close_frame(1000))
            await rawws.read_until_eof(stream, answer.rest)
        baseline = rss_kib(process.pid)
        codes = []
        for _ in range(4):
            stream = await trio.open_tcp_stream(server.host, server.port)
            async with stream:
                answer = await rawws.handshake(stream, server.host, server.port, OFFER)
                assert "sec-websocket-extensions" in answer.headers
                frame = rawws.frame(rawws.OP_TEXT, payload, rsv1=True)
                with trio.move_on_after(rawws.TIMEOUT):
                    # The server may close before it has read everything: that is the point.
                    with contextlib.suppress(trio.BrokenResourceError):
                        await stream.send_all(frame)
                received = await rawws.read_until_eof(stream, answer.rest)
                codes.append(rawws.close_code(received))
        grown = rss_kib(process.pid) - baseline
    assert codes == [1009] * 4
    assert grown < 16 * 1024, f"the server grew by {grown} KiB"
    assert " ERROR " not in process.log()


def test_the_bomb_is_a_bomb() -> None:
    """The payload above does inflate to ``BOMB_BYTES``: the test refuses a real bomb."""
    inflater = zlib.decompressobj(-12)
    total = 0
    data = bomb(BOMB_BYTES) + b"\x00\x00\xff\xff"
    while data:
        total += len(inflater.decompress(data, 1 << 24))
        data = inflater.unconsumed_tail
    assert total == BOMB_BYTES


async def test_hypercorn_receives_up_to_twice_max_message_bytes_then_cuts() -> None:
    """hypercorn's own limit follows ``--max-message-bytes``: a large limit lets large frames
    reach the user actor (it used to be a fixed 64 KiB), and a frame over twice the limit is
    cut while it arrives, before hypercorn holds it whole."""
    web = WebSettings(connection=ConnectionSettings(max_message_bytes=100_000))
    async with open_server(web=web) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            answer = await rawws.handshake(stream, server.host, server.port)
            await stream.send_all(rawws.frame(rawws.OP_TEXT, b" " * 70_000))
            received = bytearray(answer.rest)
            with trio.fail_after(rawws.TIMEOUT):
                while not rawws.server_frames(received):
                    received += await stream.receive_some(65536)
            opcode, _ = rawws.server_frames(received)[0]
            assert opcode == rawws.OP_TEXT, "an error reply, not a close"
            await stream.send_all(rawws.frame(rawws.OP_TEXT, b" " * 200_001))
            closing = await rawws.read_until_eof(stream)
    assert rawws.close_code(closing) == 1009


# ------------------------------------------------------------ the extensions, sans I/O

LIMIT = 300


def _pair(compressed: bool) -> tuple[Connection, Connection]:
    """A client and our server, past a handshake that did (or did not) agree on compression."""
    if not compressed:
        return Connection(ConnectionType.CLIENT), FailingConnection(
            ConnectionType.SERVER, [SizeLimit(LIMIT)]
        )
    server_side = BoundedDeflate(LIMIT)
    accepted = server_side.accept("permessage-deflate; client_max_window_bits")
    assert isinstance(accepted, str)
    client_side = PerMessageDeflate()
    client_side.finalize(f"permessage-deflate; {accepted}")
    return (
        Connection(ConnectionType.CLIENT, [client_side]),
        FailingConnection(ConnectionType.SERVER, [server_side]),
    )


@given(
    compressed=st.booleans(),
    messages=st.lists(
        st.tuples(
            st.text(alphabet=st.characters(max_codepoint=0x7FF), max_size=2 * LIMIT),
            st.integers(1, 4),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_messages_up_to_the_limit_pass_and_one_byte_more_fails(
    compressed: bool, messages: list[tuple[str, int]]
) -> None:
    """Fragmented, with a ping between fragments, compressed or not: each message arrives
    whole if its UTF-8 fits the limit; the first one over it fails the connection (1009)."""
    client, server = _pair(compressed)
    for text, fragments in messages:
        size = len(text) // fragments + 1
        parts = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        wire = b""
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            wire += client.send(TextMessage(data=part, message_finished=last))
            if not last:
                wire += client.send(Ping(b"between"))
        server.receive_data(wire)
        events = list(server.events())
        received = "".join(e.data for e in events if isinstance(e, TextMessage))
        closes = [e for e in events if isinstance(e, CloseConnection)]
        if len(text.encode()) <= LIMIT:
            assert received == text and not closes
        else:
            assert [c.code for c in closes] == [1009]
            assert server.state is ConnectionState.REMOTE_CLOSING  # hypercorn answers it
            return


def test_a_compressed_frame_without_compression_is_a_protocol_error() -> None:
    client, _ = _pair(compressed=True)
    _, server = _pair(compressed=False)
    server.receive_data(client.send(TextMessage(data="hello")))
    assert [e.code for e in server.events() if isinstance(e, CloseConnection)] == [1002]
