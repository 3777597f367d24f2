"""The relays' links on the cluster's bus (``c4actors.bus``: Redis Streams).

Streams: ``c4:inputs``, every edge's input entries (field ``e``), read by the core through
the consumer group ``core``; ``c4:frames:<edge>``, one per edge process, the core's batches
for that edge (field ``d``), which the edge follows from its first entry.  The core
acknowledges input entries in the commit that writes what they changed (``commit``: the
frames, the state fields and the acknowledgement in one fenced Lua script), so a standby
that takes the lease over first claims what its predecessor read but did not commit.

The lease ``c4:core`` says which core serves: ``CoreLease`` takes it (a standby waits
here), renews it, and stops the process's core if it is ever lost (another core holds it
now, and two must never serve).  A clean stop releases it, so the standby takes over at once.

Error handling: while the bus is unavailable, writes are retried (doubling waits up to 2 s)
and readers wait (``StreamFollower``); the outage is logged once when it starts.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import math
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeVar

import trio

from c4actors.bus import (
    START,
    Ack,
    Append,
    Bus,
    BusUnavailable,
    DeleteField,
    Entry,
    Expire,
    Fenced,
    Lease,
    Operation,
    PutFields,
    RedisBus,
    StreamFollower,
)
from c4actors.bus.appender import Appender
from c4actors.bus.retry import until_available
from c4actors.cluster import recorder
from c4actors.cluster.keeper import STATE

log = logging.getLogger("c4actors.cluster")

INPUTS: Final = "c4:inputs"
GROUP: Final = "core"
LEASE: Final = "c4:core"
LEASE_TTL: Final = 3.0
RENEW_EVERY: Final = 0.5
READ_BLOCK: Final = 1.0
SWEEP_EVERY: Final = 0.2
READER_IDLE: Final = 60.0
"""Seconds without a read after which a consumer of the inputs holding nothing is a dead
core's, dropped from the group (``BusCoreLink._drop_dead_readers``): a serving core reads
at least every ``READ_BLOCK``."""
"""Seconds between two looks for inputs another core read and abandoned (one command)."""
INPUTS_MAXLEN: Final = 100_000
FRAMES_MAXLEN: Final = 10_000
"""A bound far above any edge's backlog: an edge trims what it has read (``TRIM_EVERY``)."""
TRIM_EVERY: Final = 1.0
"""Seconds between two trims of an edge's frames stream by that edge, to what it has read:
without them every batch stayed in Redis until ``FRAMES_MAXLEN`` newer ones came, and a
join's batch carries the newcomer's ``user_list`` (about 5 KB with the default list of
100): 10,000 idle users cost Redis 11.3 KiB each, almost all of it batches long handled."""
FAREWELL_KEEP: Final = 600.0
"""Seconds a dead edge's frames stream stays, trimmed to its last batch (the core's word
that it declared the edge dead): time for an edge that only stood still to read it when
it wakes (one that wakes later has its next input dropped and is told again).  Kept for
ever, each dead edge's stream held up to ``FRAMES_MAXLEN`` batches nobody reads."""
_T = TypeVar("_T")
NO_LEASE: Final = Lease(LEASE, "", 0)


def frames_stream(edge: str) -> str:
    return f"c4:frames:{edge}"


def process_name(role: str) -> str:
    """Unique per process (host, pid, a random part): a restarted edge is a new edge."""
    return f"{role}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


async def _retry(call: Callable[[], Awaitable[_T]], what: str) -> _T:
    """``call`` until the bus answers (``until_available``), logged as the cluster's."""
    return await until_available(call, what, log)


