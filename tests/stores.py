"""The two stores behind one test interface, so one suite runs against both.

A backend opens its store and also reaches its database directly (``execute``, ``migrate``):
to set up an old schema, to plant a newer one, or to make a write fail, the way an
operator's mistake or a failing disk would, under the store's feet.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Protocol

import psycopg

from c4actors.store import Store, postgres_migrations
from c4actors.store import migrations as sqlite_migrations
from c4actors.store.postgres import PostgresStore
from c4actors.store.sqlite import SQLiteStore


class StoreBackend(Protocol):
    name: str
    location: str
    """What ``--db`` takes: a file path or a ``postgresql://`` URL."""

    async def open(self) -> Store: ...

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the database directly (committed); its rows, if any."""

    def migrate(self, target: int) -> list[int]: ...

    def schema_version(self) -> int: ...

    def fail_updates_of(self, column: str, message: str) -> None:
        """Make every update of ``accounts.column`` fail with ``message``."""

    def fail_inserts_of_game(self, game_id: str, message: str) -> None:
        """Make every insert of the game ``game_id`` fail with ``message``."""

    def columns(self) -> dict[str, set[str]]:
        """Every table's column names."""


class SQLiteBackend:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    async def open(self) -> SQLiteStore:
        return await SQLiteStore.open(self.path)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None)

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = self._connect()
        try:
            return db.execute(statement, params).fetchall()
        finally:
            db.close()

    def migrate(self, target: int) -> list[int]:
        db = self._connect()
        try:
            return sqlite_migrations.migrate(db, target=target)
        finally:
            db.close()

    def schema_version(self) -> int:
        db = self._connect()
        try:
            return sqlite_migrations.current_version(db)
        finally:
            db.close()

    def fail_updates_of(self, column: str, message: str) -> None:
        self.execute(
            f"CREATE TRIGGER fail_{column} BEFORE UPDATE OF {column} ON accounts"
            f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )

    def fail_inserts_of_game(self, game_id: str, message: str) -> None:
        self.execute(
            f"CREATE TRIGGER fail_game_{game_id} BEFORE INSERT ON games"
            f" WHEN NEW.game_id = '{game_id}' BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )

    def columns(self) -> dict[str, set[str]]:
        tables = self.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {
            table: {row[1] for row in self.execute(f"PRAGMA table_info({table})")}
            for (table,) in tables
        }


class PostgresBackend:
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.location = url

    async def open(self) -> PostgresStore:
        return await PostgresStore.open(self.location, pool_size=4)

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.location, autocommit=True)

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as db:
            cursor = db.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def migrate(self, target: int) -> list[int]:
        with self._connect() as db:
            return postgres_migrations.migrate(db, target=target)

    def schema_version(self) -> int:
        with self._connect() as db:
            return postgres_migrations.current_version(db)

    def fail_updates_of(self, column: str, message: str) -> None:
        self.execute(
            f"CREATE FUNCTION fail_{column}() RETURNS trigger LANGUAGE plpgsql"
            f" AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$"
        )
        self.execute(
            f"CREATE TRIGGER fail_{column} BEFORE UPDATE OF {column} ON accounts"
            f" FOR EACH ROW EXECUTE FUNCTION fail_{column}()"
        )

    def fail_inserts_of_game(self, game_id: str, message: str) -> None:
        self.execute(
            f"CREATE FUNCTION fail_game_{game_id}() RETURNS trigger LANGUAGE plpgsql"
            f" AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$"
        )
        self.execute(
            f"CREATE TRIGGER fail_game_{game_id} BEFORE INSERT ON games FOR EACH ROW"
            f" WHEN (NEW.game_id = '{game_id}') EXECUTE FUNCTION fail_game_{game_id}()"
        )

    def columns(self) -> dict[str, set[str]]:
        rows = self.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        )
        found: dict[str, set[str]] = {}
        for table, column in rows:
            found.setdefault(table, set()).add(column)
        return found
