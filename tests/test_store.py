"""Both stores, one suite: migrations, atomic results, concurrency, refusals.

Every test that takes ``backend`` or ``store`` runs against SQLite and PostgreSQL (a
throwaway cluster, see ``conftest.py``); the few that check one store's own mechanics say so
in their names.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs
import pytest
import trio

from c4actors.game_record import Computer, GameResult, GameSetup, Player
from c4actors.store import (
    GameRecord,
    GamesNotRecorded,
    NameTaken,
    SchemaTooNew,
    Store,
    StoreError,
    postgres_migrations,
)
from c4actors.store import migrations as sqlite_migrations
from c4actors.store.migrations import LATEST
from protocol.messages import Analysis, MoveNote, TimeControl, Verdict
from tests.stores import PostgresBackend, SQLiteBackend, StoreBackend


def record(
    game_id: str,
    winner: str | None,
    *,
    result: str | None = "win",
    ended_at: float = 2.0,
    swapped: bool = False,
) -> GameRecord:
    ann = Player(name="ann", color="red", registered=True)
    bob = Player(name="Bob", color="yellow", registered=True)
    setup = GameSetup(
        game_id=game_id,
        player1=bob if swapped else ann,
        player2=ann if swapped else bob,
    )
    reason = "forfeit" if result is not None else "aborted"
    outcome = GameResult(winner=winner, reason=reason, moves=(3, 3, 4))
    return GameRecord(setup=setup, result=outcome, started_at=1.0, ended_at=ended_at)


async def test_migrates_an_empty_database_and_survives_reopening(backend: StoreBackend) -> None:
    store = await backend.open()
    await store.create_account("Ann", "hash", "blue")
    await store.aclose()
    store = await backend.open()
    account = await store.get_account("ANN")
    assert account is not None and (account.name, account.color) == ("Ann", "blue")
    await store.aclose()
    assert backend.schema_version() == LATEST


async def test_sqlite_uses_a_write_ahead_log(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "db.sqlite3")
    store = await backend.open()
    await store.aclose()
    assert backend.execute("PRAGMA journal_mode") == [("wal",)]


def test_both_stores_have_the_same_schema(postgres_url: str, tmp_path: Path) -> None:
    """A migration added to one store only fails here: each SQLite migration has its
    PostgreSQL twin under the same version number, with the same tables and columns."""
    assert len(postgres_migrations.MIGRATIONS) == len(sqlite_migrations.MIGRATIONS)
    assert postgres_migrations.LATEST == sqlite_migrations.LATEST
    sqlite, postgres = SQLiteBackend(tmp_path / "db.sqlite3"), PostgresBackend(postgres_url)
    for version in range(1, LATEST + 1):
        sqlite.migrate(version)
        postgres.migrate(version)
        assert sqlite.columns() == postgres.columns(), f"schema version {version}"


async def test_migrates_from_the_previous_schema_version(backend: StoreBackend) -> None:
    assert backend.migrate(LATEST - 1) == list(range(1, LATEST))
    backend.execute(
        "INSERT INTO accounts (name_key, name, password_hash, color, created_at)"
        " VALUES ('old', 'Old', 'h', 'green', 0)"
    )
    store = await backend.open()
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


async def test_refuses_a_database_from_a_newer_version(backend: StoreBackend) -> None:
    backend.migrate(LATEST)
    backend.execute(f"INSERT INTO schema_migrations VALUES ({LATEST + 1}, 0)")
    with pytest.raises(SchemaTooNew, match="newer"):
        await backend.open()


async def test_names_are_unique_ignoring_case(store: Store) -> None:
    await store.create_account("Ann", "h", "red")
    with pytest.raises(NameTaken):
        await store.create_account("aNN", "h", "red")
    with pytest.raises(NameTaken):
        await store.create_account("ANN", "h", "blue")
    account = await store.get_account("ann")
    assert account is not None and (account.name, account.color) == ("Ann", "red")


async def test_a_result_updates_both_records_and_stores_the_game(store: Store) -> None:
    await store.create_account("ann", "h", "red")
    await store.create_account("Bob", "h", "yellow")
    await store.record_game(record("g1", "ann", ended_at=3))
    await store.record_game(record("g2", None, ended_at=2))
    await store.record_game(record("g3", None, result=None, ended_at=1))
    ann, bob = await store.get_account("ann"), await store.get_account("bob")
    assert ann is not None and (ann.wins, ann.losses, ann.draws) == (1, 0, 1)
    assert bob is not None and (bob.wins, bob.losses, bob.draws) == (0, 1, 1)
    assert await store.get_game("g1") == record("g1", "ann", ended_at=3)
    assert await store.get_game("g3") == record("g3", None, result=None, ended_at=1)
    assert await store.get_game("nope") is None
    games = await store.recent_games("BOB")
    assert [(g.game_id, g.outcome, g.opponent) for g in games] == [
        ("g1", "loss", "ann"),
        ("g2", "draw", "ann"),
        ("g3", "aborted", "ann"),
    ]
    assert [g.game_id for g in await store.recent_games("bob", limit=2)] == ["g1", "g2"]
    board = await store.leaderboard()
    assert [(row.name, row.wins, row.ratio) for row in board] == [("ann", 1, 0.5), ("Bob", 0, 0.0)]


async def test_the_leaderboard_breaks_ties_by_code_point(store: Store) -> None:
    """The same order from both stores, whatever PostgreSQL's collation (ICU here, where
    'é' sorts before 'f'; by code point it comes after 'z')."""
    for name in ("fa", "éa", "Ea", "za"):
        await store.create_account(name, "h", "red")
    board = await store.leaderboard()
    assert [row.name for row in board] == ["Ea", "fa", "za", "éa"]
    assert [row.name for row in await store.leaderboard(limit=2)] == ["Ea", "fa"]


async def test_account_changes(store: Store) -> None:
    await store.create_account("Ann", "h", "red")
    changed = await store.set_color("ANN", "blue")
    assert changed is not None and changed.color == "blue"
    assert await store.set_color("nobody", "blue") is None
    await store.set_password_hash("ann", "rehashed")
    account = await store.get_account("ann")
    assert account is not None and (account.color, account.password_hash) == ("blue", "rehashed")
    assert await store.get_account("nobody") is None


async def test_ending_an_accounts_sessions_increments_its_version(store: Store) -> None:
    await store.create_account("Ann", "h", "red")
    await store.end_sessions("ANN")
    await store.end_sessions("ann")
    await store.end_sessions("nobody")
    account = await store.get_account("ann")
    assert account is not None and account.session_version == 2


async def test_ping_answers_on_a_healthy_store(store: Store) -> None:
    await store.ping()


async def test_fifty_concurrent_results_lose_no_update(store: Store) -> None:
    await store.create_account("ann", "h", "red")
    await store.create_account("Bob", "h", "yellow")
    async with trio.open_nursery() as nursery:
        for index in range(50):
            winner = "ann" if index % 2 else "Bob"
            # Seats alternate too: two games ending at once touch the same two rows in
            # opposite seat orders, which must neither deadlock nor lose an update.
            game = record(f"g{index}", winner, swapped=index % 4 < 2)
            nursery.start_soon(store.record_game, game)
    ann, bob = await store.get_account("ann"), await store.get_account("Bob")
    assert ann is not None and bob is not None
    assert (ann.wins, ann.losses, bob.wins, bob.losses) == (25, 25, 25, 25)
    assert len(await store.recent_games("ann", limit=100)) == 50


async def test_a_failed_result_write_changes_nothing(backend: StoreBackend) -> None:
    store = await backend.open()
    try:
        await store.create_account("ann", "h", "red")
        await store.create_account("Bob", "h", "yellow")
        backend.fail_updates_of("losses", "disk on fire")
        with pytest.raises(StoreError, match="disk on fire"):
            await store.record_game(record("g1", "ann"))
        ann = await store.get_account("ann")
        assert ann is not None and ann.wins == 0, "the winner's update was rolled back too"
        assert await store.get_game("g1") is None
        with pytest.raises(StoreError, match="disk on fire"):
            await store.record_game(record("g1", "ann", swapped=True))
        ann = await store.get_account("ann")
        assert ann is not None and ann.wins == 0, "in either seat order"
    finally:
        await store.aclose()


async def test_a_game_id_is_stored_once_and_counts_once(store: Store) -> None:
    """Recording is idempotent by game id: a record delivered again (a stream's redelivery,
    a retry after a lost answer) neither fails nor counts a second time."""
    await store.create_account("ann", "h", "red")
    await store.create_account("Bob", "h", "yellow")
    await store.record_game(record("g1", "ann"))
    await store.record_game(record("g1", "ann"))
    await store.record_game(record("g1", "Bob"))  # the first record stays
    await store.record_games([record("g2", "Bob"), record("g1", "ann"), record("g2", "Bob")])
    ann, bob = await store.get_account("ann"), await store.get_account("Bob")
    assert ann is not None and (ann.wins, ann.losses) == (1, 1)
    assert bob is not None and (bob.wins, bob.losses) == (1, 1)
    assert await store.get_game("g1") == record("g1", "ann")
    assert sorted(g.game_id for g in await store.recent_games("ann")) == ["g1", "g2"]


async def test_a_batch_with_one_bad_record_stores_the_others(backend: StoreBackend) -> None:
    store = await backend.open()
    try:
        await store.create_account("ann", "h", "red")
        await store.create_account("Bob", "h", "yellow")
        backend.fail_inserts_of_game("bad", "disk on fire")
        batch = [record("g1", "ann"), record("bad", "ann"), record("g2", "Bob")]
        with pytest.raises(GamesNotRecorded, match="disk on fire") as raised:
            await store.record_games(batch)
        assert set(raised.value.failed) == {"bad"}
        assert "disk on fire" in str(raised.value.failed["bad"])
        assert await store.get_game("g1") == record("g1", "ann")
        assert await store.get_game("g2") == record("g2", "Bob")
        assert await store.get_game("bad") is None
        ann = await store.get_account("ann")
        assert ann is not None and (ann.wins, ann.losses) == (1, 1), "bad counted for nobody"
        await store.record_games([])  # nothing to do, no error
    finally:
        await store.aclose()


async def test_recorded_games_survive_reopening(backend: StoreBackend) -> None:
    store = await backend.open()
    await store.create_account("ann", "h", "red")
    await store.create_account("Bob", "h", "yellow")
    await store.record_games([record(f"g{index}", "ann") for index in range(5)])
    await store.record_game(record("g5", "Bob"))
    await store.aclose()
    store = await backend.open()
    try:
        for index in range(5):
            assert await store.get_game(f"g{index}") == record(f"g{index}", "ann")
        ann = await store.get_account("ann")
        assert ann is not None and (ann.wins, ann.losses) == (5, 1)
    finally:
        await store.aclose()


def test_sqlite_migrations_apply_in_order_from_scratch(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    assert sqlite_migrations.migrate(db) == list(range(1, LATEST + 1))
    assert sqlite_migrations.migrate(db) == []
    db.close()


async def test_a_timed_game_keeps_its_time_control_and_older_games_read_as_untimed(
    backend: StoreBackend,
) -> None:
    """Migration 4 adds the time control; games stored before it are untimed."""
    backend.migrate(3)
    backend.execute(
        "INSERT INTO games (game_id, player1, player2, player1_key, player2_key, registered1,"
        " registered2, color1, color2, moves, result, winner, reason, started_at, ended_at)"
        " VALUES ('old', 'ann', 'bob', 'ann', 'bob', FALSE, FALSE, 'red', 'yellow', '[3, 3]',"
        " 'win', 'ann', 'forfeit', 0, 1)"
    )
    store = await backend.open()
    try:
        old = await store.get_game("old")
        assert old is not None and old.setup.time_control is None
        plain = record("t", "ann")
        control = TimeControl(base_seconds=180, increment_seconds=2.5)
        timed = attrs.evolve(plain, setup=attrs.evolve(plain.setup, time_control=control))
        await store.record_game(timed)
        assert await store.get_game("t") == timed
    finally:
        await store.aclose()


async def test_a_game_against_the_computer_keeps_its_level_and_counts_for_nobody(
    store: Store,
) -> None:
    await store.create_account("ann", "h", "red")
    game = record("c1", "ann")
    machine = Player(name="Computer (perfect)", color="yellow")
    game = attrs.evolve(
        game,
        setup=attrs.evolve(game.setup, player2=machine, computer=Computer(level="perfect", seat=2)),
        result=GameResult(winner="ann", reason="four_in_a_row", moves=(3, 3, 4)),
    )
    await store.record_game(game)
    assert await store.get_game("c1") == game
    ann = await store.get_account("ann")
    assert ann is not None and (ann.wins, ann.losses, ann.draws) == (0, 0, 0)
    assert [g.opponent for g in await store.recent_games("ann")] == ["Computer (perfect)"]


async def test_an_analysis_is_kept_with_its_game_once(store: Store) -> None:
    await store.record_game(record("g1", None))
    verdict = Verdict(outcome="draw", plies=40, score=0)
    note = MoveNote(ply=1, column=3, before=verdict, best=[2, 3], after=verdict, grade="best")
    analysis = Analysis(game_id="g1", moves=[note], lost_at=None)
    assert await store.get_analysis("g1") is None
    await store.save_analysis(analysis)
    await store.save_analysis(attrs.evolve(analysis, lost_at=1))  # a second one is ignored
    assert await store.get_analysis("g1") == analysis
    assert await store.get_analysis("nope") is None
