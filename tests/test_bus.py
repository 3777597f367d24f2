"""The bus's promises (``c4actors/bus/interface.py``), one suite run against both the
in-memory bus and Redis Streams on a real ``redis-server`` (the hot commands through the
lean pool, and everything through coredis as for a URL the pool does not take).

Lease expiry and pending entries' idle times are real time in Redis, so those tests wait
a few hundred milliseconds for both buses alike; ``test_bus_memory.py`` checks the same
under Trio's mock clock with realistic lengths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from c4actors.bus import (
    START,
    Ack,
    Append,
    Bus,
    DeleteField,
    Expire,
    Fenced,
    InMemoryBus,
    Lease,
    Operation,
    PutField,
    PutFields,
    open_redis_bus,
    parse_id,
)
from c4actors.bus.records import COMMITTED_ENTRY_FIELDS_MAX
from c4actors.bus.redis_streams import _COMMIT, _flatten
from c4actors.bus.resp import Arg, RespError, RespPool
from tests.redis_server import RedisServer

REDIS_TRIM_SLACK = 100
"""``MAXLEN ~`` trims whole stream nodes (``stream-node-max-entries``, 100 by default)."""


@pytest.fixture(params=["memory", "redis", "redis-coredis"])
def bus_url(request: pytest.FixtureRequest) -> str | None:
    """None for the in-memory bus, else the URL of this test's own redis-server; with
    ``redis-coredis`` a URL with an option, which the lean pool leaves to coredis whole
    (every command through coredis, as for TLS or a Unix socket)."""
    if request.param == "memory":
        return None
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url if request.param == "redis" else f"{server.url}?max_connections=32"


@pytest.fixture
async def bus(bus_url: str | None) -> AsyncIterator[Bus]:
    if bus_url is None:
        yield InMemoryBus()
        return
    async with open_redis_bus(bus_url) as redis_bus:
        yield redis_bus


# --------------------------------------------------------------------------- streams


async def test_append_then_read_after_in_order(bus: Bus) -> None:
    ids = [await bus.append("s", {"n": str(n), "kind": "move"}) for n in range(5)]
    assert [parse_id(i) for i in ids] == sorted(parse_id(i) for i in ids)
    assert len(set(ids)) == 5
    entries = await bus.read_after("s", START)
    assert [e.id for e in entries] == ids
    assert [e.fields for e in entries] == [{"n": str(n), "kind": "move"} for n in range(5)]
    assert [e.fields["n"] for e in await bus.read_after("s", ids[2])] == ["3", "4"]
    assert await bus.read_after("s", ids[-1]) == []
    assert [e.id for e in await bus.read_after("s", START, count=2)] == ids[:2]
    assert await bus.read_after("nothing", START) == []


async def test_last_id(bus: Bus) -> None:
    assert await bus.last_id("s") == START
    await bus.append("s", {"n": "1"})
    newest = await bus.append("s", {"n": "2"})
    assert await bus.last_id("s") == newest
    assert await bus.read_after("s", await bus.last_id("s")) == []


async def test_a_blocked_read_wakes_when_an_entry_comes(bus: Bus) -> None:
    got: list[str] = []

    async def reader() -> None:
        entries = await bus.read_after("s", START, block=10)
        got.extend(e.fields["n"] for e in entries)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.sleep(0.05)
            await bus.append("s", {"n": "1"})
    assert got == ["1"]


async def test_a_blocked_read_returns_nothing_when_nothing_comes(bus: Bus) -> None:
    with trio.fail_after(5):
        before = trio.current_time()
        assert await bus.read_after("s", START, block=0.1) == []
        assert trio.current_time() - before >= 0.09


async def test_trimming_keeps_at_least_the_newest(bus: Bus, bus_url: str | None) -> None:
    ids = [await bus.append("s", {"n": str(n)}, maxlen=10) for n in range(300)]
    kept = [e.id for e in await bus.read_after("s", START, count=1000)]
    assert kept[-10:] == ids[-10:]
    slack = 0 if bus_url is None else REDIS_TRIM_SLACK
    assert len(kept) <= 10 + slack


async def test_trimming_before_an_id_removes_exactly_the_older_entries(bus: Bus) -> None:
    ids = [await bus.append("s", {"n": str(n)}) for n in range(250)]
    assert await bus.trim_before("s", ids[230]) == 230
    assert [e.id for e in await bus.read_after("s", START, count=1000)] == ids[230:]
    assert await bus.trim_before("s", ids[230]) == 0
    assert await bus.trim_before("s", START) == 0
    assert await bus.trim_before("nothing", ids[-1]) == 0
    assert await bus.last_id("nothing") == START  # not made by the trim
    with pytest.raises(ValueError, match="stream id"):
        await bus.trim_before("s", "$")


@pytest.mark.parametrize("after", ["", "$", ">", "12", "1-x", "-1-0"])
async def test_a_bad_id_is_refused(bus: Bus, after: str) -> None:
    with pytest.raises(ValueError, match="stream id"):
        await bus.read_after("s", after)


async def test_bad_arguments_are_refused(bus: Bus) -> None:
    with pytest.raises(ValueError, match="field"):
        await bus.append("s", {})
    with pytest.raises(ValueError, match="maxlen"):
        await bus.append("s", {"n": "1"}, maxlen=-1)
    with pytest.raises(ValueError, match="count"):
        await bus.read_after("s", START, count=0)
    assert await bus.read_after("s", START) == []


# --------------------------------------------------------------------------- groups


async def test_a_group_gives_each_entry_to_one_consumer(bus: Bus) -> None:
    await bus.ensure_group("in", "core")
    await bus.ensure_group("in", "core")  # idempotent
    ids = [await bus.append("in", {"n": str(n)}) for n in range(6)]
    first = await bus.read_group("in", "core", "a", count=4)
    second = await bus.read_group("in", "core", "b", count=4)
    assert [e.id for e in first + second] == ids
    assert await bus.read_group("in", "core", "a") == []
    assert await bus.pending_count("in", "core") == 6
    assert await bus.ack("in", "core", [e.id for e in first]) == 4
    assert await bus.ack("in", "core", [e.id for e in first]) == 0
    assert await bus.pending_count("in", "core") == 2
    assert await bus.ack("in", "core", []) == 0


async def test_a_group_from_now_skips_what_was_there(bus: Bus) -> None:
    await bus.append("in", {"n": "old"})
    await bus.ensure_group("in", "core", from_start=False)
    await bus.append("in", {"n": "new"})
    assert [e.fields["n"] for e in await bus.read_group("in", "core", "a")] == ["new"]


async def test_a_missing_group_is_made_from_the_start(bus: Bus) -> None:
    await bus.append("in", {"n": "1"})
    assert [e.fields["n"] for e in await bus.read_group("in", "core", "a")] == ["1"]
    assert await bus.pending_count("other", "none") == 0
    assert await bus.ack("other", "none", ["1-0"]) == 0


async def test_a_blocked_group_read_wakes(bus: Bus) -> None:
    await bus.ensure_group("in", "core")
    got: list[str] = []

    async def reader() -> None:
        got.extend(e.fields["n"] for e in await bus.read_group("in", "core", "a", block=10))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.sleep(0.05)
            await bus.append("in", {"n": "1"})
    assert got == ["1"]
    assert await bus.read_group("in", "core", "a", block=0.05) == []


async def test_pending_entries_are_claimed_once_idle(bus: Bus) -> None:
    await bus.ensure_group("in", "core")
    ids = [await bus.append("in", {"n": str(n)}) for n in range(3)]
    taken = await bus.read_group("in", "core", "dead")
    await bus.ack("in", "core", [taken[1].id])
    assert await bus.claim_pending("in", "core", "standby", min_idle=5) == []
    await trio.sleep(0.15)
    claimed = await bus.claim_pending("in", "core", "standby", min_idle=0.1)
    assert [e.id for e in claimed] == [ids[0], ids[2]]
    assert [e.fields["n"] for e in claimed] == ["0", "2"]
    # claiming resets the idle time: nobody else takes them over at once
    assert await bus.claim_pending("in", "core", "third", min_idle=1.0) == []
    await bus.ack("in", "core", [e.id for e in claimed])
    assert await bus.pending_count("in", "core") == 0


async def test_claiming_respects_count_and_skips_trimmed_entries(bus: Bus) -> None:
    await bus.ensure_group("in", "core")
    for n in range(5):
        await bus.append("in", {"n": str(n)})
    await bus.read_group("in", "core", "dead")
    assert len(await bus.claim_pending("in", "core", "standby", min_idle=0, count=2)) == 2
    assert len(await bus.claim_pending("in", "core", "standby", min_idle=0)) == 5


async def test_abandoned_entries_are_claimed_never_the_caller_s_own(bus: Bus) -> None:
    await bus.ensure_group("in", "core")
    ids = [await bus.append("in", {"n": str(n)}) for n in range(5)]
    await bus.read_group("in", "core", "deposed", count=2)
    await bus.read_group("in", "core", "serving", count=1)
    await bus.read_group("in", "core", "paused", count=1)
    assert await bus.claim_abandoned("none", "core", "serving") == []  # no such group yet
    claimed = await bus.claim_abandoned("in", "core", "serving", count=2)
    assert len(claimed) == 2
    claimed += await bus.claim_abandoned("in", "core", "serving")
    assert sorted(e.id for e in claimed) == [ids[0], ids[1], ids[3]]
    assert await bus.claim_abandoned("in", "core", "serving") == []
    await bus.ack("in", "core", [e.id for e in claimed])
    assert await bus.pending_count("in", "core") == 1  # ids[2], the caller's own


# --------------------------------------------------------------------------- leases


async def test_one_lease_at_a_time_and_epochs_grow(bus: Bus) -> None:
    core = await bus.acquire_lease("lease:core", "core-1", ttl=30)
    assert core is not None
    assert await bus.acquire_lease("lease:core", "standby", ttl=30) is None
    assert await bus.acquire_lease("lease:core", "core-1", ttl=30) is None
    assert await bus.renew_lease(core, ttl=30)
    assert await bus.release_lease(core)
    assert not await bus.release_lease(core)
    standby = await bus.acquire_lease("lease:core", "standby", ttl=30)
    assert standby is not None
    assert standby.epoch > core.epoch
    assert not await bus.renew_lease(core, ttl=30)


async def test_an_expired_lease_is_taken_over_and_its_holder_fenced(bus: Bus) -> None:
    old = await bus.acquire_lease("lease:core", "core-1", ttl=1.0)
    assert old is not None
    await bus.commit(old, [PutField("state", "lobby", "v1")])
    await trio.sleep(1.1)  # the old core paused past its lease
    with pytest.raises(Fenced):  # expired, nobody took it yet: still fenced out
        await bus.commit(old, [PutField("state", "lobby", "stale")])
    new = await bus.acquire_lease("lease:core", "standby", ttl=5)
    assert new is not None
    assert new.epoch > old.epoch
    assert not await bus.renew_lease(old, ttl=5)
    with pytest.raises(Fenced):
        await bus.commit(old, [Append("out", {"n": "stale"}), PutField("state", "lobby", "stale")])
    assert await bus.read_hash("state") == {"lobby": "v1"}
    assert await bus.read_after("out", START) == []
    await bus.commit(new, [PutField("state", "lobby", "v2")])
    assert await bus.read_hash("state") == {"lobby": "v2"}


async def test_a_commit_applies_everything_in_order(bus: Bus) -> None:
    lease = await bus.acquire_lease("lease:core", "core-1", ttl=5)
    assert lease is not None
    await bus.ensure_group("in", "core")
    first = await bus.append("in", {"move": "3"})
    await bus.append("in", {"move": "4"})
    inputs = await bus.read_group("in", "core", "core-1")
    await bus.commit(lease, [PutField("state", "game:1", "old"), PutField("state", "game:2", "x")])
    ids = await bus.commit(
        lease,
        [
            Ack("in", "core", (first,)),
            PutField("state", "game:1", "after move 3"),
            Append("edge:1", {"frame": "a"}, maxlen=1000),
            Append("edge:2", {"frame": "b"}),
            DeleteField("state", "game:2"),
        ],
    )
    assert len(ids) == 2
    assert await bus.pending_count("in", "core") == 1
    assert await bus.read_hash("state") == {"game:1": "after move 3"}
    assert [e.id for e in await bus.read_after("edge:1", START)] == ids[:1]
    assert [e.fields for e in await bus.read_after("edge:2", START)] == [{"frame": "b"}]
    assert len(inputs) == 2
    # acknowledging for a group that does not exist acknowledges nothing, and fails nothing
    await bus.commit(lease, [Ack("in", "nobody", (first,)), PutField("state", "k", "v")])
    assert (await bus.read_hash("state"))["k"] == "v"
    assert await bus.read_hash("nothing") == {}


async def test_a_bad_commit_applies_nothing(bus: Bus) -> None:
    lease = await bus.acquire_lease("lease:core", "core-1", ttl=5)
    assert lease is not None
    with pytest.raises(ValueError, match="field"):
        await bus.commit(lease, [PutField("state", "a", "1"), Append("out", {})])
    with pytest.raises(ValueError, match="stream id"):
        await bus.commit(lease, [PutField("state", "a", "1"), Ack("in", "g", ("$",))])
    assert await bus.read_hash("state") == {}
    assert await bus.read_after("out", START) == []


async def test_a_commit_s_expiry_removes_the_stream_in_time(bus: Bus) -> None:
    """A dead edge's stream (``bus_links.FAREWELL_KEEP``): its last entry written, then the
    whole stream gone a while later; an expiry that is not in the future applies nothing."""
    lease = await bus.acquire_lease("lease:core", "core-1", ttl=5)
    assert lease is not None
    await bus.append("gone", {"d": "before"})
    await bus.commit(lease, [Append("gone", {"d": "last"}, maxlen=1), Expire("gone", 0.3)])
    assert (await bus.read_after("gone", START))[-1].fields == {"d": "last"}
    with pytest.raises(ValueError, match="expiry"):
        await bus.commit(lease, [PutField("state", "a", "1"), Expire("kept", 0)])
    assert await bus.read_hash("state") == {}
    await trio.sleep(0.5)
    assert await bus.read_after("gone", START) == []


async def test_idle_consumers_holding_nothing_are_dropped(bus: Bus) -> None:
    """Dead processes' consumers (each restart names a new one): dropped once idle, unless
    they still hold an entry (another claims it first); a living one is kept."""
    await bus.ensure_group("s", "g")
    await bus.append("s", {"n": "1"})
    assert len(await bus.read_group("s", "g", "dead-holding")) == 1
    await bus.append("s", {"n": "2"})
    (done,) = await bus.read_group("s", "g", "dead-done")
    await bus.ack("s", "g", [done.id])
    await trio.sleep(0.4)
    assert await bus.read_group("s", "g", "alive") == []
    assert await bus.drop_idle_consumers("s", "g", idle=0.3) == ["dead-done"]
    assert await bus.drop_idle_consumers("s", "g", idle=0.3) == []
    assert await bus.pending_count("s", "g") == 1, "the holder's entry is still pending"
    assert await bus.drop_idle_consumers("s", "none", idle=0.3) == []
    assert await bus.drop_idle_consumers("nothing", "g", idle=0.3) == []


# --------------------------------------------------------------------------- the commit's encoding

ODD_TEXT = [
    "",
    " ",
    "\x00\x01\x7f",
    "\r\n$5\r\nhello\r\n*2\r\n",  # RESP framing inside a value
    "h",  # the script's run kinds and counts, as values
    "x",
    "-1",
    "0",
    "1e9",
    '"quoted" \\ back\\slash [1, {"a": null}]',  # JSON, escapes and all
    "été, 日本語, 😀, \u2028\u2029, \ufeff",
    "é" * 10_000,
]
"""Values a commit carries unchanged, whatever the encoding: empty, control bytes, RESP's
framing, the script's own markers, JSON, non-ASCII (two, three and four UTF-8 bytes), long."""


