"""A cluster of real processes for the tests: a core and edges (``c4actors serve --role``),
each started with ``ServerProcess`` on a port of its own, sharing one Redis and one
SQLite file, so a test can put each player on the edge it wants."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import attrs

from c4actors.server_process import ServerProcess

SECRET = "cluster-test-secret"


@attrs.frozen
class Cluster:
    core: ServerProcess
    edges: list[ServerProcess]

    @property
    def processes(self) -> list[ServerProcess]:
        return [self.core, *self.edges]

    def log(self) -> str:
        return "\n".join(process.log() for process in self.processes)


def node_arguments(redis_url: str, db: Path, role: str, extra: Sequence[str]) -> list[str]:
    return [
        "--redis",
        redis_url,
        "--role",
        role,
        "--port",
        "0",
        "--db",
        str(db),
        "--secret",
        SECRET,
        "--lobby-tick",
        "0",
        *extra,
    ]


def start_node(redis_url: str, db: Path, role: str, extra: Sequence[str] = ()) -> ServerProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return ServerProcess.start(node_arguments(redis_url, db, role, extra), env=env)


@contextmanager
def running_cluster(
    redis_url: str, db: Path, *, edges: int = 2, extra: Sequence[str] = ()
) -> Iterator[Cluster]:
    """A core (started first: it migrates the database), then ``edges`` edges; all killed
    on the way out."""
    with ExitStack() as stack:
        core = start_node(redis_url, db, "core", extra)
        stack.callback(core.kill)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        started = [
            ServerProcess(node_arguments(redis_url, db, "edge", extra), env=env)
            for _ in range(edges)
        ]
        for edge in started:
            stack.callback(edge.kill)
        for edge in started:
            edge.wait_ready()
        yield Cluster(core, started)
