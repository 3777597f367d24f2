"""One way to start a server process and learn where it listens: the ready file.

``c4actors serve --ready-file PATH`` (and the benchmark servers) write the bound address as
JSON to ``PATH`` once the socket listens, so a launcher never parses a log line.
``ServerProcess`` is the one launcher that tests, benchmarks and screenshots share: it starts
a command with ``--ready-file`` in a fresh temporary directory, waits for the file, and stops
the process with SIGTERM.

Resource handling: a thread drains the child's stderr the whole time (a full pipe would block
the server's logging) and keeps the lines for assertions and failure reports.  ``stop`` sends
SIGTERM and waits; a process that does not exit in time is killed.  The temporary directory
holding the ready file is removed when the process has been stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Self

import attrs

START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 15.0
SERVE_COMMAND: Final = (sys.executable, "-m", "c4actors.cli", "serve")
"""``c4actors serve`` run by this interpreter (no reliance on the console script on PATH)."""


@attrs.frozen(kw_only=True)
class ReadyInfo:
    """What a ready file says: where the server listens, and which process it is."""

    host: str
    port: int
    http_url: str
    ws_url: str
    pid: int

    @classmethod
    def listening(cls, host: str, port: int, *, tls: bool = False) -> Self:
        """The ready information of this process, listening on ``host:port`` (over TLS:
        ``https://`` and ``wss://`` URLs)."""
        http_url = f"{'https' if tls else 'http'}://{host}:{port}"
        return cls(
            host=host,
            port=port,
            http_url=http_url,
            ws_url=f"{'wss' if tls else 'ws'}://{host}:{port}/ws",
            pid=os.getpid(),
        )


def write_ready_file(path: Path, info: ReadyInfo) -> None:
    """Write ``info`` as JSON to ``path`` atomically: a reader sees the whole file or none."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(attrs.asdict(info)) + "\n")
    partial.replace(path)


def read_ready_file(path: Path) -> ReadyInfo:
    data: dict[str, Any] = json.loads(path.read_text())
    return ReadyInfo(**data)


class ServerStartError(RuntimeError):
    """The server exited, or wrote no ready file in time; the message includes its output."""


class ServerProcess:
    """A server child process started with ``--ready-file``; see the module docstring."""

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        command: Sequence[str] = SERVE_COMMAND,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="c4actors-ready-")
        self.ready_file = Path(self._directory.name) / "ready.json"
        self.command = [*command, *args, "--ready-file", str(self.ready_file)]
        self.process = subprocess.Popen(
            self.command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        """Every line the server has written to stderr so far (kept by the drain thread)."""
        self._lock = threading.Lock()
        self._drained = threading.Event()
        self._info: ReadyInfo | None = None
        threading.Thread(target=self._drain, name="c4actors-stderr", daemon=True).start()

    @classmethod
    def start(
        cls,
        args: Sequence[str] = (),
        *,
        command: Sequence[str] = SERVE_COMMAND,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = START_TIMEOUT,
    ) -> Self:
        """Start the server and return once it listens; raise ``ServerStartError`` if not."""
        server = cls(args, command=command, cwd=cwd, env=env)
        try:
            server.wait_ready(timeout)
        except BaseException:
            server.kill()
            raise
        return server

    def wait_ready(self, timeout: float = START_TIMEOUT) -> ReadyInfo:
        """Wait until the ready file exists (polling: it is written once, atomically)."""
        deadline = time.monotonic() + timeout
        while self._info is None:
            if self.ready_file.exists():
                self._info = read_ready_file(self.ready_file)
                break
            if self.process.poll() is not None:
                self._drained.wait(5)
                raise ServerStartError(
                    f"the server exited with code {self.process.returncode} before it "
                    f"listened: {' '.join(self.command)}\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"the server wrote no ready file within {timeout:.0f} s: "
                    f"{' '.join(self.command)}\n{self.log()}"
                )
            time.sleep(0.02)
        return self._info

    @property
    def info(self) -> ReadyInfo:
        if self._info is None:
            raise RuntimeError("the server is not ready yet: call wait_ready()")
        return self._info

    @property
    def http_url(self) -> str:
        return self.info.http_url

    @property
    def ws_url(self) -> str:
        return self.info.ws_url

    @property
    def pid(self) -> int:
        return self.process.pid

    def _drain(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                with self._lock:
                    self.lines.append(line.rstrip("\n"))
        self._drained.set()

    def log(self) -> str:
        """Everything the server has written to stderr so far."""
        with self._lock:
            return "\n".join(self.lines)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit (killing it after ``timeout``); its exit code."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._drained.wait(5)
        self._directory.cleanup()
        return code

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM (a graceful shutdown), then wait up to ``timeout`` s; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._drained.wait(5)
        self._directory.cleanup()

    def __repr__(self) -> str:
        url = self._info.http_url if self._info else "starting"
        return f"ServerProcess({url!r}, pid={self.process.pid})"


@contextmanager
def running_server(
    args: Sequence[str] = (),
    *,
    command: Sequence[str] = SERVE_COMMAND,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """A started server, stopped with SIGTERM on the way out (killed if it hangs)."""
    server = ServerProcess.start(args, command=command, cwd=cwd, env=env)
    try:
        yield server
    finally:
        server.stop()
