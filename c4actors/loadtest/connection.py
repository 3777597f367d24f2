"""One simulated user's WebSocket: opened through the ramp, typed sends, counted receives.

Sends are capped at ``--send-rate`` messages per second per connection (a token bucket with
one second of burst), 20 by default: the server's own default limit is 20 per second with
bursts of 40, and a message over it is dropped with ``error rate_limited``.  A closed loop
against a default server is therefore paced by the client, never dropped by the server;
``--send-rate 0`` lifts the cap for servers started without the limit (the benchmarks).

Browsers always offer ``permessage-deflate``; so does the load tester by default
(``--compression browser``, ``--compression off`` offers nothing), and the server's policy
decides (off unless ``--websocket-compression``: it then declines).  trio-websocket has no
setting for extensions, so ``install_connection_class`` replaces the connection class its
``connect_websocket`` builds with one whose opening request carries the offer (from a context
variable set in the connecting task; connections opened elsewhere are unchanged), the way
the server's own ``websocket_compression`` adds its extension to hypercorn.  wsproto then
does the rest: it accepts the server's answer and inflates compressed frames.

Round trips are timed from a message's actual write to its answer's arrival at the socket
(``stamps``): the connection's stream is a ``StampedStream``, each message received carries the
arrival of the read that completed it (``Client.received_at``), and each send the time of its
write (``Client.sent_at``), so neither counts the load tester's own turns (issue 17).

Resource handling: ``connect`` always closes the TCP stream on the way out, including when
the *server* closed first, which trio-websocket's client leaves open (its reader stops at EOF
without closing the stream; ``tests/support.py`` works around the same leak).  With
``--abort-at-end`` a connection still open after the window is reset instead of closed with
the handshake (``abort``).
"""

from __future__ import annotations

import collections
import contextvars
import dataclasses
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import attrs
import trio
import trio_websocket._impl as trio_websocket_impl
from trio_websocket import WebSocketConnection, open_websocket_url
from wsproto.events import AcceptConnection, BytesMessage, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate

from protocol.codec import encode
from protocol.messages import ClientMessage, NewConnection, Welcome

from .failures import ClientFailure, RampCutShort, unexpected
from .frames import peek_type
from .loadrun import LoadRun
from .stamps import StampedStream, WriteStamp, stamping_writes

MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
"""A ``user_list`` grows with the lobby (about 90 bytes per user): no practical limit."""
CONNECT_TIMEOUT: Final = 30.0
CLOSE_TIMEOUT: Final = 10.0
REPLY_TIMEOUT: Final = 30.0
"""Longest wait for the answer to ``new_connection`` before counting a ``timeout``."""


Offer = Callable[[], list[Extension]]
"""Makes the extensions one connection offers (fresh ones: an extension keeps state)."""

BROWSER_OFFER: Final[Offer] = lambda: [PerMessageDeflate()]  # noqa: E731
"""What a browser offers: ``permessage-deflate; client_max_window_bits``."""


@attrs.frozen
class _Setup:
    """What ``open_socket`` asks of the connection it is opening."""

    offer: Offer | None


_setup: contextvars.ContextVar[_Setup | None] = contextvars.ContextVar(
    "c4actors_loadtest_setup", default=None
)