class CoreLease:
    """The core's lease: ``held`` is set while this process holds it."""

    def __init__(self, bus: Bus, holder: str) -> None:
        self.bus = bus
        self.holder = holder
        self.held = trio.Event()
        self.lease = NO_LEASE

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            lease = await _retry(
                lambda: self.bus.acquire_lease(LEASE, self.holder, LEASE_TTL), "taking the lease"
            )
            if lease is not None:
                self.lease = lease
                break
            await trio.sleep(RENEW_EVERY)
        log.info("core lease taken holder=%s epoch=%d", self.holder, self.lease.epoch)
        self.held.set()
        try:
            while True:
                await trio.sleep(RENEW_EVERY)
                try:
                    renewed = await self.bus.renew_lease(self.lease, LEASE_TTL)
                except BusUnavailable:
                    continue  # still ours until it expires; Redis may come back in time
                if not renewed:
                    await self._take_back(self.lease)
        finally:
            with (
                trio.CancelScope(shield=True),
                trio.move_on_after(1),
                contextlib.suppress(BusUnavailable),
            ):
                await self.bus.release_lease(self.lease)

    async def _take_back(self, lost: Lease) -> None:
        """The lease expired while Redis was away (a restart forgets nothing, but its clock
        ran on): if no other core took it meanwhile, this one still holds the only lobby,
        so it takes the lease again, with a new epoch; else it must stop."""
        lease = await _retry(
            lambda: self.bus.acquire_lease(LEASE, self.holder, LEASE_TTL), "taking the lease"
        )
        if lease is None:
            raise LeaseLost(f"the core lease epoch {lost.epoch} is held by another core")
        if lease.epoch != lost.epoch + 1:
            # Another core held it in between (and let it go): what it committed is newer
            # than anything this one holds, so this one must not serve again.
            with contextlib.suppress(BusUnavailable):
                await self.bus.release_lease(lease)
            raise LeaseLost(f"the core lease was held by another core after epoch {lost.epoch}")
        log.warning("core lease taken again after it expired epoch=%d", lease.epoch)
        self.lease = lease


class LeaseLost(RuntimeError):
    """Another core holds the lease now: this one must stop serving at once."""


