"""The lease's and the commit's scripts refused by a real Redis (OOM: ``maxmemory``
reached under ``noeviction``) are an outage to wait out (``redis_streams.SCRIPT_REFUSALS``),
not a crash: before, the core's commit raised Redis's error, which ended the core, and its
standby met the same refusal (issue 16: "no crash, no traceback; everything resumes")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from c4actors.bus import BusUnavailable, open_redis_bus, resp
from c4actors.bus.records import Append
from protocol import Chat, ChatMessage
from tests.redis_server import RedisServer, command
from tests.test_bus_appender import memory_limit
from tests.test_cluster_failover import a_game_across_two_edges


@pytest.mark.parametrize("lean", [True, False], ids=["lean pool", "coredis"])
async def test_a_commit_refused_for_memory_is_unavailable_and_applies_once_memory_is_back(
    redis_server: RedisServer, lean: bool
) -> None:
    async with open_redis_bus(redis_server.url) as bus:
        if not lean:
            bus._lean = None
        lease = await bus.acquire_lease("lease", "core-1", 5.0)
        assert lease is not None
        command(redis_server.port, "CONFIG", "SET", "maxmemory", "1")
        try:
            with pytest.raises(BusUnavailable, match="OOM"):
                await bus.commit(lease, [Append("frames", {"d": "one"})])
            assert await bus.renew_lease(lease, 5.0) in (True, False)  # no error raised
        finally:
            command(redis_server.port, "CONFIG", "SET", "maxmemory", "0")
        await bus.commit(lease, [Append("frames", {"d": "two"})])
        entries = await bus.read_after("frames", "0-0")
        assert [entry.fields["d"] for entry in entries] == ["two"], "the refused one not applied"


@pytest.fixture
def commit_refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Put a text in the list: the next commit script (EVALSHA) the core writes holding it
    is refused by Redis, for real (OOM: ``maxmemory`` one byte for that command alone, on
    the same connection, the settings' replies skipped); the read written behind it runs."""
    needles: list[str] = []
    request = resp.Connection.request

    async def refusing(self: resp.Connection, data: bytes, *args: Any, **kwargs: Any) -> Any:
        if needles and b"EVALSHA" in data and needles[0].encode() in data:
            del needles[0]
            read = data.find(b"\r\n$10\r\nXREADGROUP")
            end = data.rindex(b"*", 0, read) if read >= 0 else len(data)
            data = memory_limit(1) + data[:end] + memory_limit(0) + data[end:]
        return await request(self, data, *args, **kwargs)

    monkeypatch.setattr(resp.Connection, "request", refusing)
    yield needles


async def test_a_core_commit_redis_refused_is_made_again_and_said_once(
    redis_server: RedisServer, commit_refused: list[str]
) -> None:
    """The core's commit of a chat line is refused (OOM): the core holds it and makes it
    again, and both players hear the line once, then the next one."""
    async with (
        open_redis_bus(redis_server.url) as bus,
        a_game_across_two_edges(bus) as (ann, bob, game_id),
    ):
        commit_refused.append("refused commit")
        await ann.send(Chat(game_id=game_id, text="refused commit"))
        for player in (ann, bob):
            assert (await player.expect(ChatMessage)).text == "refused commit"
        assert not commit_refused, "the refusal happened"
        await ann.send(Chat(game_id=game_id, text="next"))
        for player in (ann, bob):
            assert (await player.expect(ChatMessage)).text == "next"
