"""The real command in a subprocess: graceful shutdown, kill -9 and restart, JSON logs,
and the database files it refuses to start on (newer, damaged, read-only)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed

from c4actors.server import RunningServer
from c4actors.server_process import ServerProcess
from c4actors.store.sqlite import SQLiteStore
from protocol import Error, GameOver, GameState, LobbyUpdate, Move, Quit, UserList
from tests.support import connect, play_opening, start_game


def address(server: ServerProcess) -> RunningServer:
    """The started server's address, as the socket helpers take it (only it is used)."""
    return RunningServer(server.info.host, server.info.port, None, None)  # type: ignore[arg-type]


@contextmanager
def server_process(db: Path, *extra: str) -> Iterator[ServerProcess]:
    args = ["--port", "0", "--db", str(db), "--lobby-tick", "0", *extra]
    server = ServerProcess.start(args, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield server
    finally:
        server.kill()


@asynccontextmanager
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        yield client


async def wait_exit(process: subprocess.Popen[str], seconds: float) -> int:
    return await trio.to_thread.run_sync(lambda: process.wait(seconds))


async def test_sigterm_shuts_down_gracefully_and_records_interrupted_games(
    tmp_path: Path,
) -> None:
    db = tmp_path / "c4.sqlite3"
    with server_process(db, "--log-format", "json") as server:
        async with (
            connect(address(server), "ann") as ann,
            connect(address(server), "bob") as bob,
        ):
            game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
            # Both move: a game left before that would not be stored at all.
            for mover, column in ((bob, 3), (ann, 4)):
                await mover.send(Move(game_id=game_id, column=column))
                await ann.expect(GameState)
                await bob.expect(GameState)
            server.process.send_signal(signal.SIGTERM)
            for client in (ann, bob):
                seen = []
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        seen.append(await client.receive())
                assert closed.value.reason.code == 1001
                assert any(isinstance(m, Error) and m.code == "server_shutdown" for m in seen)
        assert await wait_exit(server.process, 10) == 0
    assert not any("Traceback" in line for line in server.lines), "".join(server.lines)
    records = [json.loads(line) for line in server.lines if line.startswith("{")]
    assert any(r["event"].startswith("listening on http://") for r in records)
    ended = [r for r in records if r["event"] == "game ended" and r.get("reason") == "aborted"]
    assert ended and ended[0]["game_id"] == game_id
    # The interrupted game is stored as aborted; nobody's record changed.
    with server_process(db) as again:
        async with http(again) as client:
            game = (await client.get(f"/api/games/{game_id}")).json()
        assert (game["reason"], game["result"], game["moves"]) == ("aborted", None, [3, 4])


async def test_kill_9_mid_game_loses_nothing_finished(tmp_path: Path) -> None:
    db = tmp_path / "c4.sqlite3"
    with server_process(db) as server:
        async with http(server) as client:
            for name in ("ann", "bob"):
                response = await client.post(
                    "/api/register", json={"username": name, "password": "password1"}
                )
                assert response.status_code == 201
                client.cookies.clear()
            cookies = {}
            for name in ("ann", "bob"):
                await client.post("/api/login", json={"username": name, "password": "password1"})
                cookies[name] = client.cookies.get("c4session")
                client.cookies.clear()
        async with (
            connect(address(server), cookie=cookies["ann"]) as ann,
            connect(address(server), cookie=cookies["bob"]) as bob,
        ):
            await ann.join("ann")
            await bob.join("bob")
            finished = await start_game(ann, bob, skip=(LobbyUpdate,))
            await play_opening(bob, ann, finished)
            await ann.send(Quit(game_id=finished))
            for player in (ann, bob):
                await player.expect(GameOver)
                await player.expect(UserList)
            await start_game(ann, bob, skip=(LobbyUpdate,))
            server.process.send_signal(signal.SIGKILL)
            await wait_exit(server.process, 10)
    with server_process(db) as again:
        async with http(again) as client:
            assert (await client.get(f"/api/games/{finished}")).json()["winner"] == "bob"
            profile = (await client.get("/api/users/bob")).json()
            assert (profile["wins"], len(profile["games"])) == (1, 1)
            ann_profile = (await client.get("/api/users/ann")).json()
            assert ann_profile["losses"] == 1


def test_a_newer_database_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "new.sqlite3"
    with server_process(db):
        pass
    raw = sqlite3.connect(db)
    raw.execute("INSERT INTO schema_migrations VALUES (999, 0)")
    raw.commit()
    raw.close()
    result = subprocess.run(
        [sys.executable, "-m", "c4actors.cli", "serve", "--port", "0", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "newer than this c4actors knows" in result.stderr
    assert "Traceback" not in result.stderr


def serve_until_refused(
    db: Path, *, as_user: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``c4actors serve`` on ``db``, which must refuse to start: a server that starts runs
    until the timeout, and the test fails there."""
    command = [sys.executable, "-m", "c4actors.cli", "serve", "--port", "0", "--db", str(db)]
    return subprocess.run(
        [*as_user, *command, "--secret", "test-secret"],
        capture_output=True,
        text=True,
        timeout=30,
    )


async def make_database(db: Path, accounts: int) -> None:
    """A migrated database file holding ``accounts`` accounts (many pages if many)."""
    store = await SQLiteStore.open(db)
    try:
        for index in range(accounts):
            await store.create_account(f"player{index:05d}", "x" * 120, "#e5484d")
    finally:
        await store.aclose()


def test_a_damaged_database_is_refused_at_start(tmp_path: Path) -> None:
    db = tmp_path / "damaged.sqlite3"
    trio.run(make_database, db, 1_000)
    page = 4096
    with db.open("r+b") as file:
        pages = file.seek(0, os.SEEK_END) // page
        assert pages > 20
        # Overwrite the middle pages; the header (page 1) stays, so SQLite opens the file.
        for number in range(pages // 3, 2 * pages // 3):
            file.seek(number * page)
            file.write(bytes([0x5A]) * page)
    result = serve_until_refused(db)
    assert result.returncode == 1, result.stderr
    assert "cannot start" in result.stderr and "is damaged" in result.stderr
    assert "Traceback" not in result.stderr


def unprivileged(*paths: Path) -> list[str]:
    """A command prefix under which permission bits stop writes to ``paths`` (a file owned by
    us and set read-only): nothing for a normal user.  Root ignores permission bits, so root
    runs the command in a new user namespace (``unshare --user``), where its capabilities do
    not apply to the files outside it, or else as ``nobody`` owning ``paths`` (``setpriv``)."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is not None and _runs([unshare, "--user", sys.executable, "-c", "pass"]):
        return [unshare, "--user"]
    setpriv = shutil.which("setpriv")
    as_nobody = [] if setpriv is None else [setpriv, "--reuid=65534", "--regid=65534"]
    if not as_nobody or not _runs(
        [*as_nobody, "--clear-groups", sys.executable, "-c", "import c4actors.cli"]
    ):
        pytest.skip("running as root, and neither unshare --user nor setpriv to nobody works here")
    for path in paths:
        os.chown(path, 65534, 65534)
    return [*as_nobody, "--clear-groups"]


def _runs(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True, timeout=30).returncode == 0


def test_a_read_only_database_is_refused_at_start() -> None:
    """The file is read-only, its folder is not: SQLite opens the file read-only and reads
    it without complaint; only a write fails."""
    # Not tmp_path: pytest makes it readable by its owner only, and (setpriv) nobody must reach it.
    folder = Path(tempfile.mkdtemp(prefix="c4actors-ro-"))
    try:
        folder.chmod(0o755)
        db = folder / "c4.sqlite3"
        trio.run(make_database, db, 3)
        db.chmod(0o444)
        result = serve_until_refused(db, as_user=unprivileged(folder, db))
        assert result.returncode == 1, result.stderr
        assert "cannot start" in result.stderr and "is read-only" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        shutil.rmtree(folder)
