"""Finished games recorded off the core (``c4actors.cluster.recorder``): the ``records``
stream's entries, the edges' recorders on the in-memory bus (a batch written then
acknowledged, a recorder that died before acknowledging replaced by another, a refused
record left pending alone, records that came during a write gathered into the next
batch), and a core and two edges in this process on one bus and one SQLite file, where a
finished game reaches the store once, written by an edge."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import cattrs
import pytest
import trio
from hypothesis import given

from c4actors import game_state
from c4actors.bus import InMemoryBus
from c4actors.cluster import recorder
from c4actors.cluster.recorder import (
    CLAIM_IDLE,
    CONSUMER_IDLE,
    DROP_EVERY,
    RECORDERS,
    RECORDS,
    GameRecorder,
    record_from_json,
    record_to_json,
)
from c4actors.game_record import GameRecord, GameResult, GameSetup, Player
from c4actors.store import GamesNotRecorded, Store, StoreError, open_store
from protocol import GameOver, GameState, LobbyUpdate, Move
from tests.support import connect, start_game
from tests.test_cluster_failover import in_process_cluster
from tests.test_game_record import records

WIN = [3, 2, 3, 2, 3, 2, 3]


def a_record(game_id: str, winner: str = "ann") -> GameRecord:
    setup = GameSetup(
        game_id=game_id,
        player1=Player(name="ann", color="red", registered=True),
        player2=Player(name="bob", color="teal", registered=True),
    )
    result = GameResult(winner=winner, reason="four_in_a_row", moves=tuple(WIN))
    return GameRecord(setup=setup, result=result, started_at=1.0, ended_at=2.0)


@given(records)
def test_a_record_crosses_the_stream_whole(record: GameRecord) -> None:
    assert record_from_json(record_to_json(record)) == record
    # The encoder's text, byte for byte (the setup's from the game's kept text).
    whole = cattrs.Converter().unstructure(record)
    assert record_to_json(record) == json.dumps(whole, separators=(",", ":"))


def test_a_records_setup_is_the_text_its_game_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    """The setup (most of a record) is written once a game, at its start, and reused by
    its end and its record (``game_state.setup_json``), not unstructured again."""
    record = a_record("g1")
    setup_text = game_state.setup_json(record.setup)  # (the game's start wrote it)

    def refused(*args: object) -> object:
        raise AssertionError("the setup unstructured again")

    monkeypatch.setattr(game_state, "_converter", refused)
    assert record_to_json(record).startswith('{"setup":' + setup_text + ',"result":')


@pytest.mark.parametrize("text", ["", "{}", "[1]", '{"setup": 1}', "not json"])
def test_an_entry_that_is_not_a_record_is_refused_clearly(text: str) -> None:
    with pytest.raises(ValueError, match="not a game record"):
        record_from_json(text)


@asynccontextmanager
async def store_with_accounts(path: Path) -> AsyncIterator[Store]:
    store = await open_store(str(path))
    try:
        for name in ("ann", "bob"):
            await store.create_account(name, "hash", "red")
        yield store
    finally:
        await store.aclose()


async def until(done: Callable[[], Awaitable[bool]], every: float = 0.1) -> None:
    """Until ``done()`` (the store, the stream: nothing to wait on but polling)."""
    while not await done():  # noqa: ASYNC110 (a store and a stream)
        await trio.sleep(every)


async def settled(bus: InMemoryBus, edge: GameRecorder, written: int) -> bool:
    """``edge`` wrote ``written`` records and nothing is pending any more."""
    return edge.written >= written and await bus.pending_count(RECORDS, RECORDERS) == 0


async def written(edge: GameRecorder, count: int) -> bool:
    await trio.lowlevel.checkpoint()
    return edge.written >= count


async def stored(store: Store, game_id: str) -> bool:
    return await store.get_game(game_id) is not None


async def wins(store: Store, name: str) -> int:
    account = await store.get_account(name)
    assert account is not None
    return account.wins


@pytest.mark.expect_error_logs  # the entry that is not a record
async def test_a_recorder_writes_each_record_once_and_acknowledges_it(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    bus = InMemoryBus()
    async with store_with_accounts(tmp_path / "c4.sqlite3") as store, trio.open_nursery() as n:
        edge = GameRecorder(bus, "edge-a", store)
        for game_id in ("g1", "g2"):
            await bus.append(RECORDS, {recorder.FIELD: record_to_json(a_record(game_id))})
        await bus.append(RECORDS, {recorder.FIELD: "not a record"})  # logged, acknowledged
        await n.start(edge.run)
        await until(lambda: settled(bus, edge, 2))
        # The same game again, in a batch of its own (a record appended twice, or written
        # by an edge that was then thought dead): stored and counted once.
        await bus.append(RECORDS, {recorder.FIELD: record_to_json(a_record("g1"))})
        await until(lambda: settled(bus, edge, 3))
        n.cancel_scope.cancel()
        assert await store.get_game("g1") is not None and await store.get_game("g2") is not None
        assert await wins(store, "ann") == 2


class Stuck:
    """A store whose writes never end (an edge killed while writing, as far as the stream
    can tell: the records it read stay pending)."""

    def __init__(self) -> None:
        self.writing = trio.Event()

    async def record_games(self, records: Sequence[GameRecord]) -> None:
        self.writing.set()
        await trio.sleep_forever()


async def test_what_a_dead_recorder_read_is_written_by_another_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    bus = InMemoryBus()
    async with store_with_accounts(tmp_path / "c4.sqlite3") as store, trio.open_nursery() as n:
        stuck = Stuck()
        dying = GameRecorder(bus, "edge-a", stuck)  # type: ignore[arg-type]
        with trio.CancelScope() as killed:
            n.start_soon(dying.run)
            await bus.append(RECORDS, {recorder.FIELD: record_to_json(a_record("g1"))})
            await stuck.writing.wait()
            killed.cancel()
        assert await bus.pending_count(RECORDS, RECORDERS) == 1
        started = trio.current_time()
        other = GameRecorder(bus, "edge-b", store)
        await n.start(other.run)
        await until(lambda: settled(bus, other, 1))
        # Claimed once the entry had been pending long enough for its reader to be dead.
        assert trio.current_time() - started >= CLAIM_IDLE - 1
        assert other.written == 1
        assert await wins(store, "ann") == 1
        n.cancel_scope.cancel()


class Refusing:
    """A store that refuses one game and stores the others (as ``record_games`` does when
    one record of a batch fails alone), or is away altogether."""

    def __init__(self, store: Store, refused: str) -> None:
        self.store = store
        self.refused = refused
        self.away = False
        self.calls = 0

    async def record_games(self, records: Sequence[GameRecord]) -> None:
        self.calls += 1
        if self.away:
            raise StoreError("disk I/O error")
        await self.store.record_games([r for r in records if r.game_id != self.refused])
        if any(record.game_id == self.refused for record in records):
            raise GamesNotRecorded({self.refused: StoreError("constraint failed")})


async def test_a_refused_record_stays_pending_alone_and_an_unavailable_store_is_waited_for(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    bus = InMemoryBus()
    async with store_with_accounts(tmp_path / "c4.sqlite3") as store, trio.open_nursery() as n:
        refusing = Refusing(store, "bad")
        edge = GameRecorder(bus, "edge-a", refusing)  # type: ignore[arg-type]
        for game_id in ("g1", "bad", "g2"):
            await bus.append(RECORDS, {recorder.FIELD: record_to_json(a_record(game_id))})
        await n.start(edge.run)
        await until(lambda: written(edge, 2))
        assert await bus.pending_count(RECORDS, RECORDERS) == 1  # the refused one
        # The store goes away: what is read is kept and written once it is back.
        refusing.away = True
        await bus.append(RECORDS, {recorder.FIELD: record_to_json(a_record("g3"))})
        await trio.sleep(10)
        assert edge.written == 2 and refusing.calls > 3
        refusing.away = False
        await until(lambda: written(edge, 3))
        assert await wins(store, "ann") == 3
        assert await bus.pending_count(RECORDS, RECORDERS) == 1
        n.cancel_scope.cancel()


class RefusingOneAlways:
    """A store (in memory: no threads, so the mock clock runs only when the test and the
    recorder wait) that never takes one game, raising as the SQL stores' ``record_games``
    do for a batch of that record alone: its own ``StoreError``, which looks like an
    outage."""

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.stored: dict[str, GameRecord] = {}

    async def record_games(self, records: Sequence[GameRecord]) -> None:
        await trio.lowlevel.checkpoint()
        if len(records) == 1 and records[0].game_id == self.refused:
            raise StoreError("CHECK constraint failed")
        for record in records:
            if record.game_id != self.refused:
                self.stored.setdefault(record.game_id, record)
        if any(record.game_id == self.refused for record in records):
            raise GamesNotRecorded({self.refused: StoreError("CHECK constraint failed")})


async def test_a_record_the_store_never_takes_does_not_stop_the_recorder(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Alone in its batch, a refused record cannot be told from an outage: it is retried
    for ``GIVE_UP_AFTER``, then left pending, and the records after it are written, in a
    batch with it when it is claimed back (before, the recorder retried it for ever)."""
    bus = InMemoryBus()
    store = RefusingOneAlways("bad")
    edge = GameRecorder(bus, "edge-a", store)  # type: ignore[arg-type]
    async with trio.open_nursery() as n:
        await bus.append(RECORDS, {recorder.FIELD: record_to_json(a_record("bad"))})
        await n.start(edge.run)
        await trio.sleep(1)  # the recorder is retrying the batch of "bad" alone
        await bus.append(RECORDS, {recorder.FIELD: record_to_json(a_record("g1"))})
        with trio.fail_after(recorder.GIVE_UP_AFTER + recorder.CLAIM_IDLE + 5):
            while "g1" not in store.stored:  # noqa: ASYNC110 (a fake store)
                await trio.sleep(0.1)
        # Claimed back again and again: each time it holds the stream up no longer.
        await trio.sleep(3 * (recorder.CLAIM_IDLE + recorder.GIVE_UP_AFTER))
        await bus.append(RECORDS, {recorder.FIELD: record_to_json(a_record("g2"))})
        with trio.fail_after(recorder.GIVE_UP_AFTER + recorder.CLAIM_IDLE + 5):
            while "g2" not in store.stored:  # noqa: ASYNC110 (a fake store)
                await trio.sleep(0.1)
        assert await bus.pending_count(RECORDS, RECORDERS) == 1  # "bad", never lost
        assert sorted(store.stored) == ["g1", "g2"] and edge.written == 2
        n.cancel_scope.cancel()


