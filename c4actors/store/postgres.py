"""The networked store: PostgreSQL, for several server processes or machines sharing one
database.

Selected by ``--db postgresql://USER@HOST[:PORT]/DB``; the same ``Store`` interface and the
same promises as ``SQLiteStore``: versioned migrations (a newer schema is refused), a game's
record and both players' statistics written in one transaction, names unique ignoring case
(the ``name_key`` primary key holds the case-folded name), concurrent results losing no
update (each adds one in place, ``wins = wins + 1``, under the row's lock).

Resource handling: a psycopg connection pool of ``pool_size`` connections (opened lazily,
one at start), used from Trio's worker threads: psycopg's calls block, so each runs in a
thread and the event loop never waits on the network.  A ``CapacityLimiter(pool_size)``
keeps at most as many threads as connections, so a burst queues in Trio (cancellable),
not in threads blocked on the pool.  ``aclose`` closes the pool.  Each connection is
checked (an empty query) as it is taken from the pool and replaced if it died: a database
restart or a failover costs one round trip per request, not a failed request per pooled
connection.

Error handling: any ``psycopg.Error`` (including a pool that cannot get a connection in
time) becomes ``StoreError``; a failed write is rolled back whole.  Two results that touch
the same two accounts lock them in one order (by name key), so they cannot deadlock.  At
start, a database the server may not write (a read-only transaction mode, a hot standby,
missing privileges) is refused with ``DatabaseReadOnly``; PostgreSQL checks its own pages,
so there is no equivalent of SQLite's ``quick_check``.  Error texts never show a password
from the URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import psycopg
import psycopg.errors
import trio
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from c4actors.store.errors import DatabaseReadOnly, NameTaken, StoreError
from c4actors.store.group_commit import Outcome, raise_failures, write_each
from c4actors.store.postgres_migrations import migrate
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
    name_key,
    summary,
)
from protocol.messages import Analysis

T = TypeVar("T")
Connection = psycopg.Connection[Any]

DEFAULT_POOL_SIZE: Final = 10
CONNECT_TIMEOUT: Final = 10
"""Seconds to open a connection (libpq's ``connect_timeout``)."""
POOL_WAIT: Final = 3.0
"""Seconds a call waits for a pooled connection.  Only a database that cannot be reached
makes it wait at all (the limiter keeps callers beyond the pool's size waiting in Trio), so
this is how soon ``/healthz`` reports a lost database."""

_READ_ONLY_ERRORS: Final = (
    psycopg.errors.ReadOnlySqlTransaction,
    psycopg.errors.InsufficientPrivilege,
)


def is_postgres_url(db: str) -> bool:
    """Whether ``--db`` names a PostgreSQL database rather than a SQLite file."""
    return db.startswith(("postgresql://", "postgres://"))


def display_url(url: str) -> str:
    """``url`` without its password, for logs and error messages."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://..."
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def check_writable(db: Connection, url: str) -> None:
    """Refuse a database the server cannot write, at start, rather than lose every result.

    The probe is the writes the server makes (an insert into ``games``, an update of
    ``accounts``), matching no row and rolled back: PostgreSQL checks the transaction's
    read-only mode and the privileges before it looks for rows.
    """
    try:
        with db.transaction(force_rollback=True):
            db.execute("INSERT INTO games SELECT * FROM games WHERE false")
            db.execute("UPDATE accounts SET wins = wins WHERE false")
    except _READ_ONLY_ERRORS as error:
        raise DatabaseReadOnly(_read_only_text(url, error)) from error


def _read_only_text(url: str, error: psycopg.Error) -> str:
    reason = str(error).strip().splitlines()[0]
    return (
        f"the database {display_url(url)} cannot be written ({reason}): no result could be "
        "saved; grant the user write access, or use the primary (or another --db)"
    )


_INSERT_GAME: Final = (
    f"INSERT INTO games ({GAME_COLUMNS}, player1_key, player2_key)"
    f" VALUES ({', '.join(['%s'] * 19)}) ON CONFLICT (game_id) DO NOTHING"
)


def _write_games(db: Connection, records: Sequence[GameRecord]) -> None:
    """Store ``records`` in one transaction, rolled back whole on any error.

    Idempotent by game id: a game already stored (or twice in ``records``) is not inserted
    again, and only the games inserted add to their players' records, each account once and
    in name-key order (see the module docstring).
    """
    try:
        with db.transaction():
            inserted = [
                record
                for record in records
                if db.execute(_INSERT_GAME, game_values(record)).rowcount
            ]
            for key, column, count in counter_updates(inserted):
                db.execute(
                    f"UPDATE accounts SET {column} = {column} + %s WHERE name_key = %s",
                    (count, key),
                )
    except psycopg.Error as error:
        raise StoreError(str(error).strip() or type(error).__name__) from error


class PostgresStore:
    """See the module docstring. Open with ``await PostgresStore.open(url)``."""

    def __init__(self, pool: ConnectionPool[Connection], pool_size: int) -> None:
        self._pool = pool
        self._limiter = trio.CapacityLimiter(pool_size)

    @classmethod
    async def open(cls, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> PostgresStore:
        """Connect, migrate and check the database at ``url``, then open the pool."""
        if pool_size < 1:
            raise ValueError(f"the pool needs at least one connection, not {pool_size}")

        def connect() -> ConnectionPool[Connection]:
            # One plain connection first: a wrong URL fails at once with the server's own
            # reason, where a pool would retry in the background and report only a timeout.
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as db:
                migrate(db)
                check_writable(db, url)
            pool: ConnectionPool[Connection] = ConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
                open=False,
                check=ConnectionPool.check_connection,
                timeout=POOL_WAIT,
                name="c4actors",
            )
            pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            return pool

        try:
            pool = await trio.to_thread.run_sync(connect)
        except _READ_ONLY_ERRORS as error:  # a migration that had to write
            raise DatabaseReadOnly(_read_only_text(url, error)) from error
        except psycopg.Error as error:
            reason = str(error).strip() or type(error).__name__
            raise StoreError(f"cannot open the database {display_url(url)}: {reason}") from error
        return cls(pool, pool_size)

    async def _run(self, work: Callable[[Connection], T]) -> T:
        def guarded() -> T:
            try:
                with self._pool.connection() as db:
                    return work(db)
            except psycopg.Error as error:
                raise StoreError(str(error).strip() or type(error).__name__) from error

        return await trio.to_thread.run_sync(guarded, limiter=self._limiter)

    async def ping(self) -> None:
        """A cheap read (the schema version) through a pooled connection, for ``/healthz``."""
        await self._run(lambda db: db.execute("SELECT MAX(version) FROM schema_migrations"))

    async def aclose(self) -> None:
        await trio.to_thread.run_sync(self._pool.close)

    # ----------------------------------------------------------------- accounts

    async def create_account(self, name: str, password_hash: str, color: str) -> Account:
        account = Account(
            name=name, password_hash=password_hash, color=color, created_at=time.time()
        )

        def insert(db: Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO accounts (name_key, name, password_hash, color, created_at)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (name_key(name), name, password_hash, color, account.created_at),
                )
            except psycopg.errors.UniqueViolation as error:
                raise NameTaken(f"the name {name!r} is already registered") from error

        await self._run(insert)
        return account

    async def get_account(self, name: str) -> Account | None:
        row = await self._run(
            lambda db: db.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name_key = %s", (name_key(name),)
            ).fetchone()
        )
        return None if row is None else account_from_row(row)

    async def set_color(self, name: str, color: str) -> Account | None:
        row = await self._run(
            lambda db: db.execute(
                f"UPDATE accounts SET color = %s WHERE name_key = %s RETURNING {ACCOUNT_COLUMNS}",
                (color, name_key(name)),
            ).fetchone()
        )
        return None if row is None else account_from_row(row)

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE accounts SET password_hash = %s WHERE name_key = %s",
                (password_hash, name_key(name)),
            )
        )

    async def end_sessions(self, name: str) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE accounts SET session_version = session_version + 1 WHERE name_key = %s",
                (name_key(name),),
            )
        )

    # ----------------------------------------------------------------- games

    async def record_game(self, record: GameRecord) -> None:
        await self.record_games([record])

    async def record_games(self, records: Sequence[GameRecord]) -> None:
        records = list(records)
        if not records:
            return

        def write(db: Connection) -> list[Outcome]:
            return write_each(lambda batch: _write_games(db, batch), records)

        raise_failures(records, await self._run(write))

    async def get_game(self, game_id: str) -> GameRecord | None:
        row = await self._run(
            lambda db: db.execute(
                f"SELECT {GAME_COLUMNS} FROM games WHERE game_id = %s", (game_id,)
            ).fetchone()
        )
        return None if row is None else game_from_row(row)

    async def save_analysis(self, analysis: Analysis) -> None:
        row = (analysis.game_id, analysis_json(analysis), time.time())
        await self._run(
            lambda db: db.execute(
                "INSERT INTO game_analyses (game_id, analysis, created_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (game_id) DO NOTHING",
                row,
            )
        )

    async def get_analysis(self, game_id: str) -> Analysis | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT analysis FROM game_analyses WHERE game_id = %s", (game_id,)
            ).fetchone()
        )
        return None if row is None else analysis_from_json(row[0])

    async def recent_games(self, name: str, limit: int = 20) -> list[GameSummary]:
        rows = await self._run(
            lambda db: db.execute(
                f"SELECT {GAME_COLUMNS} FROM games"
                " WHERE (player1_key = %(key)s AND registered1)"
                " OR (player2_key = %(key)s AND registered2)"
                " ORDER BY ended_at DESC LIMIT %(limit)s",
                {"key": name_key(name), "limit": limit},
            ).fetchall()
        )
        return [summary(game_from_row(row), name) for row in rows]

    async def leaderboard(self, limit: int = 50) -> list[LeaderboardRow]:
        # COLLATE "C": names tie-break by code point, as in SQLite, whatever the
        # database's locale.
        rows = await self._run(
            lambda db: db.execute(
                "SELECT name, wins, losses, draws FROM accounts"
                ' ORDER BY wins DESC, (losses + draws) ASC, name_key COLLATE "C" ASC LIMIT %s',
                (limit,),
            ).fetchall()
        )
        return [leaderboard_row(row) for row in rows]
