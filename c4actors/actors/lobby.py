"""The lobby actor: drives the pure ``LobbyState`` and carries out its effects.

It is the only owner of the registry.  Connections and games talk to it through
its inbox; it talks to connections only through their ``Mailbox`` (never awaited,
so a slow client cannot stall the lobby) and starts one ``GameActor`` per game in
its own nursery.

Lobby changes are coalesced by a ``LobbyUpdateBuffer``, which also decides when they
go out (``c4actors.lobby_updates`` states the policy); the actor sleeps until the
buffer's update is due, then encodes it once and delivers it to every watcher.

The list of games in progress (``follow_games``) works the same way beside it: a pure
``LiveGames`` told of starts, ends, spectator counts and the games' move counts
(``GameMoved``, which the game actors send without waiting), its changes coalesced by a
``GameListBuffer`` and delivered, encoded once, to the followers who are not playing.

The core keeps the invitations' deadlines; the actor sleeps until the earliest
(``LobbyState.next_deadline``) as well, and feeds ``Tick`` once it has passed, before
any other event: an answer that reaches the lobby after the deadline finds the invitation
expired.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any, Final, Literal, Protocol, TypeAlias, TypeVar

import attrs
import trio

from c4actors.actors.computer import ComputerPlayer
from c4actors.actors.game import AfterEnd, GameActor
from c4actors.actors.game_inbox import (
    GAME_INBOX_SIZE,
    KNOCK,
    DirectInbox,
    GameInput,
    SeatLeft,
    SeatReturned,
    SpectatorDoor,
    UnwatchGame,
    WatchGame,
)
from c4actors.actors.journal import Journal
from c4actors.actors.mailbox import CLOSE_GOING_AWAY, GameInbox, JoinedGame, Mailbox
from c4actors.actors.snapshot import UserListCache
from c4actors.chat_rules import ChatSettings, Voice
from c4actors.compute_pool import ComputePool
from c4actors.game_record import GameSetup
from c4actors.game_state import Game
from c4actors.live_games import GameListBuffer, GameMoved, GamesChanged, LiveGames
from c4actors.lobby_state import (
    COMPUTER_CONN,
    DEFAULT_INVITATION_TIMEOUT,
    DEFAULT_MAX_GAMES_PER_MINUTE,
    DEFAULT_REMATCH_TIMEOUT,
    CloseConnection,
    ColorChanged,
    Connected,
    Disconnected,
    Effect,
    GameEnded,
    LobbyChanged,
    LobbyState,
    PlayerAway,
    PlayerReturned,
    Request,
    Send,
    SendUserList,
    SessionClosed,
    SessionOpened,
    SessionRefused,
    StartGame,
    Tick,
)
from c4actors.lobby_updates import LobbyUpdateBuffer
from c4actors.metrics import Metrics
from c4actors.move_gate import MoveGate
from c4actors.spectators import (
    DEFAULT_MAX_SPECTATORS,
    DEFAULT_MAX_WATCHING,
    Refusal,
    RematchFollowers,
    Spectators,
)
from c4actors.store import Store
from c4actors.time_controls import DEFAULT_FIRST_MOVE_SECONDS, TimeControlRules
from c4actors.websocket_frames import PreparedFrame
from protocol.codec import encode
from protocol.messages import Error, UserInfo

log = logging.getLogger("c4actors.lobby")

LOBBY_INBOX_SIZE: Final = 4096
LOBBY_BATCH: Final = 64
"""Events the lobby handles in one turn of Trio's scheduler, when that many are waiting.

Trio runs every runnable task once per turn, so under load a task that handles one event
per step gets one event through per turn: with thousands of connections busy playing, a
turn lasts tens of milliseconds and the lobby, one task serving everyone, fell behind the
move path (pairs waited seconds between games; issue 17).  Taking what is already queued,
up to this many, gives it a share in proportion to the users it serves; at about 50 us an
event the step stays near 3 ms."""
FLUSH_CHUNK: Final = 256
"""Watchers a ``lobby_update`` is delivered to in one step; the lobby lets every other
task run between two chunks, so a broadcast to thousands is not one long stall."""
DEFAULT_LIST_LIMIT: Final = 100
_T = TypeVar("_T")


@attrs.frozen
class SessionGranted:
    """Answer to a ``Join``: the session is open under ``name``; when it was resumed in the
    middle of a game, ``game`` routes the connection's moves to that game."""

    name: str
    game: JoinedGame | None = None


@attrs.frozen
class SessionDenied:
    """Answer to a ``Join``: no session (the ``error`` saying why is in the mailbox)."""


JoinAnswer = SessionGranted | SessionDenied


@attrs.frozen
class Join:
    """A socket's ``new_connection``, with the mailbox its frames go to and the channel the
    answer goes to.

    The answer comes back on ``reply``, not through the mailbox, so that the task that
    asked (the connection's reader) is the one that applies it: the writer only writes.
    The lobby answers every ``Join`` it handles, before any frame of the new session can
    be read; a ``Join`` it never handles (the server stopping) has its ``reply`` closed."""

    event: Connected
    mailbox: Mailbox
    reply: trio.MemorySendChannel[JoinAnswer]


