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
from hypercorn.trio.tcp_server import TCPServer
from wsproto.connection import ConnectionState

from c4actors import websocket_compression
from c4actors.websocket_frames import PreparedFrame, Variant, frame_bytes
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

    async def run(self) -> None:
        _transport.set(self)  # seen by this connection's WebSocket stream and app
        await super().run()

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
