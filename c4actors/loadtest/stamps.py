"""When a frame really left the load tester and when its answer really arrived (issue 17).

A round trip was timed from just before ``send_message`` to the moment the waiting task got
the reply.  Both ends counted the load tester's own event loop, not the server:

- trio-websocket's ``send_message`` takes its stream lock before it writes, and even an
  uncontended ``trio.Lock.acquire`` yields to the scheduler (``cancel_shielded_checkpoint``),
  so the write came one scheduler pass after the stamp;
- a reply waits in the socket until the connection's reader task runs and reads it, and then
  until the task waiting for it runs (the reader hands it over through a channel: one more
  pass).

With 2,000 connections in one Python process a pass is not short: in the 1,000-game open loop
the slowest moves' round trips (167 ms) were 102 ms from the stamp to the write, 1 ms in the
server (arrival to reply written), 40 ms from the reply's arrival to its read and 23 ms from
the read to the player's task: the load tester's turns of 17 to 72 ms (up to 3,165 task
steps, and its own middle collections of 13 to 18 ms) when every pair of the window started
at once.

``StampedStream`` wraps a connection's ``trio.SocketStream`` and stamps both ends where they
happen, on the Trio clock (``trio.current_time``):

- a write: immediately before the ``send`` system call (``SocketStream.send_all`` makes it
  before it first yields), into the sending task's ``WriteStamp`` (a context variable: a pong
  or close the reader task writes meanwhile does not move the sender's stamp);
- a read: the time the kernel received the last packet the read took (``SO_TIMESTAMPNS``,
  ``recvmsg``), however late the loop got round to reading it.  When a read takes several
  packets that is the last one's, so an arrival is never stamped early.  Where the option is
  missing (not Linux) it is the time of the read.

So a round trip is the move's actual write to its reply's arrival at the tester's socket:
what the server and the network took, with the tester's own turns left out at both ends.
"""

from __future__ import annotations

import contextvars
import errno
import socket
import struct
import sys
import time
from typing import Final

import attrs
import trio

SO_TIMESTAMPNS: Final = 35
"""Linux's ``SO_TIMESTAMPNS`` (also the ``SCM_TIMESTAMPNS`` message type); Python's socket
module does not name it.  x86, arm and most others share the value."""
_TIMESPEC: Final = struct.Struct("@ll")
_ANCILLARY_BYTES: Final = socket.CMSG_SPACE(_TIMESPEC.size) if sys.platform == "linux" else 0
DEFAULT_RECEIVE_BYTES: Final = 65536


@attrs.define
class WriteStamp:
    """When the latest write made by the task holding this stamp went to the kernel."""

    at: float = 0.0


_write_stamp: contextvars.ContextVar[WriteStamp | None] = contextvars.ContextVar(
    "c4actors_loadtest_write_stamp", default=None
)


class stamping_writes:
    """Within this block, this task's writes on a ``StampedStream`` set ``stamp.at``.

    A class rather than ``@contextmanager``: it runs around every send, and a generator's
    context manager costs several times more."""

    __slots__ = ("_stamp", "_token")
    _token: contextvars.Token[WriteStamp | None]

    def __init__(self, stamp: WriteStamp) -> None:
        self._stamp = stamp

    def __enter__(self) -> WriteStamp:
        self._token = _write_stamp.set(self._stamp)
        return self._stamp

    def __exit__(self, *_: object) -> None:
        _write_stamp.reset(self._token)


def _stream_error(error: OSError) -> trio.ClosedResourceError | trio.BrokenResourceError:
    """An OS error as Trio's stream error, as ``trio.SocketStream`` translates it."""
    if error.errno in (errno.EBADF, errno.ENOTSOCK):
        return trio.ClosedResourceError("this socket was already closed")
    return trio.BrokenResourceError(f"socket connection broken: {error}")


def _plain_socket(inner: trio.SocketStream) -> socket.socket | None:
    """The standard-library socket under a Trio socket, for ``StampedStream``'s direct calls;
    None where Trio keeps it elsewhere (then the stream goes through Trio's calls)."""
    plain = getattr(inner.socket, "_sock", None)
    return plain if isinstance(plain, socket.socket) else None


class StampedStream(trio.abc.Stream):
    """A ``trio.SocketStream`` that stamps its writes and its reads' arrival (module
    docstring).  ``arrived_at``: the latest read's arrival, on the Trio clock.

    Its own system calls, for the load tester's CPU (issue 17: at 100 closed-loop games the
    tester, not the server, set the moves/s, and every frame passes here):

    - a read first waits until the socket is readable, then reads once.  Trio's
      ``recvmsg`` tries first and waits after: in a closed loop the answer is almost never
      there yet when the reader asks, so that first try was a failed system call and a
      ``BlockingIOError`` per frame (15% of the tester's time in the 100-game profile).
    - a write goes straight to the socket when the kernel takes all of it (always, for
      frames this size, unless the peer stopped reading), without Trio's extra scheduler
      turn after a successful send; the rest, if any, goes through the Trio stream as
      before.  trio-websocket's stream lock around every send is still a checkpoint.
    """

    def __init__(self, inner: trio.SocketStream) -> None:
        self.inner = inner
        self.arrived_at = 0.0
        self.kernel_stamped = False
        """Whether the latest read carried the kernel's stamp.  Not always, even with
        stamps on: Linux turns its receive stamping on lazily (a deferred static key) when
        the first socket asks for it, and a segment received meanwhile has none; such a
        read's arrival is the time it was read."""
        self._kernel_stamps = False
        self._plain = _plain_socket(inner)
        if _ANCILLARY_BYTES:
            try:
                inner.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self._kernel_stamps = True
            except OSError:
                pass

    @property
    def socket(self) -> trio.socket.SocketType:
        return self.inner.socket

    @property
    def kernel_stamps(self) -> bool:
        """Whether arrivals are the kernel's receive times (else the reads' own times)."""
        return self._kernel_stamps

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        stamp = _write_stamp.get()
        if stamp is not None:
            stamp.at = trio.current_time()
        plain = self._plain
        if plain is not None and data:
            try:
                sent = plain.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                raise _stream_error(error) from error
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if not self._kernel_stamps:
            data = await self.inner.receive_some(max_bytes)
            self.arrived_at = trio.current_time()
            return data
        size = DEFAULT_RECEIVE_BYTES if max_bytes is None else max_bytes
        if size < 1:
            raise ValueError("max_bytes must be >= 1")
        plain = self._plain
        try:
            if plain is None:
                data, ancillary, _, _ = await self.inner.socket.recvmsg(size, _ANCILLARY_BYTES)
            else:
                while True:
                    if plain.fileno() < 0:
                        raise trio.ClosedResourceError("this socket was already closed")
                    await trio.lowlevel.wait_readable(plain)
                    try:
                        data, ancillary, _, _ = plain.recvmsg(size, _ANCILLARY_BYTES)
                        break
                    except BlockingIOError:
                        pass  # woken without data after all: wait again
        except OSError as error:
            raise _stream_error(error) from error
        self._note_arrival(ancillary)
        return data

    def _note_arrival(self, ancillary: list[tuple[int, int, bytes]]) -> None:
        now = trio.current_time()
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack(payload[: _TIMESPEC.size])
                age = time.time() - (seconds + nanoseconds * 1e-9)
                self.arrived_at = now - max(0.0, age)
                self.kernel_stamped = True
                return
        self.arrived_at, self.kernel_stamped = now, False

    async def aclose(self) -> None:
        await self.inner.aclose()
