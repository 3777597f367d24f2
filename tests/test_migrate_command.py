"""``c4actors migrate --from sqlite:PATH --to postgresql://...``, through the real command."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import trio

from c4actors.game_record import GameResult, GameSetup, Player
from c4actors.store import GameRecord, Store
from c4actors.store.postgres import PostgresStore
from c4actors.store.sqlite import SQLiteStore
from tests.stores import PostgresBackend

NAMES = ("ann", "Bob", "Éa")
EXTRA_ACCOUNTS = 700  # more than one batch of 500


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "c4actors.cli", "migrate", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def game(game_id: str, winner: str | None, reason: str, *, guest: bool = False) -> GameRecord:
    second = (
        Player(name="visitor", color="green")
        if guest
        else Player(name="Bob", color="yellow", registered=True)
    )
    return GameRecord(
        setup=GameSetup(
            game_id=game_id,
            player1=Player(name="ann", color="red", registered=True),
            player2=second,
        ),
        result=GameResult(winner=winner, reason=reason, moves=(3, 3, 4, 4)),  # type: ignore[arg-type]
        started_at=10.0 + len(game_id),
        ended_at=20.5 + len(game_id),
    )


GAMES = (
    game("g1", "ann", "four_in_a_row"),
    game("g22", None, "board_full"),
    game("g333", None, "aborted"),
    game("g4444", "visitor", "forfeit", guest=True),
)


async def make_source(path: Path) -> None:
    store = await SQLiteStore.open(path)
    try:
        for name in NAMES:
            await store.create_account(name, f"hash-of-{name}", "red")
        await store.set_color("bob", "#123456")
        await store.set_password_hash("ann", "rehashed")
        await store.end_sessions("ann")
        await store.end_sessions("ann")
        for record in GAMES:
            await store.record_game(record)
    finally:
        await store.aclose()
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO accounts (name_key, name, password_hash, color, created_at)"
        " VALUES (?, ?, 'h', 'blue', ?)",
        [(f"player{i}", f"Player{i}", float(i)) for i in range(EXTRA_ACCOUNTS)],
    )
    db.commit()
    db.close()


async def everything(store: Store) -> tuple[object, ...]:
    names = (*NAMES, "player0", f"player{EXTRA_ACCOUNTS - 1}")
    return (
        [await store.get_account(name) for name in names],
        [await store.get_game(record.game_id) for record in GAMES],
        await store.recent_games("ann"),
        await store.recent_games("bob"),
        await store.leaderboard(limit=10_000),
    )


async def same_in_both(source: Path, target: str) -> None:
    sqlite_store = await SQLiteStore.open(source)
    postgres_store = await PostgresStore.open(target, pool_size=1)
    try:
        copied = await everything(postgres_store)
        assert copied == await everything(sqlite_store)
        accounts, games = copied[0], copied[1]
        assert None not in accounts and None not in games  # type: ignore[operator]
    finally:
        await sqlite_store.aclose()
        await postgres_store.aclose()


def test_copies_every_account_and_game_then_refuses_to_copy_again(
    tmp_path: Path, postgres_url: str
) -> None:
    source = tmp_path / "c4.sqlite3"
    trio.run(make_source, source)
    accounts = len(NAMES) + EXTRA_ACCOUNTS

    result = migrate("--from", f"sqlite:{source}", "--to", postgres_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"copied {accounts} accounts and {len(GAMES)} games from ")
    assert f"{accounts}/{accounts}" in result.stderr, "the progress bar's final state"
    trio.run(same_in_both, source, postgres_url)

    again = migrate("--from", f"sqlite:{source}", "--to", postgres_url)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr == (
        f"c4actors migrate: the target database {postgres_url} already holds {accounts} "
        f"accounts and {len(GAMES)} games: c4actors migrate copies only into an empty "
        "database (nothing was copied)\n"
    )
    backend = PostgresBackend(postgres_url)
    assert backend.execute("SELECT COUNT(*) FROM accounts") == [(accounts,)]
    assert backend.execute("SELECT COUNT(*) FROM games") == [(len(GAMES),)]


def test_a_failed_copy_leaves_the_target_empty(tmp_path: Path, postgres_url: str) -> None:
    source = tmp_path / "c4.sqlite3"
    trio.run(make_source, source)
    db = sqlite3.connect(source)
    db.execute("UPDATE games SET registered1 = 'perhaps' WHERE game_id = 'g4444'")  # not a bool
    db.commit()
    db.close()
    result = migrate("--from", f"sqlite:{source}", "--to", postgres_url)
    assert result.returncode == 1
    assert "c4actors migrate: cannot copy into" in result.stderr
    assert "Traceback" not in result.stderr
    backend = PostgresBackend(postgres_url)
    assert backend.execute("SELECT COUNT(*) FROM accounts") == [(0,)], "accounts rolled back"
    assert backend.execute("SELECT COUNT(*) FROM games") == [(0,)]
    # Fixed, the same target takes the copy.
    db = sqlite3.connect(source)
    db.execute("UPDATE games SET registered1 = 1 WHERE game_id = 'g4444'")
    db.commit()
    db.close()
    assert migrate("--from", f"sqlite:{source}", "--to", postgres_url).returncode == 0


def test_a_missing_source_is_an_error_and_is_not_created(tmp_path: Path, postgres_url: str) -> None:
    source = tmp_path / "typo.sqlite3"
    result = migrate("--from", f"sqlite:{source}", "--to", postgres_url)
    assert result.returncode == 1
    assert result.stderr == f"c4actors migrate: there is no SQLite database at {str(source)!r}\n"
    assert not source.exists()


def test_the_source_and_target_must_say_what_they_are(tmp_path: Path) -> None:
    result = migrate("--from", str(tmp_path / "c4.sqlite3"), "--to", "postgresql://x@h/db")
    assert result.returncode == 2 and "must be sqlite:PATH" in result.stderr
    result = migrate("--from", "sqlite:c4.sqlite3", "--to", str(tmp_path / "other.sqlite3"))
    assert result.returncode == 2 and "must be postgresql://" in result.stderr
