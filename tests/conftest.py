"""Shared test configuration: hypothesis profiles.

The default profile is ``ci``: many examples, derandomised, so CI is reproducible.
Pass ``--hypothesis-profile=dev`` for a quick local run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

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
