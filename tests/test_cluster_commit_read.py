"""The core's commit and its next read in one send, on a real Redis (issue 16: fewer round
trips and task steps per batch).

``BusCoreLink.commit_and_receive`` writes the commit's EVALSHA and the next XREADGROUP
together and waits once; the commit is known applied (``committed``) before the read is
waited for.  A commit refused on the way is made again alone before anything else, so no
later commit can overtake it, and the entries its read brought are handled after it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio

from c4actors.bus import DeleteField, InMemoryBus, PutFields, RedisBus, open_redis_bus, resp
from c4actors.cluster.bus_links import GROUP, INPUTS, BusCoreLink, CoreLease, frames_stream
from c4actors.cluster.keeper import STATE
from protocol import GameState, Move
from tests.redis_server import RedisServer, command
from tests.task_steps import counting_steps
from tests.test_cluster_failover import a_game_across_two_edges


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The command names of each lean-pool call, in order."""
    calls: list[list[str]] = []
    execute = resp.RespPool.execute

    async def recording(
        self: resp.RespPool, commands: Sequence[resp.Command], **options: object
    ) -> list[resp.Reply]:
        calls.append([str(c[0]) for c in commands])
        return await execute(self, commands, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(resp.RespPool, "execute", recording)
    return calls


async def _ready_link(bus: RedisBus, nursery: trio.Nursery) -> BusCoreLink:
    """A link past its first claim and its sweep (the plain path), reading ``one``."""
    lease = CoreLease(bus, "core-1")
    await nursery.start(lease.run)
    link = BusCoreLink(bus, "core-1", lease)
    await bus.append(INPUTS, {"e": "zero"})
    assert await link.receive_inputs() == ["zero"]  # the first read claims
    await link.commit([], {}, [], ack=True)
    await bus.append(INPUTS, {"e": "one"})
    assert await link.receive_inputs() == ["one"]  # the sweep's turn
    return link


async def test_a_commit_and_the_next_read_go_in_one_send(
    redis_server: RedisServer, sends: list[list[str]]
) -> None:
    with trio.fail_after(10):
        async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
            link = await _ready_link(bus, nursery)
            await link.bus.append(INPUTS, {"e": "two"})
            order: list[str] = []
            sends.clear()
            texts = await link.commit_and_receive(
                [("edge-x", "frames of one")],
                {"f": "1"},
                [],
                committed=lambda: order.append("committed"),
            )
            assert texts == ["two"]
            assert order == ["committed"]
            assert sends == [["EVALSHA", "XREADGROUP"]], "one send, one wait"
            assert await link.bus.read_hash(STATE) == {"f": "1"}
            frames = await link.bus.read_after(frames_stream("edge-x"), "0-0")
            assert [entry.fields["d"] for entry in frames] == ["frames of one"]
            assert await link.bus.pending_count(INPUTS, GROUP) == 1  # "two": its own commit
            await link.commit([], {}, [], ack=True)
            assert await link.bus.pending_count(INPUTS, GROUP) == 0
            nursery.cancel_scope.cancel()


async def test_a_refused_commit_is_made_again_before_its_read_is_handed_out(
    redis_server: RedisServer, sends: list[list[str]]
) -> None:
    """Redis forgot the script (a restart: NOSCRIPT): the commit sent with the read was
    not applied; it is made again alone (EVAL), then ``committed``, then the read's
    entries, which stay pending for their own commit."""
    with trio.fail_after(10):
        async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
            link = await _ready_link(bus, nursery)
            await link.bus.append(INPUTS, {"e": "two"})
            command(redis_server.port, "SCRIPT", "FLUSH")
            applied: list[dict[str, str]] = []

            def committed() -> None:
                applied.append({})

            sends.clear()
            texts = await link.commit_and_receive([], {"f": "1"}, [], committed=committed)
            assert texts == ["two"]
            assert applied == [{}]
            assert sends[0] == ["EVALSHA", "XREADGROUP"]
            assert ["EVAL"] in sends[1:], "made again alone, the script loaded again"
            assert await link.bus.read_hash(STATE) == {"f": "1"}
            assert await link.bus.pending_count(INPUTS, GROUP) == 1  # "two", not yet committed
            nursery.cancel_scope.cancel()


async def test_the_core_writes_its_commits_in_its_own_task(redis_server: RedisServer) -> None:
    """No commit-writer task: a move's batch costs the core no hand-off to another task
    and no wake-up of it for the commit's reply."""
    async with (
        open_redis_bus(redis_server.url) as bus,
        a_game_across_two_edges(bus) as (ann, bob, game_id),
    ):
        with counting_steps(lambda task: True) as counter:
            for ply, column in enumerate([3, 2, 3, 2]):
                await (bob, ann)[ply % 2].send(Move(game_id=game_id, column=column, ply=ply))
                for player in (ann, bob):
                    await player.expect(GameState)
        assert counter.of("CoreRelay._commit_forever") == 0, counter.by_name


@pytest.fixture
def lost_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Put a command name in the list: the next lean-pool call that starts with it runs in
    Redis, and its replies are lost with the connection (once)."""
    lose: list[str] = []
    execute = resp.RespPool.execute

    async def losing(
        self: resp.RespPool, commands: Sequence[resp.Command], **options: object
    ) -> list[resp.Reply]:
        replies = await execute(self, commands, **options)  # type: ignore[arg-type]
        if lose and str(commands[0][0]) == lose[0]:
            del lose[0]
            raise resp.RespUnavailable("the connection dropped before the reply")
        return replies

    monkeypatch.setattr(resp.RespPool, "execute", losing)
    return lose


@pytest.mark.parametrize("lost", ["XREADGROUP", "EVALSHA"])
async def test_inputs_a_read_handed_out_before_its_reply_was_lost_are_claimed_back(
    redis_server: RedisServer, lost_read: list[str], lost: str
) -> None:
    """Redis ran the XREADGROUP (alone, or behind the commit) and the reply was lost: the
    entries are pending for this core and no read hands them out again; the next read
    claims them back once nothing of this core's is in flight."""
    with trio.fail_after(10):
        async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
            link = await _ready_link(bus, nursery)
            await bus.append(INPUTS, {"e": "two"})
            lost_read.append(lost)
            if lost == "XREADGROUP":
                await link.commit([], {}, [], ack=True)
                texts = await link.receive_inputs()
            else:
                texts = await link.commit_and_receive([], {"f": "1"}, [], committed=lambda: None)
                assert texts == []
                assert await bus.read_hash(STATE) == {"f": "1"}
                texts = await link.receive_inputs()
            assert texts == ["two"]
            await link.commit([], {}, [], ack=True)
            assert await bus.pending_count(INPUTS, GROUP) == 0
            nursery.cancel_scope.cancel()


async def test_a_commit_sets_all_its_fields_in_one_operation() -> None:
    """The fields a commit sets (a field or two a move) are one ``PutFields``, in order,
    not a ``PutField`` made and read again for each."""
    bus = InMemoryBus()
    link = BusCoreLink(bus, "core-1", CoreLease(bus, "core-1"))
    puts = {"moves:g1": '[0,"3",1.5,null,null]', "lobby:rest": "{}", "clock": "2.5"}
    operations = link._operations([], puts, ["game:g2"], ack=False, records=[])
    assert operations == [PutFields(STATE, puts), DeleteField(STATE, "game:g2")]
    assert list(operations[0].fields) == list(puts)  # type: ignore[union-attr]
    assert link._operations([], {}, [], ack=False, records=[]) == []
