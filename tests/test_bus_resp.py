"""The lean connection pool of the bus's hot commands (``c4actors/bus/resp.py``): replies
parsed whatever the chunks they arrive in, pipelined commands answered in order, and no
connection reused once it may be out of step (killed while idle, a call cancelled while
its command was in flight), on a real ``redis-server``."""

from __future__ import annotations

from typing import cast

import pytest
import trio

from c4actors.bus import resp
from c4actors.bus.resp import INCOMPLETE, ReplyReader, RespError, RespPool, pack
from tests.redis_server import RedisServer, command
from tests.task_steps import counting_steps, this_task

REPLY = (
    b"*3\r\n*2\r\n$6\r\nframes\r\n*1\r\n*2\r\n$3\r\n1-0\r\n"
    b"*2\r\n$1\r\nd\r\n$8\r\n\xc3\xa9t\xc3\xa9 ok\r\n"
    b"$-1\r\n*4\r\n:42\r\n+OK\r\n-NOGROUP no such group\r\n*-1\r\n"
)
PARSED = [
    ["frames", [["1-0", ["d", "été ok"]]]],
    None,
    [42, "OK", "error", None],
]


def _read_all(*chunks: bytes) -> list[resp.Reply]:
    """Every whole reply in ``chunks``, fed one after another to one reader."""
    reader = ReplyReader()
    replies: list[resp.Reply] = []
    for chunk in chunks:
        reader.feed(chunk)
        while (reply := reader.next()) is not INCOMPLETE:
            replies.append(cast(resp.Reply, reply))
    return replies


def _checked(value: resp.Reply) -> resp.Reply:
    """``value`` with its error reply checked and replaced by ``"error"``."""
    assert isinstance(value, list)
    error = value[2][2]  # type: ignore[index]
    assert isinstance(error, RespError)
    assert (error.code, error.message) == ("NOGROUP", "NOGROUP no such group")
    value[2][2] = "error"  # type: ignore[index]
    return value


def test_a_reply_parses_whole_and_at_no_split_point_early() -> None:
    (value,) = _read_all(REPLY)
    assert _checked(value) == PARSED
    for split in range(len(REPLY)):
        assert _read_all(REPLY[:split]) == []
        (value,) = _read_all(REPLY[:split], REPLY[split:])
        assert _checked(value) == PARSED
    # one byte at a time, twice over: the second reply is read after the first
    first, second = _read_all(*(REPLY[n : n + 1] for n in range(len(REPLY))), REPLY)
    assert _checked(first) == _checked(second) == PARSED


def test_garbage_is_refused() -> None:
    reader = ReplyReader()
    reader.feed(b"?what\r\n")
    with pytest.raises(ValueError, match="not a RESP2 reply"):
        reader.next()
    reader = ReplyReader()
    reader.feed(b"$2\r\n\xff\xfe\r\n")  # the bus writes text only: not UTF-8 is garbled
    with pytest.raises(ValueError, match="utf-8"):
        reader.next()


def test_pack_writes_bulk_strings() -> None:
    assert pack([["XADD", "s", "*", "n", 1], [b"PING"]]) == (
        b"*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\nn\r\n$1\r\n1\r\n*1\r\n$4\r\nPING\r\n"
    )


def test_only_plain_urls_are_taken() -> None:
    pool = RespPool.from_url("redis://:s%40cret@127.0.0.1:7000/3")
    assert pool is not None
    assert (pool.host, pool.port) == ("127.0.0.1", 7000)
    assert pool._setup == [["AUTH", "s@cret"], ["SELECT", 3]]
    assert RespPool.from_url("rediss://127.0.0.1:7000/0") is None
    assert RespPool.from_url("unix:///tmp/redis.sock") is None
    assert RespPool.from_url("redis://127.0.0.1/0?timeout=1") is None


async def test_pipelined_commands_are_answered_in_order(redis_server: RedisServer) -> None:
    pool = RespPool("127.0.0.1", redis_server.port)
    try:
        big = "x" * 300_000  # several reads of the socket for one reply
        replies = await pool.execute(
            [
                ["XADD", "s", "*", "n", "1"],
                ["XADD", "s", "*", "n", big],
                ["NOSUCHCOMMAND"],
                ["XRANGE", "s", "-", "+"],
                ["XLEN", "s"],
            ]
        )
        first, second, error, listed, length = replies
        assert isinstance(error, RespError)
        assert listed == [[first, ["n", "1"]], [second, ["n", big]]]
        assert length == 2
        assert await pool.execute([["PING"]]) == ["PONG"]
        assert pool.opened == 1, "an error reply leaves the connection usable"
    finally:
        pool.close()


