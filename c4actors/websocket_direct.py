"""Writing a prepared frame straight to a WebSocket's TCP socket, when that is safe.

Why: hypercorn sends each message through ASGI ``send``: ``WSStream`` -> wsproto (framing,
maybe deflate) -> ``H11Protocol`` -> ``TCPServer.protocol_send`` (a lock, a shielded cancel
scope, trio's ``send_all``), in the connection's writer task, woken for it.  That is about
0.1 ms per message; a move watched by 1,000 spectators paid it 1,000 times, one after another
(py-spy: half the server's time).  Here the task that has the message (the game) writes a
frame built once (``websocket_frames.PreparedFrame``) with one non-blocking ``write`` per
socket, no task woken.

The connection's writer task writes directly too (``DirectWriter.write_texts_nowait``): the
messages queued for it (the lobby's, a game's when the socket was busy) then skip hypercorn's
send path (a lock, a shielded cancel scope, a yield in ``send_all``) and go out several to
one ``write`` when several are queued.

A direct write happens only when it cannot be told apart from hypercorn's own
(``DirectWriter.write_nowait``); otherwise it writes nothing and the caller queues the
message for the connection's writer task, the usual path:

- the connection is plain TCP over HTTP/1.1 served by ``DirectTCPServer`` (TLS and HTTP/2
  wrap the frame again: they always take the usual path);
- the WebSocket is open for hypercorn and for wsproto, and the app has not closed it;
- nothing else is being written to the socket: hypercorn's send lock is free and no bytes of
  an earlier direct write are left over; the caller (``Mailbox.deliver_frame``) adds that
  nothing is queued for the connection's writer either, so the order of frames is kept;
- the kernel takes the bytes now.  A write it takes only in part leaves the rest with the
  transport (``pending``): every later write through hypercorn sends it first, under the
  lock, and the caller queues a flush for the writer task, so the frame is whole on the
  wire before anything else.  A failed write (the peer is gone) writes nothing and leaves
  the error to the usual path, which ends the connection as before.

The way in has a direct path too (``DirectTCPServer._read_data``): a chunk read from the
socket of an open WebSocket that is nothing but whole plain text frames
(``websocket_frames.client_texts``), arriving while hypercorn and wsproto are between
messages, goes straight to the app as the messages hypercorn would have made of it, past
hypercorn's HTTP/1.1 wrapper, wsproto's parser and hypercorn's message buffer (issue 17:
that read path was 15% of the server's time in a closed loop).  Anything else (a partial
frame, a control frame, a fragment, a compressed or oversized frame, bad UTF-8, a socket
with compression negotiated) takes the usual path, so every limit and every close is
decided where it always was.  Skipping wsproto for a chunk leaves its state as parsing the
chunk would have: it is between messages before and after, and its size counter
(``SizeLimit``) is set to what it would have counted.

Wiring: ``DirectTCPServer`` (the listener's connection handler) and ``DirectWSStream``
(hypercorn's HTTP/1.1 WebSocket stream, after ``install``) make themselves known in context
variables of the connection's task, which the app's task inherits; after the handshake the
app asks ``current_writer()``.
"""

from __future__ import annotations

import contextvars
import enum
import os
from collections.abc import Sequence
from typing import Any

import trio
from hypercorn.events import Closed, RawData
from hypercorn.protocol import h11
from hypercorn.protocol.ws_stream import ASGIWebsocketState
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
from wsproto.connection import ConnectionState

from c4actors import websocket_compression
from c4actors.websocket_compression import SizeLimit
from c4actors.websocket_frames import PreparedFrame, Variant, client_texts, frame_bytes
from c4actors.websocket_stream import ClosingWSStream


class Written(enum.Enum):
    """What a direct write did."""

    NOTHING = enum.auto()
    """Not written (not safe now, or the kernel took nothing): queue it the usual way."""
    WHOLE = enum.auto()
    PART = enum.auto()
    """The kernel took only a part: the rest waits in the transport for a flush."""