async def test_a_commit_carries_any_text_unchanged(bus: Bus) -> None:
    lease = await bus.acquire_lease("lease:core", "core-1", ttl=5)
    assert lease is not None
    fields = {f"f{n}:{text[:20]}": text for n, text in enumerate(ODD_TEXT)}
    ids = await bus.commit(
        lease,
        [
            *(PutField("state", field, value) for field, value in fields.items()),
            Append("out é", fields),
            Append("out é", {text[:50] or "empty": text for text in ODD_TEXT}),
            PutField("state é 😀", "\r\n", "x"),
        ],
    )
    assert len(ids) == 2
    assert await bus.read_hash("state") == fields
    assert await bus.read_hash("state é 😀") == {"\r\n": "x"}
    entries = await bus.read_after("out é", START)
    assert [e.id for e in entries] == ids
    assert entries[0].fields == fields
    assert entries[1].fields == {text[:50] or "empty": text for text in ODD_TEXT}


async def test_many_fields_put_as_one_operation_are_a_put_each(bus: Bus) -> None:
    """``PutFields`` (the core's commit: every field it sets, as one operation) does what
    a ``PutField`` each does, in order, within runs of other puts, deletes and hashes; an
    empty one does nothing."""
    lease = await bus.acquire_lease("lease:core", "core-1", ttl=5)
    assert lease is not None
    await bus.commit(
        lease,
        [
            PutField("state", "a", "1"),
            PutFields("state", {"b": "2", "a": "3"}),
            PutFields("other", {}),
            PutFields("other", {"x": "y"}),
            DeleteField("state", "b"),
            PutFields("state", {"c": "4", "b": "5"}),
            PutFields("state", {}),
            PutField("state", "c", "6"),
        ],
    )
    assert await bus.read_hash("state") == {"a": "3", "b": "5", "c": "6"}
    assert await bus.read_hash("other") == {"x": "y"}
    assert await bus.read_hash("empty") == {}


