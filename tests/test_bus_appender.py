"""An edge's uplink pipelined on a real Redis (``c4actors/bus/appender.py``), and the lean
pool's reads without an idle connection's check (issue 16: fewer round trips and system
calls per move).

The next batch goes out while the one before waits for its reply; a batch whose reply was
lost is appended again, after the ones before it, and the core handles it once (its
per-edge numbers, ``wire.Uplink.seq``); a batch Redis refused (a real OOM here) is appended
again though the one behind it was applied, and the core handles it late, once."""

from __future__ import annotations

import select
from collections.abc import Iterator
from functools import partial

import pytest
import trio

from c4actors.bus import open_redis_bus, resp
from c4actors.bus.appender import Appender
from c4actors.bus.resp import RespPool
from c4actors.cluster.bus_links import INPUTS, BusEdgeLink
from protocol import Chat, ChatMessage
from tests.redis_server import RedisServer, command
from tests.test_cluster_failover import a_game_across_two_edges, in_inputs_twice
from tests.test_cluster_refused_inputs import said_late_once_though_refused


async def _stream(bus_url: str, stream: str = INPUTS) -> list[str]:
    async with open_redis_bus(bus_url) as bus:
        return [entry.fields["e"] for entry in await bus.read_after(stream, "0-0")]


async def _until_length(url: str, length: int, stream: str = INPUTS) -> list[str]:
    with trio.fail_after(5):
        while len(entries := await _stream(url, stream)) < length:  # noqa: ASYNC110 (a stream)
            await trio.sleep(0.01)
    return entries


async def test_the_next_batch_goes_out_before_the_reply_to_the_one_before(
    redis_server: RedisServer,
) -> None:
    """Writes paused in Redis (``CLIENT PAUSE ... WRITE``): each append returns once
    written, without waiting for a reply, and all arrive in order once Redis goes on.
    Waiting for each reply, the second append would have waited out the pause."""
    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        link = BusEdgeLink(bus, "edge-x")
        await nursery.start(link.run)
        await link.send_inputs("zero")
        await _until_length(redis_server.url, 1)
        command(redis_server.port, "CLIENT", "PAUSE", "600", "WRITE")
        with trio.fail_after(0.3):
            for text in ("one", "two", "three"):
                await link.send_inputs(text)
        assert await _stream(redis_server.url) == ["zero"], "paused: nothing applied yet"
        assert await _until_length(redis_server.url, 4) == ["zero", "one", "two", "three"]
        assert link.uplink.writes == 4
        nursery.cancel_scope.cancel()


async def test_the_first_entry_under_each_name_is_in_the_stream_before_the_next_is_sent(
    redis_server: RedisServer,
) -> None:
    """An edge's announcement (its entry 1 under a name: ``handled_inputs``) returns only
    once Redis confirmed it, so every copy of it lands before anything else of that name;
    the entries after it are pipelined as before.  Without the wait, a second entry went
    out behind an announcement Redis might refuse and take only later."""
    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        link = BusEdgeLink(bus, "edge-x")
        await nursery.start(link.run)
        for name in ("first", "renamed"):
            command(redis_server.port, "CLIENT", "PAUSE", "400", "WRITE")
            announced = trio.Event()

            async def announce(entry: str = name, announced: trio.Event = announced) -> None:
                await link.send_inputs(entry)
                announced.set()

            nursery.start_soon(announce)
            await trio.sleep(0.2)
            assert not announced.is_set(), "paused: the announcement is not confirmed yet"
            with trio.fail_after(5):
                await announced.wait()
            command(redis_server.port, "CLIENT", "PAUSE", "400", "WRITE")
            with trio.fail_after(0.2):
                await link.send_inputs(f"{name} next")  # pipelined: no wait for the pause
            await _until_length(redis_server.url, 4 if name == "renamed" else 2)
            link.rename()
        assert await _stream(redis_server.url) == ["first", "first next", "renamed", "renamed next"]
        nursery.cancel_scope.cancel()


async def test_a_window_full_of_unconfirmed_entries_waits(redis_server: RedisServer) -> None:
    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        appender = Appender(bus, "s", window=2)
        await nursery.start(appender.run)
        await appender.append({"e": "zero"})
        await _until_length(redis_server.url, 1, "s")
        command(redis_server.port, "CLIENT", "PAUSE", "400", "WRITE")
        with trio.fail_after(0.2):
            await appender.append({"e": "one"})
            await appender.append({"e": "two"})
        with trio.move_on_after(0.1) as waited:
            await appender.append({"e": "three"})
        assert waited.cancelled_caught, "a third unconfirmed entry waits for a reply"
        with trio.fail_after(5):
            await appender.append({"e": "three"})
        entries = await _until_length(redis_server.url, 4, "s")
        assert entries == ["zero", "one", "two", "three"]
        nursery.cancel_scope.cancel()


