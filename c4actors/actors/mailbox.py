"""The one way other actors reach a connection: a bounded inbox they never wait on.

The lobby and the games hold a ``Mailbox`` per connection and call ``deliver``,
which never blocks: a connection whose inbox is full cannot keep up, so it is
closed (``CLOSE_TOO_SLOW``) instead of being waited for.  The connection's writer
task reads the other end of the channel and writes to its socket; it only writes.  A user
actor's inbox and writer are made at the first item queued (``open_inbox``).

A frame shared by many sockets (a move to its spectators) goes through ``deliver_frame``:
written to the socket at once when nothing is queued before it and the socket can take it
(``c4actors.websocket_direct``: no writer task woken, no pass through hypercorn), otherwise
queued like any other item.  So the mailbox knows which items its writer has written
(``written``), not only which it has taken.

The mailbox also carries the lobby's game routes (``route``) to the connection's
reader, the one task that owns the connection's routing state: a separate queue, so
the writer never sees them, and a list rather than a channel, since a connection has
at most a game or two routed between two of its frames and an idle connection must
stay small.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol, TypeAlias

import attrs
import trio

from c4actors.websocket_direct import DirectWriter, Written
from c4actors.websocket_frames import PreparedFrame

if TYPE_CHECKING:
    from c4actors.actors.game_inbox import GameInput

CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY: Final = 1008
CLOSE_TOO_SLOW: Final = 1013
STAMPS_KEPT: Final = 64
"""Stamped replies a mailbox remembers until written: a mailbox no writer reads (a cluster
relay's) must not grow; a writer this far behind loses only the oldest figures."""


class InboxStatistics(Protocol):
    """What a connection reads of a game's inbox (``trio.MemoryChannelStatistics`` has it)."""

    @property
    def current_buffer_used(self) -> int: ...

    @property
    def open_receive_channels(self) -> int: ...


class GameInbox(Protocol):
    """Where a connection's requests to one game go.  In one process the game actor's
    inbox, a Trio memory channel; on a cluster's edge the relay's route to the core
    (``cluster.edge``), which puts each request on its way in the caller's task, with no
    task of its own to wake per request.  ``send_nowait`` raises as a memory channel's
    does: ``trio.WouldBlock`` (full), ``trio.BrokenResourceError`` (the game no longer
    reads: it is over), ``trio.ClosedResourceError`` (this side was closed)."""

    def send_nowait(self, value: GameInput, /) -> None: ...

    def statistics(self) -> InboxStatistics: ...


@attrs.frozen
class JoinedGame:
    """Route this connection's moves for ``game_id`` to ``game_inbox`` (see ``route``)."""

    game_id: str
    game_inbox: GameInbox


@attrs.frozen
class CloseRequested:
    """Control item, always last: send what came before it, then close the socket."""


@attrs.frozen
class FlushRequested:
    """Control item: a direct write left part of a frame with the transport; write it."""


Outgoing: TypeAlias = str | CloseRequested | FlushRequested
"""A ``str`` is an encoded frame, sent to the socket as is (encoded once, maybe shared)."""
OpenInbox: TypeAlias = Callable[[], trio.MemorySendChannel[Outgoing] | None]

CLOSE_REQUESTED: Final = CloseRequested()
FLUSH_REQUESTED: Final = FlushRequested()


class Mailbox:
    """Send side of one connection's inbox, plus the request to close that connection.

    ``on_close`` is called (once, synchronously) when a close is requested: the connection's
    actor starts the task that closes the socket there, so that no task per connection has
    to sit waiting for a close that almost never comes.  A flag and a callback, not a
    ``trio.Event``: with 10,000 idle connections every few hundred bytes per connection count.

    ``send_channel`` None: the inbox is made at the first item queued (``open_inbox``), so
    an idle connection that is written to only directly (``deliver_frame``) never has one
    (a Trio memory channel is about 1.8 KiB).
    """

    __slots__ = (
        "_delivered",
        "_routes",
        "_send",
        "_stamps",
        "_written",
        "close_code",
        "close_reason",
        "closed",
        "conn",
        "direct",
        "on_close",
        "open_inbox",
    )

    def __init__(
        self,
        conn: int,
        send_channel: trio.MemorySendChannel[Outgoing] | None,
        on_close: Callable[[], object] | None = None,
        direct: DirectWriter | None = None,
        open_inbox: OpenInbox | None = None,
    ) -> None:
        if send_channel is None and open_inbox is None:
            raise ValueError("a mailbox needs a send channel or a way to open one")
        self.conn = conn
        self._send = send_channel
        self.closed = False
        self.close_code = 1000
        self.close_reason = ""
        self.on_close = on_close
        self.open_inbox = open_inbox
        """Called once, at the first item queued when there is no ``send_channel``: the
        connection's actor makes its inbox and starts its writer task then (so an idle
        connection written to only directly has neither), and returns the inbox's send
        side; None when the connection is over (the item is refused, as by a closed inbox)."""
        self._routes: list[JoinedGame] | None = None
        self._delivered = 0
        """Items queued so far: the position of each reply stamped (``deliver(answers=)``)."""
        self._stamps: collections.deque[tuple[int, float, str]] | None = None
        """Replies queued and not yet written: (position, request's arrival, path)."""
        self.direct = direct
        """Writes shared frames straight to the socket; given only by a connection whose
        writer reports each item it has written (``written``)."""
        self._written = 0
        """Items the writer has reported written (``written``): with ``_delivered``, whether
        anything is still on its way to the socket."""

    def route(self, joined: JoinedGame) -> None:
        """Tell the connection's reader where its moves for a new game go.  The caller
        routes before the game can send its first frame, and the reader takes the routes
        before it handles each frame, so a move always finds its game."""
        if self._routes is None:
            self._routes = []
        self._routes.append(joined)

    def take_routes(self) -> list[JoinedGame]:
        """The routes given since the last call (for the connection's reader only)."""
        routes, self._routes = self._routes, None
        return routes or []

    def deliver(self, item: Outgoing) -> bool:
        """Queue ``item`` without blocking; a full inbox closes the connection instead."""
        if self.closed:
            return False
        send = self._send
        if send is None:
            assert self.open_inbox is not None  # checked when made
            send = self._send = self.open_inbox()
            if send is None:
                return False
        try:
            send.send_nowait(item)
        except trio.WouldBlock:
            self.close(CLOSE_TOO_SLOW, "too slow: message queue full")
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self._delivered += 1
        return True

    def deliver_reply(self, frame: str, answers: float, path: str) -> bool:
        """``deliver`` a frame that replies to a request frame which arrived at ``answers``
        (Trio's clock) on ``path`` (``move``, ``lobby``): the writer times it from there to
        its write (``written``), so the server's own processing time is measured apart from
        the clients' and the machine's (issue 17)."""
        if not self.deliver(frame):
            return False
        if self._stamps is None:
            self._stamps = collections.deque(maxlen=STAMPS_KEPT)
        self._stamps.append((self._delivered, answers, path))
        return True

    def deliver_frame(self, frame: PreparedFrame, answers: float = 0.0, path: str = "") -> bool:
        """Deliver a frame many sockets share, never blocking: written to the socket at once
        if nothing is queued before it and the socket takes it (True: the caller counts it
        as sent, and times it as a reply to a request that arrived at ``answers``), else
        queued as ``deliver`` / ``deliver_reply`` do (False; a full inbox closes the
        connection).  A part the kernel did not take is finished by the writer (a flush)
        before anything else."""
        if self.closed:
            return False
        direct = self.direct
        if direct is not None and self._written == self._delivered:
            written = direct.write_nowait(frame)
            if written is Written.WHOLE:
                return True
            if written is Written.PART:
                self.deliver(FLUSH_REQUESTED)
                return True
        if answers:
            self.deliver_reply(frame.text, answers, path)
        else:
            self.deliver(frame.text)
        return False

    def unwritten(self) -> int:
        """Items delivered that are not on the socket yet, as far as this mailbox can tell:
        with a direct writer, every item its writer has not reported written; otherwise
        those it has not taken."""
        return self._delivered - self._written if self.direct is not None else self.queued()

    def written(self, position: int) -> tuple[float, str] | None:
        """The writer wrote the ``position``-th item delivered (counting from 1): when the
        request it answers arrived and its path, if it is a stamped reply (for the writer
        only; stamps of items never written go with the mailbox)."""
        self._written = position
        stamps = self._stamps
        while stamps:
            at, answers, path = stamps[0]
            if at > position:
                return None
            stamps.popleft()
            if at == position:
                return answers, path
        return None

    def queued(self) -> int:
        """Items delivered that the connection's writer has not taken yet."""
        send = self._send
        return 0 if send is None else send.statistics().current_buffer_used

    def close(self, code: int, reason: str) -> None:
        """Ask the connection's actor to close its socket with ``code`` and ``reason``."""
        if self.closed:
            return
        self.close_code, self.close_reason = code, reason
        self.closed = True
        # Lets the connection flush what is queued first; when the queue is full (too slow)
        # this does not fit, and the connection closes at once instead.  With no inbox
        # nothing was queued: there is nothing to flush.
        with contextlib.suppress(
            trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
        ):
            if self._send is not None:
                self._send.send_nowait(CLOSE_REQUESTED)
        if self.on_close is not None:
            self.on_close()

    def __repr__(self) -> str:
        return f"<Mailbox conn={self.conn}>"
