"""``c4actors serve --redis URL --workers N``: one machine's cluster, supervised.

The parent starts its children, each a ``c4actors serve --role ...`` process of its own:
the core first (it migrates the database and takes the lease), then the standby (a
second core that waits for the lease), then ``N`` edges, which all listen on the same
port (``SO_REUSEPORT``: the kernel spreads the connections over them).  The parent itself
serves nothing: it holds the port (a bound socket that does not listen, so a port 0
stays the cluster's while edges restart), restarts a child that dies, after a pause that
grows while it keeps dying (``restarts.Backoff``), while the others keep serving, and
stops them all at SIGINT or SIGTERM (SIGTERM to each, edges first; killed after a
timeout).  It writes its ready file once every edge listens.

Not hypercorn's ``--workers``: when one of its workers dies with a non-zero exit it shuts
all of them down.

Logs: the children write to the parent's stderr, in the format asked for; the parent's
own lines say ``child started role=... index=... pid=...`` / ``child exited ...
code=...`` / ``restarting ... delay=...``.  A child stops itself when its parent is gone
(``stop_when_orphaned``), so a parent killed with SIGKILL leaves no orphans serving.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

import attrs
import trio

from c4actors.cluster.restarts import Backoff
from c4actors.server_process import ReadyInfo, read_ready_file

log = logging.getLogger("c4actors.supervisor")

STOP_TIMEOUT: Final = 15.0
START_TIMEOUT: Final = 30.0
PARENT_ENV: Final = "C4ACTORS_SUPERVISOR_PID"
"""Set in each child to the parent's pid: a child whose parent is gone stops itself."""
ORPHAN_CHECK: Final = 1.0
Role = Literal["core", "edge"]

PARENT_ONLY_OPTIONS: Final = ("--workers", "--ready-file", "--port", "--host", "--role")
"""Options of the parent that its children are given their own way (or not at all)."""


def child_arguments(argv: Sequence[str]) -> list[str]:
    """``argv`` (the parent's ``serve`` options) without ``PARENT_ONLY_OPTIONS``, in both
    ``--name value`` and ``--name=value`` forms; everything else reaches every child."""
    kept: list[str] = []
    skip_value = False
    for arg in argv:
        if skip_value:
            skip_value = False
            continue
        name = arg.partition("=")[0]
        if name in PARENT_ONLY_OPTIONS:
            skip_value = "=" not in arg
            continue
        kept.append(arg)
    return kept


class ClusterStartError(RuntimeError):
    """A child could not start: the cluster does not start without it."""


@attrs.define
class Child:
    """One supervised process and what the parent knows of it."""

    role: Role
    index: int
    arguments: list[str]
    ready_file: Path
    process: trio.Process | None = None
    started_at: float = 0.0
    backoff: Backoff = attrs.field(factory=Backoff)

    @property
    def label(self) -> str:
        return f"role={self.role} index={self.index}"