@pytest.fixture
def lost_replies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Put a text in the list: the uplink's next replies read once an entry holding it is
    in the input stream (applied) are lost with the connection, once."""
    needles: list[str] = []
    read = resp.Connection.next_replies

    async def next_replies(self: resp.Connection) -> list[resp.Reply]:
        replies = await read(self)
        if needles and needles[0] in _inputs_now(self):
            del needles[0]
            raise resp.RespUnavailable("the connection dropped before the reply")
        return replies

    monkeypatch.setattr(resp.Connection, "next_replies", next_replies)
    yield needles


def _inputs_now(conn: resp.Connection) -> str:
    """The input stream's raw contents (a side door on the appender's own server)."""
    port = conn.sock.getpeername()[1]
    return command(port, "XRANGE", INPUTS, "-", "+").decode(errors="replace")


async def test_entries_whose_replies_were_lost_are_sent_again_in_order(
    redis_server: RedisServer, lost_replies: list[str]
) -> None:
    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        appender = Appender(bus, INPUTS)
        await nursery.start(appender.run)
        lost_replies.append("e2")
        for n in range(5):
            await appender.append({"e": f"e{n}"})
        with trio.fail_after(5):
            while lost_replies or appender._unconfirmed:  # noqa: ASYNC110 (Redis's replies)
                await trio.sleep(0.01)
        entries = await _stream(redis_server.url)
        assert appender.resent >= 1
        # Every entry's first copy in order; the copies sent again are whole, in order.
        firsts = list(dict.fromkeys(entries))
        assert firsts == [f"e{n}" for n in range(5)]
        assert entries.count("e2") == 2
        again = entries[len(firsts) :] if entries[: len(firsts)] == firsts else entries
        assert again == sorted(again)
        nursery.cancel_scope.cancel()


async def test_an_input_sent_again_on_a_new_connection_is_handled_once(
    redis_server: RedisServer, lost_replies: list[str]
) -> None:
    """The pipelined uplink on a real Redis: the chat's reply is lost with its connection,
    the edge sends it again (it is in the stream twice), and the core says it once."""
    async with (
        open_redis_bus(redis_server.url) as bus,
        a_game_across_two_edges(bus) as (ann, bob, game_id),
    ):
        lost_replies.append("said once")
        await ann.send(Chat(game_id=game_id, text="said once"))
        for player in (ann, bob):
            assert (await player.expect(ChatMessage)).text == "said once"
        await in_inputs_twice(bus, "said once")  # type: ignore[arg-type]
        await ann.send(Chat(game_id=game_id, text="and then this"))
        for player in (ann, bob):
            assert (await player.expect(ChatMessage)).text == "and then this"


async def test_a_read_checks_no_idle_connection_and_survives_one_closed_while_idle(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read (``idempotent``) takes an idle connection without a ``select`` (a system call
    on every read of every process); one the server closed while idle is found closed
    before any reply and the read is made again on a new connection.  A write still
    checks first: it is never sent twice."""
    checks = 0
    real_select = select.select

    def counting_select(*args: object) -> object:
        nonlocal checks
        checks += 1
        return real_select(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(select, "select", counting_select)
    pool = RespPool("127.0.0.1", redis_server.port)
    try:
        await pool.execute([["XADD", "s", "*", "n", "1"]])
        read = ["XREAD", "COUNT", 10, "STREAMS", "s", "0-0"]
        for _ in range(5):
            (reply,) = await pool.execute([read], idempotent=True)
            assert isinstance(reply, list) and len(reply) == 1
        assert checks == 0
        command(redis_server.port, "CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
        await trio.sleep(0.05)
        (reply,) = await pool.execute([read], idempotent=True)
        assert isinstance(reply, list) and len(reply) == 1
        assert pool.opened == 2
        await pool.execute([["XADD", "s", "*", "n", "2"]])
        assert checks == 1
    finally:
        pool.close()


async def test_no_reply_within_the_timeout_sends_the_entries_again_on_a_new_connection(
    redis_server: RedisServer,
) -> None:
    """A Redis that stops answering the appends (writes paused past the appender's
    timeout): the connection is given up and the entries go again on a new one, first
    copies in order.  (The first connection's ``resent`` counts ``zero``, appended before
    it was open.)"""
    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        appender = Appender(bus, "s", timeout=0.3)
        await nursery.start(appender.run)
        await appender.append({"e": "zero"})
        await _until_length(redis_server.url, 1, "s")
        command(redis_server.port, "CLIENT", "PAUSE", "1000", "WRITE")
        for text in ("one", "two"):
            await appender.append({"e": text})
        entries = await _until_length(redis_server.url, 3, "s")
        assert list(dict.fromkeys(entries)) == ["zero", "one", "two"]
        assert appender.resent >= 3, "zero once, then one and two on a new connection"
        nursery.cancel_scope.cancel()


async def test_the_wait_for_replies_keeps_its_deadline_from_entry_to_entry(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each entry confirmed before the next is written (the pipeline empty in between, as
    an edge's uplink mostly is), for longer than the timeout: the connection is kept (no
    entry sent again), and the wait's deadline is not moved per entry and reply (it was
    twice per XADD: a push on Trio's heap of deadlines each time)."""
    moved: list[float] = []
    deadline = trio.CancelScope.deadline

    def move(scope: trio.CancelScope, value: float) -> None:
        moved.append(value)
        assert deadline.fset is not None
        deadline.fset(scope, value)

    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        appender = Appender(bus, "s", timeout=0.2)
        await nursery.start(appender.run)
        await appender.append({"e": "first"})  # sent once connected (``resent`` counts it)
        await _until_length(redis_server.url, 1, "s")
        resent = appender.resent
        monkeypatch.setattr(trio.CancelScope, "deadline", property(deadline.fget, move))
        for n in range(40):
            await appender.append({"e": str(n)})
            with trio.fail_after(5):
                while appender._unconfirmed:  # noqa: ASYNC110 (Redis's reply)
                    await trio.sleep(0.001)
            await trio.sleep(0.01)
        monkeypatch.undo()
        assert appender.confirmed == 41
        assert appender.resent == resent, "no reply was late"
        assert len(moved) <= 2, len(moved)
        nursery.cancel_scope.cancel()


@pytest.fixture
def refused_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Put a text in the list: the next XADD an appender writes holding it is refused by
    Redis, for real (OOM: ``maxmemory`` set to one byte for that command alone, on the same
    connection, the settings' replies skipped), and the XADD written after it on that
    connection is applied (both go in one write)."""
    needles: list[str] = []
    held: dict[resp.Connection, bytes] = {}
    write = resp.Connection.write_nowait

    def write_nowait(self: resp.Connection, data: bytes) -> bool:
        before = held.pop(self, None)
        if before is not None:
            return write(self, before + data)
        if needles and needles[0].encode() in data:
            del needles[0]
            held[self] = memory_limit(1) + data + memory_limit(0)
            return True
        return write(self, data)

    monkeypatch.setattr(resp.Connection, "write_nowait", write_nowait)
    yield needles


def memory_limit(limit: int) -> bytes:
    """Commands that set ``maxmemory`` to ``limit`` on a connection without a reply (sent
    around a command that Redis should refuse, on the same connection)."""
    return resp.pack([["CLIENT", "REPLY", "SKIP"], ["CONFIG", "SET", "maxmemory", limit]])


async def test_an_entry_redis_refused_goes_again_though_the_next_one_was_applied(
    redis_server: RedisServer, refused_once: list[str]
) -> None:
    """Redis refuses ``one`` (OOM) and applies ``two``, written behind it: ``one`` is sent
    again (and what was behind it, as copies), never dropped, and the appender goes on
    (it raised before, which ended the edge process)."""
    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        appender = Appender(bus, INPUTS)
        await nursery.start(appender.run)
        await appender.append({"e": "zero"})
        await _until_length(redis_server.url, 1)
        refused_once.append("one")
        for text in ("one", "two", "three"):
            await appender.append({"e": text})
        with trio.fail_after(5):
            while appender._unconfirmed:  # noqa: ASYNC110 (Redis's replies)
                await trio.sleep(0.01)
        entries = await _stream(redis_server.url)
        assert appender.refusals == 1
        assert sorted(set(entries)) == ["one", "three", "two", "zero"]
        assert entries.index("two") < entries.index("one"), "applied after the refused one"
        await appender.append({"e": "four"})
        assert (await _until_length(redis_server.url, len(entries) + 1))[-1] == "four"
        nursery.cancel_scope.cancel()


async def test_an_input_redis_refused_while_it_applied_the_next_is_handled_once(
    redis_server: RedisServer, refused_once: list[str]
) -> None:
    """A real refusal in a cluster on a real Redis: the chat Redis refused reaches the
    stream after the edge's next entry, and the core says it then, once."""
    async with (
        open_redis_bus(redis_server.url) as bus,
        a_game_across_two_edges(bus) as (ann, bob, game_id),
    ):
        await said_late_once_though_refused(
            ann, bob, game_id, refused_once.append, partial(_stream, redis_server.url)
        )
        assert not refused_once, "the refusal happened"


async def test_without_the_lean_pool_an_append_redis_refuses_is_made_again(
    redis_server: RedisServer,
) -> None:
    """The bus's own append (a TLS URL has no lean pool): Redis refuses it (OOM, for real:
    ``maxmemory`` one byte) until memory is back, and it is made again until then, once
    (it raised before, which ended the edge process)."""
    async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
        bus._lean = None
        appender = Appender(bus, INPUTS)
        appender._pool = None
        await nursery.start(appender.run)
        await appender.append({"e": "zero"})
        command(redis_server.port, "CONFIG", "SET", "maxmemory", "1")
        nursery.start_soon(appender.append, {"e": "one"})
        with trio.fail_after(5):
            while appender.refusals < 2:  # noqa: ASYNC110 (Redis's replies)
                await trio.sleep(0.01)
        command(redis_server.port, "CONFIG", "SET", "maxmemory", "0")
        assert await _until_length(redis_server.url, 2) == ["zero", "one"]
        await appender.append({"e": "two"})
        assert await _stream(redis_server.url) == ["zero", "one", "two"]
        nursery.cancel_scope.cancel()
