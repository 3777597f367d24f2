"""What the relays need from the streams between the processes, and an in-memory pair.

``CoreLink`` and ``EdgeLink`` are all ``core.CoreRelay`` and ``edge.EdgeRelay`` know of
the transport: entries are strings (``wire``), appended in order and read in order.
``MemoryHub`` connects a core and edges in one process through Trio channels, for the
relays' own tests; ``redis_links`` puts the same entries on Redis Streams.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Protocol

import trio


class CoreLink(Protocol):
    name: str
    """This core process's name (unique per process)."""

    async def receive_inputs(self) -> list[str]:
        """The next input entries from any edge, in the order they were appended (waits);
        first those a previous core read and never committed.  They stay unacknowledged
        until a ``commit`` with ``ack``."""
        ...

    async def receive_more(self, block: float) -> list[str]:
        """The next input entries, waiting ``block`` seconds at most (``[]`` then); they
        join those ``receive_inputs`` returned, acknowledged by the same ``commit``."""
        ...

    async def load_state(self) -> dict[str, str]:
        """The state the last core committed (``keeper.STATE``'s fields)."""
        ...

    async def commit(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        ack: bool,
        records: Sequence[str] = (),
        ended: Sequence[tuple[str, str, bool]] = (),
    ) -> None:
        """At once or not at all, and only while this core holds the lease: append each
        ``(edge, entry)`` to that edge's frames stream, and each ``(edge, entry, death)``
        of ``ended`` to the stream of an edge declared dead, removed after a while
        (``bus_links.FAREWELL_KEEP``): trimmed to it with ``death`` (the commit that
        declares it), after what is there else (one sent again), set and delete those state fields,
        append each of ``records`` (finished games, ``cluster.recorder``) to the records
        stream, and with ``ack`` acknowledge the oldest inputs not acknowledged yet: those of the
        oldest ``receive_inputs`` (with its ``receive_more``) no earlier commit acknowledged
        (the core commits a batch with ``ack`` before, or together with, its next read:
        ``commit_and_receive``)."""
        ...

    async def commit_and_receive(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        records: Sequence[str] = (),
        ended: Sequence[tuple[str, str, bool]] = (),
        committed: Callable[[], None],
    ) -> list[str]:
        """``commit`` with ``ack``, then the next read, sent together where the link can
        (one send and one wait for both): ``committed()`` is called once the commit is
        applied, before the read is waited for; the entries read, or ``[]`` when none came
        within the read's wait (call ``receive_inputs`` then)."""
        ...

    @property
    def readable_at(self) -> float:
        """When a read of the input stream last succeeded (Trio's clock): an edge is silent
        only if it sent nothing since, and a stream that cannot be read silences everyone."""
        ...


