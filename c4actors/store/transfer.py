"""Copy a SQLite database into an empty PostgreSQL one: what ``c4actors migrate`` does.

Everything the SQLite store holds is copied as it is stored: accounts (password hashes,
colours, records, session versions, so everyone keeps their sign-in and their cookies stay
valid when the servers share the same ``--secret``) and games.  The copy takes every column of
each table by name; both schemas have the same columns (a test compares them), so a column a
later migration adds is copied without a change here.

Promises: the source is checked (``PRAGMA quick_check``) and brought to the current schema
first, as ``c4actors serve`` would; the target is migrated, then written in one transaction
that first locks both tables and refuses a target holding any account or game
(``TargetNotEmpty``).  So a failed or interrupted copy leaves the target as empty as it was,
and a second run cannot mix two sources.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import attrs
import psycopg

from c4actors.store import migrations as sqlite_migrations
from c4actors.store import postgres_migrations
from c4actors.store.errors import StoreError
from c4actors.store.postgres import display_url
from c4actors.store.sqlite import check_integrity

TABLES: Final = ("accounts", "games", "game_analyses")
"""What is copied, in this order.  ``schema_migrations`` is not: the target has its own."""
BATCH_ROWS: Final = 500

Progress = Callable[[str, int], None]
"""Told ``(table, rows)`` after each batch written."""


class TargetNotEmpty(StoreError):
    """The target database already holds accounts or games: nothing was copied."""


@attrs.frozen
class CopySummary:
    counts: dict[str, int]
    """Rows copied, by table."""
    seconds: float


def source_counts(source: Path) -> dict[str, int]:
    """Rows by table in the SQLite file (after checking and migrating it): for a progress
    bar's total."""
    with _open_source(source) as db:
        return {table: _count(db, table) for table in TABLES}


def check_target(target: str) -> None:
    """Migrate ``target`` and raise ``TargetNotEmpty`` if it holds anything: a refusal
    before any progress is shown (``copy_to_postgres`` checks again, under a lock)."""
    try:
        with psycopg.connect(target, autocommit=True) as writer:
            postgres_migrations.migrate(writer)
            _refuse_if_not_empty(writer, target)
    except psycopg.Error as error:
        reason = str(error).strip() or type(error).__name__
        raise StoreError(f"cannot open the database {display_url(target)}: {reason}") from error


def copy_to_postgres(
    source: Path, target: str, progress: Progress | None = None, *, batch: int = BATCH_ROWS
) -> CopySummary:
    """Copy every account and game of ``source`` into the empty database ``target``."""
    started = time.monotonic()
    counts: dict[str, int] = {}
    with _open_source(source) as reader:
        try:
            with psycopg.connect(target, autocommit=True) as writer:
                postgres_migrations.migrate(writer)
                with writer.transaction():
                    writer.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
                    _refuse_if_not_empty(writer, target)
                    for table in TABLES:
                        counts[table] = _copy_table(reader, writer, table, progress, batch)
        except psycopg.Error as error:
            reason = str(error).strip() or type(error).__name__
            raise StoreError(f"cannot copy into {display_url(target)}: {reason}") from error
        except sqlite3.Error as error:
            raise StoreError(f"cannot read the database {str(source)!r}: {error}") from error
    return CopySummary(counts=counts, seconds=time.monotonic() - started)


@contextmanager
def _open_source(path: Path) -> Iterator[sqlite3.Connection]:
    """The SQLite file, checked and migrated; closed on exit.  A missing file is an error,
    not a new empty database."""
    if not path.is_file():
        raise StoreError(f"there is no SQLite database at {str(path)!r}")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        try:
            check_integrity(db, path)
            sqlite_migrations.migrate(db)
        except sqlite3.Error as error:
            raise StoreError(f"cannot read the database {str(path)!r}: {error}") from error
        yield db
    finally:
        db.close()


def _count(db: sqlite3.Connection, table: str) -> int:
    row = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    return int(row[0])


def _refuse_if_not_empty(writer: psycopg.Connection[Any], target: str) -> None:
    held = {}
    for table in TABLES:
        row = writer.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        held[table] = int(row[0]) if row is not None else 0
    if any(held.values()):
        # Accounts and games always named, analyses (which follow from games) when held.
        found = " and ".join(
            f"{count} {table.removeprefix('game_')}"
            for table, count in held.items()
            if count or table != "game_analyses"
        )
        raise TargetNotEmpty(
            f"the target database {display_url(target)} already holds {found}: "
            "c4actors migrate copies only into an empty database (nothing was copied)"
        )


def _copy_table(
    reader: sqlite3.Connection,
    writer: psycopg.Connection[Any],
    table: str,
    progress: Progress | None,
    batch: int,
) -> int:
    cursor = reader.execute(f"SELECT * FROM {table}")
    columns = ", ".join(column[0] for column in cursor.description)
    copied = 0
    with writer.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for rows in _batches(cursor, batch):
            for row in rows:
                copy.write_row(row)
            copied += len(rows)
            if progress is not None:
                progress(table, len(rows))
    return copied


def _batches(cursor: sqlite3.Cursor, size: int) -> Iterator[list[Any]]:
    while rows := cursor.fetchmany(size):
        yield rows
