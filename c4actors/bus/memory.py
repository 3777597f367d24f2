"""``InMemoryBus``: the bus's promises kept in one process, for unit tests.

Time is Trio's clock (``trio.current_time``), so lease expiry and pending entries' idle
times follow a ``MockClock`` in tests.  ``set_available(False)`` makes every call raise
``BusUnavailable`` (blocked readers too, at once) until it is set back: an outage without
a Redis; ``lose_replies`` makes writes succeed but raise it (a reply lost with its
connection).  Trimming is exact (Redis's is approximate: the promise is only "at least the
``maxlen`` newest entries")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import attrs
import trio

from c4actors.bus.interface import DEFAULT_COUNT
from c4actors.bus.records import (
    START,
    Ack,
    Append,
    BusUnavailable,
    DeleteField,
    Entry,
    Expire,
    Fenced,
    Lease,
    Operation,
    PutField,
    PutFields,
    StreamId,
    check_committed_entry,
    parse_id,
)

T = TypeVar("T")


@attrs.define
class _Pending:
    consumer: str
    delivered_at: float


@attrs.define
class _Group:
    last_delivered: tuple[int, int]
    pending: dict[tuple[int, int], _Pending] = attrs.field(factory=dict)
    seen: dict[str, float] = attrs.field(factory=dict)
    """Each consumer, and when it last read or claimed (Redis's consumer idle time)."""


@attrs.define
class _Stream:
    entries: dict[tuple[int, int], Entry] = attrs.field(factory=dict)
    """In id order (appends only ever add a higher id; trimming removes the oldest)."""
    last: tuple[int, int] = (0, 0)
    groups: dict[str, _Group] = attrs.field(factory=dict)

    def after(self, position: tuple[int, int], count: int) -> list[Entry]:
        found: list[Entry] = []
        for key, entry in self.entries.items():
            if key > position:
                found.append(entry)
                if len(found) == count:
                    break
        return found


@attrs.define
class _LeaseSlot:
    token: str
    expires_at: float


class InMemoryBus:
    """The ``Bus`` promises without Redis (see the module docstring)."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._hashes: dict[str, dict[str, str]] = {}
        self._leases: dict[str, _LeaseSlot] = {}
        self._epochs: dict[str, int] = {}
        self._available = True
        self._changed = trio.Event()
        self._next_id = 0
        self._replies_to_lose = 0
        self._expiring: dict[str, float] = {}
        """Streams removed at a time (``Expire``), by name."""

    def set_available(self, available: bool) -> None:
        """Simulate an outage (False) or its end (True)."""
        self._available = available
        self._wake()

    def lose_replies(self, count: int = 1) -> None:
        """The next ``count`` writes (``append``, ``commit``, ``ack``, ``read_group``,
        ``claim_pending``) do their work, then raise ``BusUnavailable`` as if the
        connection dropped before the reply came: for testing that retries are idempotent
        (an input read again, a move sent twice)."""
        self._replies_to_lose += count

    # ------------------------------------------------------------------ streams

    async def append(
        self, stream: str, fields: Mapping[str, str], *, maxlen: int | None = None
    ) -> StreamId:
        await self._check()
        return self._reply(self._append(Append(stream, fields, maxlen)))

    async def read_after(
        self,
        stream: str,
        after: StreamId,
        *,
        count: int = DEFAULT_COUNT,
        block: float | None = None,
    ) -> list[Entry]:
        position = parse_id(after)
        _check_count(count)
        deadline = trio.current_time() + (block or 0.0)
        while True:
            await self._check()
            found = self._stream(stream).after(position, count)
            if found or not self._wait_left(deadline, block):
                return found
            await self._wait_until(deadline)

    async def last_id(self, stream: str) -> StreamId:
        await self._check()
        entries = self._stream(stream).entries
        return next(reversed(entries.values())).id if entries else START

    async def trim_before(self, stream: str, before: StreamId) -> int:
        position = parse_id(before)
        await self._check()
        entries = self._streams[stream].entries if stream in self._streams else {}
        removed = [key for key in entries if key < position]
        for key in removed:
            del entries[key]
        return len(removed)

    # ------------------------------------------------------------------ groups

    async def ensure_group(self, stream: str, group: str, *, from_start: bool = True) -> None:
        await self._check()
        self._ensure_group(stream, group, from_start=from_start)

    async def read_group(
        self,
        stream: str,
        group: str,
        consumer: str,
        *,
        count: int = DEFAULT_COUNT,
        block: float | None = None,
    ) -> list[Entry]:
        _check_count(count)
        deadline = trio.current_time() + (block or 0.0)
        while True:
            await self._check()
            state = self._ensure_group(stream, group, from_start=True)
            state.seen[consumer] = trio.current_time()
            found = self._stream(stream).after(state.last_delivered, count)
            if found:
                now = trio.current_time()
                for entry in found:
                    state.pending[parse_id(entry.id)] = _Pending(consumer, now)
                state.last_delivered = parse_id(found[-1].id)
                return self._reply(found)
            if not self._wait_left(deadline, block):
                return []
            await self._wait_until(deadline)

    async def ack(self, stream: str, group: str, ids: Sequence[StreamId]) -> int:
        await self._check()
        return self._reply(self._ack(Ack(stream, group, tuple(ids))))

    async def claim_pending(
        self,
        stream: str,
        group: str,
        consumer: str,
        *,
        min_idle: float,
        count: int = DEFAULT_COUNT,
    ) -> list[Entry]:
        return await self._claim(
            stream, group, consumer, count, lambda held, now: now - held.delivered_at >= min_idle
        )

    async def claim_abandoned(
        self, stream: str, group: str, consumer: str, *, count: int = DEFAULT_COUNT
    ) -> list[Entry]:
        return await self._claim(
            stream, group, consumer, count, lambda held, _now: held.consumer != consumer
        )

    async def _claim(
        self,
        stream: str,
        group: str,
        consumer: str,
        count: int,
        wanted: Callable[[_Pending, float], bool],
    ) -> list[Entry]:
        """Hand ``consumer`` the pending entries ``wanted`` picks, oldest first (one loop
        for the two ways of taking over another reader's entries)."""
        _check_count(count)
        await self._check()
        state = self._ensure_group(stream, group, from_start=True)
        entries = self._stream(stream).entries
        now = trio.current_time()
        state.seen[consumer] = now
        claimed: list[Entry] = []
        for key in sorted(state.pending):
            if len(claimed) == count:
                break
            if not wanted(state.pending[key], now):
                continue
            if key not in entries:  # trimmed away: nothing left to hand over
                del state.pending[key]
                continue
            state.pending[key] = _Pending(consumer, now)
            claimed.append(entries[key])
        return self._reply(claimed)

    async def pending_count(self, stream: str, group: str) -> int:
        await self._check()
        state = self._stream(stream).groups.get(group)
        return 0 if state is None else len(state.pending)

    async def drop_idle_consumers(self, stream: str, group: str, *, idle: float) -> list[str]:
        await self._check()
        state = self._stream(stream).groups.get(group)
        if state is None:
            return []
        holding = {held.consumer for held in state.pending.values()}
        now = trio.current_time()
        dropped = [
            consumer
            for consumer, seen in state.seen.items()
            if consumer not in holding and now - seen >= idle
        ]
        for consumer in dropped:
            del state.seen[consumer]
        return dropped

    # ------------------------------------------------------------------ leases

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        await self._check()
        if self._current(name) is not None:
            return None
        epoch = self._epochs.get(name, 0) + 1
        self._epochs[name] = epoch
        lease = Lease(name, holder, epoch)
        self._leases[name] = _LeaseSlot(lease.token, trio.current_time() + ttl)
        return lease

    async def renew_lease(self, lease: Lease, ttl: float) -> bool:
        await self._check()
        slot = self._current(lease.name)
        if slot is None or slot.token != lease.token:
            return False
        slot.expires_at = trio.current_time() + ttl
        return True

    async def release_lease(self, lease: Lease) -> bool:
        await self._check()
        slot = self._current(lease.name)
        if slot is None or slot.token != lease.token:
            return False
        del self._leases[lease.name]
        return True

    async def commit(self, lease: Lease, operations: Sequence[Operation]) -> list[StreamId]:
        await self._check()
        slot = self._current(lease.name)
        if slot is None or slot.token != lease.token:
            raise Fenced(f"lease {lease.name!r} epoch {lease.epoch} is no longer current")
        for operation in operations:  # all or nothing: refuse a bad one before applying any
            if isinstance(operation, Append):
                _check_append(operation)
                check_committed_entry(operation.fields)
            elif isinstance(operation, Ack):
                for stream_id in operation.ids:
                    parse_id(stream_id)
            elif isinstance(operation, Expire) and operation.seconds <= 0:
                raise ValueError(f"an expiry must be in the future, not {operation.seconds} s")
        ids: list[StreamId] = []
        for operation in operations:
            match operation:
                case Append():
                    ids.append(self._append(operation))
                case Ack():
                    self._ack(operation)
                case PutField(key=key, field=field, value=value):
                    self._hashes.setdefault(key, {})[field] = value
                case PutFields(key=key, fields=fields):
                    if fields:
                        self._hashes.setdefault(key, {}).update(fields)
                case Expire(key=key, seconds=seconds):
                    self._expiring[key] = trio.current_time() + seconds
                case DeleteField(key=key, field=field):
                    fields = self._hashes.get(key, {})
                    fields.pop(field, None)
                    if not fields:
                        self._hashes.pop(key, None)
        return self._reply(ids)

    async def read_hash(self, key: str) -> dict[str, str]:
        await self._check()
        return dict(self._hashes.get(key, {}))

    # ------------------------------------------------------------------ internals

    async def _check(self) -> None:
        await trio.lowlevel.checkpoint()
        if not self._available:
            raise BusUnavailable("the in-memory bus is set unavailable")

    def _reply(self, value: T) -> T:
        if self._replies_to_lose:
            self._replies_to_lose -= 1
            raise BusUnavailable("the in-memory bus lost the reply (the work was done)")
        return value

    def _stream(self, name: str) -> _Stream:
        expires_at = self._expiring.get(name)
        if expires_at is not None and expires_at <= trio.current_time():
            del self._expiring[name]
            self._streams.pop(name, None)
        return self._streams.setdefault(name, _Stream())

    def _append(self, operation: Append) -> StreamId:
        _check_append(operation)
        stream = self._stream(operation.stream)
        self._next_id += 1
        stream.last = (self._next_id, 0)
        entry = Entry(f"{self._next_id}-0", operation.fields)
        stream.entries[stream.last] = entry
        if operation.maxlen is not None:
            while len(stream.entries) > operation.maxlen:
                del stream.entries[next(iter(stream.entries))]
        self._wake()
        return entry.id

    def _ensure_group(self, stream: str, group: str, *, from_start: bool) -> _Group:
        state = self._stream(stream)
        if group not in state.groups:
            state.groups[group] = _Group((0, 0) if from_start else state.last)
        return state.groups[group]

    def _ack(self, operation: Ack) -> int:
        keys = [parse_id(stream_id) for stream_id in operation.ids]
        stream = self._streams.get(operation.stream)
        state = None if stream is None else stream.groups.get(operation.group)
        if state is None:
            return 0
        return sum(state.pending.pop(key, None) is not None for key in keys)

    def _current(self, name: str) -> _LeaseSlot | None:
        slot = self._leases.get(name)
        if slot is not None and slot.expires_at <= trio.current_time():
            del self._leases[name]
            return None
        return slot

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    @staticmethod
    def _wait_left(deadline: float, block: float | None) -> bool:
        return block is not None and trio.current_time() < deadline

    async def _wait_until(self, deadline: float) -> None:
        with trio.move_on_at(deadline):
            await self._changed.wait()


def _check_append(operation: Append) -> None:
    if not operation.fields:
        raise ValueError("a stream entry needs at least one field")
    if operation.maxlen is not None and operation.maxlen < 0:
        raise ValueError(f"maxlen must be >= 0, not {operation.maxlen}")


def _check_count(count: int) -> None:
    if count < 1:
        raise ValueError(f"count must be >= 1, not {count}")
