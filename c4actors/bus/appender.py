"""``Appender``: one writer's entries appended to one stream in order, each at least once,
without waiting for Redis's reply before the next (an edge's uplink, issue 16).

Why: an edge appends its input batches one after another.  Waiting for each XADD's reply
before sending the next made every move queued meanwhile wait a whole round trip more (the
open loop's tail: XADD p99 4.5-4.9 ms under load), and cost the uplink task a wake-up for
each reply.  Here the caller's task writes each XADD on a connection of the appender's own
(``RespPool.open_connection``) and returns at once; ``run`` reads the replies, confirming
the oldest entry with each, up to ``window`` entries unconfirmed (then ``append`` waits).

Order and at-least-once: Redis runs one connection's commands in the order sent, so the
entries it applied are always a prefix of those sent.  When the connection fails (closed,
reset, no reply within ``timeout``, an outage's "not ready" reply), ``run`` opens another,
waits for a PING's PONG (a restarted Redis loading its data refuses commands, and a
refused XADD followed by an applied one would reorder them), and sends every unconfirmed
entry again, in order: some may be in the stream twice, never out of order (each entry's
first copy comes after the first copies of those before it).  The reader of the stream
drops the copies: the edge's entries carry a number each (``wire.Uplink.seq``) and the core
handles each number once (``cluster.core``).  The one order this cannot keep: Redis
refusing an entry that is not an outage's (BUSY: a script past its time limit, which the
bus's never are) and applying the next; that refusal is raised, like any other error reply.

On a bus without the lean pool (``InMemoryBus``, a TLS URL) ``append`` is the bus's own,
awaited, retried through an outage (``retry.until_available``): the same promises, without
the pipelining.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Mapping
from typing import Final

import trio

from c4actors.bus import resp
from c4actors.bus.interface import Bus
from c4actors.bus.redis_streams import DEFAULT_TIMEOUT, RedisBus, flat_fields
from c4actors.bus.retry import FIRST_WAIT, MAX_WAIT, until_available

log = logging.getLogger("c4actors.bus")

_FAILURES: Final = (resp.RespUnavailable, OSError, ValueError, trio.ClosedResourceError)
"""A connection's failures (``ValueError``: a reply that does not parse)."""

WINDOW: Final = 64
"""Entries written and not yet confirmed at most (then ``append`` waits for a reply)."""


class Appender:
    """See the module docstring.  Start ``run`` (``nursery.start``) before ``append``."""

    def __init__(
        self,
        bus: Bus,
        stream: str,
        *,
        maxlen: int | None = None,
        window: int = WINDOW,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, not {window}")
        self.bus = bus
        self.stream = stream
        self.maxlen = maxlen
        self.window = window
        self.timeout = timeout
        self._pool = bus.lean if isinstance(bus, RedisBus) else None
        self._trim: list[resp.Arg] = [] if maxlen is None else ["MAXLEN", "~", maxlen]
        self._unconfirmed: collections.deque[bytes] = collections.deque()
        """Each entry's XADD, packed, from the oldest Redis has not confirmed yet."""
        self._conn: resp.Connection | None = None
        """The connection the entries go on; None until ``run`` opened it (again)."""
        self._room = trio.Event()
        self._waiting = trio.CancelScope()
        """``run``'s wait for replies: its deadline is ``timeout`` after the oldest
        unconfirmed entry was sent or confirmed one (inf while none waits)."""
        self.writes = 0
        """XADDs written so far, resends included (the tests' and the benchmark's count)."""
        self.resent = 0
        """Entries sent again on a new connection."""

    async def append(self, fields: Mapping[str, str]) -> None:
        """Append an entry after every one appended before it (see the module docstring);
        returns once it is written, or queued while ``run`` reconnects."""
        if self._pool is None:
            await until_available(
                lambda: self.bus.append(self.stream, fields, maxlen=self.maxlen),
                f"appending to {self.stream}",
                log,
            )
            return
        data = resp.pack([["XADD", self.stream, *self._trim, "*", *flat_fields(fields)]])
        while len(self._unconfirmed) >= self.window:
            self._room = trio.Event()
            await self._room.wait()
        await trio.lowlevel.checkpoint_if_cancelled()
        self._unconfirmed.append(data)
        conn = self._conn
        if conn is None:
            return  # ``run`` sends it with the others once connected again
        if self._waiting.deadline == math.inf:
            self._waiting.deadline = trio.current_time() + self.timeout
        self.writes += 1
        try:
            if not conn.write_nowait(data):
                await conn.write_rest()
        except OSError:
            # The socket failed: ``run`` finds it closed, opens another and sends this
            # entry again with the others.
            self._drop(conn)
        except BaseException:
            self._drop(conn)  # part of a command written (cancelled): out of step
            raise

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read the replies and confirm the entries; reconnect and resend after a failure."""
        task_status.started()
        pool = self._pool
        if pool is None:
            await trio.sleep_forever()
            return
        delay = FIRST_WAIT
        warned = False
        while True:
            try:
                conn = await self._reconnect(pool)
            except _FAILURES as error:
                if not warned:
                    log.warning("bus unavailable while appending to %s: %s", self.stream, error)
                    warned = True
                await trio.sleep(delay)
                delay = min(2 * delay, MAX_WAIT)
                continue
            if warned:
                log.info("bus back while appending to %s", self.stream)
                warned = False
            delay = FIRST_WAIT
            try:
                await self._confirm(conn)
            except _FAILURES as error:
                log.info("appending to %s: connection lost (%s), sending again", self.stream, error)
            finally:
                self._drop(conn)

    async def _reconnect(self, pool: resp.RespPool) -> resp.Connection:
        """A new connection, Redis ready on it, every unconfirmed entry sent on it again."""
        with trio.move_on_after(self.timeout):
            conn = await pool.open_connection()
            try:
                (pong,) = await conn.request(resp.pack([["PING"]]), 1)
                if pong != "PONG":
                    raise resp.RespUnavailable(f"not ready: {pong!r}")
                sent = 0
                while sent < len(self._unconfirmed):  # appends meanwhile join the end
                    data = self._unconfirmed[sent]
                    if not conn.write_nowait(data):
                        await conn.write_rest()
                    sent += 1
                    self.writes += 1
                    self.resent += 1
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            return conn
        raise resp.RespUnavailable(f"no answer within {self.timeout:g} s")

    async def _confirm(self, conn: resp.Connection) -> None:
        """Confirm entries as their replies come, until the connection fails.  One cancel
        scope for the connection's life, its deadline moved as replies come (a scope made
        per reply cost about 4 us, for every XADD of every edge)."""
        unconfirmed = self._unconfirmed
        with trio.CancelScope() as scope:
            self._waiting = scope
            if unconfirmed:
                scope.deadline = trio.current_time() + self.timeout
            while True:
                replies = await conn.next_replies()
                for reply in replies:
                    if isinstance(reply, resp.RespError):
                        if reply.not_ready:
                            raise resp.RespUnavailable(reply.message)
                        raise RuntimeError(f"redis refused an append to {self.stream}: {reply}")
                    if not unconfirmed:
                        raise resp.RespUnavailable(f"a reply with no entry sent: {reply!r}")
                    unconfirmed.popleft()
                # No reply owed: no deadline (``append`` sets one with the next entry).
                scope.deadline = trio.current_time() + self.timeout if unconfirmed else math.inf
                if len(unconfirmed) < self.window:
                    self._room.set()
        raise resp.RespUnavailable(f"no reply within {self.timeout:g} s")

    def _drop(self, conn: resp.Connection) -> None:
        conn.close()
        if self._conn is conn:
            self._conn = None
