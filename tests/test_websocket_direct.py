"""Direct writes of prepared frames (``c4actors.websocket_direct``): through a real server,
spectators with and without compression get exactly the bytes hypercorn would have sent them,
written directly; on a socket pair, a write the kernel takes in part is finished before
anything else, and a spectator that does not read is dropped without ever being waited for.
The way in: plain text frames reach the app without wsproto, and everything else (frames cut
anywhere, control frames, fragments, bad frames) is parsed and closed by wsproto as before."""

from __future__ import annotations

import struct
import zlib
from typing import Any, cast

import pytest
import trio
import trio.testing
from hypercorn.config import Config
from hypercorn.events import RawData
from hypercorn.protocol.ws_stream import ASGIWebsocketState
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import TextMessage
from wsproto.extensions import Extension

from c4actors.actors.mailbox import CLOSE_TOO_SLOW, FLUSH_REQUESTED, Mailbox, Outgoing
from c4actors.actors.user import ConnectionSettings, UserActor
from c4actors.metrics import Metrics
from c4actors.store import Store
from c4actors.web import WebSettings
from c4actors.websocket_compression import BoundedDeflate, FailingConnection, SizeLimit
from c4actors.websocket_direct import (
    DirectTCPServer,
    DirectWriter,
    DirectWSStream,
    Written,
)
from c4actors.websocket_frames import PreparedFrame, frame_bytes
from protocol import Error, GameState, Move, NewConnection, Seek, Watch, decode_server, encode
from tests import rawws
from tests.support import connect, open_server, start_game

BROWSER_OFFER = "permessage-deflate; client_max_window_bits"


def whole_frames(data: bytes | bytearray) -> list[bytes]:
    """Each complete server frame in ``data``, header included."""
    frames = []
    offset = 0
    while offset + 2 <= len(data):
        start, length = offset, data[offset + 1] & 0x7F
        offset += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, offset)
            offset += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, offset)
            offset += 8
        if offset + length > len(data):
            break
        offset += length
        frames.append(bytes(data[start:offset]))
    return frames


def text_of(frame: bytes, compressed: bool) -> str:
    [(_, payload)] = rawws.server_frames(frame)
    if compressed and frame[0] & 0x40:
        payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
    return payload.decode()


class RawSpectator:
    def __init__(self, stream: trio.SocketStream, compressed: bool, received: bytes) -> None:
        self.stream, self.compressed, self.received = stream, compressed, bytearray(received)

    async def send(self, text: str) -> None:
        await self.stream.send_all(rawws.frame(rawws.OP_TEXT, text.encode()))  # not compressed

    async def frame_showing(self, moves: list[int]) -> bytes:
        """The raw ``game_state`` frame showing ``moves`` (frames before it are dropped)."""
        with trio.fail_after(rawws.TIMEOUT):
            while True:
                frames = whole_frames(self.received)
                for index, frame in enumerate(frames):
                    text = text_of(frame, self.compressed)
                    message = decode_server(text)
                    if isinstance(message, GameState) and message.moves == moves:
                        del self.received[: sum(len(f) for f in frames[: index + 1])]
                        return frame
                self.received += await self.stream.receive_some(65536)