async def test_a_connection_killed_while_idle_is_not_used_again(
    redis_server: RedisServer,
) -> None:
    """A restarted Redis or a killed client: the next call opens a new connection rather
    than fail (the first call after an outage would otherwise always fail)."""
    pool = RespPool("127.0.0.1", redis_server.port)
    try:
        assert await pool.execute([["CLIENT", "SETNAME", "lean"]]) == ["OK"]
        command(redis_server.port, "CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
        await trio.sleep(0.05)
        assert await pool.execute([["XADD", "s", "*", "n", "1"]]) != []
        assert await pool.execute([["XLEN", "s"]]) == [1]
        assert pool.opened == 2
    finally:
        pool.close()


async def test_a_cancelled_call_never_leaves_its_reply_to_the_next(
    redis_server: RedisServer,
) -> None:
    pool = RespPool("127.0.0.1", redis_server.port)
    try:
        with trio.move_on_after(0.2):
            await pool.execute([["XREAD", "BLOCK", 1000, "STREAMS", "s", "$"]])
        await pool.execute([["XADD", "s", "*", "n", "1"]])
        # On the cancelled read's connection this would be the XREAD's late reply.
        assert await pool.execute([["XLEN", "s"]]) == [1]
        assert pool.opened == 2
    finally:
        pool.close()


async def test_a_refused_connection_is_unavailable(redis_server: RedisServer) -> None:
    pool = RespPool("127.0.0.1", redis_server.port)
    redis_server.kill()
    with pytest.raises(resp.RespUnavailable):
        await pool.execute([["PING"]])


async def test_a_value_that_cannot_be_sent_is_the_caller_s_error(
    redis_server: RedisServer,
) -> None:
    """Not an outage: a lone surrogate cannot be UTF-8, so the call fails with
    ``ValueError`` before it takes a connection (an outage would be retried for ever)."""
    pool = RespPool("127.0.0.1", redis_server.port)
    try:
        with pytest.raises(ValueError, match="surrogate"):
            await pool.execute([["SET", "k", "\ud800"]])
        assert pool.opened == 0
        assert await pool.execute([["PING"]]) == ["PONG"]
    finally:
        pool.close()


async def test_a_command_yields_to_trio_only_to_wait_for_its_reply(
    redis_server: RedisServer,
) -> None:
    """Each yield is a pass of Trio's run loop (an epoll call among it), in every process
    of a cluster for every command: one before the send (Trio's schedule point) and one to
    wait for the reply, none after the send or the receive (``trio.SocketStream`` yields
    after each, and an ``async with`` on a semaphore once more: three steps a call)."""
    pool = RespPool("127.0.0.1", redis_server.port)
    try:
        assert await pool.execute([["PING"]]) == ["PONG"]  # connected
        with counting_steps(this_task()) as steps:
            for _ in range(20):
                assert await pool.execute([["PING"], ["PING"]]) == ["PONG", "PONG"]
        assert steps.steps <= 2 * 20
        assert pool.opened == 1
    finally:
        pool.close()


async def test_a_read_or_a_commit_yields_only_to_wait_for_its_reply(
    redis_server: RedisServer,
) -> None:
    """``yield_first=False`` (the reads and the core's commit): one step a call, the wait
    for the reply; a cancelled caller is still cancelled before anything is sent."""
    pool = RespPool("127.0.0.1", redis_server.port)
    try:
        assert await pool.execute([["PING"]]) == ["PONG"]  # connected
        with counting_steps(this_task()) as steps:
            for _ in range(20):
                assert await pool.execute([["PING"]], yield_first=False) == ["PONG"]
        assert steps.steps <= 20
        assert pool.opened == 1
        with trio.CancelScope() as scope:
            scope.cancel()
            await pool.execute([["INCR", "yield-first"]], yield_first=False)
        assert scope.cancelled_caught
        assert await pool.execute([["GET", "yield-first"]]) == [None]
    finally:
        pool.close()
