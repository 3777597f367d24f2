"""``RedisBus``: the bus on Redis Streams (or Valkey) through coredis, which runs on Trio
(AnyIO).

Only commands that Redis 7.0 and Valkey 7.2+ both have: XADD (``MAXLEN ~``), XREAD,
XREVRANGE, XTRIM (``MINID``), XGROUP CREATE, XREADGROUP, XACK, XAUTOCLAIM (7.0's three-part reply),
XPENDING, HGETALL and Lua scripts (EVALSHA) for the lease and the fenced commit.

Resource handling: ``open_redis_bus`` is an async context manager (coredis' connection
pool runs its connections' tasks in a task group of its own); the bus is valid inside it.

The hot commands (XADD, XREAD, XREADGROUP and the commit's EVALSHA: one or two per move
in every process of a cluster) go through ``resp.RespPool``, a lean connection pool about
eight times cheaper per command than coredis here; the rest through coredis.  A URL the
lean pool does not take (TLS, a Unix socket) goes through coredis whole.

Error handling: every connection failure, timeout or "not ready" reply (a restarted Redis
loading its data) becomes ``BusUnavailable``; a call that hangs (a silent network) gives up
after ``call_timeout`` seconds beyond its own ``block``.  coredis' own retries are off: a write
retried blindly after a lost reply could be applied twice, so retrying is the caller's
decision (``StreamFollower`` for readers).  A lease check that fails in a script is
``Fenced``; other refusals from Redis are programming errors and propagate as they are.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from itertools import chain
from typing import Final, TypeVar, cast

import coredis
import coredis.exceptions
import trio
from anyio.abc import ByteStream
from coredis.response.types import StreamEntry, StreamPending, StreamPendingExt
from coredis.retry import NoRetryPolicy
from coredis.tokens import PureToken

from c4actors.bus import resp
from c4actors.bus.interface import DEFAULT_COUNT
from c4actors.bus.records import (
    START,
    Ack,
    Append,
    BusError,
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

SCRIPT_REFUSALS: Final = frozenset({"OOM", "MISCONF"})
"""Error replies with which Redis refuses a script's write: ``maxmemory`` reached (under
``noeviction``), a failed save (``stop-writes-on-bgsave-error``).  Redis checks the first
before the script's first write only, and the second cannot change while a short script
runs, so a script refused with either changed nothing.  For the lease's and the commit's
scripts that is an outage to wait out (``BusUnavailable``, as ``resp.NOT_READY``): raised,
it ended the core, and its standby met the same refusal."""

DEFAULT_TIMEOUT: Final = 5.0
"""Seconds a call may take beyond its ``block`` before the bus counts Redis as gone."""

_NOT_READY: Final = (
    coredis.exceptions.ConnectionError,  # BusyLoadingError (LOADING) among them
    coredis.exceptions.ReadOnlyError,
    coredis.exceptions.TryAgainError,
    coredis.exceptions.ClusterDownError,
    TimeoutError,
    OSError,
)
"""Failures that mean Redis cannot be reached or cannot serve yet: an outage, not a bug."""

_NoGroup: Final = coredis.exceptions.StreamConsumerGroupError
"""NOGROUP (coredis' class for it; its subclass for BUSYGROUP never comes from a read)."""

_ACQUIRE: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], epoch .. ':' .. ARGV[1], 'PX', ARGV[2])
return epoch
"""
"""KEYS: the lease, its epoch counter (never expires, so epochs only grow);
ARGV: holder, ttl in ms.  Returns the new epoch, or nil while a lease is current."""

_RENEW: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

_RELEASE: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

_COMMIT: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED lease ' .. KEYS[1] .. ' is not held by ' .. ARGV[1])
end
local last = #ARGV
local at = 2
while at <= last do
  local kind, n = ARGV[at], tonumber(ARGV[at + 3])
  if not KEYS[tonumber(ARGV[at + 1])] or not n or n < 0 or at + 3 + n > last
     or not (kind == 'x' or kind == 'a' or kind == 'h' or kind == 'd' or kind == 'e') then
    return redis.error_reply('BADCOMMIT run ' .. at .. ' does not parse')
  end
  at = at + 4 + n
end
local ids = {}
at = 2
while at <= last do
  local kind, key, extra = ARGV[at], KEYS[tonumber(ARGV[at + 1])], ARGV[at + 2]
  local first, stop = at + 4, at + 3 + tonumber(ARGV[at + 3])
  if kind == 'x' then
    if extra == '' then
      ids[#ids + 1] = redis.call('XADD', key, '*', unpack(ARGV, first, stop))
    else
      ids[#ids + 1] = redis.call('XADD', key, 'MAXLEN', '~', extra, '*', unpack(ARGV, first, stop))
    end
  elseif kind == 'e' then
    redis.call('PEXPIRE', key, extra)
  else
    -- unpack() gives at most a few thousand values: long runs go in chunks (an even size,
    -- so a field and its value stay together).
    for from = first, stop, 1000 do
      local to = math.min(from + 999, stop)
      if kind == 'h' then
        redis.call('HSET', key, unpack(ARGV, from, to))
      elseif kind == 'd' then
        redis.call('HDEL', key, unpack(ARGV, from, to))
      else
        -- pcall: a group that does not exist (lost with Redis's data) acknowledges
        -- nothing; an error here must not leave the runs before it applied and not those
        -- after.
        redis.pcall('XACK', key, extra, unpack(ARGV, from, to))
      end
    end
  end
  at = stop + 1
end
return ids
"""
"""KEYS: the lease, then each key the operations name, once.  ARGV: the lease's token,
then runs of operations, each ``kind, key's index in KEYS, extra, n`` and ``n`` values:
``x`` an XADD (extra: MAXLEN or ``''``; the values: field, value, ...), ``h`` an HSET and
``d`` an HDEL of consecutive operations on one hash (fields and values, or fields), ``a``
an XACK (extra: the group; the values: ids), ``e`` a PEXPIRE (extra: milliseconds; no
values).  Every value goes as it is, never encoded
again.  The lease and the runs' shape are checked before anything is written, so a fenced
or malformed commit applies nothing."""