def test_many_fields_put_as_one_operation_are_the_script_s_runs_of_a_put_each() -> None:
    """Redis's commit script gets the same arguments from a ``PutFields`` as from a
    ``PutField`` each (one run per hash while the puts follow one another)."""
    lease = Lease("lease:core", "core-1", 3)
    fields = {f"moves:g{n}": f"[{n}]" for n in range(5)}
    one_by_one: list[Operation] = [PutField("c4:state", k, v) for k, v in fields.items()]
    one_by_one += [PutField("other", "k", "v"), DeleteField("c4:state", "game:g9")]
    at_once: list[Operation] = [PutFields("c4:state", fields), PutFields("other", {"k": "v"})]
    at_once += [PutFields("other", {}), DeleteField("c4:state", "game:g9")]
    assert _flatten(lease, at_once) == _flatten(lease, one_by_one)
    mixed: list[Operation] = [PutField("c4:state", "a", "1"), PutFields("c4:state", fields)]
    assert _flatten(lease, mixed) == _flatten(
        lease, [PutField("c4:state", "a", "1"), *one_by_one[:5]]
    )


async def test_a_commit_with_empty_runs(bus: Bus) -> None:
    lease = await bus.acquire_lease("lease:core", "core-1", ttl=5)
    assert lease is not None
    await bus.ensure_group("in", "core")
    first = await bus.append("in", {"n": "1"})
    await bus.read_group("in", "core", "core-1")
    assert await bus.commit(lease, []) == []
    assert await bus.commit(lease, [Ack("in", "core", ())]) == []
    ids = await bus.commit(
        lease,
        [
            Ack("in", "core", ()),
            PutField("state", "a", "1"),
            Ack("in", "core", ()),
            Append("out", {"n": "1"}),
            Ack("in", "core", (first,)),
        ],
    )
    assert len(ids) == 1
    assert await bus.read_hash("state") == {"a": "1"}
    assert await bus.pending_count("in", "core") == 0
    await bus.release_lease(lease)
    with pytest.raises(Fenced):  # an empty commit is fenced too
        await bus.commit(lease, [])


