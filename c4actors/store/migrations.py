"""Versioned schema migrations for the SQLite store.

Every migration here has its PostgreSQL twin under the same version number in
``postgres_migrations.py`` (same tables and columns): a test fails while one is missing.
Each migration is applied in its own transaction together with the row that
records it, so a crash mid-migration leaves the previous version intact.  A
database whose version is newer than the last migration here is refused.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Final

from c4actors.store.errors import SchemaTooNew

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: accounts
    """
    CREATE TABLE accounts (
        name_key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        color TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # 2: records and games
    """
    ALTER TABLE accounts ADD COLUMN wins INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN losses INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN draws INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE games (
        game_id TEXT PRIMARY KEY,
        player1 TEXT NOT NULL,
        player2 TEXT NOT NULL,
        player1_key TEXT NOT NULL,
        player2_key TEXT NOT NULL,
        registered1 INTEGER NOT NULL,
        registered2 INTEGER NOT NULL,
        color1 TEXT NOT NULL,
        color2 TEXT NOT NULL,
        moves TEXT NOT NULL,
        result TEXT,
        winner TEXT,
        reason TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL NOT NULL
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
    ALTER TABLE games ADD COLUMN base_seconds REAL;
    ALTER TABLE games ADD COLUMN increment_seconds REAL;
    """,
    # 5: games against the computer (its level and seat; both NULL: two people), and the
    # perfect-play analyses of stored games (the ``analysis`` message's JSON)
    """
    ALTER TABLE games ADD COLUMN computer_level TEXT;
    ALTER TABLE games ADD COLUMN computer_seat INTEGER;
    CREATE TABLE game_analyses (
        game_id TEXT PRIMARY KEY,
        analysis TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
)
LATEST: Final = len(MIGRATIONS)


def current_version(db: sqlite3.Connection) -> int:
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite3.Connection, target: int = LATEST) -> list[int]:
    """Bring ``db`` (opened with ``isolation_level=None``) to ``target``; the versions applied."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    found = current_version(db)
    if found > LATEST:
        raise SchemaTooNew(
            f"the database has schema version {found}, newer than this c4actors knows "
            f"({LATEST}): upgrade c4actors or use another --db file"
        )
    applied = []
    for version in range(found + 1, target + 1):
        script = MIGRATIONS[version - 1]
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in split_statements(script):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (version, time.time()),
            )
            db.execute(f"PRAGMA user_version = {version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def split_statements(script: str) -> list[str]:
    """The statements of a migration script, one per ``;`` (shared with the PostgreSQL twins:
    neither dialect's scripts put a ``;`` inside a statement)."""
    return [part.strip() for part in script.split(";") if part.strip()]
