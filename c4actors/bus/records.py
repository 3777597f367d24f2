"""The values that cross the bus: stream entries, leases, the operations of a fenced commit,
and the bus's two errors.

Plain frozen values, shared by every implementation, so a test written against one bus
reads the same against the other.  Stream ids are Redis's ``"<ms>-<seq>"`` strings
everywhere (the in-memory bus makes ids of the same shape): a reader keeps the last id it
saw and reads after it, whichever bus it talks to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, TypeAlias

import attrs

StreamId: TypeAlias = str
"""An entry's id, ``"<ms>-<seq>"``; ``"0-0"`` is before every entry."""

START: Final[StreamId] = "0-0"
"""Read after this to read a stream from its first entry."""

_ID: Final = re.compile(r"(\d{1,20})-(\d{1,20})\Z")


def parse_id(stream_id: StreamId) -> tuple[int, int]:
    """``"12-3"`` as ``(12, 3)``, the order ids compare in; ``ValueError`` for anything else
    (a special id such as ``$`` or ``>`` is the implementation's business, never a caller's)."""
    match = _ID.match(stream_id)
    if match is None:
        raise ValueError(f"not a stream id: {stream_id!r}")
    return int(match[1]), int(match[2])


def _frozen_fields(fields: Mapping[str, str]) -> Mapping[str, str]:
    return dict(fields)


@attrs.frozen
class Entry:
    """One stream entry: its id and its fields (text in, text out)."""

    id: StreamId
    fields: Mapping[str, str] = attrs.field(converter=_frozen_fields)


@attrs.frozen
class Lease:
    """A lease held on ``name`` by ``holder`` since the acquisition that made ``epoch``.

    Epochs only grow (each acquisition takes the next one), so the newest holder always
    has the highest epoch; the bus refuses a commit whose lease is not the current one
    (``Fenced``), whatever the old holder believes about its clock.  Holders should be
    unique per process (host, pid and a random part): the bus compares the whole token.
    """

    name: str
    holder: str
    epoch: int

    @property
    def token(self) -> str:
        """What the bus stores as the lease's value and compares on every fenced call."""
        return f"{self.epoch}:{self.holder}"


@attrs.frozen
class Append:
    """Commit operation: append ``fields`` to ``stream`` (trimmed to about ``maxlen``)."""

    stream: str
    fields: Mapping[str, str] = attrs.field(converter=_frozen_fields)
    maxlen: int | None = None


@attrs.frozen
class Ack:
    """Commit operation: acknowledge ``ids`` of ``stream`` for consumer group ``group``."""

    stream: str
    group: str
    ids: tuple[StreamId, ...]


@attrs.frozen
class PutField:
    """Commit operation: set ``field`` of hash ``key`` to ``value`` (a snapshot, say)."""

    key: str
    field: str
    value: str


@attrs.frozen
class PutFields:
    """Commit operation: set each of ``fields`` of hash ``key`` (in the mapping's order):
    what a ``PutField`` each does, as one operation.  A cluster's core commits a field or
    two a move (``cluster.keeper``): a ``PutField`` each, made and then read again one by
    one, cost the commit about half a microsecond a field."""

    key: str
    fields: Mapping[str, str] = attrs.field(converter=_frozen_fields)


@attrs.frozen
class DeleteField:
    """Commit operation: remove ``field`` from hash ``key`` (a finished game's snapshot)."""

    key: str
    field: str


@attrs.frozen
class Expire:
    """Commit operation: remove ``key`` ``seconds`` from now (Redis's PEXPIRE: later writes
    to it do not put the time off; another ``Expire`` sets it anew).  For a stream nobody
    reads any more (a dead edge's batches) that must not stay for ever."""

    key: str
    seconds: float


COMMITTED_ENTRY_FIELDS_MAX: Final = 2000
"""Fields of one ``Append`` in a commit at most (``append`` alone has no such bound): Redis's
commit script hands an entry's fields to XADD in one Lua ``unpack``, which Lua bounds at
about 8,000 values, and a refusal there would come after the commit's earlier writes."""


def check_committed_entry(fields: Mapping[str, str]) -> None:
    """``ValueError`` for an ``Append`` no commit takes (both buses refuse it alike)."""
    if not fields:
        raise ValueError("a stream entry needs at least one field")
    if len(fields) > COMMITTED_ENTRY_FIELDS_MAX:
        raise ValueError(
            f"a committed entry has at most {COMMITTED_ENTRY_FIELDS_MAX} fields, not {len(fields)}"
        )


Operation: TypeAlias = Append | Ack | PutField | PutFields | DeleteField | Expire
"""What one ``Bus.commit`` applies atomically, in order, under a lease."""


class BusError(Exception):
    """Base of the bus's own errors."""


class BusUnavailable(BusError):
    """The bus cannot be reached now (connection refused or lost, a timeout, Redis still
    loading its data).  Nothing is known about a write that raised it: it may or may not
    have happened, so writers rely on idempotency (stream readers dedupe by id, moves carry
    their ply).  Callers retry later; ``StreamFollower`` does it for readers."""


class Fenced(BusError):
    """A fenced operation's lease is no longer the current one: another holder took over
    (or the lease expired).  Nothing of the operation was applied."""
