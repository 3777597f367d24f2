"""docs/deploy.md: every command in it is run here (paths and addresses replaced by
temporary ones), or listed in ``NOT_RUN`` with the reason; its files are the ones checked."""

from __future__ import annotations

import argparse
import configparser
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import httpx
import psycopg
import pytest

from c4actors.cli import build_parser
from c4actors.server_process import ServerProcess, running_server
from tests.postgres_cluster import PostgresCluster

REPOSITORY: Final = Path(__file__).resolve().parent.parent
GUIDE: Final = REPOSITORY / "docs" / "deploy.md"
UNIT: Final = REPOSITORY / "docs" / "deploy" / "c4actors.service"
STATE: Final = "/var/lib/c4actors"
BACKUPS: Final = "/var/backups"
PG_URL: Final = "postgresql://c4actors@db.example.org/c4actors"

NOT_RUN: Final = {
    "cp docs/deploy/c4actors.service /etc/systemd/system/c4actors.service": "writes to /etc",
    "systemctl enable --now c4actors": "needs systemd as PID 1 (the unit is verified instead)",
}


def guide_commands() -> list[str]:
    return [
        line.removeprefix("$ ") for line in GUIDE.read_text().splitlines() if line.startswith("$ ")
    ]


def commands_starting(prefix: str) -> list[str]:
    found = [command for command in guide_commands() if command.startswith(prefix)]
    assert found, f"the guide has no {prefix!r} command"
    return found


def required(tool: str, path: str | None = None) -> str:
    """``tool``'s path; skipped locally without it, a failure in CI (``.ci/run`` installs it)."""
    found = shutil.which(tool, path=path)
    if found is None:
        reason = f"{tool} is not installed"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def test_every_command_is_run_by_a_test_or_says_why_not() -> None:
    runners = (
        "c4actors ",
        "systemd-analyze ",
        "sqlite3 ",
        "python3 ",
        "pg_dump ",
        "pg_restore ",
        "curl ",
    )
    for command in guide_commands():
        assert command.startswith(runners) or command in NOT_RUN, command
    for command in NOT_RUN:
        assert command in guide_commands(), f"NOT_RUN lists a command the guide lost: {command}"


def test_the_serve_and_migrate_commands_are_valid() -> None:
    parser = build_parser()
    for command in commands_starting("c4actors "):
        args = parser.parse_args(shlex.split(command)[1:])
        assert args.command in ("serve", "migrate"), command
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string(UNIT.read_text())
    exec_start = shlex.split(unit["Service"]["ExecStart"])
    assert exec_start[0] == "/opt/c4actors/bin/c4actors"
    served = parser.parse_args(exec_start[1:])
    assert served.forwarded_allow_ips == ["127.0.0.1"] and served.host == "127.0.0.1"
    # The guide shows the unit's lines as they are in the file.
    text = UNIT.read_text()
    for line in ("ExecStart=" + unit["Service"]["ExecStart"], "LimitNOFILE=65536"):
        assert line in text and line in GUIDE.read_text()


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    (command,) = commands_starting("systemd-analyze ")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # the unit is still parsed (above), in CI too
        pytest.skip("systemd-analyze is not installed")
    # systemd-analyze checks that ExecStart's program exists: use this checkout's.
    program = Path(sys.executable).parent / "c4actors"
    unit = tmp_path / "c4actors.service"
    unit.write_text(UNIT.read_text().replace("/opt/c4actors/bin/c4actors", str(program)))
    argv = shlex.split(command.replace("docs/deploy/c4actors.service", str(unit)))
    result = subprocess.run(
        [analyze, *argv[1:]], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "c4actors.service" not in result.stderr, result.stderr


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    """A server on a SQLite file, with one registered account ("ann")."""
    state = tmp_path / "state"
    state.mkdir()
    db = state / "c4actors.sqlite3"
    with running_server(["--port", "0", "--db", str(db)]) as server:
        registered = httpx.post(
            f"{server.http_url}/api/register",
            json={"username": "ann", "password": "correct horse"},
        )
        assert registered.status_code == 201
        yield server, state


def run_shell(command: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        command = command.replace(old, new)
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
    return result.stdout


def accounts_in(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return [row[0] for row in connection.execute("SELECT name FROM accounts")]


def test_the_sqlite_backups_and_the_monitoring_commands(
    live_server: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    server, state = live_server
    backups = tmp_path / "backups"
    backups.mkdir()
    paths = {STATE: str(state), BACKUPS: str(backups)}
    required("sqlite3")
    (with_sqlite3,) = commands_starting("sqlite3 ")
    run_shell(with_sqlite3, paths)
    (with_python,) = commands_starting("python3 ")
    run_shell(with_python.replace("python3 ", f"{sys.executable} ", 1), paths)
    for name in ("c4actors.sqlite3", "c4actors-py.sqlite3"):
        assert accounts_in(backups / name) == ["ann"], name

    required("curl")
    address = {"http://127.0.0.1:8000": server.http_url}
    outputs = [run_shell(command, address) for command in commands_starting("curl ")]
    assert '"status":"ok"' in outputs[0].replace(" ", "")
    monitoring = GUIDE.read_text().partition("## Monitoring")[2].partition("## ")[0]
    named = set(re.findall(r"`(c4_[a-z_]+)", monitoring))
    assert len(named) >= 10
    served = set(re.findall(r"^# TYPE (c4_[a-z_]+) ", outputs[1], re.MULTILINE))
    assert named <= served, f"the guide names metrics the server lacks: {named - served}"


def test_migrate_then_pg_dump_and_pg_restore(
    live_server: tuple[ServerProcess, Path], postgres_cluster: PostgresCluster
) -> None:
    server, state = live_server
    server.stop()  # the guide: stop the server before migrating
    source = postgres_cluster.create_database()
    restored = postgres_cluster.create_database()
    try:
        (migrate,) = commands_starting("c4actors migrate ")
        migrate = migrate.replace(STATE, str(state)).replace(PG_URL, source)
        result = subprocess.run(
            [sys.executable, "-m", "c4actors.cli", *shlex.split(migrate)[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        tools = str(postgres_cluster.binaries)
        replacements = {
            f"{PG_URL}_restored": restored,
            PG_URL: source,
            BACKUPS: str(state),
            "pg_dump ": f"{required('pg_dump', tools)} ",
            "pg_restore ": f"{required('pg_restore', tools)} ",
        }
        for tool in ("pg_dump ", "pg_restore "):
            (command,) = commands_starting(tool)
            run_shell(command, replacements)
        with psycopg.connect(restored) as connection:
            names = [row[0] for row in connection.execute("SELECT name FROM accounts")]
        assert names == ["ann"]
    finally:
        postgres_cluster.drop_database(restored)
        postgres_cluster.drop_database(source)


def test_every_serve_option_is_reviewed() -> None:
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    serve = commands.choices["serve"]
    options = {
        option
        for action in serve._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    review = GUIDE.read_text().partition("## Limits to review")[2]
    missing = sorted(option for option in options if f"`{option}`" not in review)
    assert not missing, f"docs/deploy.md does not review {missing}"
