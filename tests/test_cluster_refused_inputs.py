"""An input entry Redis refused while it applied the next one (issue 16, "nothing lost"):
the edge sends it again, it reaches the stream after its successor, and the core handles
it then, once (``cluster/handled_inputs.py``).  On the in-memory bus here; on a real Redis
with a real refusal in ``tests/test_bus_appender.py``."""

from __future__ import annotations

from collections.abc import Mapping

from c4actors.bus import InMemoryBus, StreamId
from c4actors.cluster import wire
from c4actors.cluster.bus_links import INPUTS
from protocol import Chat, ChatMessage
from tests.support import connect, start_game
from tests.test_cluster_failover import in_process_cluster


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
    async with (
        in_process_cluster(bus) as edges,
        connect(edges[0], "ann") as ann,
        connect(edges[1], "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        bus.needle = "refused first"
        await ann.send(Chat(game_id=game_id, text="refused first"))
        await ann.send(Chat(game_id=game_id, text="and then this"))
        for player in (ann, bob):
            said = {(await player.expect(ChatMessage)).text for _ in range(2)}
            assert said == {"refused first", "and then this"}
        inputs = [entry.fields["e"] for entry in await bus.read_after(INPUTS, "0-0")]
        entries = [wire.decode_uplink(text) for text in inputs]
        (refused,) = [entry for entry in entries if "refused first" in text_of(entry)]
        assert (refused.edge, refused.seq + 1) in [
            (entry.edge, entry.seq) for entry in entries[: entries.index(refused)]
        ], "the refused entry reached the stream after the next one"
        # Each once: the next line each player hears is the next one.
        await ann.send(Chat(game_id=game_id, text="last"))
        for player in (ann, bob):
            assert (await player.expect(ChatMessage)).text == "last"


def text_of(entry: wire.Uplink) -> str:
    return wire.encode_uplink(entry)
