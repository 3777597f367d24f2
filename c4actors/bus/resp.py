"""A lean Redis connection pool for the bus's hot commands (RESP2 over a Trio socket).

Why not coredis for these: measured here, one XADD through coredis cost about 160 us of
the caller's CPU (its command objects, retry policy and telemetry, a writer task and a
reader task per connection, AnyIO's streams), against about 11 us for the same command
written and read by the calling task itself (hiredis packs the commands and parses the
replies, in C; the task yields to Trio only to wait for the reply: ``_Connection``).  The
cluster sends one or two commands per move and per process (an edge's XADD of its
inputs and XREAD of its frames, the core's XREADGROUP and its commit), so that was a
large share of every process's CPU.  coredis stays for everything else (groups, claims,
the lease, the state hash).

Shape: each call takes an idle connection (or opens one), writes all its commands in
one ``send`` (a pipeline: the core's commit and its next read travel together), reads
their replies in the same task, and gives the connection back.  A connection is used by
one call at a time, so a blocked read (``XREAD BLOCK``) never holds up another command,
and replies never need matching to callers.

Error handling: a connection that fails (refused, reset, closed, a reply that does not
parse) or whose call is cancelled or times out after it wrote something is closed, never
reused (its next reply would be someone else's), and the call raises ``RespUnavailable``.
An error reply (``-ERR ...``) is a reply: returned as ``RespError``, the connection stays.
"""

from __future__ import annotations

import select
import socket
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Final, TypeAlias, cast

import hiredis
import trio

Reply: TypeAlias = "str | int | list[Reply] | RespError | None"
Arg: TypeAlias = str | bytes | int
Command: TypeAlias = Sequence[Arg]

_RECEIVE: Final = 1 << 18
NOT_READY: Final = ("LOADING", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "BUSY")
"""Error replies that mean Redis cannot serve yet: an outage, not a bug."""


class RespUnavailable(Exception):
    """The connection failed (refused, lost, garbled): nothing is known of what it wrote."""


class ClosedUnheard(RespUnavailable):
    """The connection was found closed by the server before any byte of the call's
    replies came (``RespPool.execute`` with ``idempotent``)."""


class RespError(Exception):
    """An error reply (``-NOGROUP ...``): ``code`` is its first word.  Returned as a reply,
    never raised (an ``Exception`` only because hiredis' reader makes error replies so)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return self.message.split(" ", 1)[0]

    @property
    def not_ready(self) -> bool:
        return self.code in NOT_READY

    def __repr__(self) -> str:
        return f"RespError({self.message!r})"


_pack_command = cast(Callable[[tuple[Arg, ...]], bytes], hiredis.pack_command)
"""hiredis' (in C); its stub types the argument as a tuple of one item."""


def pack(commands: Sequence[Command]) -> bytes:
    """Commands in RESP's request form (arrays of bulk strings), one after another; text
    as UTF-8 (``UnicodeEncodeError``, a ``ValueError``, for a lone surrogate)."""
    return b"".join([_pack_command(tuple(command)) for command in commands])


