"""The edge's input batches on a real Redis: every item its user actors queue reaches the
input stream once batched (several items per entry, one XADD per loop turn), in the order
they were queued, and none is lost when the bus's connections are killed meanwhile (a
batch whose reply was lost may arrive twice, whole: the core's ``ply`` and ids make that
harmless, and it is never a reordering)."""

from __future__ import annotations

import trio

from c4actors.bus import StreamFollower, open_redis_bus
from c4actors.cluster import wire
from c4actors.cluster.bus_links import (
    GROUP,
    INPUTS,
    SWEEP_EVERY,
    BusCoreLink,
    BusEdgeLink,
    CoreLease,
)
from c4actors.cluster.edge import EdgeRelay
from c4actors.lobby_state import ColorChanged
from tests.redis_server import RedisServer, command

ITEMS = 2000


async def test_batched_inputs_arrive_in_order_across_killed_connections(
    redis_server: RedisServer,
) -> None:
    kills = 0

    async def kill_connections(done: trio.Event) -> None:
        nonlocal kills
        while not done.is_set():
            await trio.sleep(0.01)
            command(redis_server.port, "CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
            kills += 1

    with trio.fail_after(60):
        async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
            relay = EdgeRelay(BusEdgeLink(bus, "edge-x"))
            await nursery.start(relay.run)
            done = trio.Event()
            nursery.start_soon(kill_connections, done)
            for n in range(ITEMS):
                # Queued without a checkpoint, as the user actors of one loop turn queue
                # theirs (``send`` would yield after each, and on a busy machine the relay
                # could then flush each item alone).
                try:
                    relay.inbox_send.send_nowait(ColorChanged(f"u{n}", "#000000"))
                except trio.WouldBlock:
                    await relay.inbox_send.send(ColorChanged(f"u{n}", "#000000"))
                if n % 50 == 0:
                    await trio.sleep(0.002)
            got: list[int] = []
            entries = 0
            # The reader's connections are killed too: it reads on as the edges do.
            follower = StreamFollower(bus, INPUTS, block=1, first_retry=0.01)
            while not got or got[-1] != ITEMS - 1:
                for entry in await follower.next_batch():
                    uplink = wire.decode_uplink(entry.fields["e"])
                    colors = [i for i in uplink.items if isinstance(i, wire.ColorIn)]
                    if colors and got and int(colors[0].name[1:]) <= got[-1]:
                        # A batch appended again after its reply was lost: whole, as sent.
                        first = got.index(int(colors[0].name[1:]))
                        assert [int(i.name[1:]) for i in colors] == got[first : first + len(colors)]
                        continue
                    got += [int(item.name[1:]) for item in colors]
                    entries += 1
            done.set()
            nursery.cancel_scope.cancel()
    assert got == list(range(ITEMS)), "an item was lost or reordered"
    assert kills > 0
    assert entries < ITEMS / 2, "items queued meanwhile travel together"


async def test_inputs_a_deposed_core_read_are_handed_out_by_the_serving_one(
    redis_server: RedisServer,
) -> None:
    """A core paused past its lease (SIGSTOP, a long GC) wakes up deposed and reads on
    until its commit is refused: what it read is pending for it, and only a claim hands
    it out again.  The serving core claims such entries before each read."""
    with trio.fail_after(20):
        async with open_redis_bus(redis_server.url) as bus, trio.open_nursery() as nursery:
            lease = CoreLease(bus, "core-2")
            await nursery.start(lease.run)
            link = BusCoreLink(bus, "core-2", lease)
            await bus.append(INPUTS, {"e": "one"})
            assert await link.receive_inputs() == ["one"]
            await link.commit([], {}, [], ack=True)
            await bus.append(INPUTS, {"e": "two"})
            deposed = await bus.read_group(INPUTS, GROUP, "core-1")  # never committed
            assert [entry.fields["e"] for entry in deposed] == ["two"]
            await bus.append(INPUTS, {"e": "three"})
            await trio.sleep(SWEEP_EVERY)
            assert await link.receive_inputs() == ["two"]
            await link.commit([], {}, [], ack=True)
            assert await link.receive_inputs() == ["three"]
            await link.commit([], {}, [], ack=True)
            assert await bus.pending_count(INPUTS, GROUP) == 0
            nursery.cancel_scope.cancel()