class Counting:
    """A store (in memory, no threads: the mock clock moves only when the test and the
    recorder wait) that notes each ``record_games`` call's game ids and when it came."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.stored_at: dict[str, float] = {}
        self.wrote = trio.Event()

    async def record_games(self, records: Sequence[GameRecord]) -> None:
        await trio.lowlevel.checkpoint()
        self.calls.append([record.game_id for record in records])
        for record in records:
            self.stored_at.setdefault(record.game_id, trio.current_time())
        self.wrote.set()


async def test_records_that_come_while_a_batch_is_written_share_the_next_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After a batch, the recorder waits ``GATHER`` before it reads again: the records that
    came meanwhile go to the store in one ``record_games`` call (one transaction), each at
    most ``GATHER`` after it was appended (an analysis waits up to ``SAVE_WAIT``, 3 s)."""
    bus = InMemoryBus()
    store = Counting()
    edge = GameRecorder(bus, "edge-a", store)  # type: ignore[arg-type]
    appended_at: dict[str, float] = {}

    async def append(game_id: str) -> None:
        appended_at[game_id] = trio.current_time()
        await bus.append(RECORDS, {recorder.FIELD: record_to_json(a_record(game_id))})

    async with trio.open_nursery() as n:
        await n.start(edge.run)
        await append("g1")
        await store.wrote.wait()
        for game_id in ("g2", "g3", "g4"):
            await trio.sleep(recorder.GATHER / 5)
            await append(game_id)
        await trio.sleep(1)
        assert store.calls == [["g1"], ["g2", "g3", "g4"]]
        # Not held back longer than the window, and nothing is left pending.
        for game_id, at in appended_at.items():
            assert store.stored_at[game_id] - at <= recorder.GATHER
        assert await bus.pending_count(RECORDS, RECORDERS) == 0
        # A record alone after a quiet spell is written at once.
        await append("g5")
        await trio.sleep(recorder.GATHER / 5)
        assert store.calls[-1] == ["g5"] and store.stored_at["g5"] == appended_at["g5"]
        n.cancel_scope.cancel()


