"""``c4actors serve`` in a subprocess whose resources a test watches through ``/proc/PID``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from c4actors.server_process import SERVE_COMMAND, ServerProcess


def descriptors(pid: int) -> int:
    """File descriptors the process holds now."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    """The process's resident memory now (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@contextmanager
def serve(db: Path, *extra: str, nofile: tuple[int, int] | None = None) -> Iterator[ServerProcess]:
    """A server on a free port with ``db``; ``nofile`` (soft, hard) sets its descriptor
    limit before it starts (through ``prlimit``, which then runs the server in its place)."""
    command: tuple[str, ...] = SERVE_COMMAND
    if nofile is not None:
        command = ("prlimit", f"--nofile={nofile[0]}:{nofile[1]}", *command)
    args = ["--port", "0", "--db", str(db), "--lobby-tick", "0", *extra]
    server = ServerProcess.start(args, command=command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield server
    finally:
        server.kill()
