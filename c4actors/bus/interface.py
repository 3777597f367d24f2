"""The bus: what processes of a cluster need from Redis, and nothing more.

Two implementations keep the same promises (``tests/test_bus.py`` runs one contract suite
against both): ``InMemoryBus`` for unit tests of what is built on it, and ``RedisBus``
(Redis Streams through coredis) for real processes.  Only commands that Redis 7.0 and
Valkey 7.2+ both have are used.

Why streams and not pub/sub: a stream keeps what was appended, so a reader whose
connection dropped reads on from the last id it saw and misses nothing; pub/sub delivers
only to whoever is subscribed at that instant (measured: readers whose connections were
killed mid-run got 401 of 1,000 pub/sub messages and 1,000 of 1,000 stream entries).

The promises:

* **Streams.** ``append`` returns the entry's id; ids grow.  ``read_after`` returns the
  entries after an id, oldest first, waiting up to ``block`` seconds for one.  A trimmed
  stream (``maxlen``) keeps at least its ``maxlen`` newest entries (Redis trims
  approximately, so possibly more).  Trimming is safe only where readers cannot fall
  ``maxlen`` entries behind, or where losing what they missed is acceptable: a reader is
  not told that entries after its id were trimmed (Redis 7.0 has no trim that spares a
  group's pending or unread entries; ``ACKED`` came with 8.2), so a stream whose every
  entry must arrive carries sequence numbers of its own, or is given a bound far above
  its backlog.
* **Consumer groups** (at-least-once work queues): ``read_group`` hands each new entry to
  one consumer and keeps it pending until ``ack``; ``claim_pending`` takes over entries
  pending for at least ``min_idle`` seconds (a consumer that died), so nothing read is
  lost.  A group that does not exist (never made, or lost with Redis's data) is made from
  the start of the stream when read.
* **Leases with epochs**: ``acquire_lease`` succeeds only when no lease is current, and
  then with a higher epoch than any before it; ``renew_lease`` extends only the current
  lease; ``commit`` applies its operations atomically and only while its lease is the
  current one (else ``Fenced``, and nothing is applied), so a holder that lost its lease
  while paused can never write after its successor.
* **Faults**: every call either does its work or raises ``BusUnavailable`` (never a
  client library's own exception); a write that raised it may or may not have happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from c4actors.bus.records import Entry, Lease, Operation, StreamId

DEFAULT_COUNT = 100
"""Entries one read returns at most, unless told otherwise."""


class Bus(Protocol):
    """The cluster's message bus (see the module docstring for the promises)."""

    async def append(
        self, stream: str, fields: Mapping[str, str], *, maxlen: int | None = None
    ) -> StreamId:
        """Append an entry; with ``maxlen``, trim the oldest entries beyond about that many."""
        ...

    async def read_after(
        self,
        stream: str,
        after: StreamId,
        *,
        count: int = DEFAULT_COUNT,
        block: float | None = None,
    ) -> list[Entry]:
        """Up to ``count`` entries after ``after``, oldest first; with ``block`` (seconds),
        wait that long at most for one to come; ``[]`` when none came."""
        ...

    async def last_id(self, stream: str) -> StreamId:
        """The id of the stream's newest entry (``START`` when it has none): read after it
        to read only what comes next."""
        ...

    async def trim_before(self, stream: str, before: StreamId) -> int:
        """Remove the entries whose ids are lower than ``before`` (exactly: not Redis's
        approximate trimming); how many were removed.  For a stream whose readers have
        all read past them: a stream with one reader (an edge's frames) trimmed by that
        reader, so that what it has handled does not wait in Redis for ``maxlen``."""
        ...

    async def ensure_group(self, stream: str, group: str, *, from_start: bool = True) -> None:
        """Make consumer group ``group`` of ``stream`` (and the stream) unless it exists;
        ``from_start``: it delivers entries already in the stream too, else only new ones."""
        ...

    async def read_group(
        self,
        stream: str,
        group: str,
        consumer: str,
        *,
        count: int = DEFAULT_COUNT,
        block: float | None = None,
    ) -> list[Entry]:
        """Up to ``count`` entries no consumer of ``group`` was given yet, now pending for
        ``consumer`` until acknowledged; ``block`` as in ``read_after``."""
        ...

    async def ack(self, stream: str, group: str, ids: Sequence[StreamId]) -> int:
        """Acknowledge entries of the group: no longer pending.  How many were pending."""
        ...

    async def claim_pending(
        self,
        stream: str,
        group: str,
        consumer: str,
        *,
        min_idle: float,
        count: int = DEFAULT_COUNT,
    ) -> list[Entry]:
        """Take over up to ``count`` entries pending (for any consumer of the group) for at
        least ``min_idle`` seconds since they were last given out; oldest first.  Entries
        trimmed from the stream meanwhile are dropped from the pending list, not returned."""
        ...

    async def claim_abandoned(
        self, stream: str, group: str, consumer: str, *, count: int = DEFAULT_COUNT
    ) -> list[Entry]:
        """Take over up to ``count`` entries pending for any *other* consumer of the group,
        however recently given out (a consumer that must no longer work: a deposed core);
        never the caller's own (those it may still be working on).  Trimmed entries are
        dropped from the pending list, not returned."""
        ...

    async def pending_count(self, stream: str, group: str) -> int:
        """How many entries of the group are read but not acknowledged."""
        ...

    async def drop_idle_consumers(self, stream: str, group: str, *, idle: float) -> list[str]:
        """Delete the group's consumers that hold no pending entry and have not read for
        ``idle`` seconds (processes that died: each restart names a new consumer, and a
        group keeps every one for ever); their names.  A consumer that reads again later
        is made again (``read_group``)."""
        ...

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        """Take lease ``name`` for ``ttl`` seconds if no lease on it is current (None if
        one is, even the caller's own: renew that instead)."""
        ...

    async def renew_lease(self, lease: Lease, ttl: float) -> bool:
        """Extend ``lease`` to ``ttl`` seconds from now; False if it is no longer current."""
        ...

    async def release_lease(self, lease: Lease) -> bool:
        """Give ``lease`` up at once (a clean shutdown); False if it was no longer current."""
        ...

    async def commit(self, lease: Lease, operations: Sequence[Operation]) -> list[StreamId]:
        """Apply ``operations`` in order, atomically, if ``lease`` is current; else raise
        ``Fenced`` and apply none.  Returns the ids of the ``Append`` operations, in order."""
        ...

    async def read_hash(self, key: str) -> dict[str, str]:
        """Every field of hash ``key`` (what commits put there); empty when there is none."""
        ...