async def test_a_large_commit_applies_everything_in_order(bus: Bus) -> None:
    """Runs far longer than one Lua ``unpack`` takes (about 8,000 values), interleaved
    with others: the same effects as the operations one by one, in order."""
    lease = await bus.acquire_lease("lease:core", "core-1", ttl=30)
    assert lease is not None
    await bus.ensure_group("in", "core")
    inputs = [await bus.append("in", {"n": str(n)}) for n in range(9_000)]
    for _ in range(90):
        await bus.read_group("in", "core", "core-1")
    puts = [PutField("state", f"user:{n}", f"v{n}") for n in range(6_000)]
    operations: list[Operation] = [
        *puts,
        DeleteField("state", "user:0"),
        PutField("state", "user:0", "again"),  # a put after a delete of the same field
        *(DeleteField("state", f"user:{n}") for n in range(1, 4_500)),
        PutField("other", "k", "v"),
        PutField("state", "user:4499", "last"),  # the same hash again, in a new run
        Append("out", {f"f{n}": str(n) for n in range(COMMITTED_ENTRY_FIELDS_MAX)}),
        Ack("in", "core", tuple(inputs[:8_500])),
        Ack("in", "core", tuple(inputs[8_500:])),
        *(Append(f"edge:{n % 3}", {"d": str(n)}, maxlen=10_000) for n in range(300)),
    ]
    ids = await bus.commit(lease, operations)
    assert len(ids) == 301
    state = await bus.read_hash("state")
    assert state == {
        "user:0": "again",
        "user:4499": "last",
        **{f"user:{n}": f"v{n}" for n in range(4_500, 6_000)},
    }
    assert await bus.read_hash("other") == {"k": "v"}
    (entry,) = await bus.read_after("out", START)
    assert len(entry.fields) == COMMITTED_ENTRY_FIELDS_MAX
    assert entry.id == ids[0]
    assert await bus.pending_count("in", "core") == 0
    edges = [await bus.read_after(f"edge:{n}", START, count=1_000) for n in range(3)]
    assert [e.fields["d"] for e in edges[1]] == [str(n) for n in range(1, 300, 3)]
    assert sorted((e.id for edge in edges for e in edge), key=parse_id) == sorted(
        ids[1:], key=parse_id
    )