@attrs.frozen
class LeaveRequest:
    """A socket's ``leave`` (``request.message`` is ``Leave``), with the channel the answer
    goes to: True when its session ended (``SessionClosed``), False when it was refused.

    Answered on ``reply``, as a ``Join`` is, so that the connection's reader applies the
    answer before it reads the next frame (a ``new_connection`` under another name)."""

    request: Request
    reply: trio.MemorySendChannel[bool]


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
class WatchRequest:
    """Connection ``conn`` sent ``watch`` (``unwatch`` when not ``watch``) for ``game_id``.

    Through the lobby, which knows the games' inboxes and every connection's watching."""

    conn: int
    game_id: str
    watch: bool = True


@attrs.frozen
class FollowRequest:
    """Connection ``conn`` sent ``follow_games`` (``unfollow_games`` when not ``follow``)."""

    conn: int
    follow: bool = True


@attrs.frozen
class TakeOver:
    """This process's core took the lease (``c4actors.cluster``): from now on every change
    of the lobby and of its games is told to ``journal``; with ``saved`` (the previous
    core's ``LobbyState.save``, already on this clock), the lobby carries on from it, its
    connections reached through ``mailboxes`` and each of ``games`` (saved games, also on
    this clock) run again by a game actor reading the inbox given with it; ``audiences``
    says who watched which game and who followed the list of games (``games``: each
    game's ``LobbyActor.save_audience`` data by game id; ``following``: the followers of
    the list of games; ``_restore_audiences`` reads them)."""

    journal: Journal
    saved: dict[str, Any] | None = None
    mailboxes: dict[int, Mailbox] = attrs.field(factory=dict)
    games: list[RestoredGame] = attrs.field(factory=list)
    audiences: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class RestoredGame:
    """A game to run again from its saved state, with the inbox its players' requests
    come to (the core relay routes them) and its chat's voices (None: nobody spoke)."""

    game: Game
    inbox: trio.MemorySendChannel[GameInput]
    receive: trio.MemoryReceiveChannel[GameInput]
    voices: tuple[Voice, Voice] | None = None
    after_end: AfterEnd | None = None
    """Set for a finished game whose chat is still open (its record written, the lobby
    told): only that chat is run again, until it closes."""


@attrs.frozen
class Shutdown:
    """The server is stopping: tell every connection, then close it (1001)."""


Audience: TypeAlias = Literal["lobby", "games"]
"""Who a broadcast goes to: ``lobby``, the watchers (``lobby_update``); ``games``, the
followers of the games list who are not playing (``game_list_update``)."""


class Broadcaster(Protocol):
    """Carries a broadcast's frame to some of its targets and returns the others, which the
    lobby delivers itself.  In one process nothing carries them (``deliver_all``); a
    cluster's core relay takes the connections of the edges, which fan the frame out
    themselves (``c4actors.cluster.core``)."""

    def __call__(self, audience: Audience, frame: str, targets: list[Mailbox]) -> list[Mailbox]: ...


def deliver_all(audience: Audience, frame: str, targets: list[Mailbox]) -> list[Mailbox]:
    """The ``Broadcaster`` of one process: the lobby delivers to every target."""
    return targets


@attrs.frozen
class Resync:
    """A cluster's edge missed broadcasts to ``audience``: each of ``conns`` that is in that
    audience gets a fresh ``user_list`` (``lobby``) or ``game_list`` (``games``), which the
    broadcasts that follow bring up to date as they do a newcomer's."""

    audience: Audience
    conns: list[int]


LobbyInput = (
    Join
    | Disconnected
    | Request
    | LeaveRequest
    | GameEnded
    | ColorChanged
    | SnapshotQuery
    | OnlineQuery
    | StatsQuery
    | WatchRequest
    | FollowRequest
    | GameMoved
    | TakeOver
    | Shutdown
    | Resync
)
ENDED_GAMES_REMEMBERED: Final = 1024
"""Finished games the lobby still recognises, so that watching one is refused ``game_over``
rather than ``unknown_game``."""


