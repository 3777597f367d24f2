"""An edge's relay sends what its user actors queued in one loop turn as one input entry.

Why it matters: every entry is an XADD for the edge and a read and decode for the core, so
items that travel one by one multiply both processes' per-move costs, and the real-Redis
test of the batches (``test_cluster_bus_batches``) counted entries that depended on how
the scheduler happened to interleave the relay's tasks."""

from __future__ import annotations

import trio

from c4actors.cluster import wire
from c4actors.cluster.edge import EdgeRelay
from c4actors.lobby_state import ColorChanged

ITEMS = 200


class RecordingLink:
    """An ``EdgeLink`` that keeps every input entry it is given, in order."""

    edge = "edge-x"

    def __init__(self) -> None:
        self.entries: list[wire.Uplink] = []
        self.arrived = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    async def send_inputs(self, entry: str) -> None:
        self.entries.append(wire.decode_uplink(entry))
        colors = [i for e in self.entries for i in e.items if isinstance(i, wire.ColorIn)]
        if len(colors) == ITEMS:
            self.arrived.set()
        await trio.lowlevel.checkpoint()

    async def receive_frames(self) -> list[str]:
        await trio.sleep_forever()
        raise AssertionError("unreachable")


async def test_items_queued_in_one_turn_travel_in_one_entry() -> None:
    link = RecordingLink()
    relay = EdgeRelay(link)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.run)
            await trio.testing.wait_all_tasks_blocked()
            link.entries.clear()  # the heartbeat's first entry, sent at start
            for n in range(ITEMS):  # one loop turn: no checkpoint in between
                relay.inbox_send.send_nowait(ColorChanged(f"u{n}", "#000000"))
            await link.arrived.wait()
            nursery.cancel_scope.cancel()
    batches = [[i.name for i in e.items if isinstance(i, wire.ColorIn)] for e in link.entries]
    assert [b for b in batches if b] == [[f"u{n}" for n in range(ITEMS)]]
