"""Shared test configuration: hypothesis profiles, the error-log guard, test clocks.

The default profile is ``ci``: many examples, derandomised, so CI is reproducible.
Pass ``--hypothesis-profile=dev`` for a quick local run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from trio.testing import MockClock

settings.register_profile(
    "ci",
    max_examples=500,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile("ci")


# --------------------------------------------------------------------------- clocks


@pytest.fixture
def jump_clock() -> MockClock:
    """Trio's clock for a test that runs a server in-process: real time, plus the jumps the
    test makes (``jump_clock.jump(20)`` lets a 20-second grace period pass at once).

    Not pytest-trio's ``autojump_clock``: it jumps to the next deadline as soon as every
    task waits, and a task waiting on a socket or on the store's worker thread (every join
    looks its name up there) counts as waiting, so it would jump while data is in flight,
    often to a ``fail_after`` that guards the test.  Here time only jumps when the test says
    so, after it has seen that the server armed the deadline (the server computes deadlines
    when it handles an event, before it replies), and the guards still expire in real time,
    so a broken test fails instead of hanging."""
    return MockClock(rate=1.0)


@pytest.fixture
def frozen_clock() -> MockClock:
    """Trio's clock standing still, for a test whose server must see no time pass (a token
    bucket that must not refill while a test floods it).  Once every task has waited for
    two real seconds it jumps to the next deadline, so a stuck test still ends on its
    ``fail_after`` guard instead of hanging."""
    return MockClock(rate=0.0, autojump_threshold=2.0)


# --------------------------------------------------------------------------- error logs


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_unexpected_error_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Any ERROR logged by the server (an unhandled exception in an actor, say) fails the
    test, unless the test injects that fault on purpose (``expect_error_logs``)."""
    handler = _ErrorRecords()
    # hypercorn.error is where an exception escaping the ASGI app would be reported.
    loggers = [logging.getLogger("c4actors"), logging.getLogger("hypercorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    if request.node.get_closest_marker("expect_error_logs") is None and handler.records:
        lines = [f"{r.name}: {r.getMessage()}" for r in handler.records]
        pytest.fail("the server logged errors:\n" + "\n".join(lines))
