"""Finished games recorded off the core: the ``records`` stream and the edges' recorders.

Writing a finished game to the SQL store was a fifth of a cluster core's CPU (a worker
thread per write, SQLite's transaction, the thread's hand-off), work the core need not do
itself.  So the core only notes each finished game's record (``StateKeeper.game_recorded``)
and appends it to ``RECORDS`` inside the same fenced commit that removes the game from its
state (``CoreLink.commit``): a failover neither loses the record (a game whose removal was
not committed is restored, ends again and is recorded again) nor writes it twice (once the
removal is committed, the game is not restored).  Every edge runs a ``GameRecorder``: it
reads the stream through the consumer group ``RECORDERS``, writes what it read to the
store in one batch (``Store.record_games``, one transaction) and only then acknowledges
it.  Whatever an edge read and never acknowledged (it was killed, or its store write hangs)
is claimed by another edge once it has been pending ``CLAIM_IDLE`` seconds.  A record may
thus be written twice (a claimed one its first reader did write, the rare record appended
again after a failover): ``record_games`` is idempotent by game id, so the store keeps one
row and counts it once in the players' records.

What reads the records back, and the lag (milliseconds normally; as long as the store is
unavailable otherwise) is documented in ``docs/architecture.md`` ("Finished games").

Error handling: a record that does not decode is logged (ERROR) and acknowledged, never
retried forever; the store unavailable is one WARNING line, the batch stays pending and is
written again with doubling waits (up to ``MAX_RETRY_WAIT``) for ``GIVE_UP_AFTER`` seconds at
most, then left pending for a later claim, so a record the store refuses however often it is
written (alone in its batch, it cannot be told from an outage) never stops the recorder; a
record the store refuses alone (``GamesNotRecorded``) stays pending while the others are
acknowledged, claimed again after ``CLAIM_IDLE``; the bus's outages are retried like every
reader's.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import attrs
import cattrs
import trio
from cattrs.gen import make_dict_unstructure_fn, override

from c4actors import game_state
from c4actors.bus import Bus, Entry, StreamId
from c4actors.bus.retry import until_available
from c4actors.game_record import GameRecord
from c4actors.store import GamesNotRecorded, Store, StoreError

log = logging.getLogger("c4actors.cluster.recorder")

RECORDS: Final = "c4:records"
RECORDERS: Final = "recorders"
FIELD: Final = "r"
RECORDS_MAXLEN: Final = 1_000_000
"""Far above any backlog: with edges running, records are acknowledged within
milliseconds; while no edge can write (the store is away), a trimmed record would be
lost, and a million finished games is hours of the busiest lobby measured here."""
BATCH: Final = 100
"""Records read at most at once (as many again claimed back with them), written in one
transaction."""
READ_BLOCK: Final = 1.0
CLAIM_IDLE: Final = 5.0
"""Seconds a record stays pending for one edge before another takes it over: well above
a store write's time, so a living edge's batch is rarely written twice (harmless anyway)."""
CLAIM_EVERY: Final = 1.0
CONSUMER_IDLE: Final = 600.0
"""Seconds without a read after which a recorder holding no record is a dead edge's
(each edge process is a consumer of its own, and the group kept every one for ever):
dropped from the group by any living edge (``Bus.drop_idle_consumers``)."""
DROP_EVERY: Final = 60.0
"""Seconds between two looks for such consumers (one command, and one per consumer found)."""
GATHER: Final = 0.2
"""Seconds a recorder waits after writing a batch before it reads again, so that the next
batch holds what came meanwhile: a transaction costs about 200 us of CPU for one game and
50 us a game for four (SQLite, measured here), and records come one at a time (in the
closed loop of 100 games, a wait of 50 ms left batches of 1 to 3 records: each batch's
read, acknowledgement and transaction cost each edge a few microseconds a move).  A game's
record reaches the store at most this much later (an analysis waits up to 3 s for it; no
frame waits for it).  Only after a batch smaller than ``BATCH``: a backlog is read on at
once.  The wait holds nothing: what was read is written and acknowledged before it, so an
edge stopped during it leaves the records that came meanwhile unread in the stream, for
the next read of any edge (not pending, so not waiting for a claim)."""
MAX_RETRY_WAIT: Final = 2.0
GIVE_UP_AFTER: Final = 10.0
"""Seconds a batch the store will not take is written again before the recorder leaves it
pending and reads on: a batch claimed back that holds only a record the store refuses
would otherwise be retried for ever, and no record after it written by this edge."""
_COMPACT: Final = (",", ":")
_converter: Final = cattrs.Converter(forbid_extra_keys=True)
_T = TypeVar("_T")


def record_to_json(record: GameRecord) -> str:
    """The record as the stream carries it (``GameRecord`` whole: a field added there
    travels without a change here): the encoder's text for its unstructured fields, the
    setup's as the game's start wrote it already (``game_state.setup_json``, kept), and
    the encoder made once, not per call (``json.dumps`` with ``separators`` makes one)."""
    rest = _dumps(_unstructure_rest(record))
    return '{"setup":' + game_state.setup_json(record.setup) + "," + rest[1:]


_dumps: Final = json.JSONEncoder(separators=_COMPACT).encode
_unstructure_rest: Final = make_dict_unstructure_fn(
    GameRecord, _converter, setup=override(omit=True), _cattrs_omit_if_default=False
)
"""A record's fields but its setup (written first: ``record_to_json``)."""
assert attrs.fields(GameRecord)[0].name == "setup", "record_to_json writes the setup first"


