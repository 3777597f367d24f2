"""The edge's side of the cluster: what stands in for the lobby actor in an edge process.

An edge runs the web application unchanged: user actors, decoding, rate limits, HTTP.
Their lobby inbox is the ``EdgeRelay``'s: it puts each item on the input stream for the
core (with the connection's number instead of its mailbox), and keeps what it needs to
carry the core's answers back: the connections' mailboxes, the replies of pending joins
and queries.  For each game a connection plays, the relay gives the user actor an inbox
like a game's (``route``: a ``GameInbox``), which puts each request on the stream's queue
in the user actor's own task, as a game's inbox takes it in one process: no task of its
own woken per move.

From the connection's frames stream it carries out the core's operations in order:
frames (encoded in the core, once per edge; framed here once for all their sockets and
written at once to an idle socket, as the game actor does in one process) into the local
mailboxes, which never block, so a slow socket is closed here like in one process;
routes; closes; join answers; query replies.  ``Shutdown`` (this edge stopping) closes
this edge's sockets only.

**A core outage.**  The core sends each edge a batch at least every ``wire.HEARTBEAT``
(an empty one when idle).  An edge that hears nothing for ``CORE_SILENCE`` (the core died
and the standby is not serving yet, or Redis is away) keeps every socket and holds
players' moves and quits (at most ``HELD_LIMIT`` meanwhile: they wait in the input
stream, or in this process while Redis is away, and the next core plays them), and
refuses every other action at once with ``server_recovering``, rather than leave it
unanswered for seconds.  The first batch from a core ends the outage.

Error handling: an entry that does not decode is logged and skipped; an operation for a
connection that has closed meanwhile is dropped; a batch the core sent twice (its commit
made again after the reply was lost: ``wire.Downlink.seq``) is carried out once.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Final

import trio

from c4actors import game_state
from c4actors.actors.game_inbox import (
    GameInput,
    GameRequest,
    MovedOn,
    PlayMove,
    QuitGame,
    Say,
)
from c4actors.actors.lobby import (
    LOBBY_INBOX_SIZE,
    FollowRequest,
    Join,
    JoinAnswer,
    LeaveRequest,
    LobbyInput,
    LobbyStats,
    OnlineQuery,
    SessionDenied,
    SessionGranted,
    Shutdown,
    SnapshotQuery,
    StatsQuery,
    TakeOver,
    WatchRequest,
)
from c4actors.actors.mailbox import CLOSE_GOING_AWAY, JoinedGame, Mailbox
from c4actors.cluster import wire
from c4actors.cluster.handled_inputs import handled_by_text
from c4actors.cluster.links import EdgeLink
from c4actors.cluster.shared_limits import (
    SharedConnectionLimits,
    SharedEvent,
    SharedLimits,
    SharedLoginThrottle,
    SharedRegistrationLimit,
)
from c4actors.live_games import GameMoved
from c4actors.lobby_state import ColorChanged, Disconnected, GameEnded, Request
from c4actors.web import WebLimits, WebSettings
from c4actors.websocket_frames import PreparedFrame
from protocol.codec import encode
from protocol.messages import TYPE_NAMES, Error

log = logging.getLogger("c4actors.cluster.edge")

UPLINK_SIZE: Final = 4096
CLOSE_SERVICE_RESTART: Final = 1012
CORE_SILENCE: Final = 3 * wire.HEARTBEAT
"""Seconds without a batch from the core after which the edge is in an outage."""
HELD_LIMIT: Final = 1000
"""Moves and quits an edge holds during an outage; later ones are refused
(``server_recovering``) until a core serves again."""
RECOVERING: Final = "the server is recovering from a fault: try again in a few seconds"
DECLARED_DEAD: Final = "the server restarted"
"""The close reason of a socket on an edge the core declared dead (``_come_back``)."""
LIMIT_LOG: Final = 4096
"""The latest limit events (failed logins, registrations) the edge keeps with the number
of the input entry that carried each, to send again those the core dropped when it
declared the edge dead (``_send_uplink``): the core handles an edge's entries within
milliseconds, so only the latest ones can be unhandled at its death."""
_COUNTED: Final = frozenset({"ws_open", "ws_close"})
"""The shared events that are counts (sent again as the count, not one by one)."""


class EdgeRelay:
    """See the module docstring.  Start with ``nursery.start(relay.run)``; user actors and
    HTTP handlers send to ``inbox_send`` as they would to the lobby actor's."""

    def __init__(self, link: EdgeLink, *, held_limit: int = HELD_LIMIT) -> None:
        self.link = link
        self.held_limit = held_limit
        self.outage = False
        """No batch from any core for ``CORE_SILENCE``: see the module docstring."""
        self._held = 0
        """Moves and quits sent on during this outage."""
        self._core_heard = trio.current_time()
        self.inbox_send, self._inbox = trio.open_memory_channel[LobbyInput](LOBBY_INBOX_SIZE)
        self._uplink_send, self._uplink = trio.open_memory_channel[wire.UplinkItem](UPLINK_SIZE)
        self._mailboxes: dict[int, Mailbox] = {}
        self._joins: dict[int, trio.MemorySendChannel[JoinAnswer]] = {}
        self._leaves: dict[int, trio.MemorySendChannel[bool]] = {}
        self._queries: dict[int, tuple[Callable[[Any], None], wire.QueryIn]] = {}
        """Each query waiting for its reply: how to answer it, and what was asked (asked
        again if this edge comes back under a new name: ``_come_back``)."""
        self._query_ids = itertools.count(1)
        self._routes: dict[int, dict[str, _Route]] = {}
        self._core = ""
        """The core that sent the last batch."""
        self._core_seq = 0
        """The number of that batch (``wire.Downlink.seq``): a repeated one is dropped."""
        self._uplink_seq = 0
        """The last input entry's number (``wire.Uplink.seq``)."""
        self._audiences: dict[wire.Channel, _Audience] = {}
        self._shared: SharedLimits | None = None
        """The web application's limits, shared with the other edges (``web_limits``)."""
        self._shared_send, self._shared_events = trio.open_memory_channel[wire.SharedIn](math.inf)
        """What ``_shared`` records, on its way to the core (never blocks the recorder)."""
        self._resyncs: list[wire.Channel] = []
        """Audiences with a gap found while carrying out a batch, to ask a resync for."""
        self._declared_dead = False
        """The core told this edge it declared it dead (``_come_back``)."""
        self._handled_before: Callable[[int], bool] | None = None
        """Which of this edge's input entries the core handled before it declared it dead
        (from the death's ``edge_gone``; None: not said)."""
        self._renamed: tuple[str, Callable[[int], bool] | None] | None = None
        """Set by ``_come_back``: the old name, and which of its entries were handled, for
        ``_send_uplink`` to send again what the core dropped of it."""
        self._shared_queued = 0
        """Shared limit events queued for the uplink that ``_send_uplink`` has not seen."""
        self._limit_log: collections.deque[tuple[int, wire.SharedIn]] = collections.deque(
            maxlen=LIMIT_LOG
        )
        """The latest limit events sent under this name, each with its entry's number."""
        self._sent_open: collections.Counter[str] = collections.Counter()
        """This name's WebSockets as its sent events count them (opened less closed), by
        address: what the core knows of this edge's sockets once it handled them all."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with self._inbox, trio.open_nursery() as nursery:
                await nursery.start(self.link.run)
                nursery.start_soon(self._send_uplink)
                nursery.start_soon(self._receive_downlink)
                nursery.start_soon(self._heartbeat)
                nursery.start_soon(self._send_shared)
                nursery.start_soon(self._watch_core)
                task_status.started()
                async for item in self._inbox:
                    await self._dispatch(item)
                    await self._dispatch_queued()
                nursery.cancel_scope.cancel()
        finally:
            for reply in self._joins.values():
                reply.close()
            for ended in self._leaves.values():
                ended.close()

    # ----------------------------------------------------------------- to the core

    async def _send_uplink(self) -> None:
        """The queued items, as one input entry per turn.  Under each name (at the start,
        and after ``_come_back``) the first entry is the edge's announcement: number 1,
        no item, in the stream before anything else is sent (``EdgeLink.send_inputs``).
        The core handles entries only from the edges it knows as live, so it drops
        whatever a dead edge sends without remembering any (``handled_inputs``)."""
        edge = ""
        while True:
            items = [await self._uplink.receive()]
            while True:
                try:
                    items.append(self._uplink.receive_nowait())
                except trio.WouldBlock:
                    break
            if self.link.edge != edge:
                edge = self.link.edge
                self._uplink_seq = 1
                await self.link.send_inputs(wire.encode_uplink(wire.Uplink(edge, [], 1)))
                if self._renamed is not None:
                    items[:0] = self._limits_again()
            self._uplink_seq += 1
            if self._shared_queued:
                self._note_limits(items, self._uplink_seq)
            entry = wire.Uplink(edge, items, self._uplink_seq)
            await self.link.send_inputs(wire.encode_uplink(entry))

    def _note_limits(self, items: list[wire.UplinkItem], seq: int) -> None:
        """Note the limit events among ``items``, which entry ``seq`` carries."""
        for item in items:
            if type(item) is wire.SharedIn:
                self._shared_queued -= 1
                if item.kind in _COUNTED:
                    self._sent_open[item.a] += 1 if item.kind == "ws_open" else -1
                else:
                    self._limit_log.append((seq, item))
        self._shared_queued = max(self._shared_queued, 0)

    def _limits_again(self) -> list[wire.UplinkItem]:
        """What the core must hear again under the new name, now that the old one is
        dead (``_come_back``): each limit event of an entry it did not handle (dropped:
        it came after the death, or it was never read), and the old name's open
        WebSockets, all of them (the core and the others dropped the old name's counts;
        those closing now are counted down under the new name).  Events queued and not
        sent yet go under the new name as they come, after these."""
        assert self._renamed is not None
        old, handled = self._renamed
        self._renamed = None
        again: list[wire.UplinkItem] = [
            wire.SharedIn("ws_open", address, "")
            for address, count in self._sent_open.items()
            for _ in range(count)
        ]
        if handled is None:
            if self._limit_log:
                log.warning(
                    "the core did not say which entries it handled old=%s: %d limit events "
                    "not sent again",
                    old,
                    len(self._limit_log),
                )
        else:
            again += [item for seq, item in self._limit_log if not handled(seq)]
        self._shared_queued += len(again)  # noted with the entry that carries them
        self._limit_log.clear()
        self._sent_open.clear()
        return again

    def web_limits(self, settings: WebSettings) -> WebLimits:
        """The web application's limits: replicas shared with every other edge through
        the core (``c4actors.cluster.shared_limits``)."""
        shared = SharedLimits(
            SharedLoginThrottle(),
            SharedRegistrationLimit(settings.registrations_per_address),
            SharedConnectionLimits(settings.max_connections, settings.max_per_address),
        )
        shared.connect(self._publish)
        self._shared = shared
        return WebLimits(shared.throttle, shared.registrations, shared.connections)

    def _publish(self, event: SharedEvent) -> None:
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._shared_send.send_nowait(wire.SharedIn(*event))

    async def _send_shared(self) -> None:
        async for item in self._shared_events:
            self._shared_queued += 1  # before it can be taken: ``_note_limits``
            await self._uplink_send.send(item)

    async def _heartbeat(self) -> None:
        while True:
            await self._uplink_send.send(wire.AliveIn())
            await trio.sleep(wire.HEARTBEAT)

    async def _watch_core(self) -> None:
        while True:
            await trio.sleep(wire.HEARTBEAT / 2)
            silent = trio.current_time() - self._core_heard
            if silent > CORE_SILENCE and not self.outage:
                self.outage, self._held = True, 0
                log.warning(
                    "core silent for %.1f s: holding moves and quits, refusing other actions",
                    silent,
                )

    def _refused_in_outage(self, item: LobbyInput) -> bool:
        """During an outage, refuse a socket's request to the lobby at once (True)."""
        if not self.outage:
            return False
        match item:
            case Join(mailbox=mailbox, reply=reply):
                _deliver_refusal(mailbox, "new_connection")
                with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError):
                    reply.send_nowait(SessionDenied())
                reply.close()
            case Request(conn=conn, message=message):
                self._refuse(conn, TYPE_NAMES.get(type(message)))
            case LeaveRequest(request=Request(conn=conn), reply=reply):
                self._refuse(conn, "leave")
                with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError):
                    reply.send_nowait(False)
                reply.close()
            case WatchRequest(conn=conn, watch=watch):
                self._refuse(conn, "watch" if watch else "unwatch")
            case FollowRequest(conn=conn, follow=follow):
                self._refuse(conn, "follow_games" if follow else "unfollow_games")
            case _:
                return False  # departures, colours, queries, shutdown: as always
        return True

    def _refuse(self, conn: int, ref: str | None) -> None:
        mailbox = self._mailboxes.get(conn)
        if mailbox is not None:
            _deliver_refusal(mailbox, ref)

    async def _dispatch_queued(self) -> None:
        """Dispatch what else is queued now, without a checkpoint in between (unless the
        uplink's queue is full): the items the user actors queued in one loop turn then
        reach ``_send_uplink`` together and travel as one input entry.  With a checkpoint
        per item (``receive`` and ``send`` both yield), ``_send_uplink`` woke after the
        first and sent each item as an entry of its own: one XADD per item on the edge
        and one more entry to read and decode on the core."""
        while True:
            try:
                item = self._inbox.receive_nowait()
            except trio.WouldBlock:
                return
            await self._dispatch(item)

    async def _up(self, item: wire.UplinkItem) -> None:
        """Queue ``item`` for the core, yielding only when the queue is full."""
        try:
            self._uplink_send.send_nowait(item)
        except trio.WouldBlock:
            await self._uplink_send.send(item)

    async def _dispatch(self, item: LobbyInput) -> None:
        up = self._up
        if self._refused_in_outage(item):
            return
        match item:
            case Join(event=event, mailbox=mailbox, reply=reply):
                self._mailboxes[event.conn] = mailbox
                self._joins[event.conn] = reply
                await up(
                    wire.JoinIn(
                        event.conn,
                        event.username,
                        event.resume,
                        event.account,
                        event.name_registered,
                    )
                )
            case Disconnected(conn=conn):
                self._mailboxes.pop(conn, None)
                pending = self._joins.pop(conn, None)
                if pending is not None:
                    pending.close()
                leaving = self._leaves.pop(conn, None)
                if leaving is not None:
                    leaving.close()
                for route in self._routes.pop(conn, {}).values():
                    route.closed = True
                await up(wire.LeftIn(conn))
            case Request(conn=conn, message=message):
                await up(wire.RequestIn(conn, encode(message)))
            case LeaveRequest(request=Request(conn=conn), reply=reply):
                self._leaves[conn] = reply
                await up(wire.LeaveIn(conn))
            case WatchRequest(conn=conn, game_id=game_id, watch=watch):
                await up(wire.WatchIn(conn, game_id, watch))
            case FollowRequest(conn=conn, follow=follow):
                await up(wire.FollowIn(conn, follow))
            case ColorChanged(name=name, color=color):
                await up(wire.ColorIn(name, color))
            case SnapshotQuery(reply=users):
                await up(
                    self._ask(
                        "snapshot", lambda value: users.send_nowait(wire.structure_users(value))
                    )
                )
            case OnlineQuery(name=name, reply=online):
                await up(self._ask("online", lambda value: online.send_nowait(bool(value)), name))
            case StatsQuery(reply=stats):
                await up(self._ask("stats", lambda value: stats.send_nowait(LobbyStats(**value))))
            case Shutdown():
                frame = encode(Error(code="server_shutdown", message="the server is restarting"))
                for mailbox in self._mailboxes.values():
                    mailbox.deliver(frame)
                    mailbox.close(CLOSE_GOING_AWAY, "server shutting down")
            case GameEnded() | GameMoved() | TakeOver():
                log.warning("an edge has no games: dropped %r", item)

    def _ask(self, what: Any, answer: Callable[[Any], None], name: str = "") -> wire.QueryIn:
        query = next(self._query_ids)
        item = wire.QueryIn(query, what, name)
        self._queries[query] = (answer, item)
        return item

    def _route(self, conn: int, game_id: str) -> JoinedGame:
        """An inbox for ``conn``'s requests to ``game_id``, forwarded to the core."""
        route = _Route(self, conn, game_id)
        self._routes.setdefault(conn, {})[game_id] = route
        return JoinedGame(game_id, route)

    def forward(self, conn: int, game_id: str, item: GameInput) -> None:
        """Put ``conn``'s request to ``game_id`` on the stream's queue (``_Route``), or
        refuse it during an outage (all but the moves and quits held, up to the limit).
        Raises ``trio.WouldBlock`` when the queue is full: the user actor answers
        ``rate_limited``, as for a game's full inbox."""
        game_item = _game_item(conn, game_id, item)
        if self.outage and isinstance(game_item, wire.GameIn):
            if game_item.action not in ("move", "quit") or self._held >= self.held_limit:
                self._refuse(conn, game_item.action)
                return
            self._uplink_send.send_nowait(game_item)
            self._held += 1
            return
        self._uplink_send.send_nowait(game_item)

    # ----------------------------------------------------------------- from the core

    async def _receive_downlink(self) -> None:
        while True:
            for text in await self.link.receive_frames():
                try:
                    entry = wire.decode_downlink(text)
                except wire.WireError as error:
                    log.warning("skipped a frames entry: %s", error)
                    continue
                self._core_heard = trio.current_time()
                if entry.core == self._core and 0 < entry.seq <= self._core_seq:
                    # Committed again after its reply was lost: carried out already.
                    log.info(
                        "dropped a repeated frames entry core=%s seq=%d", entry.core, entry.seq
                    )
                    continue
                self._core_seq = entry.seq
                if self.outage:
                    self.outage = False
                    log.info("core serving again core=%s held=%d", entry.core, self._held)
                if entry.core != self._core:
                    if self._core:
                        await self._core_changed(entry.core)
                    self._core = entry.core
                # Each frame text framed once for all its sockets here, and written at once
                # to an idle one from this task (``Mailbox.deliver_frame``), as the game
                # actor does in one process: no writer task woken per socket.
                frames = [PreparedFrame(text) for text in entry.frames]
                for op in entry.ops:
                    self._carry_out(op, frames)
                if self._declared_dead:
                    await self._come_back()
                    break  # the rest of the old name's stream is of no use now
            for channel in self._resyncs:
                await self._uplink_send.send(wire.ResyncIn(channel))
            self._resyncs.clear()

    async def _core_changed(self, core: str) -> None:
        """Another core serves now (the standby took over): it restored the sessions, the
        games and the routes from what the old core committed, and it handles the inputs
        the old one left unfinished, so every socket stays open and every pending join
        still gets its answer.  The edge lists its connections (``AttachIn``): the new core
        closes any it does not know (its state was lost), which then join again.  Its
        broadcasts are numbered afresh, and a change the old core had not sent yet is
        lost: the edge asks a resync of each audience (fresh lists to its watchers)."""
        log.warning("the core changed core=%s sessions=%d", core, len(self._mailboxes))
        self._audiences.clear()
        await self._uplink_send.send(wire.AttachIn(sorted(self._mailboxes)))
        for channel in wire.CHANNELS:
            await self._uplink_send.send(wire.ResyncIn(channel))
        if self._shared is not None:
            # The new core knows no edge's sockets: every edge forgets the others' and
            # tells it its own, which it passes on (their closes follow as they come).
            connections = self._shared.connections
            connections.forget_others()
            self._sent_open.clear()  # told afresh, below
            for address, count in connections.counts().items():
                for _ in range(count):
                    self._publish(("ws_open", address, ""))

    async def _come_back(self) -> None:
        """The core declared this edge dead (it heard nothing from it for
        ``wire.EDGE_TIMEOUT``: the edge stood still, or was cut off from Redis), told the
        lobby that each of its connections left, and drops whatever this edge sends under
        its name (``HandledInputs.forget``).  Its sockets would be ghosts: open, their
        pages showing connected, their users not in the lobby.  So each is closed (1012,
        as when the core does not know a connection: the page reconnects with its resume
        token and takes its session and game back, within the grace period), and the edge
        serves on under a new name, a new edge to the core: its inputs numbered from 1
        (its announcement, ``_send_uplink``), a stream of batches of its own; the queries
        still waiting are asked again."""
        old = self.link.edge
        self._renamed = (old, self._handled_before)
        self._handled_before = None
        self.link.rename()
        log.warning(
            "declared dead by the core: closing sockets=%d, serving again as a new edge "
            "old=%s new=%s",
            len(self._mailboxes),
            old,
            self.link.edge,
        )
        self._declared_dead = False
        mailboxes, self._mailboxes = self._mailboxes, {}
        for mailbox in mailboxes.values():
            mailbox.close(CLOSE_SERVICE_RESTART, DECLARED_DEAD)
        for reply in self._joins.values():
            reply.close()
        for ended in self._leaves.values():
            ended.close()
        self._joins, self._leaves = {}, {}
        for routes in self._routes.values():
            for route in routes.values():
                route.closed = True
        self._routes = {}
        self._audiences.clear()
        self._resyncs.clear()
        if self._shared is not None:
            # The others' events since the core declared this edge dead never came: the
            # core sends their counts again in the new edge's first batch.
            self._shared.connections.forget_others()
        for _, item in self._queries.values():
            await self._uplink_send.send(item)

    def _carry_out(self, op: wire.Op, frames: list[PreparedFrame]) -> None:
        conn = op.conn
        match op.op:
            case "deliver":
                mailbox = self._mailboxes.get(conn)
                if mailbox is not None:
                    mailbox.deliver_frame(frames[op.frame])
            case "route":
                mailbox = self._mailboxes.get(conn)
                if mailbox is not None and op.text is not None:
                    mailbox.route(self._route(conn, op.text))
            case "unroute":
                route = self._routes.get(conn, {}).pop(op.text or "", None)
                if route is not None:
                    route.ended = True  # the user actor's next request finds the game over
            case "close":
                mailbox = self._mailboxes.get(conn)
                if mailbox is not None:
                    mailbox.close(op.code, op.text or "")
            case "answer":
                reply = self._joins.pop(conn, None)
                answer: JoinAnswer
                if op.text is None:
                    self._mailboxes.pop(conn, None)
                    answer = SessionDenied()
                elif conn not in self._mailboxes:
                    answer = SessionDenied()
                else:
                    game = None if op.game is None else self._route(conn, op.game)
                    answer = SessionGranted(op.text, game)
                if reply is not None:
                    with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError):
                        reply.send_nowait(answer)
                    reply.close()
            case "left":
                ended = self._leaves.pop(conn, None)
                if op.value:
                    # The session is over; the socket may join again (a new Join).
                    for route in self._routes.pop(conn, {}).values():
                        route.closed = True
                if ended is not None:
                    with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError):
                        ended.send_nowait(bool(op.value))
                    ended.close()
            case "broadcast":
                self._broadcast(op.value, frames[op.frame])
            case "shared":
                self._apply_shared(op)
            case "reply":
                asked = self._queries.pop(conn, None)
                if asked is not None:
                    answer_query = asked[0]
                    with contextlib.suppress(
                        trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
                    ):
                        answer_query(op.value)

    def _apply_shared(self, op: wire.Op) -> None:
        if op.text == self.link.edge and op.value[0] == "edge_gone":
            self._declared_dead = True  # this edge's own name: ``_come_back``
            self._handled_before = handled_by_text(str(op.value[1]), str(op.value[2]))
            return
        shared = self._shared
        if shared is None:
            return
        if op.text is None:
            shared.connections.replace(op.value)
        else:
            kind, a, b = op.value
            shared.apply(op.text, str(kind), str(a), str(b), time.monotonic())

    def _broadcast(self, value: Any, frame: PreparedFrame) -> None:
        """A ``broadcast`` op: the audience brought up to date, then the frame to each.

        Numbers must follow each other: after a gap (a batch never read) the audience is
        unknown, so nothing is delivered until the core, asked once for a resync, has sent
        its connections fresh lists and the whole audience again (``full``)."""
        channel: wire.Channel = value["ch"]
        seq: int = value["seq"]
        audience = self._audiences.setdefault(channel, _Audience())
        if "full" in value:
            audience.conns = set(value["full"])
            audience.resyncing = False
        elif audience.seq is not None and seq == audience.seq + 1:
            audience.conns.difference_update(value["drop"])
            audience.conns.update(value["add"])
        else:
            if not audience.resyncing:
                log.warning(
                    "missed broadcasts channel=%s last=%s seq=%d: asking a resync",
                    channel,
                    audience.seq,
                    seq,
                )
                audience.resyncing = True
                self._resyncs.append(channel)
            audience.seq = None
            return
        audience.seq = seq
        mailboxes = self._mailboxes
        for conn in audience.conns:
            mailbox = mailboxes.get(conn)
            if mailbox is not None:
                mailbox.deliver_frame(frame)