def flat_fields(fields: Mapping[str, str]) -> list[str]:
    """An entry's fields as XADD takes them: field, value, ..."""
    if not fields:
        raise ValueError("a stream entry needs at least one field")
    return [item for pair in fields.items() for item in pair]


def _flatten(lease: Lease, operations: Sequence[Operation]) -> list[resp.Arg]:
    """``_COMMIT``'s arguments after its sha: the key count, the keys, the lease's token
    and the runs.  Consecutive puts (or deletes) on one hash make one run, as do
    consecutive acknowledgements of one stream and group: the script then calls Redis once
    per run, not once per operation.  Every operation is checked before any is encoded.

    Written for speed (the core calls it once per commit, with a field or two per move):
    dispatch on the exact type, the open run's count patched in when the run closes."""
    index: dict[str, int] = {lease.name: 1}
    runs: list[resp.Arg] = []
    open_kind = open_key = open_extra = ""  # the run operations may still join
    count_at = count = 0
    for operation in operations:
        kind = type(operation)
        if kind is PutField or kind is PutFields:
            pairs: Iterable[str]
            if kind is PutField:
                put = cast(PutField, operation)
                key, pairs, added = put.key, (put.field, put.value), 2
            else:
                puts = cast(PutFields, operation)
                if not puts.fields:
                    continue
                key = puts.key
                pairs, added = chain.from_iterable(puts.fields.items()), 2 * len(puts.fields)
            if open_kind != "h" or open_key != key:
                if open_kind:
                    runs[count_at] = count
                open_kind, open_key, open_extra, count = "h", key, "", 0
                runs += ["h", index.setdefault(key, len(index) + 1), "", 0]
                count_at = len(runs) - 1
            runs += pairs
            count += added
        elif kind is Append:
            append = cast(Append, operation)
            _check_maxlen(append.maxlen)
            check_committed_entry(append.fields)
            if open_kind:
                runs[count_at] = count
                open_kind = ""
            values = flat_fields(append.fields)
            maxlen = "" if append.maxlen is None else append.maxlen
            runs += ["x", index.setdefault(append.stream, len(index) + 1), maxlen, len(values)]
            runs += values
        elif kind is Ack:
            ack = cast(Ack, operation)
            for stream_id in ack.ids:
                parse_id(stream_id)
            if open_kind != "a" or open_key != ack.stream or open_extra != ack.group:
                if open_kind:
                    runs[count_at] = count
                open_kind, open_key, open_extra, count = "a", ack.stream, ack.group, 0
                runs += ["a", index.setdefault(ack.stream, len(index) + 1), ack.group, 0]
                count_at = len(runs) - 1
            runs += ack.ids
            count += len(ack.ids)
        elif kind is Expire:
            expire = cast(Expire, operation)
            if expire.seconds <= 0:
                raise ValueError(f"an expiry must be in the future, not {expire.seconds} s")
            if open_kind:
                runs[count_at] = count
                open_kind = ""
            milliseconds = max(1, round(expire.seconds * 1000))
            runs += ["e", index.setdefault(expire.key, len(index) + 1), milliseconds, 0]
        elif kind is DeleteField:
            delete = cast(DeleteField, operation)
            if open_kind != "d" or open_key != delete.key:
                if open_kind:
                    runs[count_at] = count
                open_kind, open_key, open_extra, count = "d", delete.key, "", 0
                runs += ["d", index.setdefault(delete.key, len(index) + 1), "", 0]
                count_at = len(runs) - 1
            runs.append(delete.field)
            count += 1
        else:
            raise TypeError(f"not a commit operation: {operation!r}")
    if open_kind:
        runs[count_at] = count
    return [len(index), *index, lease.token, *runs]


