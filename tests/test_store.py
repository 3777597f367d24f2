"""The SQLite store: migrations, atomic results, concurrency, refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from c4actors.game_record import GameResult, GameSetup, Player
from c4actors.store import GameRecord, NameTaken, SchemaTooNew, StoreError
from c4actors.store.migrations import LATEST, current_version, migrate
from c4actors.store.sqlite import SQLiteStore


def record(
    game_id: str, winner: str | None, *, result: str | None = "win", ended_at: float = 2.0
) -> GameRecord:
    setup = GameSetup(
        game_id=game_id,
        player1=Player(name="ann", color="red", registered=True),
        player2=Player(name="Bob", color="yellow", registered=True),
    )
    reason = "forfeit" if result is not None else "aborted"
    outcome = GameResult(winner=winner, reason=reason, moves=(3, 3, 4))
    return GameRecord(setup=setup, result=outcome, started_at=1.0, ended_at=ended_at)


async def test_migrates_an_empty_file_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = await SQLiteStore.open(path)
    await store.create_account("Ann", "hash", "blue")
    await store.aclose()
    store = await SQLiteStore.open(path)
    account = await store.get_account("ANN")
    assert account is not None and (account.name, account.color) == ("Ann", "blue")
    await store.aclose()
    db = sqlite3.connect(path)
    assert current_version(db) == LATEST
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_migrates_from_the_previous_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, target=LATEST - 1) == list(range(1, LATEST))
    db.execute(
        "INSERT INTO accounts (name_key, name, password_hash, color, created_at)"
        " VALUES ('old', 'Old', 'h', 'green', 0)"
    )
    db.close()
    store = await SQLiteStore.open(path)
    account = await store.get_account("old")
    assert account is not None and (account.wins, account.losses, account.draws) == (0, 0, 0)
    assert account.session_version == 0, "existing accounts start at the first version"
    await store.record_game(
        GameRecord(
            setup=GameSetup(
                game_id="g",
                player1=Player(name="Old", color="green", registered=True),
                player2=Player(name="guest", color="red"),
            ),
            result=GameResult(winner="Old", reason="forfeit", moves=(1, 2)),
            started_at=0,
            ended_at=1,
        )
    )
    account = await store.get_account("old")
    assert account is not None and account.wins == 1
    await store.aclose()


async def test_refuses_a_database_from_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db)
    db.execute("INSERT INTO schema_migrations VALUES (?, 0)", (LATEST + 1,))
    db.close()
    with pytest.raises(SchemaTooNew, match="newer"):
        await SQLiteStore.open(path)


async def test_names_are_unique_ignoring_case() -> None:
    store = await SQLiteStore.open(":memory:")
    await store.create_account("Ann", "h", "red")
    with pytest.raises(NameTaken):
        await store.create_account("aNN", "h", "red")


async def test_a_result_updates_both_records_and_stores_the_game() -> None:
    store = await SQLiteStore.open(":memory:")
    await store.create_account("ann", "h", "red")
    await store.create_account("Bob", "h", "yellow")
    await store.record_game(record("g1", "ann", ended_at=3))
    await store.record_game(record("g2", None, ended_at=2))
    await store.record_game(record("g3", None, result=None, ended_at=1))
    ann, bob = await store.get_account("ann"), await store.get_account("bob")
    assert ann is not None and (ann.wins, ann.losses, ann.draws) == (1, 0, 1)
    assert bob is not None and (bob.wins, bob.losses, bob.draws) == (0, 1, 1)
    assert await store.get_game("g1") == record("g1", "ann", ended_at=3)
    games = await store.recent_games("BOB")
    assert [(g.game_id, g.outcome, g.opponent) for g in games] == [
        ("g1", "loss", "ann"),
        ("g2", "draw", "ann"),
        ("g3", "aborted", "ann"),
    ]
    board = await store.leaderboard()
    assert [(row.name, row.wins, row.ratio) for row in board] == [("ann", 1, 0.5), ("Bob", 0, 0.0)]


async def test_fifty_concurrent_results_lose_no_update() -> None:
    store = await SQLiteStore.open(":memory:")
    await store.create_account("ann", "h", "red")
    await store.create_account("Bob", "h", "yellow")
    async with trio.open_nursery() as nursery:
        for index in range(50):
            winner = "ann" if index % 2 else "Bob"
            nursery.start_soon(store.record_game, record(f"g{index}", winner))
    ann, bob = await store.get_account("ann"), await store.get_account("Bob")
    assert ann is not None and bob is not None
    assert (ann.wins, ann.losses, bob.wins, bob.losses) == (25, 25, 25, 25)
    assert len(await store.recent_games("ann", limit=100)) == 50


async def test_a_failed_result_write_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = await SQLiteStore.open(path)
    await store.create_account("ann", "h", "red")
    await store.create_account("Bob", "h", "yellow")
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TRIGGER fail_records BEFORE UPDATE OF losses ON accounts"
        " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="disk on fire"):
        await store.record_game(record("g1", "ann"))
    ann = await store.get_account("ann")
    assert ann is not None and ann.wins == 0, "the winner's update was rolled back too"
    assert await store.get_game("g1") is None
