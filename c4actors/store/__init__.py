"""Persistence behind one small interface: SQLite on one machine, PostgreSQL for several.

The actors and the HTTP handlers only ever see ``Store``; ``SQLiteStore`` is the
embedded default, ``PostgresStore`` the networked one, and ``open_store`` picks one from
``--db``.  Every method is async and safe to call from any task: a store never blocks the
Trio event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from c4actors.store.errors import (
    DatabaseDamaged,
    DatabaseReadOnly,
    GamesNotRecorded,
    NameTaken,
    SchemaTooNew,
    StoreError,
)
from c4actors.store.records import Account, GameRecord, GameSummary, LeaderboardRow
from protocol.messages import Analysis


class Store(Protocol):
    async def create_account(self, name: str, password_hash: str, color: str) -> Account: ...

    async def get_account(self, name: str) -> Account | None:
        """The account registered under ``name`` (ignoring case), if any."""

    async def set_color(self, name: str, color: str) -> Account | None: ...

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        """Store a re-hash (argon2 parameters changed) of the same password."""

    async def end_sessions(self, name: str) -> None:
        """Increment the account's ``session_version``: every session cookie signed before
        stops working (logout; a password change must call it too)."""

    async def record_game(self, record: GameRecord) -> None:
        """Store a finished game and update its registered players' records, atomically.

        Idempotent by game id: a game already stored is left as it is and counts no second
        time (a record delivered twice, e.g. by a stream, changes nothing).  Returns once the
        game is durable; raises ``StoreError`` if it could not be stored."""

    async def record_games(self, records: Sequence[GameRecord]) -> None:
        """``record_game`` for each of ``records``, in as few transactions as the store can.

        Each record is stored or not on its own (idempotent by game id, as above): one bad
        record costs the others nothing.  Returns once every record is durable; if any could
        not be stored, raises, after the others were stored: for a single record its own
        ``StoreError`` (as ``record_game``), for several ``GamesNotRecorded`` (a
        ``StoreError``) whose ``failed`` maps their game ids to their errors."""

    async def get_game(self, game_id: str) -> GameRecord | None: ...

    async def save_analysis(self, analysis: Analysis) -> None:
        """Keep the analysis of a stored game (a second one for the same game is ignored:
        both were computed from the same moves)."""

    async def get_analysis(self, game_id: str) -> Analysis | None: ...

    async def recent_games(self, name: str, limit: int = 20) -> list[GameSummary]: ...

    async def leaderboard(self, limit: int = 50) -> list[LeaderboardRow]: ...

    async def ping(self) -> None:
        """Raise ``StoreError`` if the store cannot answer a cheap query (``/healthz``)."""

    async def aclose(self) -> None: ...


async def open_store(db: str, *, pool_size: int = 10) -> Store:
    """The store ``--db`` names: a ``postgresql://`` URL (with a pool of ``pool_size``
    connections) or else a SQLite file, opened, checked and migrated."""
    from c4actors.store.postgres import PostgresStore, is_postgres_url
    from c4actors.store.sqlite import SQLiteStore

    if is_postgres_url(db):
        return await PostgresStore.open(db, pool_size=pool_size)
    return await SQLiteStore.open(db)


__all__ = [
    "Account",
    "DatabaseDamaged",
    "DatabaseReadOnly",
    "GameRecord",
    "GameSummary",
    "GamesNotRecorded",
    "LeaderboardRow",
    "NameTaken",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "open_store",
]
