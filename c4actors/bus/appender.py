"""``Appender``: one writer's entries appended to one stream, each at least once, without
waiting for Redis's reply before the next (an edge's uplink, issue 16).

Why: an edge appends its input batches one after another.  Waiting for each XADD's reply
before sending the next made every move queued meanwhile wait a whole round trip more (the
open loop's tail: XADD p99 4.5-4.9 ms under load), and cost the uplink task a wake-up for
each reply.  Here the caller's task writes each XADD on a connection of the appender's own
(``RespPool.open_connection``) and returns at once; ``run`` reads the replies, confirming
the oldest entry with each, up to ``window`` entries unconfirmed (then ``append`` waits).

At least once: an entry stays unconfirmed until Redis confirmed a copy of it (one reply
per command, in the order sent, so the n-th reply on a connection is the n-th entry sent
on it).  When the connection fails (closed, reset, no reply within ``timeout``), ``run``
opens another, waits for a PING's PONG (a restarted Redis loading its data refuses
commands), and sends every unconfirmed entry again, in order.  An error reply is a
refusal (OOM under ``maxmemory`` with ``noeviction``, BUSY: a script past its time limit,
READONLY: a replica, MISCONF: a failed save, LOADING...): that entry was not applied, so
it is handled like a failure, the connection given up and every unconfirmed entry sent
again on a new one, after a wait that doubles (up to ``MAX_WAIT``) while Redis takes none
of them, with one WARNING when the refusals start and one INFO line when an entry is taken
again.  (It raised before, which ended the edge process, its sockets and every input it
held: a refusal is Redis's state, not the edge's, and a new edge meets the same one.  One
that never ends, a misconfiguration, holds the uplink as an outage does.)

Order: not kept, and the reader must not assume it.  Redis refusing entry ``k`` does not
stop it applying ``k+1``, already written behind it on the same connection (a script ends,
memory is freed between the two): ``k`` then lands after ``k+1`` when sent again.  No
condition on a plain XADD can refuse ``k+1`` because ``k`` was refused; a Lua script
checking each edge's last number would, at a script's cost on every append of every
move, for a rare fault.  Waiting for every reply in flight after a refusal and sending
only the refused entries again would save copies, not order.  So the entries sent behind
a refused one are simply sent again with it (copies), and the reader handles each
entry's number once in any order: the edge's entries carry a number each
(``wire.Uplink.seq``) and the core keeps which it handled, gaps included
(``cluster.handled_inputs``).  What bounds the disorder: an entry is written only while
fewer than ``window`` are unconfirmed, so every entry ``window`` or more before it was
applied, earlier in the stream.

On a bus without the lean pool (``InMemoryBus``, a TLS URL) ``append`` is the bus's own,
awaited, retried through an outage (``retry.until_available``) and while Redis refuses it
(coredis' ``ResponseError``: an error reply, nothing applied), with the same waits and
log lines: the same promises, in order, without the pipelining.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from typing import Final

import coredis.exceptions
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


class Refused(Exception):
    """Redis answered an entry's XADD with an error reply: that entry was not applied."""

    def __init__(self, reply: resp.RespError) -> None:
        super().__init__(reply.message)
        self.reply = reply


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
        self._drained = trio.Event()
        """Set when no entry is left unconfirmed (``wait_confirmed``)."""
        self._owed_since = 0.0
        """Since when a reply is owed: when the oldest unconfirmed entry was sent to a
        connection with none owed, or the last reply came.  ``run`` gives the connection up
        once one is owed for ``timeout``."""
        self.writes = 0
        """XADDs written so far, resends included (the tests' and the benchmark's count)."""
        self.resent = 0
        """Entries sent again on a new connection."""
        self.confirmed = 0
        """Entries Redis confirmed so far."""
        self.refusals = 0
        """Error replies Redis gave an entry (each sent again)."""
        self._refusing = False
        """Redis refused an entry and has confirmed none since (logged once each way)."""

    async def append(self, fields: Mapping[str, str]) -> None:
        """Append an entry after every one appended before it (see the module docstring);
        returns once it is written, or queued while ``run`` reconnects."""
        if self._pool is None:
            await self._append_awaited(fields)
            return
        data = resp.pack([["XADD", self.stream, *self._trim, "*", *flat_fields(fields)]])
        while len(self._unconfirmed) >= self.window:
            self._room = trio.Event()
            await self._room.wait()
        await trio.lowlevel.checkpoint_if_cancelled()
        owed = bool(self._unconfirmed)
        self._unconfirmed.append(data)
        conn = self._conn
        if conn is None:
            return  # ``run`` sends it with the others once connected again
        if not owed:
            self._owed_since = trio.current_time()
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

    async def wait_confirmed(self) -> None:
        """Return once Redis confirmed every entry appended so far: an entry appended after
        this returns can land after them only (an edge's announcement comes first)."""
        while self._unconfirmed:
            if self._drained.is_set():
                self._drained = trio.Event()
            await self._drained.wait()

    async def _append_awaited(self, fields: Mapping[str, str]) -> None:
        """``fields`` appended by the bus itself (no lean pool): see the module docstring."""
        delay = FIRST_WAIT
        while True:
            try:
                await until_available(
                    lambda: self.bus.append(self.stream, fields, maxlen=self.maxlen),
                    f"appending to {self.stream}",
                    log,
                )
            except coredis.exceptions.ResponseError as refusal:
                self._refused(refusal)
                await trio.sleep(delay)
                delay = min(2 * delay, MAX_WAIT)
                continue
            self.confirmed += 1
            if self._refusing:
                log.info("redis takes the appends to %s again", self.stream)
                self._refusing = False
            return

    def _refused(self, refusal: Exception) -> None:
        self.refusals += 1
        if not self._refusing:
            log.warning(
                "redis refused an append to %s (%s): sending it again", self.stream, refusal
            )
            self._refusing = True

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
            confirmed = self.confirmed
            try:
                await self._confirm(conn)
            except Refused as refusal:
                self._refused(refusal)
            except _FAILURES as error:
                log.info("appending to %s: connection lost (%s), sending again", self.stream, error)
            finally:
                self._drop(conn)
            if self._refusing and self.confirmed == confirmed:
                # Redis took none of them: wait before it is asked again.
                await trio.sleep(delay)
                delay = min(2 * delay, MAX_WAIT)
            else:
                delay = FIRST_WAIT

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
        """Confirm entries as their replies come, until the connection fails or a reply is
        owed for ``timeout`` (``_owed_since``).  The wait's deadline is not moved with each
        entry and reply (two changes of a cancel scope's deadline per XADD, each a push on
        Trio's heap of deadlines, for every entry of every edge): when it passes, it is
        checked against ``_owed_since`` and set again to when a reply owed now would be
        late (``timeout`` on, if none is owed: an idle connection wakes once per
        ``timeout``)."""
        unconfirmed = self._unconfirmed
        self._owed_since = trio.current_time()  # the entries just sent again, if any
        while True:
            with trio.CancelScope(deadline=self._owed_since + self.timeout):
                while True:
                    replies = await conn.next_replies()
                    for reply in replies:
                        if isinstance(reply, resp.RespError):
                            raise Refused(reply)  # the entries behind it go again with it
                        if not unconfirmed:
                            raise resp.RespUnavailable(f"a reply with no entry sent: {reply!r}")
                        unconfirmed.popleft()
                        self.confirmed += 1
                    self._owed_since = trio.current_time()
                    if not unconfirmed:
                        self._drained.set()
                    if self._refusing:
                        log.info("redis takes the appends to %s again", self.stream)
                        self._refusing = False
                    if len(unconfirmed) < self.window:
                        self._room.set()
            now = trio.current_time()
            if unconfirmed and now >= self._owed_since + self.timeout:
                break
            if not unconfirmed:
                self._owed_since = now
        raise resp.RespUnavailable(f"no reply within {self.timeout:g} s")

    def _drop(self, conn: resp.Connection) -> None:
        conn.close()
        if self._conn is conn:
            self._conn = None
