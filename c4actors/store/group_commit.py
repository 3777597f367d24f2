"""Finished games written many to a transaction, each caller still told about its own.

Why: each transaction is a worker-thread hop and an fsync (SQLite's ``synchronous =
FULL``); a caller with many records at once (the cluster's records stream, read in
batches) pays them once per batch with ``record_games``.

``write_each`` is the thread's half: the whole batch in one transaction, and only if that
fails each record again in a transaction of its own, so one bad record (a constraint, a
trigger) costs the others nothing and errors alone.  Each store gives it its own
``write`` (one transaction over the records it is given, idempotent by game id).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from c4actors.store.errors import GamesNotRecorded, StoreError
from c4actors.store.records import GameRecord

Outcome = StoreError | None
"""What became of one record: ``None`` once it is stored (or was already), else why not."""


def write_each(
    write: Callable[[Sequence[GameRecord]], None], records: Sequence[GameRecord]
) -> list[Outcome]:
    """Each record's outcome, writing ``records`` in one transaction if they all go in.

    ``write`` raises ``StoreError`` after rolling its transaction back whole; the records
    are then written one per transaction, so only the ones that fail alone fail.
    """
    try:
        write(records)
    except StoreError as error:
        if len(records) == 1:
            return [error]
    else:
        return [None] * len(records)
    outcomes: list[Outcome] = []
    for record in records:
        try:
            write([record])
        except StoreError as error:
            outcomes.append(error)
        else:
            outcomes.append(None)
    return outcomes


def raise_failures(records: Sequence[GameRecord], outcomes: Sequence[Outcome]) -> None:
    """Raise what ``record_games`` promises for ``outcomes``: nothing if every record was
    stored, the record's own error for a single record, ``GamesNotRecorded`` for several."""
    failed = {
        record.game_id: error
        for record, error in zip(records, outcomes, strict=True)
        if error is not None
    }
    if not failed:
        return
    if len(records) == 1:
        raise failed[records[0].game_id]
    raise GamesNotRecorded(failed)