def _check_maxlen(maxlen: int | None) -> None:
    if maxlen is not None and maxlen < 0:
        raise ValueError(f"maxlen must be >= 0, not {maxlen}")


def _check_count(count: int) -> None:
    if count < 1:
        raise ValueError(f"count must be >= 1, not {count}")


def _milliseconds(seconds: float) -> int:
    """Seconds as Redis's milliseconds, at least 1 (``BLOCK 0`` would wait forever)."""
    return max(1, round(seconds * 1000))


def _lean_entries(reply: resp.Reply) -> list[Entry]:
    """XREAD / XREADGROUP's RESP2 reply for one stream (nil when nothing came) as entries."""
    if not isinstance(reply, list) or not reply:
        return []
    stream = reply[0]
    assert isinstance(stream, list)
    rows = stream[1]
    assert isinstance(rows, list)
    entries = []
    for row in rows:
        assert isinstance(row, list)
        stream_id, values = row
        assert isinstance(stream_id, str)
        if not isinstance(values, list):
            values = []  # an entry deleted while pending: no fields
        fields = dict(zip(values[::2], values[1::2], strict=True))
        entries.append(Entry(stream_id, cast(dict[str, str], fields)))
    return entries


def _entries(reply: Sequence[StreamEntry]) -> list[Entry]:
    # decode_responses=True: coredis' ``str | bytes`` is always ``str`` here.
    return [
        Entry(cast(str, entry.identifier), cast(Mapping[str, str], entry.field_values))
        for entry in reply
    ]


