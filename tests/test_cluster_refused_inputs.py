"""Input entries the core reads out of their edge's order are handled once, not dropped
(issue 16, "nothing lost"; ``cluster/handled_inputs.py``): one Redis refused while it
applied the next (the edge sends it again, after its successor), and ones a deposed core
read after the new core took over (claimed after later ones).  On the in-memory bus here;
a real refusal on a real Redis in ``tests/test_bus_appender.py``."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial

import trio

from c4actors.actors.lobby import LobbyInput
from c4actors.bus import InMemoryBus, StreamId
from c4actors.cluster import wire
from c4actors.cluster.bus_links import GROUP, INPUTS, BusCoreLink, CoreLease, frames_stream
from c4actors.cluster.core import CoreRelay
from c4actors.server import ServerSettings, run_server
from protocol import Chat, ChatMessage
from tests.support import Client
from tests.test_cluster_failover import a_game_across_two_edges


class RefusesAnAppendAppliesTheNext(InMemoryBus):
    """A bus that, as Redis can (OOM, BUSY...), refuses the first input entry holding
    ``needle`` and applies the same edge's next one, written behind it: the refused entry
    reaches the stream only when it is sent again, after its successor."""

    needle: str | None = None
    refused: tuple[str, Mapping[str, str]] | None = None

    async def append(
        self, stream: str, fields: Mapping[str, str], *, maxlen: int | None = None
    ) -> StreamId:
        text = fields.get("e", "")
        if stream != INPUTS:
            return await super().append(stream, fields, maxlen=maxlen)
        needle = self.needle
        if needle is not None and needle in text:
            self.needle, self.refused = None, (wire.decode_uplink(text).edge, fields)
            return "0-0"  # what the pipelined appender reads only after its successor went
        entry_id = await super().append(stream, fields, maxlen=maxlen)
        refused = self.refused
        if refused is not None and wire.decode_uplink(text).edge == refused[0]:
            self.refused = None
            await super().append(stream, refused[1], maxlen=maxlen)  # sent again
        return entry_id


async def test_an_input_refused_while_the_next_was_applied_is_handled_late_once() -> None:
    bus = RefusesAnAppendAppliesTheNext()
    async with a_game_across_two_edges(bus) as (ann, bob, game_id):

        def refuse(text: str) -> None:
            bus.needle = text

        async def inputs() -> list[str]:
            return [entry.fields["e"] for entry in await bus.read_after(INPUTS, "0-0")]

        await said_late_once_though_refused(ann, bob, game_id, refuse, inputs)


async def said_late_once_though_refused(
    ann: Client,
    bob: Client,
    game_id: str,
    refuse: Callable[[str], None],
    inputs: Callable[[], Awaitable[list[str]]],
) -> None:
    """Ann says two lines, the first refused by the bus (``refuse`` arms it) while the
    second is applied: both players hear both, the refused entry is in the stream
    (``inputs``) after the next one, and the next line each player hears is the next one
    (each said once)."""
    refuse("refused first")
    await ann.send(Chat(game_id=game_id, text="refused first"))
    await ann.send(Chat(game_id=game_id, text="and then this"))
    for player in (ann, bob):
        said = {(await player.expect(ChatMessage)).text for _ in range(2)}
        assert said == {"refused first", "and then this"}
    entries = [wire.decode_uplink(text) for text in await inputs()]
    (refused,) = [entry for entry in entries if "refused first" in text_of(entry)]
    assert (refused.edge, refused.seq + 1) in [
        (entry.edge, entry.seq) for entry in entries[: entries.index(refused)]
    ], "the refused entry reached the stream after the next one"
    await ann.send(Chat(game_id=game_id, text="last"))
    for player in (ann, bob):
        assert (await player.expect(ChatMessage)).text == "last"


def text_of(entry: wire.Uplink) -> str:
    return wire.encode_uplink(entry)


class ReadGate:
    """A core's link whose reads wait while ``open`` is not set (``at_gate`` says one
    does), so a test can have another consumer read first."""

    def __init__(self, link: BusCoreLink) -> None:
        self.link = link
        self.name = link.name
        self.open = trio.Event()
        self.open.set()
        self.at_gate = trio.Event()

    async def receive_inputs(self) -> list[str]:
        if not self.open.is_set():
            self.at_gate.set()
            await self.open.wait()
        return await self.link.receive_inputs()

    async def receive_more(self, block: float) -> list[str]:
        return await self.link.receive_more(block)

    async def load_state(self) -> dict[str, str]:
        return await self.link.load_state()

    async def commit(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        ack: bool,
        records: Sequence[str] = (),
        ended: Sequence[tuple[str, str]] = (),
    ) -> None:
        await self.link.commit(frames, puts, deletes, ack=ack, records=records, ended=ended)

    async def commit_and_receive(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        records: Sequence[str] = (),
        ended: Sequence[tuple[str, str]] = (),
        committed: Callable[[], None],
    ) -> list[str]:
        await self.link.commit(frames, puts, deletes, ack=True, records=records, ended=ended)
        committed()
        return await self.receive_inputs()

    @property
    def readable_at(self) -> float:
        return self.link.readable_at


async def closed_conns(bus: InMemoryBus, edge: str) -> list[int]:
    """The connections of ``edge`` the core closed so far, in order."""
    batches = await bus.read_after(frames_stream(edge), "0-0")
    ops = [op for entry in batches for op in wire.decode_downlink(entry.fields["d"]).ops]
    return [op.conn for op in ops if op.op == "close"]


async def until_closed(bus: InMemoryBus, edge: str, conns: list[int]) -> None:
    with trio.fail_after(5):
        while await closed_conns(bus, edge) != conns:  # noqa: ASYNC110 (a stream)
            await trio.sleep(0.01)


async def test_inputs_a_deposed_core_read_are_handled_once_claimed_after_later_ones() -> None:
    """A deposed core (it stood still, woke, read on until its commit was refused) read
    entries 3 and 4 after this core took over; this core read 5 first, then claims 3 and 4
    from it (``claim_abandoned``): they are handled then, not dropped as copies of what it
    had handled (5 was the highest).  Each entry is a request from a connection the core
    does not know, so each one handled closes that connection."""
    bus = InMemoryBus()
    stop = trio.Event()
    settings = ServerSettings(port=0, lobby_tick=0.0, loop_monitor=False, tune_gc=False)

    async def append(seq: int) -> None:
        item = wire.WatchIn(conn=seq, game_id="g", watch=True)
        await bus.append(INPUTS, {"e": wire.encode_uplink(wire.Uplink("edge-a", [item], seq))})

    async with trio.open_nursery() as nursery:
        lease = CoreLease(bus, "core-2")
        await nursery.start(lease.run)
        link = BusCoreLink(bus, "core-2", lease)
        gate = ReadGate(link)

        def relay(inbox: trio.MemorySendChannel[LobbyInput]) -> CoreRelay:
            return CoreRelay(gate, inbox)

        await nursery.start(partial(run_server, settings, stop, core=relay))
        await append(1)
        await until_closed(bus, "edge-a", [1])
        gate.open = trio.Event()  # the read after the next entry waits
        await append(2)
        with trio.fail_after(5):
            await gate.at_gate.wait()
        await append(3)
        await append(4)
        stolen = await bus.read_group(INPUTS, GROUP, "core-1")  # the deposed core's read
        assert len(stolen) == 2
        await append(5)
        link._sweep_at = math.inf  # this core reads 5 before it looks for abandoned entries
        gate.open.set()
        await until_closed(bus, "edge-a", [1, 2, 5])
        link._sweep_at = -math.inf  # the read after the next entry looks
        await append(6)
        await until_closed(bus, "edge-a", [1, 2, 5, 6, 3, 4])
        await append(4)  # and a copy is still a copy
        await append(7)
        await until_closed(bus, "edge-a", [1, 2, 5, 6, 3, 4, 7])
        stop.set()
        nursery.cancel_scope.cancel()