def usual_path_bytes(extension: Extension, text: str) -> bytes:
    """What hypercorn sends for ``text`` on a socket with ``extension``: wsproto's frame."""
    return Connection(ConnectionType.SERVER, [extension]).send(TextMessage(text))


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every write the server's sockets took whole without hypercorn's send path."""
    written_whole: list[bytes] = []
    write_nowait = DirectTCPServer.write_nowait

    def recording(self: DirectTCPServer, data: bytes) -> Written:
        written = write_nowait(self, data)
        if written is Written.WHOLE:
            written_whole.append(data)
        return written

    monkeypatch.setattr(DirectTCPServer, "write_nowait", recording)
    return written_whole


async def test_spectators_get_the_usual_bytes_written_directly(direct: list[bytes]) -> None:
    async with (
        open_server(web=WebSettings(compression=True)) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)  # bob moves first
        spectators = []
        for name, offer in (("cat", BROWSER_OFFER), ("dan", None)):
            stream = await trio.open_tcp_stream(server.host, server.port)
            extra = None if offer is None else {"Sec-WebSocket-Extensions": offer}
            answer = await rawws.handshake(stream, server.host, server.port, extra)
            assert ("sec-websocket-extensions" in answer.headers) == (offer is not None)
            spectator = RawSpectator(stream, offer is not None, answer.rest)
            await spectator.send(encode(NewConnection(username=name)))
            await spectator.send(encode(Watch(game_id=game_id)))
            await spectator.frame_showing([])  # the position when it started watching
            spectators.append(spectator)
        direct.clear()
        await bob.send(Move(game_id=game_id, column=3))
        for spectator in spectators:
            frame = await spectator.frame_showing([3])
            text = text_of(frame, spectator.compressed)
            if spectator.compressed:
                deflate = BoundedDeflate(1 << 20)
                assert deflate.accept(BROWSER_OFFER) is not None
                expected = usual_path_bytes(deflate, text)
                assert frame[0] & 0x40, "compressed"
            else:
                expected = usual_path_bytes(SizeLimit(1 << 20), text)
            assert frame == expected
            assert frame in direct, "written directly, not through hypercorn's send path"
        for spectator in spectators:
            await spectator.stream.aclose()


def transport_on(sock: trio.socket.SocketType) -> DirectTCPServer:
    return DirectTCPServer(
        cast(Any, None),
        Config(),
        cast(Any, None),
        cast(Any, None),
        cast(Any, trio.SocketStream(sock)),
    )


async def test_a_write_taken_in_part_is_finished_before_anything_else() -> None:
    ours, peer = trio.socket.socketpair()
    transport = transport_on(ours)
    chunk = bytes(range(256)) * 256  # 64 KiB
    sent = bytearray()
    for _ in range(1000):
        written = transport.write_nowait(chunk)
        assert written is not Written.NOTHING
        sent += chunk
        if written is Written.PART:
            break
    else:
        pytest.fail("the kernel took a megabyte and more of unread data")
    assert transport.pending
    # Nothing more goes directly until the rest is out.
    assert transport.write_nowait(b"later") is Written.NOTHING
    received = bytearray()

    async def read_all() -> None:
        while len(received) < len(sent) + len(b"after"):
            received.extend(await peer.recv(1 << 16))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            # hypercorn's own next write (say, a pong) comes after the rest of the frame.
            await transport.protocol_send(RawData(data=b"after"))
    assert bytes(received) == bytes(sent) + b"after"
    assert not transport.pending
    assert transport.write_nowait(b"now") is Written.WHOLE
    assert await peer.recv(16) == b"now"
    ours.close()
    peer.close()


class OpenStream:
    """What ``DirectWriter`` reads of a WebSocket stream: open everywhere."""

    closed = False
    state = ASGIWebsocketState.CONNECTED
    app_finished = False

    class connection:
        state = ConnectionState.OPEN


async def test_a_spectator_that_does_not_read_is_dropped_and_never_waited_for() -> None:
    ours, peer = trio.socket.socketpair()  # the peer never reads
    writer = DirectWriter(cast(DirectWSStream, OpenStream()), transport_on(ours), None)
    send, receive = trio.open_memory_channel[Outgoing](4)
    mailbox = Mailbox(11, send, direct=writer)
    frame = PreparedFrame("x" * 60_000)
    direct = 0
    for _ in range(1000):  # synchronous: nothing here can wait
        direct += mailbox.deliver_frame(frame)
        if mailbox.closed:
            break
    assert mailbox.closed and mailbox.close_code == CLOSE_TOO_SLOW
    assert direct >= 1, "written directly while the socket took it"
    # Once part of a frame was left over, the rest went to the writer: a flush, then frames.
    assert receive.receive_nowait() is FLUSH_REQUESTED
    assert mailbox.deliver_frame(frame) is False  # dropped: nothing more
    ours.close()
    peer.close()


# ------------------------------------------------- the connection's writer task (issue 17)


class UsualPath:
    """A connection's ``Socket`` whose ``send`` is hypercorn's path in miniature: the frame
    through the transport's ``protocol_send`` (its lock, and what a direct write left over
    first).  Records the texts that took it."""

    def __init__(self, transport: DirectTCPServer) -> None:
        self.transport = transport
        self.sent: list[str] = []

    async def receive(self) -> str | bytes | None:
        await trio.sleep_forever()
        return None  # pragma: no cover

    async def send(self, text: str) -> None:
        self.sent.append(text)
        await self.transport.protocol_send(RawData(data=frame_bytes(text, None)))

    async def close(self, code: int, reason: str) -> None:
        pass


class GoneProtocol:
    """hypercorn's protocol, told that the socket is gone: nothing more to do here."""

    async def handle(self, event: object) -> None:
        pass