class RedisBus:
    """The ``Bus`` promises on Redis Streams; made by ``open_redis_bus``."""

    def __init__(
        self, client: coredis.Redis[str], timeout: float, lean: resp.RespPool | None = None
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._lean = lean
        self.lean = lean
        """The lean pool (``resp``), or None: ``appender.Appender`` pipelines on it."""
        self._commit_sha = hashlib.sha1(_COMMIT.encode()).hexdigest()
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._commit = client.register_script(_COMMIT)

    # ------------------------------------------------------------------ streams

    async def append(
        self, stream: str, fields: Mapping[str, str], *, maxlen: int | None = None
    ) -> StreamId:
        _check_maxlen(maxlen)
        flat = flat_fields(fields)
        if self._lean is not None:
            trim: list[resp.Arg] = [] if maxlen is None else ["MAXLEN", "~", maxlen]
            (reply,) = await self._fast([["XADD", stream, *trim, "*", *flat]])
            assert isinstance(reply, str)
            return reply
        request = self._client.xadd(
            stream,
            dict(fields),
            trim_strategy=None if maxlen is None else PureToken.MAXLEN,
            threshold=maxlen,
            trim_operator=None if maxlen is None else PureToken.APPROXIMATELY,
        )
        stream_id = await self._call(request)
        assert stream_id is not None  # only NOMKSTREAM, never used here, gives None
        return stream_id

    async def read_after(
        self,
        stream: str,
        after: StreamId,
        *,
        count: int = DEFAULT_COUNT,
        block: float | None = None,
    ) -> list[Entry]:
        parse_id(after)
        _check_count(count)
        wait = None if block is None else _milliseconds(block)
        if self._lean is not None:
            blocking: list[resp.Arg] = [] if wait is None else ["BLOCK", wait]
            command: list[resp.Arg] = ["XREAD", "COUNT", count, *blocking, "STREAMS", stream, after]
            (lean,) = await self._fast([command], block=block, yield_first=False, idempotent=True)
            return _lean_entries(lean)
        reply = await self._call(
            self._client.xread({stream: after}, count=count, block=wait), block=block
        )
        return _entries(reply[stream]) if reply else []

    async def last_id(self, stream: str) -> StreamId:
        reply = await self._call(self._client.xrevrange(stream, "+", "-", count=1))
        return str(reply[0].identifier) if reply else START

    async def trim_before(self, stream: str, before: StreamId) -> int:
        """A trim Redis refuses (MISCONF: a failed save stops every write) is
        ``BusUnavailable``, as a refused script's is: an outage to wait out, not an error
        that ends the reader trimming its stream."""
        parse_id(before)
        command: list[resp.Arg] = ["XTRIM", stream, "MINID", before]
        if self._lean is None:
            # coredis types the threshold as a length; MINID takes an id, sent as it is.
            request = self._client.xtrim(stream, PureToken.MINID, cast(int, before))
            return await self._call_script(request)
        (removed,) = await self._fast([command], idempotent=True)
        if isinstance(removed, resp.RespError):
            if _refused(removed):
                raise BusUnavailable(f"redis: {removed.message}")
            raise coredis.exceptions.ResponseError(removed.message)
        assert isinstance(removed, int)
        return removed

    # ------------------------------------------------------------------ groups

    async def ensure_group(self, stream: str, group: str, *, from_start: bool = True) -> None:
        with contextlib.suppress(coredis.exceptions.StreamDuplicateConsumerGroupError):
            await self._call(  # BUSYGROUP (it exists) is suppressed
                self._client.xgroup_create(stream, group, "0" if from_start else "$", mkstream=True)
            )

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
        wait = None if block is None else _milliseconds(block)
        for _attempt in range(2):
            if self._lean is not None:
                blocking: list[resp.Arg] = [] if wait is None else ["BLOCK", wait]
                command: list[resp.Arg] = [
                    "XREADGROUP",
                    "GROUP",
                    group,
                    consumer,
                    "COUNT",
                    count,
                    *blocking,
                ]
                (lean,) = await self._fast(
                    [[*command, "STREAMS", stream, ">"]],
                    block=block,
                    yield_first=False,
                    idempotent=True,
                )
                if isinstance(lean, resp.RespError) and lean.code == "NOGROUP":
                    await self.ensure_group(stream, group)
                    continue
                return _lean_entries(lean)
            try:
                reply = await self._call(
                    self._client.xreadgroup(
                        group, consumer, {stream: ">"}, count=count, block=wait
                    ),
                    block=block,
                )
            except _NoGroup:
                await self.ensure_group(stream, group)
                continue
            return _entries(reply[stream]) if reply else []
        raise AssertionError("unreachable: the group was made after NOGROUP")  # pragma: no cover

    async def ack(self, stream: str, group: str, ids: Sequence[StreamId]) -> int:
        for stream_id in ids:
            parse_id(stream_id)
        if not ids:
            return 0
        if self._lean is not None:
            # Each edge's recorder acknowledges a batch of records this way: through
            # coredis it cost several times the lean pool's CPU (module docstring).  A
            # missing group or stream is a 0 reply from Redis, as coredis' NOGROUP here.
            # Acknowledging twice changes nothing: sent again after a lost connection.
            (reply,) = await self._fast(
                [["XACK", stream, group, *ids]], yield_first=False, idempotent=True
            )
            if isinstance(reply, resp.RespError):
                raise BusError(f"redis: {reply.message}")
            assert isinstance(reply, int)
            return reply
        try:
            return await self._call(self._client.xack(stream, group, ids))
        except _NoGroup:
            return 0

    async def claim_pending(
        self,
        stream: str,
        group: str,
        consumer: str,
        *,
        min_idle: float,
        count: int = DEFAULT_COUNT,
    ) -> list[Entry]:
        _check_count(count)
        claimed: list[Entry] = []
        start = START
        # XAUTOCLAIM scans at most 10 * COUNT pending entries per call: go on until the
        # whole list is scanned or ``count`` are claimed.
        while len(claimed) < count:
            if self._lean is not None:
                command: list[resp.Arg] = ["XAUTOCLAIM", stream, group, consumer]
                command += [round(min_idle * 1000), start, "COUNT", count - len(claimed)]
                (lean,) = await self._fast([command])
                if isinstance(lean, resp.RespError) and lean.code == "NOGROUP":
                    await self.ensure_group(stream, group)
                    return claimed
                assert isinstance(lean, list) and isinstance(lean[0], str)
                start = lean[0]
                claimed.extend(_lean_entries([[stream, lean[1]]]))
                if start == START:
                    break
                continue
            try:
                reply = await self._call(
                    self._client.xautoclaim(
                        stream,
                        group,
                        consumer,
                        round(min_idle * 1000),
                        start,
                        count=count - len(claimed),
                    )
                )
            except _NoGroup:
                await self.ensure_group(stream, group)
                return claimed
            start, entries = reply[0], reply[1]
            claimed.extend(_entries(entries))
            if start == START:
                break
        return claimed

    async def claim_abandoned(
        self, stream: str, group: str, consumer: str, *, count: int = DEFAULT_COUNT
    ) -> list[Entry]:
        """XPENDING's summary names the consumers with pending entries (usually none but
        the caller: one command); each other one's are listed and taken with XCLAIM."""
        _check_count(count)
        try:
            summary = await self._call(self._client.xpending(stream, group))
        except _NoGroup:
            return []
        assert isinstance(summary, StreamPending)
        claimed: list[Entry] = []
        for other, pending in summary.consumers.items():
            if other == consumer or not pending or len(claimed) >= count:
                continue
            listed = await self._call(
                self._client.xpending(stream, group, "-", "+", count - len(claimed), consumer=other)
            )
            assert isinstance(listed, tuple)
            ids = [str(cast(StreamPendingExt, row).identifier) for row in listed]
            if ids:
                reply = await self._call(self._client.xclaim(stream, group, consumer, 0, ids))
                claimed.extend(_entries(cast(Sequence[StreamEntry], reply)))
        return claimed

    async def pending_count(self, stream: str, group: str) -> int:
        try:
            reply = await self._call(self._client.xpending(stream, group))
        except _NoGroup:
            return 0
        assert isinstance(reply, StreamPending)  # the summary: no range was asked for
        return reply.pending

    async def drop_idle_consumers(self, stream: str, group: str, *, idle: float) -> list[str]:
        """XINFO CONSUMERS, then XGROUP DELCONSUMER for each one found idle with nothing
        pending (one that read in between loses nothing: what it read is its own)."""
        try:
            consumers = await self._call(self._client.xinfo_consumers(stream, group))
        except _NoGroup:
            return []
        except coredis.exceptions.ResponseError as error:
            if "no such key" in str(error).lower():
                return []
            raise
        dropped: list[str] = []
        for consumer in consumers:
            name, pending, idle_ms = consumer["name"], consumer["pending"], consumer["idle"]
            if pending == 0 and isinstance(idle_ms, int) and idle_ms >= idle * 1000:
                await self._call(self._client.xgroup_delconsumer(stream, group, str(name)))
                dropped.append(str(name))
        return dropped

    # ------------------------------------------------------------------ leases

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        epoch: object = await self._call_script(
            self._acquire(keys=[name, f"{name}:epoch"], args=[holder, _milliseconds(ttl)])
        )
        if epoch is None:
            return None
        assert isinstance(epoch, int)
        return Lease(name, holder, epoch)

    async def renew_lease(self, lease: Lease, ttl: float) -> bool:
        done: object = await self._call_script(
            self._renew(keys=[lease.name], args=[lease.token, _milliseconds(ttl)])
        )
        return done == 1

    async def release_lease(self, lease: Lease) -> bool:
        done: object = await self._call_script(self._release(keys=[lease.name], args=[lease.token]))
        return done == 1

    async def commit(self, lease: Lease, operations: Sequence[Operation]) -> list[StreamId]:
        args = _flatten(lease, operations)
        if self._lean is not None:
            return await self._fast_commit(args)
        keys = cast(list[str], args[1 : 1 + cast(int, args[0])])
        tail = args[1 + len(keys) :]
        try:
            ids: object = await self._call_script(self._commit(keys=keys, args=tail))
        except coredis.exceptions.ResponseError as exc:
            if str(exc).startswith("FENCED"):
                raise Fenced(str(exc)) from None
            raise
        assert isinstance(ids, list)
        return [str(stream_id) for stream_id in ids]

    async def read_hash(self, key: str) -> dict[str, str]:
        return dict(await self._call(self._client.hgetall(key)))

    async def commit_and_read_group(
        self,
        lease: Lease,
        operations: Sequence[Operation],
        stream: str,
        group: str,
        consumer: str,
        *,
        block: float,
        committed: Callable[[], None],
        count: int = DEFAULT_COUNT,
    ) -> tuple[BusError | None, list[Entry]]:
        """``commit``, then ``read_group`` sent behind it in the same ``send`` (the lean
        pool only: ``lean`` is not None): one write and one wait for the core's commit and
        its next read, where the two took a task and a round trip each.

        ``committed()`` is called as soon as the commit's reply says it was applied, before
        the call waits for the read (which blocks up to ``block`` seconds when nothing
        came).  Returns what refused the commit (``Fenced``, or ``BusUnavailable`` for a
        "not ready", NOSCRIPT or ``SCRIPT_REFUSALS`` reply: nothing was applied) or None,
        and the entries read: the read is sent whatever became of the commit, and its
        entries are pending for ``consumer`` once read, so they are always returned.  A
        lost connection raises ``BusUnavailable``: then the commit may or may not have been
        applied."""
        _check_count(count)
        args = _flatten(lease, operations)
        read: list[resp.Arg] = ["XREADGROUP", "GROUP", group, consumer, "COUNT", count]
        read += ["BLOCK", _milliseconds(block), "STREAMS", stream, ">"]
        first: list[resp.Reply] = []

        def on_reply(reply: resp.Reply) -> None:
            if not first:  # the commit's: what follows is the read's
                first.append(reply)
                if not isinstance(reply, resp.RespError):
                    committed()

        assert self._lean is not None
        limit = self._timeout + block
        with trio.move_on_after(limit):
            try:
                replies = await self._lean.execute(
                    [["EVALSHA", self._commit_sha, *args], read],
                    yield_first=False,
                    on_reply=on_reply,
                )
            except resp.RespUnavailable as exc:
                raise BusUnavailable(f"redis: {exc}") from None
            outcome = replies[0]
            refused: BusError | None = None
            if isinstance(outcome, resp.RespError):
                if outcome.code == "FENCED":
                    refused = Fenced(outcome.message)
                elif outcome.code == "NOSCRIPT" or outcome.not_ready or _refused(outcome):
                    refused = BusUnavailable(f"redis: {outcome.message}")
                else:
                    raise coredis.exceptions.ResponseError(outcome.message)
            entries = replies[1]
            if isinstance(entries, resp.RespError):
                if entries.code == "NOGROUP":
                    await self.ensure_group(stream, group)
                elif not entries.not_ready and not _refused(entries):
                    raise coredis.exceptions.ResponseError(entries.message)
                return refused, []
            return refused, _lean_entries(entries)
        raise BusUnavailable(f"redis: no reply within {limit:g} s")

    async def _fast_commit(self, args: list[resp.Arg]) -> list[StreamId]:
        (reply,) = await self._fast([["EVALSHA", self._commit_sha, *args]], yield_first=False)
        if isinstance(reply, resp.RespError) and reply.code == "NOSCRIPT":
            (reply,) = await self._fast([["EVAL", _COMMIT, *args]])  # loads it too
        if isinstance(reply, resp.RespError):
            if reply.code == "FENCED":
                raise Fenced(reply.message)
            if _refused(reply):
                raise BusUnavailable(f"redis: {reply.message}")
            raise coredis.exceptions.ResponseError(reply.message)
        assert isinstance(reply, list)
        return [str(stream_id) for stream_id in reply]

    # ------------------------------------------------------------------ internals

    async def _fast(
        self,
        commands: Sequence[resp.Command],
        *,
        block: float | None = None,
        yield_first: bool = True,
        idempotent: bool = False,
    ) -> list[resp.Reply]:
        """The replies to ``commands``, written together on one lean connection; an error
        reply that is not an outage is returned for the caller to judge.  ``yield_first``
        (``RespPool.execute``): false for the reads and the commit; ``idempotent``: true
        for the reads (an XREADGROUP that Redis never ran hands out nothing)."""
        assert self._lean is not None
        limit = self._timeout + (block or 0.0)
        with trio.move_on_after(limit):
            try:
                replies = await self._lean.execute(
                    commands, yield_first=yield_first, idempotent=idempotent
                )
            except resp.RespUnavailable as exc:
                raise BusUnavailable(f"redis: {exc}") from None
            for reply in replies:
                if isinstance(reply, resp.RespError) and reply.not_ready:
                    raise BusUnavailable(f"redis: {reply.message}")
            return replies
        raise BusUnavailable(f"redis: no reply within {limit:g} s")

    async def _call(self, request: Awaitable[T], *, block: float | None = None) -> T:
        """``request``'s reply, or ``BusUnavailable`` (see the module docstring)."""
        with trio.move_on_after(self._timeout + (block or 0.0)):
            try:
                return await request
            except _NOT_READY as exc:
                raise BusUnavailable(f"redis: {exc}") from None
            except coredis.exceptions.ResponseError as exc:
                if str(exc).startswith("MASTERDOWN"):
                    raise BusUnavailable(f"redis: {exc}") from None
                raise
        raise BusUnavailable(f"redis: no reply within {self._timeout + (block or 0.0):g} s")

    async def _call_script(self, request: Awaitable[T]) -> T:
        """``_call`` for the lease's and the commit's scripts (and a trim): a write Redis
        refused (``SCRIPT_REFUSALS``) is ``BusUnavailable`` too."""
        try:
            return await self._call(request)
        except coredis.exceptions.ResponseError as exc:
            if str(exc).split(" ", 1)[0] in SCRIPT_REFUSALS:
                raise BusUnavailable(f"redis: {exc}") from None
            raise


def _refused(reply: resp.RespError) -> bool:
    """A script's (or a read's) write refused before anything changed: ``SCRIPT_REFUSALS``."""
    return reply.code in SCRIPT_REFUSALS


class _QuietConnectionLogs(logging.Filter):
    """coredis logs a lost or refused connection with a traceback (at INFO, or ERROR when
    it happens during the handshake: a Redis being killed or restarted).  The bus reports
    those itself as ``BusUnavailable``, so here they are one WARNING line at most."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_coredis_log = logging.getLogger("coredis")
if not any(isinstance(f, _QuietConnectionLogs) for f in _coredis_log.filters):
    _coredis_log.addFilter(_QuietConnectionLogs())


class _ClosingTCPConnection(coredis.TCPConnection):
    """coredis 6.9 leaves a connection's memory streams open when connecting fails (its
    ``run`` closes them only once connected), and each refused connection then warns
    ``ResourceWarning: Unclosed`` when collected: during an outage, one per retry.
    Closing them when connecting fails fixes that without changing anything else."""

    async def _connect(self) -> ByteStream:
        try:
            return await super()._connect()
        except BaseException:
            for buffer in (
                self._push_message_buffer_in,
                self._push_message_buffer_out,
                self._streamed_message_buffer_in,
                self._streamed_message_buffer_out,
                self._write_buffer_in,
                self._write_buffer_out,
            ):
                buffer.close()
            raise


@asynccontextmanager
async def open_redis_bus(
    url: str, *, call_timeout: float = DEFAULT_TIMEOUT, max_connections: int = 64
) -> AsyncIterator[RedisBus]:
    """A ``RedisBus`` on ``url`` (``redis://HOST:PORT/DB``) for the ``async with`` block.

    Connects lazily: opening succeeds while Redis is down, and the first call says
    ``BusUnavailable`` then.  ``max_connections`` bounds the pool; each blocked read holds
    one connection while it waits."""
    pool = coredis.ConnectionPool.from_url(
        url,
        decode_responses=True,
        connect_timeout=call_timeout,
        max_connections=max_connections,
    )
    if pool.connection_class is coredis.TCPConnection:
        pool.connection_class = _ClosingTCPConnection
    client: coredis.Redis[str] = coredis.Redis(
        connection_pool=pool, decode_responses=True, retry_policy=NoRetryPolicy()
    )
    lean = resp.RespPool.from_url(url, max_connections=max_connections)
    try:
        async with client:
            yield RedisBus(client, call_timeout, lean)
    finally:
        if lean is not None:
            lean.close()
