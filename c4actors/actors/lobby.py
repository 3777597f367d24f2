"""The lobby actor: drives the pure ``LobbyState`` and carries out its effects.

It is the only owner of the registry.  Connections and games talk to it through
its inbox; it talks to connections only through their ``Mailbox`` (never awaited,
so a slow client cannot stall the lobby) and starts one ``GameActor`` per game in
its own nursery.

Lobby changes are coalesced: every ``LobbyChanged`` effect within one tick
(``tick`` seconds after the first change) becomes one ``lobby_update``, encoded once
and delivered to every watcher.  ``tick=0`` sends each change at once.  A change of the
online count alone (users beyond the list limit came or went) waits longer
(``count_tick``): it is worth less than a row, and would otherwise cost a broadcast to
every watcher for every join on a busy server.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from typing import Final, TypeVar

import attrs
import trio

from c4actors.actors.game import (
    GAME_INBOX_SIZE,
    GameActor,
    GameInput,
    SeatLeft,
    SeatReturned,
)
from c4actors.actors.mailbox import (
    CLOSE_GOING_AWAY,
    JoinedGame,
    Mailbox,
    SessionOpened,
    SessionRefused,
)
from c4actors.actors.snapshot import UserListCache
from c4actors.lobby_state import (
    CloseConnection,
    ColorChanged,
    Connected,
    Disconnected,
    Effect,
    GameEnded,
    LobbyChanged,
    LobbyState,
    LobbyUpdateBuffer,
    PlayerAway,
    PlayerReturned,
    Request,
    Send,
    SendUserList,
    StartGame,
)
from c4actors.metrics import Metrics
from c4actors.store import Store
from protocol.codec import encode
from protocol.messages import Error, UserInfo, Welcome

log = logging.getLogger("c4actors.lobby")

LOBBY_INBOX_SIZE: Final = 4096
TICK_PER_WATCHER: Final = 0.00015
COUNT_TICK: Final = 1.0
"""Shortest wait before a count-only ``lobby_update``..."""
COUNT_TICK_PER_WATCHER: Final = 0.005
"""...lengthened by this much per watcher, so count broadcasts stay under ~5% of a core."""
DEFAULT_LIST_LIMIT: Final = 100
_T = TypeVar("_T")


@attrs.frozen
class Join:
    """A socket's ``new_connection``, with the mailbox to answer it on."""

    event: Connected
    mailbox: Mailbox


@attrs.frozen
class SnapshotQuery:
    """Ask for the listed users (``GET /userlist``); the answer goes to ``reply``.

    The listed users, not the whole registry: the endpoint is public, and a request must
    not cost the lobby O(users)."""

    reply: trio.MemorySendChannel[list[UserInfo]]


@attrs.frozen
class OnlineQuery:
    """Ask whether ``name`` (any case) is in the registry, listed or not, connected or away
    (``POST /api/register`` must not take the name of a guest who is playing under it).

    One name, one dictionary lookup: the listed snapshot would miss unlisted users."""

    name: str
    reply: trio.MemorySendChannel[bool]


@attrs.frozen
class LobbyStats:
    """A consistent view of the lobby's size, for health checks and invariant tests."""

    users: int
    games: int
    game_tasks: int
    mailboxes: int


@attrs.frozen
class StatsQuery:
    reply: trio.MemorySendChannel[LobbyStats]


@attrs.frozen
class Shutdown:
    """The server is stopping: tell every connection, then close it (1001)."""


LobbyInput = (
    Join
    | Disconnected
    | Request
    | GameEnded
    | ColorChanged
    | SnapshotQuery
    | OnlineQuery
    | StatsQuery
    | Shutdown
)


