"""What only the PostgreSQL store has: a pool, a server that may refuse writes, several
servers migrating one database at once, and ``c4actors serve`` on it end to end.

The suite both stores share is ``test_store.py``; these use the same throwaway cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import psycopg
import pytest
import trio

from c4actors.server import RunningServer
from c4actors.server_process import ServerProcess, running_server
from c4actors.store import DatabaseReadOnly, StoreError
from c4actors.store.migrations import LATEST
from c4actors.store.postgres import POOL_WAIT, PostgresStore, display_url
from c4actors.store.postgres_migrations import migrate
from protocol import GameOver, GameState, LobbyUpdate, Move
from tests.postgres_cluster import PostgresCluster
from tests.stores import PostgresBackend
from tests.support import connect, open_server, start_game
from tests.test_store import record


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def test_a_read_only_database_is_refused_at_start(postgres_url: str) -> None:
    backend = PostgresBackend(postgres_url)
    backend.execute(
        f"ALTER DATABASE {database_name(postgres_url)} SET default_transaction_read_only = on"
    )
    with pytest.raises(DatabaseReadOnly, match="cannot be written"):
        await backend.open()  # an empty database: the first migration cannot write
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("SET default_transaction_read_only = off")  # this session only
        migrate(db)
    with pytest.raises(DatabaseReadOnly, match="read-only transaction"):
        await backend.open()  # migrated already


async def test_a_user_who_may_only_read_is_refused_at_start(postgres_url: str) -> None:
    backend = PostgresBackend(postgres_url)
    await (await backend.open()).aclose()
    backend.execute("CREATE ROLE reader LOGIN")
    backend.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    backend.execute("GRANT CREATE ON SCHEMA public TO reader")  # the migrations' check passes
    reader_url = postgres_url.replace("c4actors@", "reader@")
    try:
        with pytest.raises(DatabaseReadOnly, match="permission denied for table games"):
            await PostgresStore.open(reader_url)  # the write probe notices
    finally:
        backend.execute("DROP OWNED BY reader")
        backend.execute("DROP ROLE reader")


async def test_a_database_that_cannot_be_reached_is_a_clear_error_without_the_password(
    postgres_cluster: PostgresCluster,
) -> None:
    url = f"postgresql://c4actors:hunter2@127.0.0.1:{postgres_cluster.port}/no_such_db"
    with pytest.raises(StoreError) as raised:
        await PostgresStore.open(url)
    text = str(raised.value)
    assert (
        f"cannot open the database postgresql://c4actors@127.0.0.1:{postgres_cluster.port}" in text
    )
    assert "no_such_db" in text and "does not exist" in text
    assert "hunter2" not in text
    assert display_url(url) == (
        f"postgresql://c4actors@127.0.0.1:{postgres_cluster.port}/no_such_db"
    )


async def test_ping_fails_when_the_database_goes_away(
    postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    store = await PostgresStore.open(postgres_url, pool_size=2)
    try:
        await store.ping()
        postgres_cluster.drop_database(postgres_url)  # ends its connections too
        with pytest.raises(StoreError):
            await store.ping()
    finally:
        await store.aclose()


async def test_the_pool_holds_at_most_its_size_of_connections(postgres_url: str) -> None:
    store = await PostgresStore.open(postgres_url, pool_size=2)
    try:
        await store.create_account("ann", "h", "red")
        await store.create_account("Bob", "h", "yellow")
        async with trio.open_nursery() as nursery:
            for index in range(30):
                nursery.start_soon(store.record_game, record(f"g{index}", "ann"))
        held = PostgresBackend(postgres_url).execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert 1 <= held[0][0] <= 2
        ann = await store.get_account("ann")
        assert ann is not None and ann.wins == 30
    finally:
        await store.aclose()


async def test_servers_starting_together_migrate_once(postgres_url: str) -> None:
    stores: list[PostgresStore] = []

    async def open_one() -> None:
        stores.append(await PostgresStore.open(postgres_url, pool_size=1))

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(open_one)
    for store in stores:
        await store.aclose()
    rows = PostgresBackend(postgres_url).execute("SELECT version FROM schema_migrations")
    assert sorted(version for (version,) in rows) == list(range(1, LATEST + 1))


def serve_command(url: str, *extra: str) -> list[str]:
    return ["--port", "0", "--db", url, "--lobby-tick", "0", *extra]


def test_serve_refuses_a_postgresql_database_without_a_session_key(postgres_url: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "C4ACTORS_SECRET"}
    result = subprocess.run(
        [sys.executable, "-m", "c4actors.cli", "serve", *serve_command(postgres_url)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 1
    assert "--secret" in result.stderr and "Traceback" not in result.stderr


def address(server: ServerProcess) -> RunningServer:
    return RunningServer(server.info.host, server.info.port, None, None)  # type: ignore[arg-type]


@asynccontextmanager
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        yield client


async def test_serve_plays_a_game_between_accounts_recorded_in_postgresql(
    postgres_url: str,
) -> None:
    args = serve_command(postgres_url, "--secret", "test-secret", "--db-pool-size", "3")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with running_server(args, env=env) as server:
        cookies = {}
        async with http(server) as client:
            assert (await client.get("/healthz")).json()["status"] == "ok"
            for name in ("ann", "bob"):
                body = {"username": name, "password": "password1"}
                assert (await client.post("/api/register", json=body)).status_code == 201
                client.cookies.clear()
                await client.post("/api/login", json=body)
                cookies[name] = client.cookies.get("c4session")
                client.cookies.clear()
        async with (
            connect(address(server), cookie=cookies["ann"]) as ann,
            connect(address(server), cookie=cookies["bob"]) as bob,
        ):
            await ann.join("ann")
            await bob.join("bob")
            game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
            # bob (challenged) moves first: four in column 0 against ann's three in column 1.
            for index in range(7):
                mover, column = (bob, 0) if index % 2 == 0 else (ann, 1)
                await mover.send(Move(game_id=game_id, column=column))
                for player in (ann, bob):
                    await player.expect(GameState)
            for player in (ann, bob):
                over = await player.expect(GameOver)
                assert (over.winner, over.reason) == ("bob", "four_in_a_row")
        async with http(server) as client:
            profile = (await client.get("/api/users/bob")).json()
            assert (profile["wins"], [game["game_id"] for game in profile["games"]]) == (
                1,
                [game_id],
            )
    assert not any("Traceback" in line for line in server.lines), server.log()
    backend = PostgresBackend(postgres_url)
    assert backend.execute(
        "SELECT winner, reason, moves FROM games WHERE game_id = %s", (game_id,)
    ) == [("bob", "four_in_a_row", "[0, 1, 0, 1, 0, 1, 0]")]
    assert backend.execute("SELECT name, wins, losses FROM accounts ORDER BY name") == [
        ("ann", 0, 1),
        ("bob", 1, 0),
    ]


async def test_healthz_survives_lost_connections_and_reports_a_lost_database(
    postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    async with (
        open_server(db_path=postgres_url, db_pool_size=3) as server,
        httpx.AsyncClient(base_url=server.http_url) as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        # A database restart or a failover drops every pooled connection: the pool replaces
        # them as they are taken, and no request fails for it.
        PostgresBackend(postgres_url).execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        for _ in range(5):
            healthy = await client.get("/healthz")
            assert (healthy.status_code, healthy.json()["status"]) == (200, "ok")
        postgres_cluster.drop_database(postgres_url)
        with trio.fail_after(POOL_WAIT + 2):
            failing = await client.get("/healthz")
        assert (failing.status_code, failing.json()["status"]) == (503, "store_unavailable")