class EdgeLink(Protocol):
    edge: str
    """This edge's name: unique per process, so a restarted edge is a new one."""

    def rename(self) -> None:
        """Take a new name, never used before (``edge``), and follow its frames stream
        from now on: the core declared this edge dead, and takes it for a new one."""
        ...

    async def send_inputs(self, entry: str) -> None:
        """Append ``entry`` to the input stream the core reads, at least once: an entry
        may be appended twice, and after one sent later when Redis refused it and applied
        the next (the core handles each ``wire.Uplink.seq`` once in any order:
        ``handled_inputs``).  May return before the append is confirmed (``bus.Appender``:
        pipelined), but for the first entry under a name (since the start or ``rename``):
        it returns once that entry is in the stream, so it lands before every later one
        (the edge's announcement, which the core takes for a new edge even as a copy:
        nothing else of the name may have reached the stream before it).  ``run`` must
        be running."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """What the link runs beside the relay (the uplink's replies), until cancelled."""
        ...

    async def receive_frames(self) -> list[str]:
        """The next entries of this edge's frames stream (waits)."""
        ...


class MemoryHub:
    """A core and any number of edges in one process (unbounded, like a stream)."""

    def __init__(self) -> None:
        self._inputs_send, self._inputs = trio.open_memory_channel[str](math.inf)
        self._resumed = trio.Event()
        self._resumed.set()
        self._paused_at: float | None = None
        self.state: dict[str, str] = {}
        """What the cores committed (``keeper.STATE``)."""
        self.pending: list[str] = []
        """The inputs a core read and has not acknowledged: the next core reads them first."""
        self.commits: list[list[str]] = []
        """The fields each commit set, in order (for the tests)."""
        self.records: list[str] = []
        """The finished games' records the cores committed, in order (the records stream)."""
        self._edges: dict[str, tuple[trio.MemorySendChannel[str], trio.MemoryReceiveChannel[str]]]
        self._edges = {}
        self._lost: dict[str, list[str]] = {}
        self._all_lost = trio.Event()

    def lose_frames(self, edge: str, containing: str = "") -> None:
        """The next entry for ``edge`` that contains ``containing`` is lost, as a stream
        trimmed before a lagging edge read it would lose it (the broadcasts' gap tests)."""
        self._lost.setdefault(edge, []).append(containing)

    async def wait_lost(self, edge: str) -> None:
        """Until the entries ``lose_frames`` announced for ``edge`` are lost."""
        while self._lost.get(edge):
            self._all_lost = trio.Event()
            await self._all_lost.wait()

    def _edge_channel(
        self, edge: str
    ) -> tuple[trio.MemorySendChannel[str], trio.MemoryReceiveChannel[str]]:
        if edge not in self._edges:
            self._edges[edge] = trio.open_memory_channel[str](math.inf)
        return self._edges[edge]

    def pause(self) -> None:
        """An outage: no input is appended or read until ``resume``."""
        self._paused_at = trio.current_time()
        self._resumed = trio.Event()

    def resume(self) -> None:
        self._paused_at = None
        self._resumed.set()

    @property
    def readable_at(self) -> float:
        return trio.current_time() if self._paused_at is None else self._paused_at

    def core(self, name: str = "core") -> CoreLink:
        return _MemoryCore(self, name)

    def edge(self, name: str) -> EdgeLink:
        return _MemoryEdge(self, name)


class _MemoryCore:
    def __init__(self, hub: MemoryHub, name: str) -> None:
        self._hub = hub
        self.name = name
        self._claimed = False
        self._batches: collections.deque[int] = collections.deque()
        """How many of ``hub.pending`` each unacknowledged read returned, oldest first."""

    async def receive_inputs(self) -> list[str]:
        hub = self._hub
        await hub._resumed.wait()
        if hub.pending and not self._claimed:
            self._claimed = True
            self._batches.append(len(hub.pending))
            return list(hub.pending)
        self._claimed = True
        entries = [await hub._inputs.receive()]
        await hub._resumed.wait()  # paused meanwhile: nothing can be read
        while True:
            try:
                entries.append(hub._inputs.receive_nowait())
            except trio.WouldBlock:
                hub.pending += entries
                self._batches.append(len(entries))
                return entries

    async def receive_more(self, block: float) -> list[str]:
        hub = self._hub
        entries: list[str] = []
        with trio.move_on_after(block):
            await hub._resumed.wait()
            entries.append(await hub._inputs.receive())
        while entries:
            try:
                entries.append(hub._inputs.receive_nowait())
            except trio.WouldBlock:
                break
        hub.pending += entries
        if self._batches:
            self._batches[-1] += len(entries)
        return entries

    async def load_state(self) -> dict[str, str]:
        await trio.lowlevel.checkpoint()
        return dict(self._hub.state)

    async def commit(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        ack: bool,
        records: Sequence[str] = (),
        ended: Sequence[tuple[str, str, bool]] = (),
    ) -> None:
        self._apply(
            [*frames, *((e, t) for e, t, _ in ended)], puts, deletes, ack=ack, records=records
        )
        await trio.lowlevel.checkpoint()

    def _apply(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        ack: bool,
        records: Sequence[str],
    ) -> None:
        hub = self._hub
        hub.records += records
        for edge, entry in frames:
            lost = hub._lost.get(edge)
            if lost and lost[0] in entry:
                del lost[0]
                hub._all_lost.set()
            else:
                hub._edge_channel(edge)[0].send_nowait(entry)
        hub.state.update(puts)
        hub.commits.append(sorted(puts))
        for field in deletes:
            hub.state.pop(field, None)
        if ack and self._batches:
            del hub.pending[: self._batches.popleft()]

    async def commit_and_receive(
        self,
        frames: list[tuple[str, str]],
        puts: dict[str, str],
        deletes: list[str],
        *,
        records: Sequence[str] = (),
        ended: Sequence[tuple[str, str, bool]] = (),
        committed: Callable[[], None],
    ) -> list[str]:
        """Applied at once (no yield: the read waits anyway), then the read."""
        self._apply(
            [*frames, *((e, t) for e, t, _ in ended)], puts, deletes, ack=True, records=records
        )
        committed()
        return await self.receive_inputs()

    @property
    def readable_at(self) -> float:
        return self._hub.readable_at


class _MemoryEdge:
    def __init__(self, hub: MemoryHub, edge: str) -> None:
        self._hub = hub
        self.edge = edge
        self._names = itertools.count(2)

    def rename(self) -> None:
        self.edge = f"{self.edge.partition('~')[0]}~{next(self._names)}"

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    async def send_inputs(self, entry: str) -> None:
        await self._hub._resumed.wait()  # an append waits out an outage
        self._hub._inputs_send.send_nowait(entry)
        await trio.lowlevel.checkpoint()

    async def receive_frames(self) -> list[str]:
        receive = self._hub._edge_channel(self.edge)[1]
        entries = [await receive.receive()]
        while True:
            try:
                entries.append(receive.receive_nowait())
            except trio.WouldBlock:
                return entries