class LobbyActor:
    """See the module docstring. Start with ``nursery.start(actor.run)``."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        grace_seconds: float,
        tick: float,
        list_limit: int | None = DEFAULT_LIST_LIMIT,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.grace_seconds = grace_seconds
        self.tick = tick
        self.inbox_send, self._inbox = trio.open_memory_channel[LobbyInput](LOBBY_INBOX_SIZE)
        self._state = LobbyState(
            new_token=lambda: secrets.token_urlsafe(18),
            new_game_id=lambda: secrets.token_urlsafe(12),
            list_limit=list_limit,
        )
        self._mailboxes: dict[int, Mailbox] = {}
        self._games: dict[str, trio.MemorySendChannel[GameInput]] = {}
        self._buffer = LobbyUpdateBuffer()
        self._user_list = UserListCache()
        self._watchers = 0
        """Watchers reached by the last broadcast; sets the tick (``effective_tick``)."""
        self._flush_at = 0.0
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery, self._inbox:
            self._nursery = nursery
            task_status.started()
            await self._loop()
            nursery.cancel_scope.cancel()

    async def _loop(self) -> None:
        while True:
            item: LobbyInput | None = None
            try:
                if self._buffer:
                    with trio.move_on_at(self._flush_at):
                        item = await self._inbox.receive()
                else:
                    item = await self._inbox.receive()
            except trio.EndOfChannel:
                return
            if item is None:
                self._flush()
                continue
            try:
                self._dispatch(item)
            except Exception:
                # A bug handling one event must not take every player down with it.
                log.exception("lobby failed to handle %r", item)
            if self._buffer and self.tick <= 0:
                self._flush()

    def _dispatch(self, item: LobbyInput) -> None:
        match item:
            case Join(event=event, mailbox=mailbox):
                self._mailboxes[event.conn] = mailbox
                self._apply(self._state.handle(event))
                if self._state.name_of(event.conn) is None:
                    del self._mailboxes[event.conn]
                    mailbox.deliver(SessionRefused())
                else:
                    log.info("user connected conn=%d name=%s", event.conn, event.username)
            case Disconnected(conn=conn):
                name = self._state.name_of(conn)
                self._apply(self._state.handle(item))
                self._mailboxes.pop(conn, None)
                if name is not None:
                    log.info("user disconnected conn=%d name=%s", conn, name)
            case Request() | ColorChanged():
                self._apply(self._state.handle(item))
            case GameEnded(game_id=game_id):
                self._games.pop(game_id, None)
                self._apply(self._state.handle(item))
            case SnapshotQuery(reply=reply):
                _answer(reply, self._state.listed())
            case OnlineQuery(name=name, reply=reply):
                _answer(reply, self._state.user_info(name) is not None)
            case StatsQuery(reply=reply):
                stats = LobbyStats(
                    users=self._state.user_count(),
                    games=self._state.game_count(),
                    game_tasks=len(self._games),
                    mailboxes=len(self._mailboxes),
                )
                _answer(reply, stats)
            case Shutdown():
                frame = encode(Error(code="server_shutdown", message="the server is restarting"))
                for mailbox in self._mailboxes.values():
                    mailbox.deliver(frame)
                    mailbox.close(CLOSE_GOING_AWAY, "server shutting down")

    def _apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case Send(conn=conn, message=message):
                    mailbox = self._mailboxes.get(conn)
                    if mailbox is None:
                        continue
                    if isinstance(message, Welcome):
                        mailbox.deliver(SessionOpened(message.username))
                        self._rejoin_game(message.username, mailbox)
                    elif isinstance(message, Error):
                        self.metrics.errors.labels(message.code).inc()
                    mailbox.deliver(encode(message))
                case LobbyChanged():
                    self._schedule_flush(effect)
                    self._buffer.add(effect)
                    self._user_list.apply(effect)
                case SendUserList(conn=conn, own=own):
                    mailbox = self._mailboxes.get(conn)
                    if mailbox is not None:
                        mailbox.deliver(self._user_list.frame(own))
                case StartGame():
                    self._start_game(effect)
                case PlayerAway(game_id=game_id, name=name):
                    self._tell_game(game_id, SeatLeft(name))
                case PlayerReturned(game_id=game_id, name=name, conn=conn):
                    self._tell_game(game_id, SeatReturned(name, self._mailboxes[conn]))
                case CloseConnection(conn=conn, code=code, reason=reason):
                    old = self._mailboxes.pop(conn, None)
                    if old is not None:
                        old.close(code, reason)

    def _schedule_flush(self, change: LobbyChanged) -> None:
        """Set when the pending update goes out: a tick after its first row change, or a
        count tick after a count change if that is all there is."""
        now = trio.current_time()
        if change.count_only:
            if not self._buffer:
                self._flush_at = now + self.count_tick
        elif not self._buffer:
            self._flush_at = now + self.effective_tick
        elif self._buffer.count_only:
            self._flush_at = min(self._flush_at, now + self.effective_tick)

    def _rejoin_game(self, name: str, mailbox: Mailbox) -> None:
        """A resumed session routes its moves to its game before it even sees ``welcome``,
        so a move sent the moment ``welcome`` arrives is not refused."""
        game_id = self._state.game_of(name)
        game = None if game_id is None else self._games.get(game_id)
        if game_id is not None and game is not None:
            mailbox.deliver(JoinedGame(game_id, game))

    def _start_game(self, start: StartGame) -> None:
        assert self._nursery is not None
        send, receive = trio.open_memory_channel[GameInput](GAME_INBOX_SIZE)
        self._games[start.game_id] = send
        mailbox1, mailbox2 = self._mailboxes[start.conn1], self._mailboxes[start.conn2]
        mailbox1.deliver(JoinedGame(start.game_id, send))
        mailbox2.deliver(JoinedGame(start.game_id, send))
        actor = GameActor(
            start.setup,
            (mailbox1, mailbox2),
            receive,
            self.inbox_send.send,
            self.store,
            self.metrics,
            grace_seconds=self.grace_seconds,
        )
        self._nursery.start_soon(actor.run, name=f"game {start.game_id}")
        log.info(
            "game started game_id=%s player1=%s player2=%s",
            start.game_id,
            start.setup.player1.name,
            start.setup.player2.name,
        )

    def _tell_game(self, game_id: str, item: GameInput) -> None:
        game = self._games.get(game_id)
        if game is None:
            return
        try:
            game.send_nowait(item)
        except trio.WouldBlock:
            # Connections keep a share of every game inbox free (see the user actor), so
            # this means a game stopped reading: it would be wrong to wait for it.
            log.error("game inbox full, dropped %r for game_id=%s", item, game_id)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    def _flush(self) -> None:
        update = self._buffer.take()
        if update is None:
            return
        frame = encode(update)
        mailboxes = self._mailboxes
        watchers = 0
        for conn in self._state.watchers():
            mailbox = mailboxes.get(conn)
            if mailbox is not None:
                mailbox.deliver(frame)
                watchers += 1
        self._watchers = watchers

    @property
    def effective_tick(self) -> float:
        """The coalescing tick, lengthened under load: a broadcast costs about 50 us of server
        CPU per watcher, so with many watchers each tick's fan-out is kept to a third of the
        tick (``TICK_PER_WATCHER``), and broadcasts to a third of the core however busy the
        lobby: 2,000 watchers get a tick of 0.3 s, 10,000 of 1.5 s."""
        return max(self.tick, self._watchers * TICK_PER_WATCHER)

    @property
    def count_tick(self) -> float:
        """The wait before a count-only update: a count is worth less than a row, and on a
        busy server every join changes it, so its broadcasts (about 40 us per watcher) are
        kept to a few percent of the core: 1 s up to 200 watchers, 10 s at 2,000, 50 s at
        10,000 (the count also rides along in every row update)."""
        return max(COUNT_TICK, self._watchers * COUNT_TICK_PER_WATCHER)


def _answer(reply: trio.MemorySendChannel[_T], value: _T) -> None:
    """Answer a query without ever blocking the lobby on the asker."""
    with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
        reply.send_nowait(value)