def writer_on(sock: trio.socket.SocketType) -> tuple[UserActor, UsualPath, list[bytes]]:
    """A user actor whose writer has a direct writer on ``sock``; the data of each direct
    write the transport took."""
    transport = transport_on(sock)
    writes: list[bytes] = []
    write_nowait = transport.write_nowait

    def recording(data: bytes) -> Written:
        written = write_nowait(data)
        if written is not Written.NOTHING:
            writes.append(data)
        return written

    transport.write_nowait = recording  # type: ignore[method-assign]
    transport.protocol = cast(Any, GoneProtocol())
    usual = UsualPath(transport)
    lobby, _ = trio.open_memory_channel[Any](1)
    actor = UserActor(
        7,
        usual,
        lobby,
        cast(Store, None),
        Metrics(),
        ConnectionSettings(inbox_size=8),
        session=None,
        direct=DirectWriter(cast(DirectWSStream, OpenStream()), transport, None),
    )
    return actor, usual, writes


async def received(peer: trio.socket.SocketType, size: int) -> bytes:
    data = bytearray()
    with trio.fail_after(10):
        while len(data) < size:
            data += await peer.recv(1 << 16)
    return bytes(data)


async def test_the_writer_writes_what_is_queued_directly_in_one_write() -> None:
    ours, peer = trio.socket.socketpair()
    actor, usual, writes = writer_on(ours)
    texts = ['{"type":"a"}', '{"type":"b"}', '{"type":"c"}']
    for text in texts[:2]:
        actor.mailbox.deliver(text)
    actor.mailbox.deliver_reply(texts[2], trio.current_time(), "lobby")
    expected = b"".join(usual_path_bytes(SizeLimit(1 << 20), text) for text in texts)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run)
        assert await received(peer, len(expected)) == expected
        await trio.testing.wait_all_tasks_blocked()
        assert writes == [expected], "all three in one direct write"
        assert usual.sent == []
        assert actor.mailbox.unwritten() == 0
        [family] = actor.metrics.reply_seconds.collect()
        [timed] = [s.value for s in family.samples if s.name.endswith("_count")]
        assert timed == 1, "the stamped reply was timed once written"
        nursery.cancel_scope.cancel()
    ours.close()
    peer.close()


async def test_the_writer_takes_the_usual_path_in_order_while_the_socket_is_busy() -> None:
    ours, peer = trio.socket.socketpair()
    actor, usual, writes = writer_on(ours)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run)
        await trio.testing.wait_all_tasks_blocked()
        async with actor.mailbox.direct.transport.send_lock:  # type: ignore[union-attr]
            # hypercorn is writing (say, a pong): nothing goes directly meanwhile.
            actor.mailbox.deliver('{"n":1}')
            actor.mailbox.deliver('{"n":2}')
            await trio.testing.wait_all_tasks_blocked()
            assert writes == []
        await trio.testing.wait_all_tasks_blocked()
        actor.mailbox.deliver('{"n":3}')
        texts = ['{"n":1}', '{"n":2}', '{"n":3}']
        expected = b"".join(frame_bytes(text, None) for text in texts)
        assert await received(peer, len(expected)) == expected
        await trio.testing.wait_all_tasks_blocked()
        assert usual.sent == texts[:2]
        assert writes == [frame_bytes(texts[2], None)]
        nursery.cancel_scope.cancel()
    ours.close()
    peer.close()