async def test_a_game_finished_in_a_cluster_is_recorded_once_by_an_edge(tmp_path: Path) -> None:
    bus = InMemoryBus()
    async with (
        in_process_cluster(bus, tmp_path / "c4.sqlite3") as edges,
        connect(edges[0], "ann") as ann,
        connect(edges[1], "bob") as bob,
    ):
        game_id = await start_game(bob, ann, skip=(LobbyUpdate,))  # ann moves first
        players = (ann, bob)
        for ply, column in enumerate(WIN):
            await players[ply % 2].send(Move(game_id=game_id, column=column, ply=ply))
            for player in players:
                await player.expect_skipping(GameState, LobbyUpdate)
        for player in players:
            assert (await player.expect_skipping(GameOver, LobbyUpdate)).winner == "ann"
        with trio.fail_after(5):
            await until(lambda: stored(edges[0].store, game_id), 0.01)
        record = await edges[0].store.get_game(game_id)
        assert record is not None and record.result.winner == "ann"
        entries = await bus.read_after(RECORDS, "0-0")
        assert [record_from_json(e.fields[recorder.FIELD]).game_id for e in entries] == [game_id]
        # The commit that appended the record removed the game from the core's state.
        assert await bus.pending_count(RECORDS, RECORDERS) == 0
        assert f"game:{game_id}" not in await bus.read_hash("c4:state")


