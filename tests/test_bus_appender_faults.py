"""The pipelined uplink (``bus/appender.py``) and the core's count of what it handled
(``cluster/handled_inputs.py``) together, under any pattern of refusals, lost connections
and silent ones: every entry is handled exactly once (issue 16, "nothing lost").

Redis is a stand-in here (``FakeRedis``): each command written is applied, refused or lost
as the drawn plan says, at once and in the order written, so the appender's reader sees
exactly what a connection to Redis would show it, and hypothesis can try thousands of
patterns in virtual time.  The same faults on a real Redis: ``test_bus_appender.py``."""

from __future__ import annotations

from typing import Any, Final, Literal, cast

import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

from c4actors.bus import InMemoryBus, resp
from c4actors.bus.appender import Appender
from c4actors.cluster.handled_inputs import HandledInputs

Action = Literal["apply", "refuse", "apply_then_drop", "drop", "stall"]
ACTIONS: Final[tuple[Action, ...]] = ("apply", "refuse", "apply_then_drop", "drop", "stall")
STREAM: Final = "s"


class FakeRedis:
    """Applies each XADD when it is written, as the next action of its plan says (then
    ``apply`` for ever): ``refuse`` answers an error reply (OOM), ``apply_then_drop`` and
    ``drop`` lose the connection before the reply (with or without the entry applied),
    ``stall`` leaves it unanswered for good (the appender's timeout)."""

    def __init__(self, plan: list[Action]) -> None:
        self._plan = iter(plan)
        self.stream: list[bytes] = []

    def next_action(self) -> Action:
        return next(self._plan, "apply")


class FakeConnection:
    """What ``Appender`` uses of ``resp.Connection``, on ``FakeRedis``."""

    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self._replies: list[resp.Reply] = []
        self._state: Literal["open", "dropped", "stalled"] = "open"
        self._arrived = trio.Event()

    async def request(self, data: bytes, count: int) -> list[resp.Reply]:
        await trio.lowlevel.checkpoint()
        return ["PONG"]

    def write_nowait(self, data: bytes) -> bool:
        if self._state != "open":
            return True  # into a connection that is gone: never applied
        action = self.redis.next_action()
        if action in ("apply", "apply_then_drop"):
            self.redis.stream.append(data)
        if action == "apply":
            self._replies.append("1-0")
        elif action == "refuse":
            self._replies.append(resp.RespError("OOM command not allowed"))
        else:
            self._state = "stalled" if action == "stall" else "dropped"
        self._arrived.set()
        return True

    async def write_rest(self) -> None:
        await trio.lowlevel.checkpoint()

    async def next_replies(self) -> list[resp.Reply]:
        while not self._replies:
            if self._state == "dropped":
                raise resp.RespUnavailable("connection closed by the server")
            self._arrived = trio.Event()
            await self._arrived.wait()
        replies, self._replies = self._replies, []
        return replies

    def close(self) -> None:
        self._state = "dropped"
        self._arrived.set()


class FakePool:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis

    async def open_connection(self) -> FakeConnection:
        await trio.lowlevel.checkpoint()
        return FakeConnection(self.redis)


def appended(plan: list[Action], pauses: list[int], window: int) -> list[int]:
    """The stream's entries (their numbers) once ``len(pauses)`` entries numbered 1, 2...
    were appended through an ``Appender`` on ``FakeRedis(plan)`` and all confirmed, with a
    pause of ``pause`` hundredths of a second after each."""
    redis = FakeRedis(plan)
    numbers = {
        resp.pack([["XADD", STREAM, "*", "e", str(n)]]): n for n in range(1, 1 + len(pauses))
    }

    async def main() -> None:
        appender = Appender(InMemoryBus(), STREAM, window=window, timeout=1.0)
        appender._pool = cast(Any, FakePool(redis))
        async with trio.open_nursery() as nursery:
            await nursery.start(appender.run)
            for seq, pause in enumerate(pauses, start=1):
                await appender.append({"e": str(seq)})
                if pause:
                    await trio.sleep(pause / 100)
            with trio.fail_after(600):
                while appender._unconfirmed:  # noqa: ASYNC110 (the fake's replies)
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=MockClock(autojump_threshold=0))
    return [numbers[data] for data in redis.stream]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(ACTIONS), max_size=40),
    st.lists(st.integers(0, 3), min_size=1, max_size=40),
    st.sampled_from([1, 2, 3, 64]),
    st.data(),
)
def test_every_entry_is_handled_once_whatever_redis_refuses_or_loses(
    plan: list[Action], pauses: list[int], window: int, data: st.DataObject
) -> None:
    stream = appended(plan, pauses, window)
    n = len(pauses)
    assert set(stream) == set(range(1, n + 1)), "every entry reached the stream"
    # The disorder is bounded by the window: when an entry first lands, every one
    # ``window`` or more before it has landed already (the core's span relies on it).
    landed: set[int] = set()
    for seq in stream:
        assert set(range(1, seq - window + 1)) <= landed, (seq, sorted(landed))
        landed.add(seq)
    # The core, failing over at any point, handles each exactly once (entry ``seq`` is
    # the edge's ``seq + 1``: its announcement, 1, was in the stream before any of them).
    failovers = set(data.draw(st.lists(st.integers(0, len(stream)), max_size=2)))
    handled = HandledInputs()
    assert handled.first_time("edge", 1)
    seen: list[int] = []
    for at, seq in enumerate(stream):
        if at in failovers:
            handled = HandledInputs.from_json(handled.to_json())
        if handled.first_time("edge", seq + 1):
            seen.append(seq)
    assert sorted(seen) == list(range(1, n + 1))
    assert not handled.given_up


def test_a_refused_entry_lands_after_the_next_one_and_is_still_there() -> None:
    """The pattern that lost an input: 2 refused, 3 applied behind it (one write each,
    no pause between, so 3 is written before the refusal is read)."""
    stream = appended(["apply", "refuse"], [0, 0, 0, 0], 64)
    assert stream[:2] == [1, 3], stream
    assert stream.index(2) > stream.index(3)
    handled = HandledInputs()
    assert handled.first_time("edge", 1)  # the edge's announcement, before them all
    assert [seq for seq in stream if handled.first_time("edge", seq + 1)] == [1, 3, 4, 2]