class _RouteStatistics:
    """What the user actor reads of a route (``mailbox.InboxStatistics``): it never holds
    a request, and it is open until the game is over for this connection."""

    __slots__ = ("current_buffer_used", "open_receive_channels")

    def __init__(self, open_receive_channels: int) -> None:
        self.current_buffer_used = 0
        self.open_receive_channels = open_receive_channels


_OPEN: Final = _RouteStatistics(1)
_ENDED: Final = _RouteStatistics(0)


class _Route:
    """A connection's inbox for one game it plays (``mailbox.GameInbox``): each request is
    put on the stream's queue in the caller's task (the user actor's reader, or hypercorn's
    reader through ``UserActor._read_now``).  A forwarder task per route cost a move two
    task steps of its own (woken, then yielding in its ``send``) before the uplink's.

    ``ended``: the core unrouted the game (it is over; like a game's inbox whose actor has
    stopped reading: ``BrokenResourceError``).  ``closed``: the connection is gone or its
    session ended (like a closed sending side: ``ClosedResourceError``)."""

    __slots__ = ("closed", "conn", "ended", "game_id", "relay")

    def __init__(self, relay: EdgeRelay, conn: int, game_id: str) -> None:
        self.relay, self.conn, self.game_id = relay, conn, game_id
        self.ended = False
        self.closed = False

    def send_nowait(self, value: GameInput, /) -> None:
        if self.closed:
            raise trio.ClosedResourceError
        if self.ended:
            raise trio.BrokenResourceError
        self.relay.forward(self.conn, self.game_id, value)

    def statistics(self) -> _RouteStatistics:
        return _ENDED if self.ended or self.closed else _OPEN


