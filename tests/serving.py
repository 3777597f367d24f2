"""``c4actors serve`` in a subprocess whose resources a test can watch (``/proc/PID``).

The server's log is read by a thread for the whole run: a test that opens hundreds of
connections makes it log more than a pipe holds, and an unread pipe would stall the server.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)")
START_TIMEOUT = 20.0


@attrs.define
class Served:
    process: subprocess.Popen[str]
    host: str = ""
    port: int = 0
    lines: list[str] = attrs.field(factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def descriptors(self) -> int:
        """File descriptors the server holds now."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self) -> int:
        """Resident memory now (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def log_text(self) -> str:
        return "".join(self.lines)


def _limit_descriptors(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


@contextmanager
def serve(db: Path, *extra: str, fd_limit: int | None = None) -> Iterator[Served]:
    """Start ``c4actors serve`` on a free port; ``fd_limit`` sets its RLIMIT_NOFILE (soft and
    hard) before it starts."""
    command = [sys.executable, "-m", "c4actors.cli", "serve", "--port", "0", "--db", str(db)]
    process = subprocess.Popen(
        [*command, "--lobby-tick", "0", *extra],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=None if fd_limit is None else _limit_descriptors(fd_limit),
    )
    served = Served(process)
    listening = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            served.lines.append(line)
            found = LISTENING.search(line)
            if found and not listening.is_set():
                served.host, served.port = found[1], int(found[2])
                listening.set()
        listening.set()  # the server exited: let the wait below see it

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        listening.wait(START_TIMEOUT)
        if not served.port:
            raise AssertionError("the server did not start:\n" + served.log_text())
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(5)
        assert process.stderr is not None
        process.stderr.close()
