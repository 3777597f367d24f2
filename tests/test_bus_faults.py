"""The Redis bus under faults, on a real ``redis-server``: connections killed mid-stream,
the server killed with SIGKILL and restarted, the server frozen.  Nothing read is lost,
nothing is handed out twice, and no traceback is logged (``conftest``'s guard fails a test
on any ERROR; the follower's WARNING says the outage, without a traceback)."""

from __future__ import annotations

import logging
import os
import signal

import pytest
import trio

from c4actors.bus import (
    BusUnavailable,
    Entry,
    PutField,
    RedisBus,
    StreamFollower,
    open_redis_bus,
)
from tests.redis_server import RedisServer, command

MESSAGES = 600


async def _append_all(
    bus: RedisBus, stream: str, count: int, midway: trio.Event | None = None
) -> None:
    """Append ``n`` = 0..count-1, retrying each through outages (``midway`` is set a third
    of the way).  A retry after a lost reply may append one twice: readers dedupe by ``n``,
    as the cluster's do by id."""
    for n in range(count):
        if midway is not None and n == count // 3:
            midway.set()
        while True:
            try:
                await bus.append(stream, {"n": str(n)})
                break
            except BusUnavailable:
                await trio.sleep(0.02)
        if n % 20 == 0:
            await trio.sleep(0.005)


def _check_all_in_order(entries: list[Entry], count: int) -> None:
    numbers = [int(entry.fields["n"]) for entry in entries]
    assert len({entry.id for entry in entries}) == len(entries), "an entry was read twice"
    firsts = list(dict.fromkeys(numbers))
    assert firsts == list(range(count)), "an entry was lost or reordered"


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


async def _follow(follower: StreamFollower, into: list[Entry], count: int) -> None:
    while not into or int(into[-1].fields["n"]) < count - 1:
        into.extend(await follower.next_batch())


async def test_killed_reader_connections_lose_nothing(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="c4actors.bus")
    got: list[Entry] = []
    kills = 0

    async def kill_readers() -> None:
        nonlocal kills
        while len(got) < MESSAGES:
            await trio.sleep(0.02)
            listing = command(redis_server.port, "CLIENT", "LIST").decode()
            for line in listing.splitlines():
                if "cmd=xread" in line:
                    client_id = line.split("id=", 1)[1].split(" ", 1)[0]
                    command(redis_server.port, "CLIENT", "KILL", "ID", client_id)
                    kills += 1

    with trio.fail_after(60):
        async with open_redis_bus(redis_server.url) as bus:
            follower = StreamFollower(bus, "frames", block=1, first_retry=0.01)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_follow, follower, got, MESSAGES)
                nursery.start_soon(kill_readers)
                await _append_all(bus, "frames", MESSAGES)
    assert kills > 0
    _check_all_in_order(got, MESSAGES)
    _no_tracebacks(caplog)


async def test_a_redis_restart_mid_stream_loses_nothing(
    persistent_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="c4actors.bus")
    server = persistent_redis_server
    got: list[Entry] = []
    midway = trio.Event()

    async def restart_midway() -> None:
        await midway.wait()
        server.kill()
        await trio.sleep(0.3)  # an outage long enough for every client to notice
        await trio.to_thread.run_sync(server.restart)

    with trio.fail_after(60):
        async with open_redis_bus(server.url) as bus:
            follower = StreamFollower(bus, "frames", block=1, first_retry=0.01)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_follow, follower, got, MESSAGES)
                nursery.start_soon(restart_midway)
                await _append_all(bus, "frames", MESSAGES, midway)
    _check_all_in_order(got, MESSAGES)
    assert any("paused" in r.getMessage() for r in caplog.records)
    assert any("resumed" in r.getMessage() for r in caplog.records)
    _no_tracebacks(caplog)


async def test_groups_and_leases_survive_a_restart(persistent_redis_server: RedisServer) -> None:
    server = persistent_redis_server
    with trio.fail_after(30):
        async with open_redis_bus(server.url) as bus:
            await bus.ensure_group("in", "core")
            for n in range(3):
                await bus.append("in", {"n": str(n)})
            taken = await bus.read_group("in", "core", "core-1")
            await bus.ack("in", "core", [taken[0].id])
            lease = await bus.acquire_lease("lease:core", "core-1", ttl=1.0)
            assert lease is not None
            await bus.commit(lease, [PutField("state", "lobby", "v1")])

            server.kill()
            with pytest.raises(BusUnavailable):
                await bus.pending_count("in", "core")
            await trio.to_thread.run_sync(server.restart)

            assert await bus.pending_count("in", "core") == 2
            claimed = await bus.claim_pending("in", "core", "standby", min_idle=0)
            assert [e.fields["n"] for e in claimed] == ["1", "2"]
            assert await bus.read_hash("state") == {"lobby": "v1"}
            await trio.sleep(1.1)
            successor = await bus.acquire_lease("lease:core", "standby", ttl=5)
            assert successor is not None
            assert successor.epoch > lease.epoch


async def test_a_restart_that_lost_the_data_is_no_crash(redis_server: RedisServer) -> None:
    """Without persistence a restart loses streams and groups: readers and groups carry
    on with what comes next (ids are times, so later entries sort after the last seen)."""
    with trio.fail_after(30):
        async with open_redis_bus(redis_server.url) as bus:
            follower = StreamFollower(bus, "frames", block=0.5, first_retry=0.01)
            await bus.ensure_group("in", "core")
            await bus.append("frames", {"n": "0"})
            await bus.append("in", {"n": "0"})
            assert len(await follower.next_batch()) == 1
            assert len(await bus.read_group("in", "core", "core-1")) == 1

            await trio.to_thread.run_sync(redis_server.restart)
            await bus.append("frames", {"n": "1"})
            await bus.append("in", {"n": "1"})
            assert [e.fields["n"] for e in await follower.next_batch()] == ["1"]
            assert [e.fields["n"] for e in await bus.read_group("in", "core", "core-1")] == ["1"]


async def test_a_frozen_or_absent_redis_is_unavailable_not_a_hang(
    redis_server: RedisServer,
) -> None:
    async with open_redis_bus(redis_server.url, call_timeout=0.3) as bus:
        await bus.append("s", {"n": "1"})
        assert redis_server.process is not None
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            with trio.fail_after(5), pytest.raises(BusUnavailable, match="no reply"):
                await bus.append("s", {"n": "2"})
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        redis_server.kill()
        with trio.fail_after(5), pytest.raises(BusUnavailable):
            await bus.read_after("s", "0-0", block=1)