async def test_an_entry_too_large_for_a_commit_is_refused_before_anything(bus: Bus) -> None:
    lease = await bus.acquire_lease("lease:core", "core-1", ttl=5)
    assert lease is not None
    too_many = {f"f{n}": "v" for n in range(COMMITTED_ENTRY_FIELDS_MAX + 1)}
    with pytest.raises(ValueError, match="at most"):
        await bus.commit(lease, [PutField("state", "a", "1"), Append("out", too_many)])
    assert await bus.read_hash("state") == {}
    assert await bus.read_after("out", START) == []


async def test_the_script_refuses_malformed_runs_before_writing(redis_server: RedisServer) -> None:
    """The commit script checks its runs' shape first: arguments that do not parse (a
    count past the end, an unknown kind, a key index out of range) write nothing, even
    when the runs before them are well formed."""
    async with open_redis_bus(redis_server.url) as bus:
        lease = await bus.acquire_lease("lease:core", "core-1", ttl=5)
        assert lease is not None
    pool = RespPool("127.0.0.1", redis_server.port)
    good: list[Arg] = ["h", 2, "", 2, "a", "1"]
    try:
        malformed: list[list[Arg]] = [
            ["h", 2, "", 4, "b", "2"],
            ["z", 2, "", 0],
            ["h", 3, "", 2, "b", "2"],
            ["h", 2, ""],
            ["h", 2, "", -2, "b", "2"],
        ]
        for bad in malformed:
            (reply,) = await pool.execute(
                [["EVAL", _COMMIT, 2, lease.name, "state", lease.token, *good, *bad]]
            )
            assert isinstance(reply, RespError) and reply.code == "BADCOMMIT", (bad, reply)
        (reply,) = await pool.execute([["HGETALL", "state"]])
        assert reply == []
        (reply,) = await pool.execute(
            [["EVAL", _COMMIT, 2, lease.name, "state", lease.token, *good]]
        )
        assert reply == []
        (reply,) = await pool.execute([["HGETALL", "state"]])
        assert reply == ["a", "1"]
    finally:
        pool.close()