async def stop_when_orphaned(stop: trio.Event) -> None:
    """In a child: set ``stop`` once the supervisor that started it is gone (killed with
    SIGKILL, say), so no child serves on without it.  (``PR_SET_PDEATHSIG`` would follow
    the thread that forked, and Trio forks in a worker thread that ends when idle.)"""
    parent = os.environ.get(PARENT_ENV)
    if parent is None:
        return
    while os.getppid() == int(parent):  # noqa: ASYNC110 (the kernel has no event to wait on)
        await trio.sleep(ORPHAN_CHECK)
    log.warning("the supervisor is gone: stopping")
    stop.set()


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEPORT``, not listening: it keeps the
    port (a port 0 becomes a fixed one) while the edges bind it too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class Supervisor:
    """See the module docstring."""

    def __init__(
        self,
        serve_arguments: Sequence[str],
        *,
        host: str,
        port: int,
        workers: int,
        standby: bool = True,
        tls: bool = False,
        command: Sequence[str] = (sys.executable, "-m", "c4actors.cli", "serve"),
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.command = list(command)
        self._directory = tempfile.TemporaryDirectory(prefix="c4actors-cluster-")
        directory = Path(self._directory.name)
        common = child_arguments(serve_arguments)
        roles: list[tuple[Role, int, list[str]]] = [("core", 0, ["--host", "127.0.0.1"])]
        if standby:
            roles.append(("core", 1, ["--host", "127.0.0.1"]))
        roles += [("edge", index, ["--host", host]) for index in range(workers)]
        self.children = [
            Child(role, index, [*common, "--role", role, *where], directory / f"{role}-{index}")
            for role, index, where in roles
        ]
        self._stopping = False

    async def run(
        self,
        stop: trio.Event,
        *,
        task_status: trio.TaskStatus[ReadyInfo] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        with reserve_port(self.host, self.port) as reserved, self._directory:
            port = reserved.getsockname()[1]
            try:
                async with trio.open_nursery() as nursery:
                    for child in self.children:
                        child_port = port if child.role == "edge" else 0
                        await nursery.start(self._supervise, child, child_port)
                    info = ReadyInfo.listening(self.host, port, tls=self.tls)
                    log.info("cluster listening on %s workers=%d", info.http_url, self._edges)
                    task_status.started(info)
                    await stop.wait()
                    self._stopping = True
                    nursery.cancel_scope.cancel()
            finally:
                with trio.CancelScope(shield=True):
                    await self._stop_all()
        log.info("cluster stopped")

    @property
    def _edges(self) -> int:
        return sum(child.role == "edge" for child in self.children)

    async def _supervise(
        self, child: Child, port: int, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """Start ``child``, report it ready once it listens, restart it whenever it dies."""
        await self._start(child, port)
        # The first start must succeed: a cluster that cannot start says so at once.
        await self._wait_ready(child)
        task_status.started()
        while True:
            assert child.process is not None
            code = await child.process.wait()
            if self._stopping:
                return
            child.backoff, delay = child.backoff.died(child.started_at, trio.current_time())
            log.warning(
                "child exited %s pid=%d code=%d; restarting delay=%.1f",
                child.label,
                child.process.pid,
                code,
                delay,
            )
            await trio.sleep(delay)
            await self._start(child, port)

    async def _start(self, child: Child, port: int) -> None:
        child.ready_file.unlink(missing_ok=True)
        args = [
            *self.command,
            *child.arguments,
            "--port",
            str(port),
            "--ready-file",
            str(child.ready_file),
        ]
        child.process = await trio.lowlevel.open_process(
            args, stdin=subprocess.DEVNULL, env={**os.environ, PARENT_ENV: str(os.getpid())}
        )
        child.started_at = trio.current_time()
        log.info("child started %s pid=%d", child.label, child.process.pid)

    async def _wait_ready(self, child: Child) -> ReadyInfo:
        assert child.process is not None
        with trio.move_on_after(START_TIMEOUT):
            while not child.ready_file.exists():
                if child.process.returncode is not None:
                    raise ClusterStartError(
                        f"{child.label} exited with code {child.process.returncode} at start "
                        "(its own log lines above say why)"
                    )
                await trio.sleep(0.02)
            return read_ready_file(child.ready_file)
        raise ClusterStartError(f"{child.label} did not listen within {START_TIMEOUT:.0f} s")

    async def _stop_all(self) -> None:
        """SIGTERM to every child, edges first (they close their sockets), then the cores;
        a child still there after ``STOP_TIMEOUT`` is killed."""
        for role in ("edge", "core"):
            running = [
                child.process
                for child in self.children
                if child.role == role
                and child.process is not None
                and child.process.returncode is None
            ]
            for process in running:
                process.send_signal(signal.SIGTERM)
            with trio.move_on_after(STOP_TIMEOUT):
                for process in running:
                    await process.wait()
            for process in running:
                if process.returncode is None:
                    log.warning("child did not stop in time pid=%d: killed", process.pid)
                    process.kill()
                    await process.wait()
