"""The core's side of the cluster: remote connections as mailboxes, inputs as inbox items.

The lobby actor and the game actors run here unchanged.  A connection on an edge is a
``RemoteMailbox``: its ``deliver`` never blocks, like any mailbox's; it appends the frame
to its edge's ``EdgeOutbox``, and each commit sends each edge's batch as one entry.  A
frame delivered to many connections of one edge (a lobby update) is in the batch once.
``route`` and ``close`` become operations in the same batch, in order.

The relay reads the input stream and makes each item what the edge's user actor would
have put into an inbox in one process: ``Join`` (with a reply channel whose answer goes
back as an operation), ``Disconnected``, ``Request``, ``WatchRequest``, ``ColorChanged``,
the queries of HTTP handlers, and the players' requests to games (``PlayMove``...), which
it sends to the game's inbox itself, with the user actor's refusals (``game_over``,
``rate_limited``).  Each edge's connection numbers are mapped to numbers of the cluster.

The relay handles the inputs a batch at a time, waits until the actors have done all the
batch caused, then commits the frames, what the actors noted in the ``StateKeeper`` and the
batch's acknowledgement together, fenced by the lease (``CoreLink.commit``), written by the
relay's own task with its next read behind it in one send (``_commit_and_read``; at machine
pace the commit alone, then the read after a short gather: ``_commit_then_read``), one commit
at a time in the order made; what no input caused (deadlines, ends) is committed by the
flusher.  A relay that takes the lease first
restores what the last core committed (``_take_over``): docs/architecture.md gives the
failover sequence.

Error handling: an entry that does not decode is logged and skipped; an item for a
connection the core does not know (it left, or the core restarted) is dropped.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
from typing import Any, Final

import attrs
import trio
import trio.testing

from c4actors import game_state
from c4actors.actors.game import AfterEnd
from c4actors.actors.game_inbox import (
    GAME_INBOX_SIZE,
    DirectInbox,
    GameInput,
    GameRequest,
    MovedOn,
    PlayMove,
    QuitGame,
    Say,
)
from c4actors.actors.lobby import (
    Audience,
    FollowRequest,
    Join,
    JoinAnswer,
    LeaveRequest,
    LobbyInput,
    LobbyStats,
    OnlineQuery,
    RestoredGame,
    Resync,
    SessionGranted,
    SnapshotQuery,
    StatsQuery,
    TakeOver,
    WatchRequest,
)
from c4actors.actors.mailbox import GameInbox, JoinedGame, Mailbox, Outgoing
from c4actors.actors.user import GAME_INBOX_SHARE
from c4actors.cluster import keeper, wire
from c4actors.cluster.handled_inputs import HandledInputs, numbers_text
from c4actors.cluster.keeper import ConnRow, StateKeeper
from c4actors.cluster.links import CoreLink
from c4actors.cluster.read_gather import ReadGather
from c4actors.lobby_state import ColorChanged, Connected, Disconnected, LobbyRequest, Request
from c4actors.move_gate import MoveGate
from c4actors.websocket_frames import PreparedFrame
from protocol.codec import ProtocolError, decode_client, encode
from protocol.messages import (
    Error,
    ErrorCode,
    Leave,
    UserInfo,
)

log = logging.getLogger("c4actors.cluster.core")

CLOSE_SERVICE_RESTART: Final = 1012
READ_GAP: Final = 2.5 * wire.HEARTBEAT
"""A read of the inputs returns at least once a heartbeat (an idle one too): a longer gap
between two is an outage of the bus or a stall of this process."""
RELAYED_FRAME_LIMIT: Final = 1 << 20
"""The edge checked each client frame against its own limit; re-encoded, it is decoded here
without one (hypercorn's ceiling)."""
CLOCK_EVERY: Final = 0.5
"""Seconds between two commits at most, even idle (only the clock then): a standby charges
nobody for the time since the last one, so it must be recent."""
SETTLE_LIMIT: Final = 1.0
"""Seconds a commit waits at most for the actors to finish what the inputs caused."""


@attrs.frozen
class _Commit:
    """One commit, made (``CoreRelay._commit``) and waiting to be written."""

    frames: list[tuple[str, str]]
    puts: dict[str, str]
    deletes: list[str]
    ack: bool
    records: list[str]
    ended: list[tuple[str, str, bool]]
    """The batches that tell edges they were declared dead (``CoreRelay._farewell``), each
    with whether it is the death's own (``CoreLink.commit``)."""


class EdgeOutbox:
    """One edge's batch: frames (each text once) and operations, until the next flush.

    Each op is kept as its row's text (``wire.op_text``), written as it comes: a batch is
    then joined at its commit (``take``), not encoded, and a ``deliver`` (two or more a
    move) is one short text made by hand, with no ``wire.Op`` made for it."""

    __slots__ = ("_index", "audiences", "core", "edge", "frames", "greet", "rows")

    def __init__(self, edge: str, core: str = "") -> None:
        self.edge = edge
        self.core = core
        self.frames: list[str] = []
        self._index: dict[int, int] = {}
        self.rows: list[str] = []
        """The ops so far, in order, each as its row's text (``wire.op_text``)."""
        self.greet = True
        """The edge has not heard from this core yet: the next batch goes out even empty."""
        self.audiences: dict[Audience, set[int]] = {}
        """Each audience's connections on this edge at the last broadcast (none yet, or a
        resync asked: the next broadcast carries the whole audience)."""

    def deliver(self, conn: int, frame: str) -> None:
        # ``_frame`` and ``wire.deliver_text`` inlined: every frame the core sends comes
        # this way.
        index = self._index.get(id(frame))
        if index is None or self.frames[index] is not frame:
            index = len(self.frames)
            self.frames.append(frame)
            self._index[id(frame)] = index
        self.rows.append(f'["deliver",{conn},{index}]')

    def add(self, op: wire.Op) -> None:
        """Any other op (``route``, ``close``, ``answer``...), after those before it."""
        self.rows.append(wire.op_text(op))

    def _frame(self, frame: str) -> int:
        # By identity: a frame encoded once and delivered to many is one object.
        index = self._index.get(id(frame))
        if index is None or self.frames[index] is not frame:
            index = len(self.frames)
            self.frames.append(frame)
            self._index[id(frame)] = index
        return index

    def broadcast(self, audience: Audience, seq: int, frame: str, conns: set[int]) -> None:
        """Broadcast ``seq`` to ``conns`` (the edge's connections in the audience now): as
        the changes since the previous one, or whole after a resync (``wire`` module)."""
        value: dict[str, Any] = {"ch": audience, "seq": seq}
        before = self.audiences.get(audience)
        if before is None:
            value["full"] = sorted(conns)
        else:
            value["add"] = sorted(conns - before)
            value["drop"] = sorted(before - conns)
        self.audiences[audience] = conns
        self.add(wire.Op("broadcast", 0, frame=self._frame(frame), value=value))

    def take(self, seq: int = 0) -> str | None:
        """The batch, numbered ``seq`` (``wire.Downlink.seq``), as the frames stream
        carries it (``wire.encode_downlink``), if there is one to send."""
        if not self.rows and not self.greet:
            return None
        text = wire.encode_rows(self.frames, self.rows, self.core, seq)
        self.frames, self.rows, self._index, self.greet = [], [], {}, False
        return text


class RemoteMailbox(Mailbox):
    """A connection of an edge, as the lobby and the games see it: see the module docstring."""

    __slots__ = ("local", "outbox", "relay")

    def __init__(self, conn: int, local: int, outbox: EdgeOutbox, relay: CoreRelay) -> None:
        super().__init__(conn, relay.nowhere)
        self.local = local
        """The connection's number on its edge."""
        self.outbox = outbox
        self.relay = relay

    def deliver(self, item: Outgoing) -> bool:
        if self.closed or not isinstance(item, str):
            return False
        self.outbox.deliver(self.local, item)
        self.relay.want()
        return True

    def deliver_frame(self, frame: PreparedFrame, answers: float = 0.0, path: str = "") -> bool:
        """``deliver`` of the frame's text (False: queued, as the base class says of a frame
        it did not write itself).  No reply's stamp is kept: the edge's writer times its
        replies, and no writer here reads one (a game's every move kept one)."""
        if self.closed:
            return False
        self.outbox.deliver(self.local, frame.text)
        self.relay.want()
        return False

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.close_code, self.close_reason, self.closed = code, reason, True
        self.relay.keeper.connection_changed(self.conn, None)  # a closed one is not restored
        self.outbox.add(wire.Op("close", self.local, code=code, text=reason))
        self.relay.want()

    def route(self, joined: JoinedGame) -> None:
        self.relay.games[joined.game_id] = joined.game_inbox
        self.outbox.add(wire.Op("route", self.local, text=joined.game_id))
        self.relay.want()

    def __repr__(self) -> str:
        return f"<RemoteMailbox conn={self.conn} edge={self.outbox.edge} local={self.local}>"


class CoreRelay:
    """Runs beside the lobby actor in the core: see the module docstring."""

    def __init__(self, link: CoreLink, lobby: trio.MemorySendChannel[LobbyInput]) -> None:
        self.link = link
        self.lobby = lobby
        self.nowhere, _ = trio.open_memory_channel[Outgoing](0)
        """Given to the remote mailboxes' base class, which never uses it."""
        self.wanted = trio.Event()
        """Set when a batch has something to send (``want``)."""
        self._batching = False
        """An input batch is being handled: its own commit takes whatever is noted
        meanwhile, so nothing wakes the flusher for it (``want``)."""
        self.games: dict[str, GameInbox] = {}
        self._outboxes: dict[str, EdgeOutbox] = {}
        self._conns: dict[tuple[str, int], RemoteMailbox] = {}
        self._next_conn = 1
        self._heard: dict[str, float] = {}
        """When each edge was last heard from."""
        self._sockets: dict[str, collections.Counter[str]] = {}
        """Each edge's open WebSockets by address (``SharedIn``): an edge that dies takes
        its counts with it, and a new edge learns the others' (``shared_limits``)."""
        self._seq: dict[Audience, int] = dict.fromkeys(wire.CHANNELS, 0)
        """The last broadcast's number, per audience (the same for every edge)."""
        self._nursery: trio.Nursery | None = None
        self._sent_at: dict[str, float] = {}
        """When each edge was last sent a batch (one at least every ``wire.HEARTBEAT``)."""
        self.keeper = StateKeeper(self.want)
        """What changed since the last commit (the lobby's and the games' journal)."""
        self._handled = HandledInputs()
        """The input entries handled from each edge (``wire.Uplink.seq``), committed with
        the entries' acknowledgement and restored by a core that takes over: a copy is
        dropped, a late entry handled once, across a failover too (``handled_inputs``)."""
        self._next_batch = 1
        """The next batch's number (``wire.Downlink.seq``): one count for every edge, so
        an edge's outbox made afresh never numbers one lower."""
        self._committing = trio.Lock()
        """One commit made at a time, and none while an input batch is being handled."""
        self._made_at = -math.inf
        """When the last commit was made (the clock goes out at least every ``CLOCK_EVERY``)."""
        self._farewells: dict[str, tuple[int, list[int]] | None] = {}
        """Edges to tell in the next commit that they were declared dead (a batch of their
        own, no outbox: ``_farewell``): with the input entries handled from each at its
        death (``HandledInputs.numbers``), or None: an entry of an edge not known."""
        self.move_gate: MoveGate | None = None
        """The server's move gate (set with the lobby's, ``server.run_server``): asked for
        each move as the relay hands it out, instead of by each game (``_handle_entries``)."""
        self.gather = ReadGather()
        """How long to wait before the next read after a commit: at machine pace only."""
        self._made: _Commit | None = None
        """An input batch's commit, made and not yet written: the run loop writes it with
        its next read (``CoreLink.commit_and_receive``), holding ``_committing`` till then."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Once this core holds the lease: restore what the last core committed, then
        handle the inputs, a batch at a time, each batch's effects committed with its
        acknowledgement (the failover sequence in ``docs/architecture.md``)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await self._take_over()
            nursery.start_soon(self._flush_forever)
            nursery.start_soon(self._watch_edges)
            committing = self._committing
            while True:
                commit, self._made = self._made, None
                if commit is None:
                    texts = await self.link.receive_inputs()
                elif wait := self.gather.wait(trio.current_time()):
                    texts = await self._commit_then_read(commit, wait)
                else:
                    texts = await self._commit_and_read(commit)
                try:
                    committing.acquire_nowait()  # no yield to Trio when free (nearly always)
                except trio.WouldBlock:
                    await committing.acquire()
                try:
                    self._batching = True
                    await self._handle_entries(texts)
                    await self._commit(ack=True)  # made: held until written (above)
                except BaseException:
                    self._made = None
                    committing.release()
                    raise
                finally:
                    self._batching = False

    async def _commit_and_read(self, commit: _Commit) -> list[str]:
        """Write the batch's commit with the next read behind it (one send, one wait:
        ``CoreLink.commit_and_receive``); ``_committing``, held since the batch was read,
        is let go once the commit is applied, so no other commit (the flusher's) can reach
        Redis before it, and none waits for the read."""
        committing = self._committing
        held = True

        def committed() -> None:
            nonlocal held
            held = False
            committing.release()

        try:
            texts = await self.link.commit_and_receive(
                commit.frames,
                commit.puts,
                commit.deletes,
                records=commit.records,
                ended=commit.ended,
                committed=committed,
            )
        finally:
            if held:
                committing.release()
        return texts or await self.link.receive_inputs()

    async def _commit_then_read(self, commit: _Commit, wait: float) -> list[str]:
        """At machine pace (``read_gather``): write the batch's commit alone, so its frames
        go out at once, then wait ``wait`` seconds for the answers to come in before the
        next read, so that they are one batch (one commit, one frames batch per edge)
        rather than several.  ``_committing`` is let go once the commit is applied, as in
        ``_commit_and_read``; the flusher may commit during the wait."""
        try:
            await self.link.commit(
                commit.frames,
                commit.puts,
                commit.deletes,
                ack=True,
                records=commit.records,
                ended=commit.ended,
            )
        finally:
            self._committing.release()
        await trio.sleep(wait)
        return await self.link.receive_inputs()

    def want(self) -> None:
        """Something waits to be committed: wake the flusher, unless an input batch is
        being handled, whose commit takes it all (``_commit``); waking it then cost the
        core two task steps per batch, for the flusher to find nothing left."""
        if not self._batching:
            self.wanted.set()

    async def _handle_entries(self, texts: list[str]) -> None:
        for text in texts:
            try:
                entry = wire.decode_uplink(text)
            except wire.WireError as error:
                log.warning("skipped an input entry: %s", error)
                continue
            if not self._handled.admits(entry.edge, entry.seq):
                # Not an edge known as live, nor its announcement: one declared dead that
                # came back (it was only stalled), however long ago (``handled_inputs``).
                # Nothing of it is handled, and it is told that it must come back anew.
                log.info("dropped an input entry of an edge declared dead edge=%s", entry.edge)
                self._farewells.setdefault(entry.edge, None)
                self.want()
                continue
            now = self._heard[entry.edge] = trio.current_time()
            self._outbox(entry.edge)
            if entry.seq:
                if not self._handled.first_time(entry.edge, entry.seq):
                    # A copy (appended again after a lost reply or a refusal): handled already.
                    log.info("dropped a repeated input entry edge=%s seq=%d", entry.edge, entry.seq)
                    continue
                self.keeper.inputs_handled(self._handled)
            conns, gate, gather = self._conns, self.move_gate, self.gather
            for item in entry.items:
                # A player's request (every move) without a coroutine and a match of its own.
                if type(item) is wire.GameIn:
                    admitted = False
                    if item.action == "move":
                        gather.moved(item.game_id)  # the players' pace (``read_gather``)
                        if gate is not None:
                            # The gate asked here, not by each game: a move past the turn's
                            # budget waits in line with the rest of the batch behind it, one
                            # task step, where a game held it in two of its own and queued it.
                            if not gate.admits_now():
                                await gate.wait_turn()
                            admitted = True
                    mailbox = conns.get((entry.edge, item.conn))
                    if mailbox is None:
                        self._unknown(entry.edge, item.conn)
                    else:
                        self._to_game(mailbox, item, now, admitted)
                else:
                    await self._handle(entry.edge, item)
        if self._handled.given_up:
            for edge, first, last in self._handled.given_up:
                log.warning("input entries given up edge=%s seq=%d-%d", edge, first, last)
            self._handled.given_up.clear()
        await self._settle()

    async def _take_over(self) -> None:
        """The lobby, its connections and its games as the last core committed them (every
        time moved onto this clock: ``keeper.load``), before any input is read."""
        fields = await self.link.load_state()
        now = trio.current_time()
        try:
            saved = keeper.load(fields, now)
        except ValueError as error:
            log.error("the core's state could not be read, starting empty: %s", error)
            saved = None
        if saved is None:
            self.keeper.loaded(fields)
            await self.lobby.send(TakeOver(self.keeper))
            return
        # Rewritten by parts from the first commit on; what was not restored is deleted.
        kept = [prefix + game.game_id for game in saved.games for prefix in keeper.GAME_FIELDS]
        kept += [f"{keeper.CONN_PREFIX}{row.conn}" for row in saved.conns]
        kept += [keeper.ENDED_PREFIX + ended.game.game_id for ended in saved.ended]
        self.keeper.loaded(fields, kept)
        mailboxes: dict[int, Mailbox] = {}
        for row in saved.conns:
            mailbox = RemoteMailbox(row.conn, row.local, self._outbox(row.edge), self)
            self._conns[(row.edge, row.local)] = mailbox
            mailboxes[row.conn] = mailbox
            self._heard[row.edge] = now  # each edge has a whole timeout to be heard
        self._next_conn = saved.next_conn
        self._handled = saved.handled
        for edge in saved.handled.upto:
            # Heard from by the last core, with or without connections: one that died
            # meanwhile is forgotten after a whole timeout, not kept for ever.
            self._heard.setdefault(edge, now)
        games = []
        for game in saved.games:
            send, receive = trio.open_memory_channel[GameInput](GAME_INBOX_SIZE)
            self.games[game.game_id] = send
            games.append(RestoredGame(game, send, receive, saved.chats.get(game.game_id)))
        for ended in saved.ended:  # a finished game's chat, still open
            send, receive = trio.open_memory_channel[GameInput](GAME_INBOX_SIZE)
            self.games[ended.game.game_id] = send
            after_end = AfterEnd(ended.closes_at, ended.moved_on)
            games.append(RestoredGame(ended.game, send, receive, ended.voices, after_end))
        await self.lobby.send(TakeOver(self.keeper, saved.lobby, mailboxes, games, saved.audiences))
        log.info(
            "core state restored connections=%d games=%d edges=%d",
            len(mailboxes),
            len(games),
            len(self._heard),
        )

    async def _settle(self) -> None:
        """Wait until the actors have done everything the inputs caused (every task of the
        process waits: the lobby and the games for their next item, the store's writes on
        their threads), so that what is committed is whole."""
        with trio.move_on_after(SETTLE_LIMIT):
            await trio.testing.wait_all_tasks_blocked()

    async def _commit(self, *, ack: bool) -> None:
        """Every edge's batch, what the journal noted and the clock, with ``ack`` the
        inputs just handled: one fenced commit (``CoreLink.commit``), made now.  An input
        batch's (``ack``) is left in ``_made`` for the run loop, which writes it with its
        next read (``_commit_and_read``: one send and one wait, where a writer task of its
        own cost two task steps a batch and a send of its own); the flusher's is written
        here, ``_committing`` held meanwhile.

        Committed in the order made, one at a time: the frames and state of a batch never
        reach Redis before those of the batch before it, and each ``ack`` acknowledges the
        oldest inputs not yet acknowledged (``CoreLink.commit``), which are this batch's,
        since every input batch is committed once, in the order read.  If the process dies
        with a batch handled and not committed, it is unacknowledged and nothing of it was
        written: the standby takes it over as if this core never read it."""
        frames = []
        now = self._made_at = trio.current_time()
        for edge, outbox in list(self._outboxes.items()):
            if now - self._sent_at.get(edge, -math.inf) >= wire.HEARTBEAT:
                outbox.greet = True  # an empty batch: the edge knows a core serves
            entry = outbox.take(self._next_batch)
            if entry is not None:
                self._next_batch += 1
                self._sent_at[edge] = now
                frames.append((edge, entry))
        ended = [
            (edge, self._farewell(edge, numbers), numbers is not None)
            for edge, numbers in sorted(self._farewells.items())
        ]
        self._farewells.clear()
        puts, deletes = self.keeper.changes(self._next_conn)
        puts[keeper.CLOCK] = repr(trio.current_time())
        records = self.keeper.take_records()
        self._batching = False  # anything noted from now on is the next commit's
        commit = _Commit(frames, puts, deletes, ack, records, ended)
        if ack:
            self._made = commit  # written by the run loop with its next read
            return
        await self.link.commit(
            commit.frames,
            commit.puts,
            commit.deletes,
            ack=commit.ack,
            records=commit.records,
            ended=commit.ended,
        )

    def _farewell(self, edge: str, numbers: tuple[int, list[int]] | None) -> str:
        """The batch that tells ``edge`` it was declared dead: its own name in an
        ``edge_gone``, as the other edges hear it (``cluster.edge`` closes its sockets and
        comes back under a new name), with, in the death's own, which of its input entries
        were handled (``handled_inputs.numbers_text``): the edge sends again, under its new
        name, the limit events of those that were not."""
        upto, above = ("", "") if numbers is None else numbers_text(*numbers)
        op = wire.Op("shared", 0, text=edge, value=["edge_gone", upto, above])
        entry = wire.Downlink([], [op], self.link.name, self._next_batch)
        self._next_batch += 1
        return wire.encode_downlink(entry)

    async def _watch_edges(self) -> None:
        """An edge silent for ``EDGE_TIMEOUT`` died: its sockets are gone, so the
        lobby hears ``Disconnected`` for each (their opponents are told, the grace period
        starts, and the players may come back through another edge)."""
        seen = self.link.readable_at
        while True:
            await trio.sleep(wire.HEARTBEAT)
            # Silent since the stream was last read, not since now: while the inputs cannot
            # be read (the bus is down, this process stood still) nobody is silent.
            readable_at = self.link.readable_at
            if readable_at - seen > READ_GAP:
                # Readable again after a gap: the edges are resending what they held, so each
                # gets a whole timeout from now.
                self._heard = dict.fromkeys(self._heard, readable_at)
            seen = readable_at
            for edge, heard in list(self._heard.items()):
                if readable_at - heard > wire.EDGE_TIMEOUT:
                    await self._edge_died(edge)

    async def _edge_died(self, edge: str) -> None:
        """Declare ``edge`` dead: everything kept for it goes, and it is fenced (its later
        entries dropped, ``HandledInputs.forget``) and told so (``_farewell``), since it may
        only have stalled: it then closes its sockets, whose pages come back, and serves
        again as a new edge, rather than keep sockets the lobby was told had left."""
        async with self._committing:
            del self._heard[edge]
            self._outboxes.pop(edge, None)
            self._sent_at.pop(edge, None)
            self._farewells[edge] = self._handled.numbers(edge)
            if self._handled.forget(edge):
                self.keeper.inputs_handled(self._handled)  # its later entries: dropped
            gone = [key for key in self._conns if key[0] == edge]
            log.warning("edge gone edge=%s connections=%d", edge, len(gone))
            for key in gone:
                mailbox = self._conns.pop(key)
                mailbox.closed = True
                self.keeper.connection_changed(mailbox.conn, None)
                await self.lobby.send(Disconnected(mailbox.conn))
            self._sockets.pop(edge, None)
            for outbox in self._outboxes.values():
                op = wire.Op("shared", 0, text=edge, value=["edge_gone", "", ""])
                outbox.add(op)
            self.want()

    def broadcast(self, audience: Audience, frame: str, targets: list[Mailbox]) -> list[Mailbox]:
        """The lobby's ``Broadcaster``: one ``broadcast`` op per edge, every edge (so each
        sees every number), with its connections among ``targets``; the rest (none: the
        core has no sockets of its own) go back to the lobby."""
        self._seq[audience] += 1
        seq = self._seq[audience]
        conns: dict[str, set[int]] = {edge: set() for edge in self._outboxes}
        rest: list[Mailbox] = []
        for mailbox in targets:
            if isinstance(mailbox, RemoteMailbox):
                edge_conns = conns.get(mailbox.outbox.edge)
                if edge_conns is not None and not mailbox.closed:
                    edge_conns.add(mailbox.local)
            else:
                rest.append(mailbox)
        for edge, outbox in self._outboxes.items():
            outbox.broadcast(audience, seq, frame, conns[edge])
        self.want()
        return rest

    def _share(self, edge: str, item: wire.SharedIn) -> None:
        """An edge's limits event, passed on to every other edge (``shared_limits``)."""
        if item.kind == "ws_open":
            self._sockets.setdefault(edge, collections.Counter())[item.a] += 1
        elif item.kind == "ws_close":
            counts = self._sockets.get(edge)
            if counts is not None and counts[item.a] > 0:
                counts[item.a] -= 1
                if not counts[item.a]:
                    del counts[item.a]
        value = [item.kind, item.a, item.b]
        for other, outbox in self._outboxes.items():
            if other != edge:
                outbox.add(wire.Op("shared", 0, text=edge, value=value))
        self.want()

    async def _resync(self, edge: str, audience: Audience) -> None:
        """``ResyncIn``: the lobby sends the edge's audience fresh lists; the edge's next
        broadcast carries the whole audience."""
        self._outbox(edge).audiences.pop(audience, None)
        conns = [mailbox.conn for (owner, _), mailbox in self._conns.items() if owner == edge]
        log.warning("edge missed broadcasts edge=%s audience=%s: resync", edge, audience)
        await self.lobby.send(Resync(audience, conns))

    def _outbox(self, edge: str) -> EdgeOutbox:
        outbox = self._outboxes.get(edge)
        if outbox is None:
            outbox = self._outboxes[edge] = EdgeOutbox(edge, self.link.name)
            self.want()  # the greeting: this edge learns which core serves now
            others = {other: dict(c) for other, c in self._sockets.items() if other != edge}
            if any(others.values()):
                outbox.add(wire.Op("shared", 0, value=others))
        return outbox

    async def _flush_forever(self) -> None:
        """Commit what no input caused (a deadline, a game's end, a query's reply), and the
        clock at least every ``CLOCK_EVERY``; nothing when the input batches' commits
        already carried it all (``wanted`` is set by every frame an input batch delivers,
        and that batch's commit wrote them: a second commit per batch would double the
        core's round trips)."""
        while True:
            with trio.move_on_at(self._made_at + CLOCK_EVERY):
                await self.wanted.wait()
            async with self._committing:
                self.wanted = trio.Event()
                if not self._pending() and trio.current_time() - self._made_at < CLOCK_EVERY:
                    continue  # anything noted from now on sets ``wanted`` again
                await self._settle()
                await self._commit(ack=False)

    def _pending(self) -> bool:
        """Whether anything waits to be committed: a change noted, or an edge's batch."""
        return (
            self.keeper.dirty
            or bool(self._farewells)
            or any(outbox.rows or outbox.greet for outbox in self._outboxes.values())
        )

    def _unknown(self, edge: str, conn: int) -> None:
        """An input from a connection this core does not know (it started after the
        connection joined): the socket is closed, so its page reconnects and joins again."""
        op = wire.Op("close", conn, code=CLOSE_SERVICE_RESTART, text="the server restarted")
        self._outbox(edge).add(op)
        self.want()

    async def _handle(self, edge: str, item: wire.UplinkItem) -> None:
        match item:
            case wire.JoinIn(conn=local):
                await self._join(edge, item)
            case wire.LeftIn(conn=local):
                mailbox = self._conns.pop((edge, local), None)
                if mailbox is not None:
                    mailbox.closed = True  # nothing more is sent to a socket that is gone
                    self.keeper.connection_changed(mailbox.conn, None)
                    await self.lobby.send(Disconnected(mailbox.conn))
            case wire.RequestIn(conn=local, frame=frame):
                mailbox = self._conns.get((edge, local))
                if mailbox is None:
                    self._unknown(edge, local)
                    return
                try:
                    message = decode_client(frame, RELAYED_FRAME_LIMIT)
                except ProtocolError as error:
                    log.warning("skipped a request that does not decode: %s", error)
                    return
                # Every request the lobby core answers (the same union the core takes).
                if isinstance(message, LobbyRequest):
                    await self.lobby.send(Request(mailbox.conn, message, trio.current_time()))
            case wire.LeaveIn(conn=local):
                await self._leave(edge, local)
            case wire.ColorIn(name=name, color=color):
                await self.lobby.send(ColorChanged(name, color))
            case wire.WatchIn(conn=local, game_id=game_id, watch=watch):
                mailbox = self._conns.get((edge, local))
                if mailbox is None:
                    self._unknown(edge, local)
                else:
                    await self.lobby.send(WatchRequest(mailbox.conn, game_id, watch))
            case wire.FollowIn(conn=local, follow=follow):
                mailbox = self._conns.get((edge, local))
                if mailbox is None:
                    self._unknown(edge, local)
                else:
                    await self.lobby.send(FollowRequest(mailbox.conn, follow))
            case wire.GameIn(conn=local):
                mailbox = self._conns.get((edge, local))
                if mailbox is None:
                    self._unknown(edge, local)
                else:
                    self._to_game(mailbox, item, trio.current_time())
            case wire.MovedOnIn(conn=local, game_id=game_id):
                mailbox = self._conns.get((edge, local))
                game = self.games.get(game_id)
                if mailbox is not None and game is not None:
                    with contextlib.suppress(
                        trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
                    ):
                        game.send_nowait(MovedOn(mailbox.conn))
            case wire.QueryIn():
                await self._query(edge, item)
            case wire.AttachIn(conns=conns):
                await self._attach(edge, conns)
            case wire.AliveIn():
                pass
            case wire.ResyncIn(channel=audience):
                await self._resync(edge, audience)
            case wire.SharedIn():
                self._share(edge, item)

    async def _join(self, edge: str, item: wire.JoinIn) -> None:
        assert self._nursery is not None
        key = (edge, item.conn)
        mailbox = self._conns.get(key)
        if mailbox is None:
            conn, self._next_conn = self._next_conn, self._next_conn + 1
            mailbox = self._conns[key] = RemoteMailbox(conn, item.conn, self._outbox(edge), self)
            self.keeper.connection_changed(conn, ConnRow(conn, edge, item.conn))
        event = Connected(
            mailbox.conn, item.username, item.resume, item.account, item.name_registered
        )
        reply, answers = trio.open_memory_channel[JoinAnswer](1)
        await self.lobby.send(Join(event, mailbox, reply))
        self._nursery.start_soon(self._answer_join, key, mailbox, answers)

    async def _answer_join(
        self,
        key: tuple[str, int],
        mailbox: RemoteMailbox,
        answers: trio.MemoryReceiveChannel[JoinAnswer],
    ) -> None:
        async with answers:
            try:
                answer = await answers.receive()
            except trio.EndOfChannel:
                return  # the lobby is stopping
        if isinstance(answer, SessionGranted):
            game_id = None
            if answer.game is not None:
                game_id = answer.game.game_id
                self.games[game_id] = answer.game.game_inbox
            op = wire.Op("answer", mailbox.local, text=answer.name, game=game_id)
        else:
            if self._conns.get(key) is mailbox:
                del self._conns[key]  # the edge's socket may ask again, as a new connection
                self.keeper.connection_changed(mailbox.conn, None)
            op = wire.Op("answer", mailbox.local)
        mailbox.outbox.add(op)
        self.want()

    async def _attach(self, edge: str, conns: list[int]) -> None:
        """An edge that saw this core take over lists its connections: one this core does
        not know (the state was lost) is closed so that its page joins again; one it knows
        and the edge does not is gone."""
        listed = set(conns)
        for local in sorted(listed):
            if (edge, local) not in self._conns:
                self._unknown(edge, local)
        for key in [key for key in self._conns if key[0] == edge and key[1] not in listed]:
            mailbox = self._conns.pop(key)
            mailbox.closed = True
            self.keeper.connection_changed(mailbox.conn, None)
            await self.lobby.send(Disconnected(mailbox.conn))

    async def _leave(self, edge: str, local: int) -> None:
        """A ``leave``, as the user actor asks it in one process: the answer goes back as a
        ``left`` op, after the frames the lobby delivered on the way (``left_lobby``)."""
        assert self._nursery is not None
        key = (edge, local)
        mailbox = self._conns.get(key)
        if mailbox is None:
            self._unknown(edge, local)
            return
        reply, answers = trio.open_memory_channel[bool](1)
        request = Request(mailbox.conn, Leave(), trio.current_time())
        await self.lobby.send(LeaveRequest(request, reply))
        self._nursery.start_soon(self._answer_leave, key, mailbox, answers)

    async def _answer_leave(
        self, key: tuple[str, int], mailbox: RemoteMailbox, answers: trio.MemoryReceiveChannel[bool]
    ) -> None:
        async with answers:
            try:
                ended = await answers.receive()
            except trio.EndOfChannel:
                return  # the lobby is stopping
        # The socket keeps its number: joining again, it keeps its games cap (the lobby
        # counts the games each socket started).
        mailbox.outbox.add(wire.Op("left", mailbox.local, value=ended))
        self.want()

    def _to_game(
        self, mailbox: RemoteMailbox, item: wire.GameIn, now: float, admitted: bool = False
    ) -> None:
        """What the user actor does with a request to a game in one process; ``now``: when
        its entry was read (a move is played at that time), ``admitted``: a move the move
        gate admitted (``_handle_entries``)."""
        game = self.games.get(item.game_id)
        if game is None:
            self._refuse(mailbox, "unknown_game", "you are not playing in this game", item.action)
            return
        try:
            if type(game) is DirectInbox:  # one look at its channel (``send_below``)
                sent = game.send_below(_game_input(mailbox, item, now), GAME_INBOX_SHARE, admitted)
            elif game.statistics().current_buffer_used >= GAME_INBOX_SHARE:
                sent = False  # a restored game's plain channel (``_take_over``)
            else:
                game.send_nowait(_game_input(mailbox, item, now))
                sent = True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.games.pop(item.game_id, None)
            mailbox.outbox.add(wire.Op("unroute", mailbox.local, text=item.game_id))
            self._refuse(mailbox, "game_over", "this game is over", item.action)
            return
        except trio.WouldBlock:
            sent = False
        if not sent:
            text = "too many requests in flight; wait for replies"
            self._refuse(mailbox, "rate_limited", text, item.action)

    def _refuse(self, mailbox: RemoteMailbox, code: ErrorCode, text: str, ref: str) -> None:
        mailbox.deliver(encode(Error(code=code, message=text, ref=ref)))

    async def _query(self, edge: str, item: wire.QueryIn) -> None:
        assert self._nursery is not None
        outbox = self._outbox(edge)
        if item.what == "snapshot":
            users, users_in = trio.open_memory_channel[list[UserInfo]](1)
            await self.lobby.send(SnapshotQuery(users))
            self._nursery.start_soon(self._reply, outbox, item.query, users_in)
        elif item.what == "online":
            online, online_in = trio.open_memory_channel[bool](1)
            await self.lobby.send(OnlineQuery(item.name, online))
            self._nursery.start_soon(self._reply, outbox, item.query, online_in)
        else:
            stats, stats_in = trio.open_memory_channel[LobbyStats](1)
            await self.lobby.send(StatsQuery(stats))
            self._nursery.start_soon(self._reply, outbox, item.query, stats_in)

    async def _reply(
        self, outbox: EdgeOutbox, query: int, answers: trio.MemoryReceiveChannel[Any]
    ) -> None:
        async with answers:
            try:
                value = await answers.receive()
            except trio.EndOfChannel:
                return
        outbox.add(wire.Op("reply", query, value=wire.unstructure(value)))
        self.want()


def _game_input(mailbox: Mailbox, item: wire.GameIn, now: float) -> GameInput:
    match item.action:
        case "move":
            return PlayMove(mailbox, item.name, item.column, now, item.ply)
        case "quit":
            return QuitGame(mailbox, item.name)
        case "chat":
            return Say(mailbox, item.name, item.text, item.sent_at)
        case "offer_draw":
            return GameRequest(mailbox, game_state.DrawOfferRequested(mailbox.conn, item.name))
        case "answer_draw":
            answer = game_state.DrawAnswerRequested(mailbox.conn, item.name, item.accept)
            return GameRequest(mailbox, answer)
        case "abort":
            return GameRequest(mailbox, game_state.AbortRequested(mailbox.conn, item.name))
