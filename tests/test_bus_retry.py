"""``until_available``: a bus call retried through an outage, logged once each way."""

from __future__ import annotations

import itertools
import logging

import pytest
import trio

from c4actors.bus import BusUnavailable
from c4actors.bus.retry import MAX_WAIT, until_available


async def test_a_call_is_retried_until_the_bus_answers(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(trio.current_time())
        if len(calls) <= 8:
            raise BusUnavailable("connection refused")
        return "answer"

    log = logging.getLogger("c4actors.test.retry")
    with caplog.at_level(logging.INFO, logger=log.name):
        assert await until_available(flaky, "reading", log) == "answer"

    assert len(calls) == 9
    waits = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert waits[0] == pytest.approx(0.05)
    assert all(b >= a for a, b in itertools.pairwise(waits))  # doubling
    assert max(waits) == pytest.approx(MAX_WAIT)  # capped
    lines = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert lines == [
        (logging.WARNING, "bus unavailable while reading: connection refused (retrying)"),
        (logging.INFO, "bus back while reading"),
    ]


async def test_an_answer_at_once_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def fine() -> int:
        return 7

    log = logging.getLogger("c4actors.test.retry")
    with caplog.at_level(logging.INFO, logger=log.name):
        assert await until_available(fine, "reading", log) == 7
    assert caplog.records == []


async def test_other_errors_are_not_retried() -> None:
    async def broken() -> None:
        raise ValueError("a bad argument is the caller's")

    with pytest.raises(ValueError, match="caller's"):
        await until_available(broken, "writing", logging.getLogger("c4actors.test.retry"))