class LobbyActor:
    """See the module docstring. Start with ``nursery.start(actor.run)``."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        grace_seconds: float,
        tick: float,
        move_timeout: float = 0.0,
        first_move_seconds: float = DEFAULT_FIRST_MOVE_SECONDS,
        time_controls: TimeControlRules | None = None,
        list_limit: int | None = DEFAULT_LIST_LIMIT,
        max_games_per_minute: int | None = DEFAULT_MAX_GAMES_PER_MINUTE,
        invitation_timeout: float | None = DEFAULT_INVITATION_TIMEOUT,
        chat: ChatSettings | None = None,
        max_spectators: int = DEFAULT_MAX_SPECTATORS,
        max_watching: int = DEFAULT_MAX_WATCHING,
        rematch_timeout: float | None = DEFAULT_REMATCH_TIMEOUT,
        compute: ComputePool | None = None,
        bot_seed: int | None = None,
        move_gate: MoveGate | None = None,
    ) -> None:
        self.store = store
        self.move_gate = move_gate
        """Given to every game: its moves wait their turn at saturation (``move_gate``)."""
        self._own_step: Callable[[], contextlib.AbstractContextManager[None]] = (
            contextlib.nullcontext if move_gate is None else move_gate.lobby_step
        )
        if move_gate is not None:
            move_gate.lobby_work = self.work_waiting
        self.compute = compute
        """Where the computer's moves are computed (None: only its quick fallback moves)."""
        self.bot_seed = bot_seed
        """``serve --bot-seed``: the computer's moves are a function of the position."""
        self._spectators = Spectators(max_spectators, max_watching)
        self._ended: collections.deque[str] = collections.deque(maxlen=ENDED_GAMES_REMEMBERED)
        self.chat = ChatSettings() if chat is None else chat
        self.metrics = metrics
        self.grace_seconds = grace_seconds
        self.move_timeout = move_timeout
        self.first_move_seconds = first_move_seconds
        self.tick = tick
        self.inbox_send, self._inbox = trio.open_memory_channel[LobbyInput](LOBBY_INBOX_SIZE)
        self._config: dict[str, Any] = {
            "list_limit": list_limit,
            "max_games_per_minute": max_games_per_minute,
            "grace_seconds": grace_seconds,
            "invitation_timeout": invitation_timeout,
            "chat": self.chat.enabled,
            "time_controls": time_controls,
            "rematch_timeout": rematch_timeout,
        }
        """What ``LobbyState`` is made with (a restored one too)."""
        self._state = LobbyState(_new_token, _new_game_id, **self._config)
        self._journal: Journal | None = None
        """Told of every change once this process's core holds the lease (``TakeOver``)."""
        self._followers = RematchFollowers(self._state.rematch_possible)
        self._mailboxes: dict[int, Mailbox] = {}
        self._replies: dict[int, trio.MemorySendChannel[JoinAnswer]] = {}
        """The reply of the ``Join`` being handled (one at most)."""
        self._games: dict[str, GameInbox] = {}
        """Each game's inbox (in a cluster's core a ``DirectInbox``: ``_start_game``)."""
        self._doors: dict[str, SpectatorDoor] = {}
        """Each game's watch and unwatch requests, beside its bounded inbox (``_tell_game``)."""
        self._buffer = LobbyUpdateBuffer(tick)
        self._user_list = UserListCache()
        self._live = LiveGames(list_limit)
        """The games in progress as listed to the connections that follow them."""
        self._games_buffer = GameListBuffer(tick)
        self._game_list_frame: str | None = None
        self._moved: dict[str, int] = {}
        """Move counts reported since the last knock was handled (``report_moves``)."""
        self._moves_knocked = False
        """Whether a ``GameMoved`` for the counts waiting is in the inbox."""
        """The encoded ``game_list`` until the list changes (every follow reuses it)."""
        self.broadcast: Broadcaster = deliver_all
        """Set by a cluster's core relay before the actor runs (see ``Broadcaster``)."""
        self._nursery: trio.Nursery | None = None

    def work_waiting(self) -> bool:
        """Whether the lobby path has work in progress: an event queued or in the lobby's
        hands other than the knock for move counts (``GameMoved``, sent after nearly every
        move), or a challenge waiting for its answer.  The move gate holds moves only then
        (``move_gate``), or at saturation.

        An event sent while the lobby waits is handed to it, not queued: the lobby is then
        no longer waiting to receive (``tasks_waiting_receive``), and that counts as one
        event in its hands (or a flush in progress, lobby work too)."""
        stats = self._inbox.statistics()
        in_hand = 0 if stats.tasks_waiting_receive else 1
        knock = 1 if self._moves_knocked else 0
        return stats.current_buffer_used + in_hand > knock or self._state.invitation_pending()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with self._inbox:
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    task_status.started()
                    await self._loop()
                    nursery.cancel_scope.cancel()
            finally:
                self._close_pending_joins()

    def _close_pending_joins(self) -> None:
        """Stopped with ``Join`` items unread: close their replies, so the connections
        waiting for an answer hear that none will come."""
        while True:
            try:
                item = self._inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return
            if isinstance(item, Join | LeaveRequest):
                item.reply.close()

    async def _loop(self) -> None:
        while True:
            item: LobbyInput | None = None
            due = _earliest(self._buffer.due, self._games_buffer.due, self._state.next_deadline())
            try:
                if due is None:
                    item = await self._inbox.receive()
                else:
                    with trio.move_on_at(due):
                        item = await self._inbox.receive()
            except trio.EndOfChannel:
                return
            with self._own_step():  # not the moves' time (``MoveGate.lobby_step``)
                self._handle(item)
                # Whatever else is already queued, up to a batch, in the same step (LOBBY_BATCH).
                for _ in range(LOBBY_BATCH - 1):
                    try:
                        item = self._inbox.receive_nowait()
                    except trio.WouldBlock:
                        break
                    except trio.EndOfChannel:
                        return
                    self._handle(item)
            due = self._buffer.due
            if due is not None and due <= trio.current_time():
                await self._flush()
            due = self._games_buffer.due
            if due is not None and due <= trio.current_time():
                self._flush_games()

    def _handle(self, item: LobbyInput | None) -> None:
        """One event, after any invitation that expired before it (None: only those)."""
        self._expire_invitations()
        if item is not None:
            try:
                self._dispatch(item)
            except Exception:
                # A bug handling one event must not take every player down with it.
                log.exception("lobby failed to handle %r", item)
            if self._journal is not None and isinstance(item, _CHANGES_STATE):
                self._journal.lobby_changed(self._state.take_changed_texts)

    def _expire_invitations(self) -> None:
        deadline = self._state.next_deadline()
        now = trio.current_time()
        if deadline is not None and deadline <= now:
            try:
                self._apply(self._state.handle(Tick(now)))
            except Exception:
                log.exception("lobby failed to expire invitations")
            if self._journal is not None:
                self._journal.lobby_changed(self._state.take_changed_texts)

    def _dispatch(self, item: LobbyInput) -> None:
        match item:
            case Join(event=event, mailbox=mailbox, reply=reply):
                # Registered first, so the effects can reach it; a refusal unregisters it.
                self._mailboxes[event.conn] = mailbox
                self._replies[event.conn] = reply
                try:
                    self._apply(self._state.handle(event))
                finally:
                    # Answered by a session effect; closed unanswered only after a bug.
                    self._replies.pop(event.conn, reply).close()
            case Disconnected(conn=conn):
                name = self._state.name_of(conn)
                self._stop_watching(conn, tell=False)
                if self._live.follows(conn):
                    self._live.unfollow(conn)
                    self._following_changed(conn, False)
                self._apply(self._state.handle(item))
                self._mailboxes.pop(conn, None)
                if name is not None:
                    log.info("user disconnected conn=%d name=%s", conn, name)
            case Request(conn=conn, at=at):
                self.metrics.lobby_wait_seconds.observe(max(0.0, trio.current_time() - at))
                self._apply(self._state.handle(item), answering=(conn, at))
            case ColorChanged():
                self._apply(self._state.handle(item))
            case LeaveRequest(request=request, reply=reply):
                with reply:  # closed unanswered only after a bug
                    effects = self._state.handle(request)
                    self._apply(effects)
                    _answer(reply, any(isinstance(e, SessionClosed) for e in effects))
            case GameEnded(game_id=game_id):
                self._games.pop(game_id, None)
                self._doors.pop(game_id, None)
                watched_by = self._spectators.game_ended(game_id)
                self._ended.append(game_id)
                self._games_changed(self._live.ended(game_id))
                players = self._state.game_players(game_id)
                self._apply(self._state.handle(item))
                swept: list[str] = []
                if players is not None:
                    # Kept while its players may start a rematch: the spectators follow them.
                    swept = self._followers.keep(game_id, players[0], watched_by)
                if watched_by:
                    self._audience_changed(game_id, *swept)
            case WatchRequest():
                self._watch_request(item)
            case FollowRequest(conn=conn, follow=follow):
                self._follow_request(conn, follow)
            case GameMoved():
                self._apply_moves(item)
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
            case TakeOver():
                self._take_over(item)
            case Shutdown():
                frame = encode(Error(code="server_shutdown", message="the server is restarting"))
                for mailbox in self._mailboxes.values():
                    mailbox.deliver(frame)
                    mailbox.close(CLOSE_GOING_AWAY, "server shutting down")
            case Resync(audience=audience, conns=conns):
                self._resync(audience, conns)

    def _resync(self, audience: Audience, conns: list[int]) -> None:
        for conn in conns:
            mailbox = self._mailboxes.get(conn)
            if mailbox is None:
                continue
            if audience == "lobby":
                snapshot = self._state.user_list_for(conn)
                if snapshot is not None:
                    mailbox.deliver(self._user_list.frame(snapshot.own))
            elif self._live.follows(conn) and self._in_lobby(conn):
                mailbox.deliver(self._game_list())

    def _in_lobby(self, conn: int) -> bool:
        """Connected with a session and not playing."""
        name = self._state.name_of(conn)
        return name is not None and self._state.game_of(name) is None

    def _apply(self, effects: list[Effect], answering: tuple[int, float] | None = None) -> None:
        """``answering``: the connection whose request these effects answer and when its
        frame arrived, to time the replies to it (``c4_reply_seconds``)."""
        for effect in effects:
            match effect:
                case Send(conn=conn, message=message):
                    mailbox = self._mailboxes.get(conn)
                    if mailbox is None:
                        continue
                    if isinstance(message, Error):
                        self.metrics.errors.labels(message.code).inc()
                    # Written at once when nothing is queued for the socket (as a game's
                    # frames are): no writer task to wake, so a pair's way to its next game
                    # (challenge, invitation, accept, game_started) is one scheduler turn
                    # shorter each way, and at saturation each turn can be a wave (issue 17).
                    frame = PreparedFrame(encode(message))
                    if answering is not None and answering[0] == conn and answering[1]:
                        if mailbox.deliver_frame(frame, answering[1], "lobby"):
                            self.metrics.messages_out.inc()
                            seconds = max(0.0, trio.current_time() - answering[1])
                            self.metrics.reply_seconds.labels("lobby").observe(seconds)
                    elif mailbox.deliver_frame(frame):
                        self.metrics.messages_out.inc()
                case SessionOpened(conn=conn, name=name, game_id=game_id):
                    self._answer_join(conn, SessionGranted(name, self._route(game_id)))
                    log.info("user connected conn=%d name=%s", conn, name)
                case SessionRefused(conn=conn):
                    del self._mailboxes[conn]
                    self._answer_join(conn, SessionDenied())
                case SessionClosed(conn=conn):
                    self._stop_watching(conn, tell=False)
                    self._mailboxes.pop(conn, None)
                    log.info("user left conn=%d", conn)
                case LobbyChanged():
                    self._buffer.add(effect, trio.current_time())
                    self._user_list.apply(effect)
                case SendUserList(conn=conn, own=own):
                    mailbox = self._mailboxes.get(conn)
                    if mailbox is not None:
                        # At once when nothing is queued before it (``snapshot``: queued,
                        # each newcomer's list left a hole in the heap; issue 5).
                        if mailbox.deliver_frame(self._user_list.prepared(own)):
                            self.metrics.messages_out.inc()
                        if self._live.follows(conn):
                            # Back in the lobby (after a game): the games list afresh too.
                            mailbox.deliver(self._game_list())
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

    def _take_over(self, item: TakeOver) -> None:
        """See ``TakeOver``: the lobby and its games as the previous core left them, from
        before anything this one is asked (the relay sends this before any input)."""
        self._journal = item.journal
        if item.saved is not None:
            self._state = LobbyState.restore(item.saved, _new_token, _new_game_id, **self._config)
            self._followers = RematchFollowers(self._state.rematch_possible)
            # The user_list a newcomer (or a resync) gets starts from the restored users.
            self._user_list = UserListCache()
            listed = LobbyChanged(
                users=tuple(self._state.listed()), online=self._state.user_count()
            )
            self._user_list.apply(listed)
            self._mailboxes = dict(item.mailboxes)
            self._restore_audiences(item.audiences, {g.game.game_id for g in item.games})
            for restored in item.games:
                if restored.after_end is None:
                    self._resume_game(restored)
                else:
                    self._resume_chat(restored)
            log.info(
                "lobby restored users=%d games=%d connections=%d",
                self._state.user_count(),
                len(item.games),
                len(self._mailboxes),
            )
        # Saved by parts from now on: the first take is the whole lobby (a restored one on
        # this process's clock), each later one only what changed.
        self._state.track_changes()
        item.journal.lobby_changed(self._state.take_changed_texts)
        # Rewritten, as the lobby is: what was saved and not restored is deleted with it.
        self._audience_changed(*self._spectators.by_game, *self._followers.by_game)
        for conn in self._live.followers():
            item.journal.following_changed(conn, True)  # rewritten, as the lobby is

    def save_audience(self, game_id: str) -> dict[str, Any] | None:
        """Who watches ``game_id`` (``Spectators``: ``watching``) and, once it is over, the
        spectators kept to follow its players into a rematch (``RematchFollowers``:
        ``rematch``, a player and the connections), as JSON-safe data; None when nobody.
        What a cluster's standby needs for every spectator to go on hearing what they
        heard, one game at a time (``Journal.audience_changed``); the followers of the
        list of games are noted one at a time too (``following_changed``)."""
        audience: dict[str, Any] = {}
        watching = self._spectators.by_game.get(game_id)
        if watching:
            audience["watching"] = sorted(watching)
        kept = self._followers.by_game.get(game_id)
        if kept is not None:
            player, conns = kept
            audience["rematch"] = [player, list(conns)]
        return audience or None

    def _restore_audiences(self, saved: dict[str, Any], games: set[str]) -> None:
        """``TakeOver.audiences``, for the connections restored (a spectator of a game
        that was not restored, ``games``, is dropped: the game ended meanwhile).  Also
        reads ``watching`` and ``rematch`` lists for all games at once, which a core
        saved in one field before the audiences were saved per game
        (``c4actors.cluster.keeper``)."""
        try:
            for game_id, audience in saved.get("games", {}).items():
                if game_id in games:
                    for conn in audience.get("watching", []):
                        if conn in self._mailboxes:
                            self._spectators.watch(int(conn), str(game_id))
                if "rematch" in audience:
                    player, conns = audience["rematch"]
                    self._followers.by_game[str(game_id)] = (str(player), [int(c) for c in conns])
            for conn, watched in saved.get("watching", []):
                if conn in self._mailboxes:
                    for game_id in watched:
                        if game_id in games:
                            self._spectators.watch(int(conn), str(game_id))
            for conn in saved.get("following", []):
                if conn in self._mailboxes:
                    self._live.follow(int(conn))
            for game_id, player, conns in saved.get("rematch", []):
                self._followers.by_game[str(game_id)] = (str(player), [int(c) for c in conns])
        except (AttributeError, TypeError, ValueError) as error:
            log.error("the audiences could not be restored: %r", error)

    def _resume_game(self, restored: RestoredGame) -> None:
        """Run a saved game again (``TakeOver``): the players already have its
        ``game_started`` and their routes; its deadlines are armed again."""
        assert self._nursery is not None
        game = restored.game
        setup = game.setup
        self._games[game.game_id] = restored.inbox
        computer = self._computer(setup, restored.inbox)
        mailboxes: list[Mailbox] = []
        for conn in game.connected():
            if conn == COMPUTER_CONN and computer is not None:
                mailboxes.append(computer.mailbox)
            elif (mailbox := self._mailboxes.get(conn)) is not None:
                mailboxes.append(mailbox)
        self._games_changed(self._live.started(setup))
        self._games_changed(self._live.moved(game.game_id, len(game.board.moves)))
        watching = self._spectators.by_game.get(game.game_id, set())
        spectators = [self._mailboxes[conn] for conn in sorted(watching)]
        self._games_changed(self._live.watched(game.game_id, len(spectators)))
        self._run_game(
            setup,
            mailboxes,
            restored.receive,
            computer,
            restored=game,
            spectators=spectators,
            voices=restored.voices,
        )

    def _resume_chat(self, restored: RestoredGame) -> None:
        """Run a finished game's chat again (``TakeOver``), still open after its end: its
        players who are here, and the spectators who saw its end (kept to follow its
        players into a rematch), hear what is said until it closes."""
        game = restored.game
        mailboxes = [mailbox for conn in game.connected() if (mailbox := self._mailboxes.get(conn))]
        _, watching = self._followers.by_game.get(game.game_id, ("", []))
        spectators = [mailbox for conn in watching if (mailbox := self._mailboxes.get(conn))]
        self._run_game(
            game.setup,
            mailboxes,
            restored.receive,
            None,
            restored=game,
            spectators=spectators,
            voices=restored.voices,
            after_end=restored.after_end,
        )

    def _computer(
        self, setup: GameSetup, inbox: trio.MemorySendChannel[GameInput]
    ) -> ComputerPlayer | None:
        """The computer's seat of a game against it (new or restored alike), else ``None``."""
        seat = setup.computer
        if seat is None:
            return None
        name = setup.player(seat.seat).name
        return ComputerPlayer(
            seat, name, inbox.clone(), self.compute, self.metrics, bot_seed=self.bot_seed
        )

    def _run_game(
        self,
        setup: GameSetup,
        mailboxes: list[Mailbox],
        receive: trio.MemoryReceiveChannel[GameInput],
        computer: ComputerPlayer | None,
        *,
        restored: Game | None = None,
        spectators: list[Mailbox] | None = None,
        voices: tuple[Voice, Voice] | None = None,
        after_end: AfterEnd | None = None,
        direct: DirectInbox | None = None,
    ) -> None:
        """Open the game's spectators' door and start its actor: one place for a new game
        and one restored after a failover, so both run with the same settings.
        ``mailboxes``: the players who are here, seat 1 first (a restored game may have
        fewer than two); a restored game's ``spectators`` and chat ``voices``; ``direct``:
        the game's ``DirectInbox``, told its actor."""
        assert self._nursery is not None
        door = SpectatorDoor()
        if after_end is None:  # a finished game's chat takes no spectators
            self._doors[setup.game_id] = door
        actor = GameActor(
            setup,
            tuple(mailboxes),
            receive,
            self.inbox_send.send,
            self.store,
            self.metrics,
            grace_seconds=self.grace_seconds,
            move_timeout=self.move_timeout,
            chat=self.chat,
            first_move_seconds=self.first_move_seconds,
            progress=self.report_moves,
            computer=computer,
            door=door,
            journal=self._journal,
            move_gate=self.move_gate,
            restored=restored,
            spectators=spectators,
            voices=voices,
            after_end=after_end,
        )
        if direct is not None:
            direct.game = actor
        self._nursery.start_soon(actor.run, name=f"game {setup.game_id}")

    def _watch_request(self, request: WatchRequest) -> None:
        """Route a ``watch`` / ``unwatch`` to its game once ``Spectators`` allows it; refuse
        it here otherwise (the game itself refuses a game that has just ended)."""
        conn, game_id = request.conn, request.game_id
        mailbox = self._mailboxes.get(conn)
        if mailbox is None:
            return
        ref = "watch" if request.watch else "unwatch"
        game = self._games.get(game_id)
        refusal: Refusal | None
        if game is None:
            if game_id in self._ended:
                refusal = Refusal("game_over", "this game is over")
            else:
                refusal = Refusal("unknown_game", "no game in progress has this id")
        elif request.watch:
            refusal = self._spectators.watch(conn, game_id)
        else:
            refusal = self._spectators.unwatch(conn, game_id)
        if refusal is not None:
            self.metrics.errors.labels(refusal.code).inc()
            mailbox.deliver(encode(Error(code=refusal.code, message=refusal.message, ref=ref)))
        elif request.watch:
            count = self._spectators.count(game_id)
            self._tell_game(game_id, WatchGame(mailbox, count))
            self._games_changed(self._live.watched(game_id, count))
            self._audience_changed(game_id)
        else:
            self._tell_game(game_id, UnwatchGame(conn))
            self._games_changed(self._live.watched(game_id, self._spectators.count(game_id)))
            self._audience_changed(game_id)

    def _stop_watching(self, conn: int, *, tell: bool) -> None:
        for game_id in self._spectators.stop_all(conn):
            self._tell_game(game_id, UnwatchGame(conn, tell))
            self._games_changed(self._live.watched(game_id, self._spectators.count(game_id)))
            self._audience_changed(game_id)

    def _following_changed(self, conn: int, following: bool) -> None:
        """A cluster's core saves each follower of the list of games (``TakeOver``)."""
        if self._journal is not None:
            self._journal.following_changed(conn, following)

    def _audience_changed(self, *game_ids: str) -> None:
        """These games' spectators or rematch followers changed: a cluster's core saves
        each of these games' audience (``TakeOver``), and no other game's."""
        if self._journal is not None:
            for game_id in game_ids:
                self._journal.audience_changed(game_id, self.save_audience)

    def _follow_request(self, conn: int, follow: bool) -> None:
        """``follow_games``: the snapshot now, the changes from the next flush on;
        ``unfollow_games``: nothing more (and no answer)."""
        mailbox = self._mailboxes.get(conn)
        if mailbox is None:
            return
        if not follow:
            self._live.unfollow(conn)
            self._following_changed(conn, False)
            return
        self._live.follow(conn)
        self._following_changed(conn, True)
        mailbox.deliver(self._game_list())

    def _game_list(self) -> str:
        if self._game_list_frame is None:
            self._game_list_frame = encode(self._live.snapshot())
        return self._game_list_frame

    def _games_changed(self, change: GamesChanged | None) -> None:
        if change is None:
            return
        self._game_list_frame = None
        self._games_buffer.add(change, trio.current_time())

    def report_moves(self, moved: GameMoved) -> None:
        """A game's move count, from its actor (same thread): never waits.

        The count waits in ``_moved`` (the latest per game), and one ``GameMoved`` in the
        inbox knocks for every count waiting: one item per move put hundreds of counts ahead
        of each challenge in the lobby's FIFO inbox at saturation (issue 17: a challenge
        waited 755 ms there at 500 games, behind a queue 155 deep, 70% of it counts).  A
        knock that does not fit (a full inbox) is tried again by the next report."""
        pending = self._moved
        if pending.get(moved.game_id, -1) < moved.moves:
            pending[moved.game_id] = moved.moves
        if self._moves_knocked:
            return
        with contextlib.suppress(
            trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
        ):
            self.inbox_send.send_nowait(moved)
            self._moves_knocked = True

    def _apply_moves(self, knock: GameMoved) -> None:
        """Every count waiting (``report_moves``), and the knock's own if it came otherwise."""
        pending, self._moved = self._moved, {}
        self._moves_knocked = False
        if pending.get(knock.game_id, -1) < knock.moves:
            pending[knock.game_id] = knock.moves
        self._games_changed(self._live.moved_all(pending))

    def _answer_join(self, conn: int, answer: JoinAnswer) -> None:
        reply = self._replies.pop(conn, None)
        if reply is not None:
            _answer(reply, answer)
            reply.close()

    def _route(self, game_id: str | None) -> JoinedGame | None:
        """A resumed session routes its moves to its game before it reads another frame,
        so a move sent the moment ``welcome`` arrives is not refused."""
        game = None if game_id is None else self._games.get(game_id)
        return None if game_id is None or game is None else JoinedGame(game_id, game)

    def _start_game(self, start: StartGame) -> None:
        assert self._nursery is not None
        send, receive = trio.open_memory_channel[GameInput](GAME_INBOX_SIZE)
        # In a cluster's core the relay hands a game its players' requests in its own task
        # when the game waits idle (``DirectInbox``): no task step of the game's per move.
        direct = None if self._journal is None else DirectInbox(send)
        inbox: GameInbox = send if direct is None else direct
        self._games[start.game_id] = inbox
        computer = self._computer(start.setup, send)
        mailboxes: list[Mailbox] = []
        for conn in (start.conn1, start.conn2):
            if conn == COMPUTER_CONN and computer is not None:
                mailboxes.append(computer.mailbox)
                continue
            mailbox = self._mailboxes[conn]
            # Playing ends their watching (they are told ``unwatched`` before ``game_started``).
            self._stop_watching(conn, tell=True)
            # Routed before the game can send ``game_started``: a player's first move finds it.
            mailbox.route(JoinedGame(start.game_id, inbox))
            mailboxes.append(mailbox)
        self._games_changed(self._live.started(start.setup))
        self._run_game(start.setup, mailboxes, receive, computer, direct=direct)
        if start.setup.rematch_of is not None:
            for conn in self._followers.follow(start.setup.rematch_of):
                self._follow(conn, start)
            self._audience_changed(start.setup.rematch_of, start.game_id)
        log.info(
            "game started game_id=%s player1=%s player2=%s",
            start.game_id,
            start.setup.player1.name,
            start.setup.player2.name,
        )

    def _follow(self, conn: int, start: StartGame) -> None:
        """``conn`` watched the game ``start`` is a rematch of: it watches the rematch now
        (its ``watching`` carries ``rematch_of``), unless it has left, is playing a game
        of its own, or watches as many games as it may."""
        mailbox = self._mailboxes.get(conn)
        name = self._state.name_of(conn)
        if mailbox is None or name is None or self._state.game_of(name) is not None:
            return
        if self._spectators.watch(conn, start.game_id) is None:
            self._tell_game(
                start.game_id, WatchGame(mailbox, self._spectators.count(start.game_id))
            )

    def _tell_game(self, game_id: str, item: GameInput) -> None:
        game = self._games.get(game_id)
        if game is None:
            return
        door = self._doors.get(game_id)
        if door is not None and isinstance(item, WatchGame | UnwatchGame):
            # Never dropped (the lobby bounds them): a burst may outnumber the inbox's room.
            if not door.put(item):
                return  # already knocked for
            item = KNOCK
        try:
            game.send_nowait(item)
        except trio.WouldBlock:
            if item is KNOCK:
                return  # a full inbox: the game opens its door before its next item
            # Connections keep a share of every game inbox free (see the user actor), so
            # this means a game stopped reading: it would be wrong to wait for it.
            log.error("game inbox full, dropped %r for game_id=%s", item, game_id)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _flush(self) -> None:
        """Deliver the pending ``lobby_update`` to every watcher, ``FLUSH_CHUNK`` a step.

        The watchers and their mailboxes are taken before the first chunk: the lobby handles
        no event until the broadcast is out, so nothing it sends later can overtake it, and a
        watcher that leaves meanwhile has a closed mailbox that ``deliver`` skips."""
        update = self._buffer.take()
        if update is None:
            return
        mailboxes = self._mailboxes
        targets = [m for conn in self._state.watchers() if (m := mailboxes.get(conn)) is not None]
        self._buffer.reached(len(targets))
        if not targets:
            return  # nobody to tell (``_flush_games`` says why that is safe)
        frame = encode(update)
        targets = self.broadcast("lobby", frame, targets)
        # Written at once to each idle socket, framed once for all (``deliver_frame``):
        # no writer task to wake per watcher, and an idle user needs none (issue 5).
        prepared = PreparedFrame(frame)
        for start in range(0, len(targets), FLUSH_CHUNK):
            if start:
                await trio.lowlevel.checkpoint()
            self._deliver_all(prepared, targets[start : start + FLUSH_CHUNK])

    def _flush_games(self) -> None:
        """The pending ``game_list_update``, encoded once, to every follower in the lobby
        (a player hears nothing of it until the fresh ``game_list`` after its game).

        With no follower in the lobby the update is dropped unencoded: nobody's frames
        change (a later follower starts from a fresh snapshot, which has every change), and
        a cluster's core sends no broadcast op to every edge for nobody (issue 16: in a
        closed loop of games nobody follows the list, and each tick encoded up to
        ``list_limit`` rows, then went over Redis to each edge, for no one)."""
        if not self._games_buffer:
            return
        targets = [
            mailbox
            for conn in self._live.followers()
            if (mailbox := self._mailboxes.get(conn)) is not None and self._in_lobby(conn)
        ]
        update = self._games_buffer.take()
        self._games_buffer.reached(len(targets))
        if update is None or not targets:
            return
        frame = encode(update)
        self._deliver_all(PreparedFrame(frame), self.broadcast("games", frame, targets))

    def _deliver_all(self, frame: PreparedFrame, targets: list[Mailbox]) -> None:
        """``frame`` to each of ``targets``: written at once where nothing is queued before
        it (counted here as sent; the writer task counts the others)."""
        written = 0
        for mailbox in targets:
            written += mailbox.deliver_frame(frame)
        if written:
            self.metrics.messages_out.inc(written)


_CHANGES_STATE: Final = (Join, Disconnected, Request, LeaveRequest, GameEnded, ColorChanged)
"""The inputs the lobby's state handles (the others only read it, or are the actor's)."""


def _new_token() -> str:
    return secrets.token_urlsafe(18)


def _new_game_id() -> str:
    return secrets.token_urlsafe(12)


def _earliest(*times: float | None) -> float | None:
    known = [time for time in times if time is not None]
    return min(known) if known else None


def _answer(reply: trio.MemorySendChannel[_T], value: _T) -> None:
    """Answer a query without ever blocking the lobby on the asker."""
    with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
        reply.send_nowait(value)
