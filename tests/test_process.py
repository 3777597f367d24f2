"""The real command in a subprocess: graceful shutdown, kill -9 and restart, JSON logs."""

from __future__ import annotations

import json
import os
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
from c4actors.server_process import ServerProcess
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