async def test_a_connection_that_does_not_read_is_still_dropped_with_the_writer_direct() -> None:
    ours, peer = trio.socket.socketpair()  # the peer never reads
    actor, _, writes = writer_on(ours)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor.run)
        with trio.fail_after(10):
            for _ in range(10_000):
                actor.mailbox.deliver("x" * 60_000)
                if actor.mailbox.closed:
                    break
                await trio.testing.wait_all_tasks_blocked()
        assert actor.mailbox.closed and actor.mailbox.close_code == CLOSE_TOO_SLOW
        assert writes, "written directly while the socket took it"
        # The writer waits in a shielded write, as in hypercorn, until the socket is gone;
        # the closer has cancelled the rest.
        ours.close()
    peer.close()


async def test_players_lobby_frames_are_written_directly_with_the_usual_bytes(
    direct: list[bytes],
) -> None:
    async with open_server(web=WebSettings(compression=True)) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        extra = {"Sec-WebSocket-Extensions": BROWSER_OFFER}
        answer = await rawws.handshake(stream, server.host, server.port, extra)
        client = RawSpectator(stream, True, answer.rest)
        await client.send(encode(NewConnection(username="eve")))
        # The lobby's answers (welcome, the list) are written directly, in its step.
        with trio.fail_after(rawws.TIMEOUT):
            while not (frames := whole_frames(client.received)):
                client.received += await stream.receive_some(65536)
        deflate = BoundedDeflate(1 << 20)
        assert deflate.accept(BROWSER_OFFER) is not None
        for frame in frames:
            assert frame == usual_path_bytes(deflate, text_of(frame, True))
        assert b"".join(frames) in b"".join(direct), "written directly by the writer task"
        await stream.aclose()


# ------------------------------------------------------------ the way in

SEEK = rawws.frame(rawws.OP_TEXT, encode(Seek()).encode())
"""A request refused before ``new_connection`` (``error not_connected``): one reply each."""
OP_PING, OP_PONG = 0x9, 0xA


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every chunk the server's sockets handed to wsproto to parse."""
    chunks: list[bytes] = []
    receive_data = FailingConnection.receive_data

    def recording(self: FailingConnection, data: bytes | None) -> None:
        if data:
            chunks.append(data)
        receive_data(self, data)

    monkeypatch.setattr(FailingConnection, "receive_data", recording)
    return chunks


async def replies(stream: trio.SocketStream, received: bytearray, count: int) -> list[int]:
    """The opcodes of the server's next ``count`` frames (text replies must be errors)."""
    with trio.fail_after(rawws.TIMEOUT):
        while len(rawws.server_frames(received)) < count:
            chunk = await stream.receive_some(65536)
            assert chunk, "closed"
            received += chunk
    frames = rawws.server_frames(received)[:count]
    for opcode, payload in frames:
        if opcode == rawws.OP_TEXT:
            assert isinstance(decode_server(payload.decode()), Error)
    del received[: sum(len(whole) for whole in whole_frames(received)[:count])]
    return [opcode for opcode, _ in frames]