class _Audience:
    """One channel's audience on this edge, as of broadcast ``seq`` (None: unknown)."""

    __slots__ = ("conns", "resyncing", "seq")

    def __init__(self) -> None:
        self.conns: set[int] = set()
        self.seq: int | None = None
        self.resyncing = False


def _deliver_refusal(mailbox: Mailbox, ref: str | None) -> None:
    mailbox.deliver(encode(Error(code="server_recovering", message=RECOVERING, ref=ref)))


def _game_item(conn: int, game_id: str, item: GameInput) -> wire.UplinkItem:
    match item:
        case PlayMove(name=name, column=column, ply=ply):
            return wire.GameIn(conn, game_id, name, "move", column=column, ply=ply)
        case QuitGame(name=name):
            return wire.GameIn(conn, game_id, name, "quit")
        case Say(name=name, text=text, sent_at=sent_at):
            return wire.GameIn(conn, game_id, name, "chat", text=text, sent_at=sent_at)
        case GameRequest(event=game_state.DrawOfferRequested(name=name)):
            return wire.GameIn(conn, game_id, name, "offer_draw")
        case GameRequest(event=game_state.DrawAnswerRequested(name=name, accept=accept)):
            return wire.GameIn(conn, game_id, name, "answer_draw", accept=accept)
        case GameRequest(event=game_state.AbortRequested(name=name)):
            return wire.GameIn(conn, game_id, name, "abort")
        case MovedOn():
            return wire.MovedOnIn(conn, game_id)
    raise TypeError(f"not a player's request to a game: {item!r}")