class BusCoreLink:
    """``CoreLink`` on the bus; reads only once ``lease`` is held."""

    def __init__(self, bus: Bus, consumer: str, lease: CoreLease) -> None:
        self.bus = bus
        self.consumer = consumer
        self.name = consumer
        self.lease = lease
        self._unacked: collections.deque[list[str]] = collections.deque()
        """The ids each read returned, oldest first, until the commit that follows the read
        acknowledges them."""
        self._claimed = False
        self._lost_read = False
        """A read failed: Redis may have handed out entries whose reply never came."""
        self._sweep_at = -math.inf
        self._read_at = trio.current_time()
        self._drop_at = trio.current_time() + READER_IDLE

    @property
    def readable_at(self) -> float:
        """When a read of the inputs last succeeded (an idle one returns within
        ``READ_BLOCK``)."""
        return self._read_at

    async def receive_inputs(self) -> list[str]:
        if not self.lease.held.is_set():  # a set event's wait() yields all the same
            await self.lease.held.wait()
        entries: list[Entry] = []
        if not self._claimed:
            await _retry(lambda: self.bus.ensure_group(INPUTS, GROUP), "making the group")
            # What the previous core read and did not finish, first.
            entries = await _retry(
                lambda: self.bus.claim_pending(INPUTS, GROUP, self.consumer, min_idle=0),
                "claiming inputs",
            )
            self._claimed = True
            if entries:
                log.info(
                    "claimed inputs count=%d (read by a previous core, unfinished)", len(entries)
                )

        elif trio.current_time() >= self._sweep_at:
            # Entries another consumer read and never acknowledged: a deposed core that
            # woke up (SIGCONT, a long pause) reads on until its commit is refused, and
            # nobody else would ever hand those out.  Only one core serves, so whatever
            # is pending for another consumer is abandoned (this core's own may still be
            # in a commit in flight: never those).
            self._sweep_at = trio.current_time() + SWEEP_EVERY
            entries = await _retry(
                lambda: self.bus.claim_abandoned(INPUTS, GROUP, self.consumer),
                "claiming inputs",
            )
            if entries:
                log.warning(
                    "claimed inputs count=%d (read by another core that did not commit them)",
                    len(entries),
                )
        while not entries:
            if trio.current_time() >= self._drop_at:
                await self._drop_dead_readers()
            if self._lost_read and not self._unacked:
                # A read whose reply was lost (its connection dropped after Redis ran it):
                # what it handed out is pending for this consumer, and no read hands it out
                # again.  Nothing of this core's is in flight now, so whatever is pending
                # is that (or a deposed core's, as the sweep takes).
                self._lost_read = False
                entries = await _retry(
                    lambda: self.bus.claim_pending(INPUTS, GROUP, self.consumer, min_idle=0),
                    "claiming inputs",
                )
                if entries:
                    log.warning("claimed inputs count=%d (a read's reply was lost)", len(entries))
                    break
            entries = await _retry(self._read_group, "reading inputs")
            self._read_at = trio.current_time()
        self._unacked.append([entry.id for entry in entries])
        return [entry.fields.get("e", "") for entry in entries]

    async def _drop_dead_readers(self) -> None:
        """Each core process is a consumer of the group, and the group kept every one for
        ever (every failover, every restart): those that held nothing (what a dead core
        held, the next one claimed) and read nothing for ``READER_IDLE`` go (a deposed core
        that only stood still is made again if it reads)."""
        self._drop_at = trio.current_time() + READER_IDLE
        dropped = await _retry(
            lambda: self.bus.drop_idle_consumers(INPUTS, GROUP, idle=READER_IDLE),
            "dropping dead cores' readers",
        )
        if dropped:
            log.info("dropped dead cores' input readers %s", " ".join(dropped))

    async def _read_group(self) -> list[Entry]:
        try:
            return await self.bus.read_group(INPUTS, GROUP, self.consumer, block=READ_BLOCK)
        except BusUnavailable:
            self._lost_read = True  # it may have handed entries out: ``receive_inputs``
            raise

    async def receive_more(self, block: float) -> list[str]:
        entries = await _retry(
            lambda: self.bus.read_group(INPUTS, GROUP, self.consumer, block=block),
            "reading inputs",
        )
        if self._unacked:
            self._unacked[-1] += [entry.id for entry in entries]
        else:
            self._unacked.append([entry.id for entry in entries])
        return [entry.fields.get("e", "") for entry in entries]

    async def load_state(self) -> dict[str, str]:
        await self.lease.held.wait()
        return await _retry(lambda: self.bus.read_hash(STATE), "reading the core's state")

    async def commit(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        ack: bool,
        records: Sequence[str] = (),
        ended: Sequence[tuple[str, str, bool]] = (),
    ) -> None:
        """One fenced commit (``Bus.commit``: a Lua script that checks the lease first).

        Refused (``Fenced``): if the lease task took the lease again meanwhile (it expired
        while Redis was away, and no other core held it), retried under the new epoch;
        else this core was deposed, and ``LeaseLost`` stops it, having written nothing."""
        operations = self._operations(frames, puts, deletes, ack=ack, records=records, ended=ended)
        if not operations:
            return
        await self._commit(operations)
        if ack and self._unacked:
            self._unacked.popleft()

    async def commit_and_receive(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        records: Sequence[str] = (),
        ended: Sequence[tuple[str, str, bool]] = (),
        committed: Callable[[], None],
    ) -> list[str]:
        """On the lean pool, the commit's EVALSHA and the next XREADGROUP in one send
        (``RedisBus.commit_and_read_group``).  When the commit was refused or its reply
        lost, it is made again alone (``commit``'s retries) before ``committed`` is called
        and the entries read are returned: a later commit is never made before it."""
        bus = self.bus
        due = not self._claimed or trio.current_time() >= self._sweep_at
        if due or not isinstance(bus, RedisBus) or bus.lean is None:
            await self.commit(frames, puts, deletes, ack=True, records=records, ended=ended)
            committed()
            return await self.receive_inputs()
        operations = self._operations(frames, puts, deletes, ack=True, records=records, ended=ended)
        done = False

        def applied() -> None:
            nonlocal done
            done = True
            if self._unacked:
                self._unacked.popleft()
            committed()

        entries: list[Entry] = []
        try:
            refused, entries = await bus.commit_and_read_group(
                self.lease.lease,
                operations,
                INPUTS,
                GROUP,
                self.consumer,
                block=READ_BLOCK,
                committed=applied,
            )
            self._read_at = trio.current_time()
        except BusUnavailable:
            refused = None  # the read's entries, if any, are claimed back (``_lost_read``)
            self._lost_read = True
        if entries:
            self._unacked.append([entry.id for entry in entries])
        if not done:
            # Refused, or unknown: made again alone, as ``commit`` makes it (it acknowledges
            # the oldest batch not acknowledged yet, still the one this commit was for).
            log.debug("commit made again after %r", refused)
            await self._commit(operations)
            applied()
        return [entry.fields.get("e", "") for entry in entries]

    def _operations(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        ack: bool,
        records: Sequence[str],
        ended: Sequence[tuple[str, str, bool]] = (),
    ) -> list[Operation]:
        operations: list[Operation] = [
            Append(frames_stream(edge), {"d": entry}, maxlen=FRAMES_MAXLEN)
            for edge, entry in frames
        ]
        for edge, entry, death in ended:
            # The stream's last batch: what came before is trimmed (Redis keeps the
            # stream's last node, 100 entries at most), and all of it goes in a while.  One
            # sent again (an entry of the dead edge dropped) trims nothing: the death's own,
            # with the numbers of the entries handled, stays for the edge to read first.
            stream = frames_stream(edge)
            maxlen = 1 if death else FRAMES_MAXLEN
            operations += [
                Append(stream, {"d": entry}, maxlen=maxlen),
                Expire(stream, FAREWELL_KEEP),
            ]
        if puts:
            operations.append(PutFields(STATE, puts))
        operations += [DeleteField(STATE, field) for field in deletes]
        operations += [
            Append(recorder.RECORDS, {recorder.FIELD: record}, maxlen=recorder.RECORDS_MAXLEN)
            for record in records
        ]
        if ack and self._unacked:
            operations.append(Ack(INPUTS, GROUP, tuple(self._unacked[0])))
        return operations

    async def _commit(self, operations: list[Operation]) -> None:
        """``operations`` committed, retried through an outage and a lease taken again."""
        refused_at: float | None = None
        while True:
            lease = self.lease.lease
            try:
                await _retry(functools.partial(self.bus.commit, lease, operations), "committing")
            except Fenced:
                now = trio.current_time()
                if refused_at is None:
                    refused_at = now
                if self.lease.lease == lease and now - refused_at > 2 * LEASE_TTL:
                    raise LeaseLost(f"commit refused: lease epoch {lease.epoch} is gone") from None
                await trio.sleep(RENEW_EVERY)  # the lease task settles who holds it
                continue
            break