class DirectTCPServer(TCPServer):
    """hypercorn's per-connection ``TCPServer`` that can also take a direct write
    (``write_nowait``) and keeps what the kernel did not take of it for its next write."""

    pending = b""
    """Bytes of a direct write the kernel has not taken yet: written before anything else."""
    websocket: DirectWSStream | None = None
    """This connection's WebSocket stream, once hypercorn has made one."""

    async def run(self) -> None:
        _transport.set(self)  # seen by this connection's WebSocket stream and app
        await super().run()

    async def _read_data(self) -> None:
        """hypercorn's read loop (``TCPServer._read_data``), with a direct path for the
        plainest WebSocket frames (module docstring).  Without a read timeout (hypercorn's
        default) no cancel scope is made per read: its deadline would be infinite."""
        stream = self.stream
        if self.config.read_timeout is not None or not isinstance(stream, trio.SocketStream):
            await super()._read_data()
            return
        handle = self.protocol.handle
        while True:
            try:
                data = await stream.receive_some(MAX_RECV)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                break
            websocket = self.websocket
            if websocket is not None and data:
                texts = websocket.plain_texts(data, self._between_requests())
                if texts is not None:
                    put = websocket.app_put
                    assert put is not None  # plain_texts checked that the app runs
                    for text in texts:
                        await put({"type": "websocket.receive", "bytes": None, "text": text})
                    continue
            await handle(RawData(data))
            if not data:
                break
        await handle(Closed())

    def _between_requests(self) -> bool:
        """Whether hypercorn's HTTP/1.1 layer holds no received bytes of its own."""
        protocol = getattr(self.protocol, "protocol", None)
        connection = getattr(protocol, "connection", None)
        return isinstance(connection, h11.H11WSConnection) and not connection.buffer

    async def protocol_send(self, event: Any) -> None:
        if not isinstance(event, RawData):
            await super().protocol_send(event)
            return
        # hypercorn's own RawData branch, with the left-over bytes first (taken under the lock:
        # no direct write happens while it is held).
        async with self.send_lock:
            data, self.pending = self.pending + event.data, b""
            if not data:
                return
            try:
                with trio.CancelScope(shield=True):
                    await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self.protocol.handle(Closed())

    def can_write(self) -> bool:
        """Whether a direct write may be tried now (nothing else is being written)."""
        return not self.pending and not self.send_lock.locked()

    def write_nowait(self, data: bytes) -> Written:
        """Write ``data`` now if nothing else is being written; never waits."""
        if self.pending or self.send_lock.locked():
            return Written.NOTHING
        stream = self.stream
        if not isinstance(stream, trio.SocketStream):
            return Written.NOTHING
        fd = stream.socket.fileno()  # -1 once closed: never a stale number
        if fd < 0:
            return Written.NOTHING
        try:
            sent = os.write(fd, data)
        except OSError:  # full (BlockingIOError) or gone: the usual path takes it
            return Written.NOTHING
        if sent < len(data):
            self.pending = data[sent:]
            return Written.PART
        return Written.WHOLE

    async def flush(self) -> None:
        """Write what a direct write left over (through the usual path, which waits)."""
        if self.pending:
            await self.protocol_send(RawData(data=b""))