class _LoadTestConnection(WebSocketConnection):
    """trio-websocket's connection, for ``open_socket``'s connections only (others, made
    while it is installed, behave as the original): its client request offers the setup's
    extensions, its stream is a ``StampedStream``, and each message received is queued with
    the arrival of the read that completed it (``arrivals``, one per message, in order)."""

    def __init__(self, stream: trio.abc.Stream, *args: Any, **kwargs: Any) -> None:
        setup = _setup.get()
        if setup is not None and isinstance(stream, trio.SocketStream):
            stream = StampedStream(stream)
        super().__init__(stream, *args, **kwargs)
        self.extensions: list[str] = []
        """The extensions the server accepted (trio-websocket keeps only other headers)."""
        self.arrivals: collections.deque[float] = collections.deque()
        if setup is not None and setup.offer is not None and self._initial_request is not None:
            offered = setup.offer()
            self._initial_request = dataclasses.replace(self._initial_request, extensions=offered)

    async def _handle_accept_connection_event(self, event: AcceptConnection) -> None:
        self.extensions = [extension.name for extension in event.extensions]
        await super()._handle_accept_connection_event(event)

    async def _handle_message_event(self, event: TextMessage | BytesMessage) -> None:
        # Runs in the reader task right after the read that completed the message.
        if event.message_finished and isinstance(self._stream, StampedStream):
            self.arrivals.append(self._stream.arrived_at)
        if (
            event.message_finished
            and isinstance(event, TextMessage)
            and not self._message_parts
            and len(event.data) <= self._max_message_size
        ):
            # A whole text message in one event (every frame the server sends): queue it
            # without trio-websocket's awaited ``send``, whose scheduler turn per frame the
            # reader does not need when the queue has room.  A full queue, a message in
            # parts or one over the limit take trio-websocket's own path.
            try:
                self._send_channel.send_nowait(event.data)
                return
            except trio.WouldBlock:
                pass
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                return  # nobody reads any more: dropped, as trio-websocket does
        await super()._handle_message_event(event)


def install_connection_class() -> None:
    """Let ``open_socket`` offer extensions and stamp its connections (idempotent)."""
    trio_websocket_impl.WebSocketConnection = _LoadTestConnection  # type: ignore[misc]


def negotiated_extensions(ws: WebSocketConnection) -> list[str]:
    """The extensions the server accepted (none unless ``open_socket`` offered some)."""
    return ws.extensions if isinstance(ws, _LoadTestConnection) else []


class Client:
    """A connected socket; ``receive`` counts frames and bytes into the run's stats."""

    __slots__ = (
        "_arrivals",
        "_rate",
        "_stamp",
        "_tokens",
        "_updated",
        "name",
        "received_at",
        "run",
        "user_list",
        "ws",
    )

    def __init__(self, ws: WebSocketConnection, run: LoadRun) -> None:
        self.ws = ws
        self.run = run
        self.name = ""
        self._stamp = WriteStamp()
        self._arrivals = ws.arrivals if isinstance(ws, _LoadTestConnection) else None
        self.received_at = 0.0
        """When the latest message received arrived at the socket (``stamps``): earlier than
        the task got it by the load tester's own turns."""
        self.user_list = ""
        """The text of the ``user_list`` that answered ``join``, undecoded."""
        self._rate = run.settings.send_rate
        self._tokens = self._rate
        self._updated = trio.current_time()

    @property
    def sent_at(self) -> float:
        """When the latest message went to the kernel: its write, after the send-rate cap's
        wait and trio-websocket's lock (``stamps``)."""
        return self._stamp.at

    async def send(self, message: ClientMessage) -> None:
        await self.send_text(encode(message))

    async def send_text(self, text: str) -> None:
        if self._rate > 0:
            await self._wait_for_token()
        # Where the stream is not stamped, the time before the write is all there is.
        self._stamp.at = trio.current_time()
        with stamping_writes(self._stamp):
            await self.ws.send_message(text)

    async def _wait_for_token(self) -> None:
        """Token bucket with a burst of one second's worth; a debt is slept off first."""
        now = trio.current_time()
        rate = self._rate
        self._tokens = min(rate, self._tokens + (now - self._updated) * rate) - 1
        self._updated = now
        if self._tokens < 0:
            await trio.sleep(-self._tokens / rate)

    async def receive(self) -> str:
        """The next text frame (a binary frame is a ``protocol_error``); ``received_at`` is
        its arrival."""
        text = await self.ws.get_message()
        arrivals = self._arrivals
        self.received_at = arrivals.popleft() if arrivals else trio.current_time()
        if not isinstance(text, str):
            raise ClientFailure("protocol_error", "binary frame from the server")
        stats = self.run.stats
        stats.frames_received += 1
        stats.bytes_received += len(text)
        return text

    async def join(self, name: str) -> Welcome:
        """``new_connection`` as ``name``; returns after the ``welcome`` and ``user_list``."""
        self.name = name
        await self.send(NewConnection(username=name))
        with trio.fail_after(REPLY_TIMEOUT):
            welcome = self.run.decoder.decode(await self.receive())
            if not isinstance(welcome, Welcome) or welcome.username != name:
                raise unexpected(welcome, f"{name} joining")
            text = await self.receive()
        if peek_type(text) != "user_list":
            raise unexpected(self.run.decoder.decode(text), f"{name} after welcome")
        self.user_list = text
        return welcome


