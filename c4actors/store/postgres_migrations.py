"""Versioned schema migrations for the PostgreSQL store: the twins of ``migrations.py``.

Version N here makes the same change as SQLite's version N (same tables, same columns, in
PostgreSQL's types), so a database copied by ``c4actors migrate`` and one migrated in place
agree, and a new SQLite migration without its twin here fails
``tests/test_store.py::test_both_stores_have_the_same_schema``.

Each migration runs in its own transaction with the row that records it (PostgreSQL's DDL
is transactional), and the whole run holds an advisory lock: several servers starting at
once against one database apply each migration once, the others wait and find it done.
"""

from __future__ import annotations

import time
from typing import Any, Final

import psycopg

from c4actors.store.errors import SchemaTooNew
from c4actors.store.migrations import split_statements

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: accounts
    """
    CREATE TABLE accounts (
        name_key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        color TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 2: records and games
    """
    ALTER TABLE accounts
        ADD COLUMN wins INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN losses INTEGER NOT NULL DEFAULT 0,
        ADD COLUMN draws INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE games (
        game_id TEXT PRIMARY KEY,
        player1 TEXT NOT NULL,
        player2 TEXT NOT NULL,
        player1_key TEXT NOT NULL,
        player2_key TEXT NOT NULL,
        registered1 BOOLEAN NOT NULL,
        registered2 BOOLEAN NOT NULL,
        color1 TEXT NOT NULL,
        color2 TEXT NOT NULL,
        moves TEXT NOT NULL,
        result TEXT,
        winner TEXT,
        reason TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX games_by_player1 ON games (player1_key, registered1, ended_at);
    CREATE INDEX games_by_player2 ON games (player2_key, registered2, ended_at);
    CREATE INDEX accounts_by_wins ON accounts (wins DESC);
    """,
    # 3: revocable sessions: a cookie is valid only while it carries the current version
    """
    ALTER TABLE accounts ADD COLUMN session_version INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: a timed game's time control (both NULL: untimed, as every game stored before)
    """
    ALTER TABLE games ADD COLUMN base_seconds DOUBLE PRECISION;
    ALTER TABLE games ADD COLUMN increment_seconds DOUBLE PRECISION;
    """,
    # 5: games against the computer, and the analyses of stored games
    """
    ALTER TABLE games ADD COLUMN computer_level TEXT;
    ALTER TABLE games ADD COLUMN computer_seat INTEGER;
    CREATE TABLE game_analyses (
        game_id TEXT PRIMARY KEY,
        analysis TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    """,
)
LATEST: Final = len(MIGRATIONS)

_LOCK_KEY: Final = 0x6334_6163  # "c4ac": serialises migrations of one database
"""The advisory lock held while migrating (any constant unique to c4actors will do)."""


def current_version(db: psycopg.Connection[Any]) -> int:
    exists = db.execute("SELECT to_regclass('schema_migrations')").fetchone()
    if exists is None or exists[0] is None:
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0) if row is not None else 0


def migrate(db: psycopg.Connection[Any], target: int = LATEST) -> list[int]:
    """Bring ``db`` (an autocommit connection) to ``target``; the versions applied."""
    db.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        found = current_version(db)
        if found > LATEST:
            raise SchemaTooNew(
                f"the database has schema version {found}, newer than this c4actors knows "
                f"({LATEST}): upgrade c4actors or use another --db database"
            )
        applied = []
        for version in range(found + 1, target + 1):
            with db.transaction():
                for statement in split_statements(MIGRATIONS[version - 1]):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (%s, %s)",
                    (version, time.time()),
                )
            applied.append(version)
        return applied
    finally:
        db.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
