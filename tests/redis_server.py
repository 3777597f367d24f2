"""A throwaway ``redis-server`` for the tests: Debian's binary, a temporary directory, a
free loopback port.

By default nothing is persisted (``--save ''``, ``--appendonly no``); ``persistent=True``
writes an append-only file synced on every write (``--appendfsync always``), so a server
killed with SIGKILL and restarted comes back with every write it acknowledged, as a
production Redis with AOF would.  ``kill`` (SIGKILL) and ``restart`` (same port, same
directory) are for fault tests; ``stop`` kills it and removes the directory.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.postgres_cluster import _free_port

INSTALL_HINT = "redis-server not found: apt-get install redis-server"


def find_binary() -> Path | None:
    """Debian's ``redis-server`` (in /usr/bin), or one on PATH."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    return Path(found) if found else None


def _ping(port: int) -> bool:
    """Whether a server on ``port`` answers PING (not LOADING, not refusing)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A running ``redis-server``; ``url`` for clients."""

    def __init__(self, binary: Path, directory: Path, port: int, persistent: bool) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, binary: Path, *, persistent: bool = False) -> RedisServer:
        directory = Path(tempfile.mkdtemp(prefix="c4actors-redis-"))
        server = cls(binary, directory, _free_port(), persistent)
        try:
            for _attempt in range(3):  # the free port may be taken before the server binds it
                if server._launch():
                    return server
                server.port = _free_port()
            raise RuntimeError(f"redis-server did not start:\n{server.log()}")
        except BaseException:
            server.stop()
            raise

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text() if path.exists() else "(no server log)"

    def kill(self) -> None:
        """SIGKILL, as a crash: no save, no goodbye to clients."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        """Kill it if it runs, then start it again on the same port and directory."""
        self.kill()
        if not self._launch():
            raise RuntimeError(f"redis-server did not restart on {self.port}:\n{self.log()}")

    def stop(self) -> None:
        try:
            self.kill()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _launch(self) -> bool:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "server.log"),
                "--save",
                "",
                *persistence,
                "--daemonize",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:  # could not bind, most likely
                self.process = None
                return False
            if _ping(self.port):
                return True
            time.sleep(0.01)
        self.kill()
        return False


def command(port: int, *args: str) -> bytes:
    """Send one command to the server on ``port`` and return its raw reply followed by
    ``+OK`` for the QUIT that closes the connection (a test's side door: ``CLIENT KILL``,
    ``CLIENT LIST``...)."""

    def encode(*words: str) -> bytes:
        parts = [f"*{len(words)}\r\n".encode()]
        for word in words:
            data = word.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(parts)

    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(encode(*args) + encode("QUIT"))
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return reply