@asynccontextmanager
async def open_socket(
    url: str,
    queue_size: int = 1,
    headers: list[tuple[bytes, bytes]] | None = None,
    offer: Offer | None = None,
) -> AsyncIterator[WebSocketConnection]:
    """``open_websocket_url`` that also closes the TCP stream when the server closed first,
    and offers ``offer``'s extensions (none by default).

    trio-websocket's client leaves its stream open in that case (its reader stops at EOF
    without closing it), which shows up as a ResourceWarning about an unclosed socket.
    """
    connection: WebSocketConnection | None = None
    install_connection_class()
    token, reset = _setup.set(_Setup(offer)), False
    try:
        async with open_websocket_url(
            url,
            extra_headers=headers,
            message_queue_size=queue_size,
            max_message_size=MAX_MESSAGE_BYTES,
            connect_timeout=CONNECT_TIMEOUT,
            disconnect_timeout=CLOSE_TIMEOUT,
        ) as ws:
            _setup.reset(token)  # this connection only: not the caller's later ones
            reset = True
            connection = ws
            yield ws
    finally:
        if not reset:
            _setup.reset(token)
        if connection is not None:
            await connection._stream.aclose()


async def abort(ws: WebSocketConnection) -> None:
    """Drop the connection with a TCP reset, without the close handshake (``--abort-at-end``):
    trio-websocket's reader then marks it closed (1006) and its ``aclose`` waits for nothing.
    A reader parked delivering a message nobody reads any more (a full queue: a watcher that
    stopped reading) is freed by closing the queue, as trio-websocket's own ``aclose`` does
    after its close frame; without it, leaving the connection waits for that reader for ever."""
    stream = ws._stream
    if isinstance(stream, trio.SocketStream):
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()
    await ws._recv_channel.aclose()


@asynccontextmanager
async def connect(
    run: LoadRun, name: str | None, *, ramp: bool = True, url: str | None = None
) -> AsyncIterator[Client]:
    """Open a socket to ``url`` (the run's ``--url`` when None) and join as ``name`` (just
    the socket when ``name`` is None).

    With ``ramp`` (the long-lived connections), first wait for a ramp slot and hold one of the
    ramp's handshake places until joined; once the window has closed, connect no more
    (``RampCutShort``).  Without it (churn newcomers), connect at once.  The handshake
    latency (TCP + WebSocket handshakes, then ``new_connection`` until the ``user_list``) is
    recorded in the run's stats.  Failures propagate: the caller counts them.
    """
    stats = run.stats
    limited = False
    if ramp:
        await run.ramp.wait_turn()
        await run.ramp.limiter.acquire()
        limited = True
    try:
        if ramp and run.window_closed.is_set():
            raise RampCutShort("the run ended before this connection's turn")
        started = trio.current_time()
        offer = BROWSER_OFFER if run.settings.compression == "browser" else None
        async with open_socket(
            run.settings.url if url is None else url, run.settings.message_queue_size, offer=offer
        ) as ws:
            stats.connections_opened += 1
            stats.connections_open += 1
            try:
                client = Client(ws, run)
                if name is not None:
                    await client.join(name)
                stats.handshake.record(trio.current_time() - started)
                if limited:
                    run.ramp.limiter.release()
                    limited = False
                yield client
                if run.settings.abort_at_end and run.window_closed.is_set():
                    await abort(ws)
            finally:
                stats.connections_open -= 1
    finally:
        if limited:
            run.ramp.limiter.release()
