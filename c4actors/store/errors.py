"""What can go wrong in a store, as exceptions the rest of the server handles."""

from __future__ import annotations


class StoreError(Exception):
    """The store could not do what was asked (I/O error, corrupt database, ...)."""


class NameTaken(StoreError):
    """``create_account`` for a name that is already registered (ignoring case)."""


class SchemaTooNew(StoreError):
    """The database was written by a newer version of c4actors: refuse to touch it."""


class DatabaseDamaged(StoreError):
    """The database file failed its integrity check at start: refuse to serve from it."""


class DatabaseReadOnly(StoreError):
    """The server may not write the database file: every result would be lost."""


class GamesNotRecorded(StoreError):
    """``record_games``: some of the games could not be stored (the others were).

    ``failed`` maps each game id that was not stored to its own error, so a caller that
    records a batch (a stream's entries) can acknowledge the stored ones and keep the rest.
    """

    def __init__(self, failed: dict[str, StoreError]) -> None:
        reasons = "; ".join(f"{game_id}: {error}" for game_id, error in failed.items())
        super().__init__(f"{len(failed)} game(s) not stored ({reasons})")
        self.failed = failed
