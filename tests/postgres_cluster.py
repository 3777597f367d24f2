"""A throwaway PostgreSQL cluster for the tests: Debian's ``postgresql`` binaries, a
temporary directory, a free loopback port.

``initdb`` and ``postgres`` refuse to run as root, so as root the cluster belongs to the
``postgres`` user that Debian's package creates (or to a system user made for it) and every
command runs through ``runuser``.  The server listens on 127.0.0.1 only, trusts local
connections (nothing but this test run can reach it), and skips fsync: a crash loses
nothing a test needs.  ``stop`` stops it at once and removes the directory.

The cluster collates with ICU (``en-US``), unlike SQLite's code-point order, so a query
whose order depends on the collation shows it in the tests.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import psycopg

SUPERUSER: Final = "c4actors"
FALLBACK_OWNER: Final = "c4actors-pg"


def find_binaries() -> Path | None:
    """The folder of the newest installed ``initdb``/``pg_ctl`` (Debian keeps them off PATH)."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.parent.name))

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _owner() -> str | None:
    """The unprivileged user to run the cluster as (None: we are not root, run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_OWNER):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_OWNER],
        check=True,
        capture_output=True,
    )
    return FALLBACK_OWNER


class PostgresCluster:
    """A running cluster; ``create_database`` gives each test its own database."""

    def __init__(self, binaries: Path, directory: Path, owner: str | None, port: int) -> None:
        self.binaries = binaries
        self.directory = directory
        self.owner = owner
        self.port = port
        self._names = itertools.count(1)

    @classmethod
    def start(cls, binaries: Path) -> PostgresCluster:
        owner = _owner()
        directory = Path(tempfile.mkdtemp(prefix="c4actors-pg-"))
        if owner is not None:
            shutil.chown(directory, owner)
        cluster = cls(binaries, directory, owner, _free_port())
        try:
            cluster._run(
                "initdb",
                "--pgdata",
                str(cluster.data),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--locale-provider",
                "icu",
                "--icu-locale",
                "en-US",
                "--no-sync",
            )
            for _attempt in range(3):  # the free port may be taken before the server binds it
                options = (
                    f"-p {cluster.port} -k {directory} -c listen_addresses=127.0.0.1"
                    " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                )
                started = cluster._run(
                    "pg_ctl",
                    "--pgdata",
                    str(cluster.data),
                    "--log",
                    str(directory / "server.log"),
                    "--wait",
                    "--options",
                    options,
                    "start",
                    check=False,
                )
                if started.returncode == 0:
                    return cluster
                cluster.port = _free_port()
            raise RuntimeError(f"pg_ctl start failed:\n{cluster.log()}")
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text() if path.exists() else "(no server log)"

    def create_database(self) -> str:
        """A new empty database (named ``test_N``); its URL."""
        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "--pgdata", str(self.data), "--mode", "immediate", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command: Sequence[str] = [str(self.binaries / program), *args]
        if self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60, cwd=self.directory
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{self.log()}"
            )
        return result
