"""The real command in a subprocess: graceful shutdown, kill -9 and restart, JSON logs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed

from c4actors.server import RunningServer
from protocol import Error, GameOver, GameState, LobbyUpdate, Move, Quit, UserList
from tests.support import connect, start_game

LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)")


class ServerProcess:
    def __init__(self, process: subprocess.Popen[str], host: str, port: int) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.lines: list[str] = []

    @property
    def running(self) -> RunningServer:
        # Only the addresses are used by the socket helpers.
        return RunningServer(self.host, self.port, None, None)  # type: ignore[arg-type]


@contextmanager
def server_process(db: Path, *extra: str) -> Iterator[ServerProcess]:
    command = [sys.executable, "-m", "c4actors.cli", "serve", "--port", "0", "--db", str(db)]
    process = subprocess.Popen(
        [*command, "--lobby-tick", "0", *extra],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        found = LISTENING.search(line)
        if found:
            break
    else:
        raise AssertionError("the server did not start:\n" + "".join(lines))
    server = ServerProcess(process, found[1], int(found[2]))
    server.lines = lines
    try:
        yield server
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        server.lines += process.stderr.readlines()
        process.stderr.close()


@asynccontextmanager
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{server.host}:{server.port}") as client:
        yield client


async def wait_exit(process: subprocess.Popen[str], seconds: float) -> int:
    return await trio.to_thread.run_sync(lambda: process.wait(seconds))


async def test_sigterm_shuts_down_gracefully_and_records_interrupted_games(
    tmp_path: Path,
) -> None:
    db = tmp_path / "c4.sqlite3"
    with server_process(db, "--log-format", "json") as server:
        async with (
            connect(server.running, "ann") as ann,
            connect(server.running, "bob") as bob,
        ):
            game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
            await bob.send(Move(game_id=game_id, column=3))
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
        assert (game["reason"], game["result"], game["moves"]) == ("aborted", None, [3])


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
            connect(server.running, cookie=cookies["ann"]) as ann,
            connect(server.running, cookie=cookies["bob"]) as bob,
        ):
            await ann.join("ann")
            await bob.join("bob")
            finished = await start_game(ann, bob, skip=(LobbyUpdate,))
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