class Kept:
    """A store that keeps what it is given in memory (no thread: the clock jumps)."""

    def __init__(self) -> None:
        self.records: list[GameRecord] = []

    async def record_games(self, records: Sequence[GameRecord]) -> None:
        await trio.lowlevel.checkpoint()
        self.records += records


async def test_a_dead_edge_s_recorder_leaves_the_group_once_it_holds_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each edge process is a consumer of the records group: a dead one's stayed in Redis
    for ever (every restart, every deploy).  A living recorder drops it once it has not read
    for ``CONSUMER_IDLE``, never while it holds a record (claimed first)."""
    bus = InMemoryBus()
    killed = trio.CancelScope()

    async def dying() -> None:
        with killed:
            await GameRecorder(bus, "edge-a", Kept()).run()  # type: ignore[arg-type]

    async with trio.open_nursery() as n:
        n.start_soon(dying)
        await bus.append(RECORDS, {recorder.FIELD: record_to_json(a_record("g1"))})
        await trio.sleep(1)
        killed.cancel()  # edge-a dies, having written its record
        n.start_soon(GameRecorder(bus, "edge-b", Kept()).run)  # type: ignore[arg-type]
        await trio.sleep(CONSUMER_IDLE - DROP_EVERY)
        # Not idle long enough yet: both still in the group (neither holds anything).
        assert await bus.drop_idle_consumers(RECORDS, RECORDERS, idle=CONSUMER_IDLE) == []
        await trio.sleep(3 * DROP_EVERY)
        assert await bus.drop_idle_consumers(RECORDS, RECORDERS, idle=0) == ["edge-b"]
        n.cancel_scope.cancel()