def record_from_json(text: str) -> GameRecord:
    """The record ``record_to_json`` wrote; ``ValueError`` for anything else."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("not an object")
        return _converter.structure(data, GameRecord)
    except (ValueError, TypeError, cattrs.BaseValidationError) as error:
        raise ValueError(f"not a game record: {error!r}") from None


class GameRecorder:
    """One edge's reader of ``RECORDS``: see the module docstring.  ``consumer`` is the
    edge's process name (unique per process: a restarted edge is a new consumer, and what
    its predecessor held is claimed like any dead edge's)."""

    def __init__(self, bus: Bus, consumer: str, store: Store) -> None:
        self.bus = bus
        self.consumer = consumer
        self.store = store
        self._claim_at = -math.inf
        self._drop_at = trio.current_time() + DROP_EVERY
        self.written = 0
        """Records written to the store by this recorder (its own count, for the tests)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Record what the stream carries, forever (cancel it to stop: what it read and had
        not acknowledged is claimed by another edge)."""
        task_status.started()
        await _retry(lambda: self.bus.ensure_group(RECORDS, RECORDERS), "making the records group")
        while True:
            entries = await self._next_entries()
            await self._record(entries)
            if 0 < len(entries) < BATCH:
                await trio.sleep(GATHER)

    async def _next_entries(self) -> list[Entry]:
        entries: list[Entry] = []
        if trio.current_time() >= self._claim_at:
            self._claim_at = trio.current_time() + CLAIM_EVERY
            entries = await _retry(
                lambda: self.bus.claim_pending(
                    RECORDS, RECORDERS, self.consumer, min_idle=CLAIM_IDLE, count=BATCH
                ),
                "claiming game records",
            )
            if entries:
                log.warning(
                    "claimed game records count=%d (read by an edge that did not write them)",
                    len(entries),
                )
        if trio.current_time() >= self._drop_at:
            self._drop_at = trio.current_time() + DROP_EVERY
            dropped = await _retry(
                lambda: self.bus.drop_idle_consumers(RECORDS, RECORDERS, idle=CONSUMER_IDLE),
                "dropping dead record readers",
            )
            if dropped:
                log.info("dropped dead edges' record readers %s", " ".join(dropped))
        # Claimed records go with new ones in one batch (read without waiting), so that a
        # claimed record the store refuses holds up none of them (``GamesNotRecorded``).
        block = None if entries else READ_BLOCK
        entries += await _retry(
            lambda: self.bus.read_group(
                RECORDS, RECORDERS, self.consumer, count=BATCH, block=block
            ),
            "reading game records",
        )
        return entries

    async def _record(self, entries: list[Entry]) -> None:
        """Write ``entries``' records in one batch, then acknowledge those stored.

        The store unavailable (no record stored): the batch is written again, with
        doubling waits, before anything else is read, for ``GIVE_UP_AFTER`` at most.
        Some records refused (``GamesNotRecorded``): the others are acknowledged and those
        stay pending, so an edge claims them again after ``CLAIM_IDLE`` (a WARNING each
        time) while the recording goes on."""
        if not entries:
            return
        records: dict[str, GameRecord] = {}
        ids: dict[str, list[StreamId]] = {}
        done: list[StreamId] = []
        for entry in entries:
            try:
                record = record_from_json(entry.fields.get(FIELD, ""))
            except ValueError as error:
                log.error("skipped a game record entry id=%s: %s", entry.id, error)
                done.append(entry.id)
                continue
            records[record.game_id] = record
            ids.setdefault(record.game_id, []).append(entry.id)
        failed = await self._write(list(records.values()))
        for game_id, entry_ids in ids.items():
            if game_id not in failed:
                done += entry_ids
        if done:
            await _retry(lambda: self.bus.ack(RECORDS, RECORDERS, done), "acknowledging records")
        self.written += len(records) - len(failed)

    async def _write(self, records: list[GameRecord]) -> set[str]:
        """Store ``records``; the game ids of those not stored (refused while others were
        stored, or all of them once the store has refused the batch for ``GIVE_UP_AFTER``)."""
        delay = 0.05
        warned = False
        give_up_at = trio.current_time() + GIVE_UP_AFTER
        while records:
            try:
                await self.store.record_games(records)
            except GamesNotRecorded as error:
                if len(error.failed) < len(records):
                    log.warning("game records refused (left pending): %s", error)
                    return set(error.failed)
                problem: StoreError = error
            except StoreError as error:
                problem = error
            else:
                if warned:
                    log.info("game records written again")
                return set()
            if trio.current_time() >= give_up_at:
                log.warning(
                    "game records not written for %.0f s (left pending) count=%d: %s",
                    GIVE_UP_AFTER,
                    len(records),
                    problem,
                )
                return {record.game_id for record in records}
            if not warned:
                log.warning("could not write game records (retrying): %s", problem)
                warned = True
            await trio.sleep(delay)
            delay = min(2 * delay, MAX_RETRY_WAIT)
        return set()


async def _retry(call: Callable[[], Awaitable[_T]], what: str) -> _T:
    """``call`` until the bus answers (``until_available``), logged as the records'."""
    return await until_available(call, what, log)