async def test_plain_frames_skip_wsproto_and_every_other_chunk_takes_it(
    parsed: list[bytes],
) -> None:
    """Whole plain text frames go to the app without wsproto; frames cut anywhere, a ping
    among them and a fragmented message are parsed by wsproto as before, in order."""
    async with open_server() as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        answer = await rawws.handshake(stream, server.host, server.port)
        received = bytearray(answer.rest)
        await stream.send_all(SEEK * 3)
        assert await replies(stream, received, 3) == [rawws.OP_TEXT] * 3
        assert parsed == [], "read directly"
        # One byte at a time: each chunk ends inside the frame (TCP may cut anywhere).
        for index in range(len(SEEK)):
            await stream.send_all(SEEK[index : index + 1])
            await trio.sleep(0.001)
        assert await replies(stream, received, 1) == [rawws.OP_TEXT]
        assert parsed, "left to wsproto"
        parsed.clear()
        # A ping between two frames, then a message in two fragments.
        await stream.send_all(SEEK + rawws.frame(OP_PING, b"hi") + SEEK)
        assert sorted(await replies(stream, received, 3)) == [rawws.OP_TEXT] * 2 + [OP_PONG]
        text = encode(Seek()).encode()
        await stream.send_all(
            rawws.frame(rawws.OP_TEXT, text[:3], fin=False) + rawws.frame(0x0, text[3:])
        )
        assert await replies(stream, received, 1) == [rawws.OP_TEXT]
        assert len(parsed) == 2
        # Between messages again: plain frames are read directly again.
        parsed.clear()
        await stream.send_all(SEEK)
        assert await replies(stream, received, 1) == [rawws.OP_TEXT]
        assert parsed == []
        await stream.aclose()


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (SEEK[:1] + bytes([SEEK[1] & 0x7F]) + SEEK[6:], 1002),  # unmasked
        (rawws.frame(rawws.OP_TEXT, b"\xff\xfe"), 1007),  # not UTF-8
        (rawws.frame(rawws.OP_TEXT, b" " * 200_001), 1009),  # over hypercorn's limit
        (SEEK + rawws.frame(rawws.OP_TEXT, b" " * 200_001), 1009),  # behind a plain one
    ],
)
async def test_frames_the_direct_path_refuses_are_closed_as_before(wire: bytes, code: int) -> None:
    web = WebSettings(connection=ConnectionSettings(max_message_bytes=100_000))
    async with open_server(web=web) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            answer = await rawws.handshake(stream, server.host, server.port)
            await stream.send_all(wire)
            received = await rawws.read_until_eof(stream, answer.rest)
    assert rawws.close_code(received) == code


# ------------------------------------------------- game requests read in the socket's task


@pytest.fixture
def routed_in(monkeypatch: pytest.MonkeyPatch) -> tuple[list[object], list[object]]:
    """(the tasks that routed game requests, the connections' own reader tasks)."""
    routing: list[object] = []
    readers: list[object] = []
    to_game, run = UserActor._to_game, UserActor.run

    def recording_to_game(self: UserActor, *args: Any) -> None:
        routing.append(trio.lowlevel.current_task())
        to_game(self, *args)

    async def recording_run(self: UserActor) -> None:
        readers.append(trio.lowlevel.current_task())
        await run(self)

    monkeypatch.setattr(UserActor, "_to_game", recording_to_game)
    monkeypatch.setattr(UserActor, "run", recording_run)
    return routing, readers


async def test_a_move_is_routed_in_the_task_that_read_it_not_the_connections_reader(
    routed_in: tuple[list[object], list[object]],
) -> None:
    """One task step less per move: while the connection's reader waits for a frame, a
    game request is routed by the task that read it from the socket."""
    routing, readers = routed_in
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await bob.send(Move(game_id=game_id, column=3))
        assert (await ann.expect(GameState)).moves == [3]
        await bob.expect(GameState)
    assert len(routing) == 1 and routing[0] not in readers


async def test_a_game_request_never_overtakes_a_frame_before_it(
    routed_in: tuple[list[object], list[object]],
) -> None:
    """A frame the reader handles (here a bad one) and a move behind it in the same chunk:
    the move is left to the reader, after the first, so the replies keep the order."""
    routing, readers = routed_in
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        move = encode(Move(game_id=game_id, column=3)).encode()
        stream = cast(Any, bob.ws)._stream  # both frames in one write
        await stream.send_all(
            rawws.frame(rawws.OP_TEXT, b"not json") + rawws.frame(rawws.OP_TEXT, move)
        )
        assert (await bob.expect(Error)).code == "bad_json"
        assert (await bob.expect(GameState)).moves == [3]
    assert len(routing) == 1 and routing[0] in readers
