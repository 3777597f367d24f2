"""The embedded default store: one SQLite file, worked on off the event loop.

Resource handling: a writing connection and a reading one, each used by one
worker thread at a time (a ``CapacityLimiter(1)`` each), so the event loop never
waits on the disk and no two queries interleave on a connection.  In WAL mode
readers do not wait for writers: an account lookup on join never queues behind a
game's fsync.  WAL journal with ``synchronous=FULL``: a committed result survives
a crash or a power cut.  (An in-memory database has one connection for both.)

Error handling: ``sqlite3`` errors become ``StoreError``; a failed write is rolled
back whole, so a game's record and both players' statistics change together or
not at all.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import trio

from c4actors.store.errors import DatabaseDamaged, DatabaseReadOnly, NameTaken, StoreError
from c4actors.store.group_commit import Outcome, raise_failures, write_each
from c4actors.store.migrations import migrate
from c4actors.store.records import Account, GameRecord, GameSummary, LeaderboardRow
from c4actors.store.rows import (
    ACCOUNT_COLUMNS,
    GAME_COLUMNS,
    account_from_row,
    analysis_from_json,
    analysis_json,
    counter_updates,
    game_from_row,
    game_values,
    leaderboard_row,
    summary,
)
from c4actors.store.rows import name_key as _key
from protocol.messages import Analysis

T = TypeVar("T")


def check_integrity(db: sqlite3.Connection, path: str | Path) -> None:
    """Refuse a damaged file at start (``PRAGMA quick_check``, linear in the file's size).

    SQLite opens a file whose inner pages were overwritten without complaint, and the damage
    shows only when a query reaches those pages: every join would then fail while the server
    looked healthy.
    """
    try:
        problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    if problems != ["ok"]:
        shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
        raise DatabaseDamaged(
            f"the database {str(path)!r} is damaged ({shown}): restore it from a backup "
            f"(or use another --db file)"
        )


def check_writable(db: sqlite3.Connection, path: str | Path) -> None:
    """Refuse a file the server cannot write, at start, rather than lose every result later.

    SQLite silently opens a file it may not write read-only, and a transaction that only
    begins does not notice: a write inside one does (then it is rolled back, so nothing
    changes).  This works for root too, for whom permission bits do not stop an open.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE main.c4actors_write_probe (x)")
        finally:
            db.execute("ROLLBACK")
    except sqlite3.OperationalError as error:
        if "readonly" not in str(error):
            raise
        raise DatabaseReadOnly(_read_only_text(path, error)) from error


def _read_only_text(path: str | Path, error: sqlite3.Error) -> str:
    return (
        f"the database {str(path)!r} is read-only ({error}): no result could be saved; "
        "let the server write the file and its folder (or use another --db file)"
    )


_INSERT_GAME: Final = (
    f"INSERT INTO games ({GAME_COLUMNS}, player1_key, player2_key)"
    f" VALUES ({', '.join(['?'] * 19)}) ON CONFLICT (game_id) DO NOTHING"
)


def _write_games(db: sqlite3.Connection, records: Sequence[GameRecord]) -> None:
    """Store ``records`` in one transaction, rolled back whole on any error.

    Idempotent by game id: a game already stored (or twice in ``records``) is not inserted
    again, and only the games inserted add to their players' records.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            inserted = [
                record
                for record in records
                if db.execute(_INSERT_GAME, game_values(record)).rowcount
            ]
            for key, column, count in counter_updates(inserted):
                db.execute(
                    f"UPDATE accounts SET {column} = {column} + ? WHERE name_key = ?", (count, key)
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    except sqlite3.Error as error:
        raise StoreError(str(error)) from error


class SQLiteStore:
    """See the module docstring. Open with ``await SQLiteStore.open(path)``."""

    def __init__(self, db: sqlite3.Connection, reader: sqlite3.Connection | None = None) -> None:
        self._db = db
        self._limiter = trio.CapacityLimiter(1)
        self._reader = reader or db
        self._read_limiter = trio.CapacityLimiter(1) if reader is not None else self._limiter

    @classmethod
    async def open(cls, path: str | Path) -> SQLiteStore:
        """Open (creating if needed) and migrate the database at ``path``."""

        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = FULL")
                db.execute("PRAGMA busy_timeout = 5000")
                check_integrity(db, path)
                check_writable(db, path)
                migrate(db)
            except BaseException:
                db.close()
                raise
            return db

        def connect_reader() -> sqlite3.Connection | None:
            if str(path) == ":memory:":
                return None
            reader = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            reader.execute("PRAGMA busy_timeout = 5000")
            reader.execute("PRAGMA query_only = ON")
            return reader

        try:
            db = await trio.to_thread.run_sync(connect)
            reader = await trio.to_thread.run_sync(connect_reader)
        except sqlite3.Error as error:
            if "readonly" in str(error):  # e.g. a WAL file cannot be created beside it
                raise DatabaseReadOnly(_read_only_text(path, error)) from error
            raise StoreError(f"cannot open the database {str(path)!r}: {error}") from error
        return cls(db, reader)

    async def ping(self) -> None:
        """A cheap read of the file (the schema version), for ``/healthz``."""
        await self._run(
            lambda db: db.execute("SELECT MAX(version) FROM schema_migrations").fetchone(),
            read=True,
        )

    async def _run(self, work: Callable[[sqlite3.Connection], T], *, read: bool = False) -> T:
        db = self._reader if read else self._db

        def guarded() -> T:
            try:
                return work(db)
            except sqlite3.Error as error:
                raise StoreError(str(error)) from error

        limiter = self._read_limiter if read else self._limiter
        return await trio.to_thread.run_sync(guarded, limiter=limiter)

    async def aclose(self) -> None:
        if self._reader is not self._db:
            await self._run(lambda db: db.close(), read=True)
        await self._run(lambda db: db.close())

    # ----------------------------------------------------------------- accounts

    async def create_account(self, name: str, password_hash: str, color: str) -> Account:
        account = Account(
            name=name, password_hash=password_hash, color=color, created_at=time.time()
        )

        def insert(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO accounts (name_key, name, password_hash, color, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (_key(name), name, password_hash, color, account.created_at),
                )
            except sqlite3.IntegrityError as error:
                raise NameTaken(f"the name {name!r} is already registered") from error

        await self._run(insert)
        return account

    async def get_account(self, name: str) -> Account | None:
        row = await self._run(
            lambda db: db.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name_key = ?", (_key(name),)
            ).fetchone(),
            read=True,
        )
        return None if row is None else account_from_row(row)

    async def set_color(self, name: str, color: str) -> Account | None:
        def update(db: sqlite3.Connection) -> Any:
            db.execute("UPDATE accounts SET color = ? WHERE name_key = ?", (color, _key(name)))
            return db.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name_key = ?", (_key(name),)
            ).fetchone()

        row = await self._run(update)
        return None if row is None else account_from_row(row)

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE accounts SET password_hash = ? WHERE name_key = ?",
                (password_hash, _key(name)),
            )
        )

    async def end_sessions(self, name: str) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE accounts SET session_version = session_version + 1 WHERE name_key = ?",
                (_key(name),),
            )
        )

    # ----------------------------------------------------------------- games

    async def record_game(self, record: GameRecord) -> None:
        await self.record_games([record])

    async def record_games(self, records: Sequence[GameRecord]) -> None:
        records = list(records)
        if not records:
            return

        def write(db: sqlite3.Connection) -> list[Outcome]:
            return write_each(lambda batch: _write_games(db, batch), records)

        raise_failures(records, await self._run(write))

    async def get_game(self, game_id: str) -> GameRecord | None:
        row = await self._run(
            lambda db: db.execute(
                f"SELECT {GAME_COLUMNS} FROM games WHERE game_id = ?", (game_id,)
            ).fetchone(),
            read=True,
        )
        return None if row is None else game_from_row(row)

    async def save_analysis(self, analysis: Analysis) -> None:
        row = (analysis.game_id, analysis_json(analysis), time.time())
        await self._run(
            lambda db: db.execute(
                "INSERT INTO game_analyses (game_id, analysis, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (game_id) DO NOTHING",
                row,
            )
        )

    async def get_analysis(self, game_id: str) -> Analysis | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT analysis FROM game_analyses WHERE game_id = ?", (game_id,)
            ).fetchone(),
            read=True,
        )
        return None if row is None else analysis_from_json(row[0])

    async def recent_games(self, name: str, limit: int = 20) -> list[GameSummary]:
        key = _key(name)
        rows = await self._run(
            lambda db: db.execute(
                f"SELECT {GAME_COLUMNS} FROM games"
                " WHERE (player1_key = ?1 AND registered1) OR (player2_key = ?1 AND registered2)"
                " ORDER BY ended_at DESC LIMIT ?2",
                (key, limit),
            ).fetchall(),
            read=True,
        )
        return [summary(game_from_row(row), name) for row in rows]

    async def leaderboard(self, limit: int = 50) -> list[LeaderboardRow]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT name, wins, losses, draws FROM accounts"
                " ORDER BY wins DESC, (losses + draws) ASC, name_key ASC LIMIT ?",
                (limit,),
            ).fetchall(),
            read=True,
        )
        return [leaderboard_row(row) for row in rows]