class BusEdgeLink:
    """``EdgeLink`` on the bus.

    The edge is its frames stream's only reader, so it trims the stream itself, every
    ``trim_every`` seconds, to the entries it has read (``Bus.trim_before`` the last one
    handed out): a read resumed after an outage or a Redis restart starts after that
    entry, so nothing it still needs goes.  None: never (the stream is bounded by
    ``FRAMES_MAXLEN`` alone)."""

    def __init__(self, bus: Bus, edge: str, *, trim_every: float | None = TRIM_EVERY) -> None:
        self.bus = bus
        self.edge = edge
        self.trim_every = trim_every
        self._follower = StreamFollower(bus, frames_stream(edge))
        self.uplink = Appender(bus, INPUTS, maxlen=INPUTS_MAXLEN)
        """The input entries' XADDs, pipelined on a connection of their own: the next
        batch goes out while the one before waits for its reply."""
        self._announcing = True
        """The next entry is the first under this name: confirmed before the next one
        (``EdgeLink.send_inputs``)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            if self.trim_every is not None:
                nursery.start_soon(self._trim_read, self.trim_every)
            await self.uplink.run(task_status=task_status)

    async def _trim_read(self, every: float) -> None:
        """Trim this edge's frames stream to what it has read, now and then (a trim that
        fails in an outage is made at the next turn)."""
        trimmed = START
        while True:
            await trio.sleep(every)
            read = self._follower.last_id
            if read == trimmed:
                continue
            with contextlib.suppress(BusUnavailable):
                await self.bus.trim_before(self._follower.stream, read)
                trimmed = read

    def rename(self) -> None:
        self.edge = process_name("edge")
        self._follower = StreamFollower(self.bus, frames_stream(self.edge))
        self._announcing = True

    async def send_inputs(self, entry: str) -> None:
        await self.uplink.append({"e": entry})
        if self._announcing:
            await self.uplink.wait_confirmed()
            self._announcing = False

    async def receive_frames(self) -> list[str]:
        return [entry.fields.get("d", "") for entry in await self._follower.next_batch()]
