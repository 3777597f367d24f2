"""Shared test configuration: hypothesis profiles, the error-log guard, test clocks, the
stores (a throwaway PostgreSQL cluster for the tests that need one) and a throwaway
``redis-server`` for the bus and cluster tests.

The default profile is ``ci``: many examples, derandomised, so CI is reproducible.
Pass ``--hypothesis-profile=dev`` for a quick local run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from trio.testing import MockClock

from c4actors.store import Store
from tests.postgres_cluster import PostgresCluster, find_binaries
from tests.redis_server import INSTALL_HINT, RedisServer, find_binary
from tests.stores import PostgresBackend, SQLiteBackend, StoreBackend

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
    # hypercorn.error is where an exception escaping the ASGI app would be reported;
    # coredis is the Redis client of the bus.
    loggers = [
        logging.getLogger("c4actors"),
        logging.getLogger("hypercorn.error"),
        logging.getLogger("coredis"),
    ]
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


# --------------------------------------------------------------------------- redis


@pytest.fixture(scope="session")
def redis_binary() -> Path:
    """Debian's ``redis-server``: its absence skips the Redis tests on a developer's
    machine, but fails them in CI (``CI`` set), where ``.ci/run`` installs it."""
    binary = find_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    return binary


@pytest.fixture
def redis_server(redis_binary: Path) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` of this test's own (it starts in milliseconds), persisting
    nothing; ``kill`` / ``restart`` it freely.  Removed with its directory afterwards."""
    server = RedisServer.start(redis_binary)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def persistent_redis_server(redis_binary: Path) -> Iterator[RedisServer]:
    """Like ``redis_server``, with an append-only file synced on every write: a
    ``kill`` + ``restart`` keeps everything the server acknowledged."""
    server = RedisServer.start(redis_binary, persistent=True)
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- stores


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the whole run, started on first use and removed at the end.

    Without Debian's ``postgresql`` binaries the PostgreSQL tests are skipped on a
    developer's machine, but fail in CI (``CI`` set), where ``.ci/run`` installs them."""
    binaries = find_binaries()
    if binaries is None:
        reason = "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = PostgresCluster.start(binaries)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database of the session's cluster, dropped after the test."""
    url = postgres_cluster.create_database()
    try:
        yield url
    finally:
        postgres_cluster.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBackend:
    """Each store test runs against both stores (PostgreSQL's cluster starts only if asked)."""
    if request.param == "sqlite":
        return SQLiteBackend(tmp_path / "c4.sqlite3")
    return PostgresBackend(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(backend: StoreBackend) -> AsyncIterator[Store]:
    """The backend's store, opened (migrated) and closed after the test."""
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.aclose()