class DirectWSStream(ClosingWSStream):
    """The HTTP/1.1 WebSocket stream: a ``ClosingWSStream`` that its app can find."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _stream.set(self)  # in the connection's task, before the app's task is spawned
        transport = _transport.get(None)
        if transport is not None:
            transport.websocket = self

    def plain_texts(self, data: bytes, between_requests: bool) -> list[str] | None:
        """The messages in ``data`` if it may skip hypercorn and wsproto (module docstring):
        the WebSocket is open and the app reads it, nothing of a message or frame is held
        anywhere (``between_requests``: nor by the HTTP/1.1 layer), the only extension is
        ``SizeLimit`` (no compression), and ``data`` is whole plain text frames within its
        limit.  Then wsproto's size counter is set as parsing ``data`` would have set it,
        and the caller hands the messages to the app; otherwise None, and nothing changed."""
        if (
            not between_requests
            or self.closed
            or self.state is not ASGIWebsocketState.CONNECTED
            or self.app_put is None
            or self.buffer.value is not None
        ):
            return None
        limit = _idle_size_limit(self.connection)
        if limit is None:
            return None
        texts = client_texts(data, min(limit.max_message_bytes, self.buffer.max_length))
        if texts is not None:
            limit._in_data_frame = True
            limit._received = len(texts[-1].encode())
        return texts


class DirectWriter:
    """Direct writes to one WebSocket (see the module docstring); held by its ``Mailbox``."""

    __slots__ = ("stream", "transport", "variant")

    def __init__(self, stream: DirectWSStream, transport: DirectTCPServer, variant: Variant):
        self.stream = stream
        self.transport = transport
        self.variant = variant
        """How this socket frames a message (plain, or its deflate window)."""

    def _open(self) -> bool:
        stream = self.stream
        return not (
            stream.closed
            or stream.state is not ASGIWebsocketState.CONNECTED
            or stream.app_finished
            or stream.connection.state is not ConnectionState.OPEN
        )

    def write_nowait(self, frame: PreparedFrame) -> Written:
        """Write ``frame`` to the socket now, if that is safe; never waits."""
        if not self._open():
            return Written.NOTHING
        return self.transport.write_nowait(frame.bytes_for(self.variant))

    def write_texts_nowait(self, texts: Sequence[str]) -> Written:
        """Write these messages (in order, one frame each) to the socket now, in one write,
        if that is safe; never waits.  For the connection's own writer task, which has them
        queued: each is framed here (they are its socket's alone), and only once a write is
        possible, so a message that then takes the usual path is not framed twice."""
        if not self._open() or not self.transport.can_write():
            return Written.NOTHING
        variant = self.variant
        if len(texts) == 1:
            return self.transport.write_nowait(frame_bytes(texts[0], variant))
        return self.transport.write_nowait(b"".join([frame_bytes(t, variant) for t in texts]))

    async def flush(self) -> None:
        """Finish a frame the kernel took only part of (``Written.PART``)."""
        await self.transport.flush()


def _idle_size_limit(connection: Any) -> SizeLimit | None:
    """The ``SizeLimit`` of a wsproto connection that is open and between messages, with no
    event or byte waiting in it and no other extension; None otherwise (or if wsproto's
    insides are not as expected: then nothing takes the direct path)."""
    proto = getattr(connection, "_proto", None)
    decoder = getattr(proto, "_frame_decoder", None)
    message = getattr(proto, "_message_decoder", None)
    if (
        decoder is None
        or message is None
        or getattr(connection, "_state", None) is not ConnectionState.OPEN
        or getattr(connection, "_events", True)
        or len(decoder.buffer)
        or decoder.header is not None
        or message.opcode is not None
    ):
        return None
    extensions = getattr(proto, "extensions", None)
    if not extensions or len(extensions) != 1 or type(extensions[0]) is not SizeLimit:
        return None
    limit: SizeLimit = extensions[0]
    return limit


_transport: contextvars.ContextVar[DirectTCPServer] = contextvars.ContextVar(
    "c4actors_direct_transport"
)
_stream: contextvars.ContextVar[DirectWSStream] = contextvars.ContextVar("c4actors_direct_stream")


def current_writer() -> DirectWriter | None:
    """The direct writer of the WebSocket this app task has just accepted, or None when it
    must take the usual path (TLS, HTTP/2, a server not built with these classes)."""
    stream, transport = _stream.get(None), _transport.get(None)
    if stream is None or transport is None or not isinstance(transport.stream, trio.SocketStream):
        return None
    if stream.state is not ASGIWebsocketState.CONNECTED:
        return None
    try:
        variant = websocket_compression.frame_variant()
    except ValueError:
        return None
    return DirectWriter(stream, transport, variant)


def install() -> None:
    """Make hypercorn's HTTP/1.1 protocol create ``DirectWSStream`` (idempotent; after
    ``websocket_stream.install``, whose class it extends)."""
    h11.WSStream = DirectWSStream  # type: ignore[attr-defined]
