"""What only the in-memory bus has: Trio's clock (lease lengths and idle times as the
cluster will use them, under ``autojump_clock``) and simulated outages."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from c4actors.bus import START, BusUnavailable, Fenced, InMemoryBus, PutField, StreamFollower


async def test_lease_expiry_and_takeover_follow_the_trio_clock(autojump_clock: MockClock) -> None:
    bus = InMemoryBus()
    core = await bus.acquire_lease("lease:core", "core", ttl=5)
    assert core is not None
    for _ in range(10):  # renewing every 2 s keeps it for good
        await trio.sleep(2)
        assert await bus.renew_lease(core, ttl=5)
        assert await bus.acquire_lease("lease:core", "standby", ttl=5) is None
    await trio.sleep(4.9)
    assert await bus.acquire_lease("lease:core", "standby", ttl=5) is None
    await trio.sleep(0.1)
    standby = await bus.acquire_lease("lease:core", "standby", ttl=5)
    assert standby is not None
    assert standby.epoch == core.epoch + 1
    with pytest.raises(Fenced):
        await bus.commit(core, [PutField("state", "lobby", "stale")])
    assert await bus.read_hash("state") == {}


async def test_idle_times_follow_the_trio_clock(autojump_clock: MockClock) -> None:
    bus = InMemoryBus()
    await bus.append("in", {"n": "1"})
    await bus.read_group("in", "core", "dead")
    await trio.sleep(29)
    assert await bus.claim_pending("in", "core", "standby", min_idle=30) == []
    await trio.sleep(1)
    assert len(await bus.claim_pending("in", "core", "standby", min_idle=30)) == 1


async def test_an_outage_fails_every_call_and_wakes_blocked_readers() -> None:
    bus = InMemoryBus()
    await bus.append("s", {"n": "1"})
    failed: list[BusUnavailable] = []

    async def blocked_reader() -> None:
        try:
            await bus.read_after("s", await bus.last_id("s"), block=60)
        except BusUnavailable as exc:
            failed.append(exc)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocked_reader)
            await trio.sleep(0.01)
            bus.set_available(False)
    assert len(failed) == 1
    with pytest.raises(BusUnavailable):
        await bus.append("s", {"n": "2"})
    with pytest.raises(BusUnavailable):
        await bus.acquire_lease("lease", "me", ttl=1)
    bus.set_available(True)
    assert len(await bus.read_after("s", START)) == 1


async def test_a_follower_waits_out_an_outage(autojump_clock: MockClock) -> None:
    bus = InMemoryBus()
    follower = StreamFollower(bus, "s", block=1)
    first = await bus.append("s", {"n": "1"})
    assert [e.id for e in await follower.next_batch()] == [first]
    bus.set_available(False)
    got: list[str] = []

    async def follow() -> None:
        got.extend(e.fields["n"] for e in await follower.next_batch())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        await trio.sleep(30)
        assert follower.outage is not None
        bus.set_available(True)
        await bus.append("s", {"n": "2"})
    assert got == ["2"]
    assert follower.outage is None
    assert follower.last_id != first


async def test_a_lost_reply_means_the_work_was_done() -> None:
    bus = InMemoryBus()
    lease = await bus.acquire_lease("lease", "core", ttl=60)
    assert lease is not None
    bus.lose_replies(4)
    with pytest.raises(BusUnavailable, match="lost the reply"):
        await bus.append("in", {"n": "1"})
    with pytest.raises(BusUnavailable):
        await bus.read_group("in", "core", "a")
    with pytest.raises(BusUnavailable):
        await bus.commit(lease, [PutField("state", "k", "v")])
    with pytest.raises(BusUnavailable):
        await bus.claim_pending("in", "core", "b", min_idle=0)
    # every one of them happened: the entry, its delivery, the state, the claim
    assert await bus.read_hash("state") == {"k": "v"}
    assert await bus.pending_count("in", "core") == 1
    [entry] = await bus.claim_pending("in", "core", "c", min_idle=0)
    assert entry.fields == {"n": "1"}
    assert await bus.ack("in", "core", [entry.id]) == 1