class _Incomplete:
    """What ``ReplyReader.next`` returns while no whole reply has come."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INCOMPLETE"


INCOMPLETE: Final = _Incomplete()


class ReplyReader:
    """RESP2 replies out of the bytes a connection received, in whatever chunks they came
    (hiredis' reader, in C: a reply of ten stream entries took about 44 us to parse in
    Python here, 3 us through it).

    ``feed`` the bytes, then ``next`` until it returns ``INCOMPLETE``.  Bulk and simple
    strings come out as text (UTF-8: the bus writes text only), integers as ``int``, nil
    as None, arrays as lists, error replies as ``RespError`` (inside an array too).  Bytes
    that are not RESP2, or not UTF-8, raise ``ValueError``: the connection is out of step."""

    __slots__ = ("_reader",)

    def __init__(self) -> None:
        self._reader = hiredis.Reader(
            replyError=RespError, encoding="utf-8", notEnoughData=INCOMPLETE
        )

    def feed(self, data: bytes) -> None:
        self._reader.feed(data)

    def next(self) -> Reply | _Incomplete:
        try:
            reply: Reply | _Incomplete = self._reader.gets()
        except hiredis.ProtocolError as error:
            raise ValueError(f"not a RESP2 reply: {error}") from None
        return reply


class _Connection:
    """One connection: a non-blocking stdlib socket, driven with Trio's ``wait_readable``
    and ``wait_writable`` directly.  A call yields to Trio once before it writes (Trio's
    schedule point: what other tasks queue meanwhile, an edge's next inputs say, goes out
    together in the next call) and then only to wait for the reply; ``trio.SocketStream``
    also yields after every send and every receive that did not have to wait, and each
    yield is a pass of Trio's run loop (an epoll call among it), in every process of a
    cluster, for one or two commands per move."""

    __slots__ = ("_replies", "_unsent", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._replies = ReplyReader()
        self._unsent = memoryview(b"")

    async def request(
        self,
        data: bytes,
        count: int,
        *,
        yield_first: bool = True,
        on_reply: Callable[[Reply], None] | None = None,
    ) -> list[Reply]:
        """Send ``data`` (``count`` packed commands) and read their replies; without
        ``yield_first``, a checkpoint all the same (cancelled at once if the scope is, and a
        yield if the reply came without one).  ``on_reply`` is called with each reply as
        it is read, before the call waits for the next (the core's commit, before the read
        sent behind it)."""
        if yield_first:
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()
        waited = yield_first
        sock = self.sock
        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view) :]
            except BlockingIOError:
                waited = True
                await trio.lowlevel.wait_writable(sock)
            except (BrokenPipeError, ConnectionResetError):
                if len(view) == len(data):
                    raise ClosedUnheard("connection closed by the server") from None
                raise
        replies: list[Reply] = []
        reader = self._replies
        heard = False
        while len(replies) < count:
            reply = reader.next()
            if reply is INCOMPLETE:
                try:
                    received = sock.recv(_RECEIVE)
                except BlockingIOError:
                    waited = True
                    await trio.lowlevel.wait_readable(sock)
                    continue
                except ConnectionResetError:
                    received = b""
                if not received:
                    if heard:
                        raise RespUnavailable("connection closed by the server") from None
                    raise ClosedUnheard("connection closed by the server") from None
                heard = True
                reader.feed(received)
                continue
            replies.append(cast(Reply, reply))
            if on_reply is not None:
                on_reply(cast(Reply, reply))
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return replies

    def write_nowait(self, data: bytes) -> bool:
        """Send as much of ``data`` as the socket takes now; True when all of it went
        (``appender.Appender``: the caller's task never waits for a reply)."""
        sent = self.sock.send(data)
        if sent == len(data):
            return True
        self._unsent = memoryview(data)[sent:]
        return False

    async def write_rest(self) -> None:
        """Send what ``write_nowait`` left, waiting for the socket to take it."""
        view = self._unsent
        self._unsent = memoryview(b"")
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self.sock)

    async def next_replies(self) -> list[Reply]:
        """The replies that came, at least one (waits): ``appender.Appender``'s reader."""
        reader = self._replies
        replies: list[Reply] = []
        while True:
            reply = reader.next()
            if reply is not INCOMPLETE:
                replies.append(cast(Reply, reply))
                continue
            if replies:
                return replies
            try:
                received = self.sock.recv(_RECEIVE)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self.sock)
                continue
            if not received:
                raise RespUnavailable("connection closed by the server")
            reader.feed(received)

    def alive(self) -> bool:
        """Not closed by the server while idle (a restart, a killed client): a peek that
        does not wait (a system call).  Anything waiting to be read on an idle connection
        is wrong too."""
        try:
            readable, _, _ = select.select([self.sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        if self.sock.fileno() != -1:
            trio.lowlevel.notify_closing(self.sock)
        self.sock.close()


Connection: TypeAlias = _Connection
"""One connection of the pool's kind, for a caller that keeps it (``RespPool.open_connection``)."""


class RespPool:
    """Connections to one Redis, each used by one call at a time (module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        max_connections: int = 64,
    ) -> None:
        self.host = host
        self.port = port
        self._setup: list[Command] = []
        if password is not None:
            self._setup.append(["AUTH", *([username] if username else []), password])
        if db:
            self._setup.append(["SELECT", db])
        self._idle: list[_Connection] = []
        self._slots = trio.Semaphore(max_connections)
        self.opened = 0
        """Connections opened so far (the tests' way to see one was not reused)."""

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 64) -> RespPool | None:
        """A pool for ``redis://[[user]:password@]host[:port][/db]``; None for any other
        URL (TLS, a Unix socket, options): coredis serves those whole."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "redis" or parts.query or parts.fragment:
            return None
        path = parts.path.strip("/")
        if path and not path.isdigit():
            return None
        return cls(
            parts.hostname or "localhost",
            parts.port or 6379,
            db=int(path or 0),
            username=urllib.parse.unquote(parts.username) if parts.username else None,
            password=urllib.parse.unquote(parts.password) if parts.password else None,
            max_connections=max_connections,
        )

    async def execute(
        self,
        commands: Sequence[Command],
        *,
        yield_first: bool = True,
        idempotent: bool = False,
        on_reply: Callable[[Reply], None] | None = None,
    ) -> list[Reply]:
        """Each command's reply, in order (module docstring for the errors).

        ``yield_first``: yield to Trio before the send (``_Connection``), so that what other
        tasks queue meanwhile goes out together in the next call (an edge's inputs).  A
        read or the core's commit gains nothing from it: without it the call yields only
        to wait for the reply, one pass of Trio's run loop less per call.

        ``idempotent``: the commands may run twice (the reads).  Then an idle connection is
        taken without ``_Connection.alive``'s system call (about 1 us, on every read of
        every process): one that the server closed while it was idle is found closed
        before any reply came (``ClosedUnheard``), and the call is made again once on a
        new connection.  A write is never sent twice: its connection is checked first.

        ``on_reply``: ``_Connection.request``'s."""
        if idempotent and on_reply is not None:
            raise ValueError("a call made again cannot report its replies as they come")
        data = pack(commands)  # a value that cannot be sent is the caller's error, not an outage
        try:
            self._slots.acquire_nowait()  # no yield to Trio when a slot is free (nearly always)
        except trio.WouldBlock:
            await self._slots.acquire()
        try:
            count = len(commands)
            if not idempotent:
                connection = self._take_idle() or await self._connect()
                return await self._request(connection, data, count, yield_first, on_reply)
            idle = self._idle
            if not idle:
                return await self._request(await self._connect(), data, count, yield_first)
            try:
                return await self._request(idle.pop(), data, count, yield_first)
            except ClosedUnheard:
                self.close()  # closed while idle: a restart, likely the others' fate too
            return await self._request(await self._connect(), data, count, yield_first)
        finally:
            self._slots.release()

    async def _request(
        self,
        connection: _Connection,
        data: bytes,
        count: int,
        yield_first: bool,
        on_reply: Callable[[Reply], None] | None = None,
    ) -> list[Reply]:
        """``connection.request``, its failures as ``RespUnavailable``; given back to the
        idle ones after a whole reply, else closed."""
        reusable = False
        try:
            replies = await connection.request(
                data, count, yield_first=yield_first, on_reply=on_reply
            )
            reusable = True
        except RespUnavailable:
            raise
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as error:
            raise RespUnavailable(str(error) or type(error).__name__) from None
        except ValueError as error:
            raise RespUnavailable(f"garbled reply: {error}") from None
        finally:
            if reusable:
                self._idle.append(connection)
            else:
                connection.close()
        return replies

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.alive():
                return connection
            connection.close()
        return None

    async def open_connection(self) -> _Connection:
        """A connection of the caller's own (``appender.Appender``), outside the pool's
        count: the caller closes it."""
        return await self._connect()

    async def _connect(self) -> _Connection:
        try:
            stream = await trio.open_tcp_stream(self.host, self.port)  # TCP_NODELAY set
        except OSError as error:
            raise RespUnavailable(str(error) or type(error).__name__) from None
        sock = socket.socket(fileno=stream.socket.detach())
        sock.setblocking(False)
        connection = _Connection(sock)
        self.opened += 1
        if not self._setup:
            return connection
        try:
            replies = await connection.request(pack(self._setup), len(self._setup))
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as error:
            connection.close()
            raise RespUnavailable(str(error) or type(error).__name__) from None
        except BaseException:
            connection.close()
            raise
        for reply in replies:
            if isinstance(reply, RespError):
                connection.close()
                if reply.not_ready:
                    raise RespUnavailable(reply.message)
                raise RespSetupError(reply.message)
        return connection

    def close(self) -> None:
        """Close the idle connections (those in use are closed by their calls)."""
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class RespSetupError(Exception):
    """AUTH or SELECT was refused: a configuration error, not an outage."""
