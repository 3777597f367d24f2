"""The real server as a child process, started exactly as an operator starts it.

``ServerProcess.start`` returns once the server has logged its address; ``stop`` sends
SIGTERM and returns the exit code. A thread drains the child's stderr the whole time
(a full pipe would block the server's logging) and keeps it for failure reports.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, Self

ROOT: Final = Path(__file__).resolve().parents[2]
LISTENING_RE: Final = re.compile(r"listening on (http://127\.0\.0\.1:\d+) \(WebSocket ")
START_TIMEOUT: Final = 15.0
STOP_TIMEOUT: Final = 10.0
DEFAULT_GRACE: Final = 3.0
"""The grace period of the shared test server: short, so a disconnect test is quick."""


class ServerStartError(RuntimeError):
    """The server exited, or stayed silent, before logging its address."""


class ServerProcess:
    """One ``c4actors serve`` child listening on a free port of 127.0.0.1."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "c4actors.cli", "serve", *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = ""
        """The page's address, e.g. ``http://127.0.0.1:40123``, once started."""
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._listening = threading.Event()
        threading.Thread(target=self._drain, name="c4actors-stderr", daemon=True).start()

    @classmethod
    def start(
        cls,
        *,
        grace: float,
        db: Path,
        lobby_tick: float = 0.05,
        lobby_list_limit: int | None = None,
    ) -> Self:
        """Start ``c4actors serve --port 0`` on the database ``db`` and wait until it listens.

        ``db`` is created if missing; tests pass a fresh temporary file, so nothing
        is left in the working directory and no test sees another run's records.
        ``lobby_list_limit`` None keeps the server's default limit.
        """
        address = ["--host", "127.0.0.1", "--port", "0"]
        limit = [] if lobby_list_limit is None else ["--lobby-list-limit", str(lobby_list_limit)]
        server = cls(
            [
                *address,
                "--grace",
                str(grace),
                "--lobby-tick",
                str(lobby_tick),
                *limit,
                "--db",
                str(db),
            ]
        )
        if not server._listening.wait(START_TIMEOUT) or not server.url:
            exited = server.process.poll()
            server.process.kill()
            server.process.wait()
            problem = (
                f"the server exited with code {exited} before logging its address"
                if exited is not None
                else f"the server did not log its address within {START_TIMEOUT:.0f} s"
            )
            raise ServerStartError(f"{problem}; its output:\n{server.log()}")
        return server

    def _drain(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                with self._lock:
                    self._lines.append(line.rstrip("\n"))
                if not self.url and (match := LISTENING_RE.search(line)):
                    self.url = match.group(1)
                    self._listening.set()
        self._listening.set()  # EOF: the process is gone; start() reports it

    def log(self) -> str:
        """Everything the server has written to stderr so far."""
        with self._lock:
            return "\n".join(self._lines)

    def stop(self) -> int:
        """SIGTERM, then wait up to ``STOP_TIMEOUT`` s for the exit code (kill and raise if not)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def __repr__(self) -> str:
        return f"ServerProcess({self.url!r}, pid={self.process.pid})"


@contextmanager
def running_server(
    *, grace: float, db: Path, lobby_list_limit: int | None = None
) -> Iterator[ServerProcess]:
    """A started server; on exit, SIGTERM, and it must stop cleanly (exit code 0)."""
    server = ServerProcess.start(grace=grace, db=db, lobby_list_limit=lobby_list_limit)
    try:
        yield server
    finally:
        code = server.stop()
    assert code == 0, f"the server exited with code {code} after SIGTERM:\n{server.log()}"
