"""The user actor: one per WebSocket connection, the only code that touches that socket.

Two tasks: the reader decodes frames and routes them (lobby requests to the
lobby's inbox, moves straight to the game's inbox); the writer, started with the actor's
own inbox at the first item queued for the socket (an idle user written to only directly
has neither), sends everything from that inbox to the socket, and nothing else.  The
reader alone owns the connection's routing state: its phase, name and handshake deadline
(``c4actors.connection_phase``, a pure state machine) and its table of games.  It
asks the lobby for a session and waits for the answer itself (``Join.reply``), and
takes the routes of newly started games from the mailbox before each frame.

A player's game requests (a move above all) may be handled one task step sooner, in
hypercorn's task that read the frame (``_read_now``, through ``ClosingWSStream.reader``): only
while the reader is parked waiting for a frame in the lobby phase, so nothing else of the
connection's reading runs meanwhile and no frame overtakes another; the reader's rules (size,
rate, decoding, routing) apply unchanged, and any other frame is left to the reader.

Error handling: bad frames are answered with ``error`` and the connection stays
up.  Frames over ``max_message_bytes`` close it (1009).  Over the rate limit a
message is dropped with ``error rate_limited``; a client that keeps flooding is
closed (1008).  Any unexpected exception closes this connection only (1011) and
is logged.  However the connection ends, the lobby hears ``Disconnected`` once.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from typing import Final, Protocol, TypeAlias

import attrs
import trio

from c4actors import game_state
from c4actors.actors.analyst import AnalysisRequest, Analyst
from c4actors.actors.game_inbox import (
    GAME_INBOX_SIZE,
    GameInput,
    GameRequest,
    MovedOn,
    PlayMove,
    QuitGame,
    Say,
)
from c4actors.actors.lobby import (
    FollowRequest,
    Join,
    JoinAnswer,
    LeaveRequest,
    LobbyInput,
    SessionGranted,
    WatchRequest,
)
from c4actors.actors.mailbox import (
    CLOSE_POLICY,
    CLOSE_TOO_SLOW,
    CloseRequested,
    FlushRequested,
    GameInbox,
    JoinedGame,
    Mailbox,
    Outgoing,
)
from c4actors.connection_phase import (
    Connection,
    Hello,
    Identified,
    Left,
    LookupFailed,
    Opened,
    Phase,
    Refused,
    SessionEnded,
)
from c4actors.limits import UNLIMITED_RECEIVE_BYTES, TokenBucket
from c4actors.lobby_state import (
    AccountInfo,
    Connected,
    Disconnected,
    Request,
    is_valid_username,
)
from c4actors.metrics import Metrics
from c4actors.sessions import Session
from c4actors.store import Account, Store, StoreError
from c4actors.websocket_direct import DirectWriter, Written
from protocol.codec import (
    DEFAULT_MAX_MESSAGE_BYTES,
    ProtocolError,
    decode_client,
    encode,
    frame_size,
)
from protocol.messages import (
    Abort,
    Accept,
    Analyse,
    AnswerDraw,
    AnswerRematch,
    Cancel,
    Challenge,
    Chat,
    Decline,
    Error,
    ErrorCode,
    FollowGames,
    Leave,
    LeaveResult,
    Move,
    NewConnection,
    OfferDraw,
    PlayComputer,
    Quit,
    Rematch,
    Seek,
    UnfollowGames,
    Unseek,
    Unwatch,
    Watch,
)

log = logging.getLogger("c4actors.user")

CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TOO_BIG: Final = 1009
FINISHED_GAMES_REMEMBERED: Final = 64
WRITE_BATCH: Final = 16
"""Most queued items the writer takes at once (one write to the socket when it can)."""
GameMessage: TypeAlias = Move | Quit | Chat | OfferDraw | AnswerDraw | Abort | Analyse
"""The requests about a game, which the reader routes without waiting."""
GAME_MESSAGES: Final = (Move, Quit, Chat, OfferDraw, AnswerDraw, Abort, Analyse)
GAME_INBOX_SHARE: Final = GAME_INBOX_SIZE // 4
"""Most requests one connection may have queued at a game: the rest is kept for the
other player and the lobby, so a flood from one side cannot crowd them out."""


@attrs.frozen(kw_only=True)
class ConnectionSettings:
    inbox_size: int = 256
    handshake_timeout: float = 10.0
    """Seconds a socket may stay open without a session (no accepted ``new_connection``)."""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    """The one limit on a client frame, in UTF-8 bytes (``--max-message-bytes``): over it
    the connection is closed (1009); the codec is given the same limit, and hypercorn twice
    it (``receive_limit``).  0: no limit of its own, only hypercorn's 1 MiB ceiling."""
    rate: float = 20.0
    """Messages per second allowed on average (0: no limit)..."""
    burst: float = 40.0
    """...and in one burst."""
    abuse_limit: int = 100
    """Messages dropped by the rate limit after which the connection is closed."""

    @property
    def frame_limit(self) -> int:
        """The most bytes a client frame may have, as the actor and the codec apply it."""
        return self.max_message_bytes if self.max_message_bytes > 0 else UNLIMITED_RECEIVE_BYTES


class Socket(Protocol):
    """What the actor needs from a WebSocket; ``web.py`` adapts ASGI to it."""

    async def receive(self) -> str | bytes | None:
        """The next message, or None once the peer has closed."""

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class UserActor:
    """Serves one connection until either side closes it; see the module docstring.

    Up to two tasks per connection: the reader (``run`` itself, in hypercorn's task for the
    socket) and the writer, started at the first item queued for it (``Mailbox.open_inbox``):
    a connection written to only directly (``Mailbox.deliver_frame``: its lobby frames,
    its games' when its socket is free) never has one, which saves about 2.5 KiB per idle
    user (the task and its waiting frames; issue 5), nor an inbox (a Trio memory channel,
    made then too: about 1.8 KiB; issue 16).  A third, the closer, is started only
    when another actor (or the reader) asks to close the connection.  An idle connection
    holds no cancel scope of its own either: the handshake deadline is a scope around the
    read only until a session opens.  Every few hundred bytes count with 10,000 idle users;
    so do the slots, and the finished-games record made only when needed.
    """

    __slots__ = (
        "_ended",
        "_finished",
        "_inbox",
        "_nursery",
        "_parked",
        "_writer_done",
        "_writer_finished",
        "_writer_started",
        "analyst",
        "bucket",
        "conn",
        "connection",
        "dropped",
        "games",
        "lobby",
        "mailbox",
        "metrics",
        "session",
        "settings",
        "socket",
        "store",
    )

    def __init__(
        self,
        conn: int,
        socket: Socket,
        lobby: trio.MemorySendChannel[LobbyInput],
        store: Store,
        metrics: Metrics,
        settings: ConnectionSettings,
        *,
        session: Session | None,
        analyst: Analyst | None = None,
        direct: DirectWriter | None = None,
    ) -> None:
        """``direct``: the socket's direct writer, if it has one (``websocket_direct``): shared
        frames (a game's moves) are then written to it at once when nothing is queued."""
        self.conn = conn
        self.analyst = analyst
        self.store = store
        self.metrics = metrics
        self.settings = settings
        self.session = session
        """The session this socket's cookie holds, if any (checked against the account
        when the socket asks to join: it may have ended since it was signed)."""
        self.socket = socket
        self.lobby = lobby
        self.bucket = TokenBucket(settings.rate, settings.burst)
        self.dropped = 0
        self._nursery: trio.Nursery | None = None
        self._inbox: trio.MemoryReceiveChannel[Outgoing] | None = None
        """Made with the writer, at the first item queued (``_open_inbox``)."""
        self._ended = False
        """``run`` is over: nothing is queued any more."""
        self.mailbox = Mailbox(
            conn, None, on_close=self._start_closer, direct=direct, open_inbox=self._open_inbox
        )
        self.connection = Connection.start(trio.current_time(), settings.handshake_timeout)
        """Phase, name and handshake deadline: changed by the reader only."""
        self.games: dict[str, GameInbox] = {}
        """Where this connection's moves go, by game id: changed by the reader only."""
        self._finished: collections.deque[str] | None = None
        """Games this connection played that are over (made at the first one)."""
        self._writer_started = False
        self._writer_finished = False
        self._writer_done: trio.Event | None = None
        self._parked = False
        """The reader waits for the next frame in the lobby phase (``_read_now``)."""

    @property
    def name(self) -> str | None:
        return self.connection.name

    async def run(self) -> None:
        self.metrics.connections.inc()
        reason = "client_closed"
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self._inbox is not None:  # queued before there was a nursery to start it in
                    self._start_writer()
                try:
                    await self._read()
                finally:
                    # Here, not after the nursery: a writer stuck on a client that stopped
                    # reading (hypercorn shields its socket writes) must not delay it.
                    await self._leave_lobby()
                if not self.mailbox.closed:
                    nursery.cancel_scope.cancel()
                # else: the closer is closing the socket, and then cancels the rest.
        except Exception:
            self._nursery = None  # closed: nothing may be started in it any more
            reason = "crashed"
            log.exception("connection crashed conn=%d name=%s", self.conn, self.name)
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self.socket.close(CLOSE_INTERNAL_ERROR, "internal error")
        finally:
            self._nursery = None  # closed to new tasks: a late close request has no closer
            self._ended = True  # no inbox is made from now on: deliveries are refused
            if not self._writer_started and self._inbox is not None:
                self._inbox.close()  # what is delivered from now on is refused, as it was
            self._move_on()
            if self.mailbox.closed and reason != "crashed":
                reason = f"server_closed_{self.mailbox.close_code}"
            self.metrics.connections.dec()
            self.metrics.disconnects.labels(reason).inc()
            if self.connection.phase is not Phase.CLOSED:
                await self._leave_lobby()

    async def _leave_lobby(self) -> None:
        """The connection is over: tell the lobby if it may know of it."""
        self.connection = self.connection.apply(Left())
        if not self.connection.lobby_knows:
            return
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(5),
            # The lobby is already gone when the whole server is stopping.
            contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
        ):
            await self.lobby.send(Disconnected(self.conn))

    # ----------------------------------------------------------------- reading

    async def _read(self) -> None:
        """Read until the peer closes, or a close is asked for (the closer cancels this)."""
        stream = None if self.mailbox.direct is None else self.mailbox.direct.stream
        if stream is not None:
            stream.reader = self._read_now
        try:
            await self._read_frames()
        finally:
            self._parked = False
            if stream is not None:
                stream.reader = None

    async def _read_frames(self) -> None:
        settings = self.settings
        while True:
            if self.connection.phase is Phase.AWAITING_HELLO:
                with trio.move_on_at(self.connection.deadline) as waiting:
                    frame = await self.socket.receive()
                if waiting.cancelled_caught:
                    self.mailbox.close(CLOSE_POLICY, "no new_connection received in time")
                    return
            else:
                self._parked = self.connection.phase is Phase.IN_LOBBY
                try:
                    frame = await self.socket.receive()
                finally:
                    self._parked = False
            if frame is None:
                return
            for joined in self.mailbox.take_routes():
                self._joined_game(joined)
            received_at = trio.current_time()
            self.metrics.messages_in.inc()
            limit = settings.frame_limit
            if frame_size(frame, limit) > limit:
                self.mailbox.close(CLOSE_TOO_BIG, f"message too large: the limit is {limit} bytes")
                return
            if not self.bucket.take(received_at):
                self.metrics.rate_limited.inc()
                self.dropped += 1
                if self.dropped >= settings.abuse_limit:
                    self.mailbox.close(CLOSE_POLICY, "too many messages: rate limit exceeded")
                    return
                self._error("rate_limited", "too many messages: slow down (this one was dropped)")
                continue
            if isinstance(frame, bytes):
                self._error("bad_message", "binary frames are not supported; send JSON text")
                continue
            try:
                message = decode_client(frame, limit)
            except ProtocolError as error:
                self._error(error.code, error.message)
                continue
            match message:
                case NewConnection(username=username, resume=resume):
                    if self.connection.phase is Phase.IN_LOBBY:
                        self._error("already_connected", "this socket already has a session")
                        continue
                    if not await self._join(username, resume):
                        return
                case (
                    Challenge()
                    | Cancel()
                    | Accept()
                    | Decline()
                    | Seek()
                    | Unseek()
                    | Rematch()
                    | AnswerRematch()
                    | LeaveResult()
                    | PlayComputer()
                ):
                    if self._check_connected() and not await self._to_lobby(
                        Request(self.conn, message, received_at)
                    ):
                        return
                case Leave():
                    if self._check_connected() and not await self._leave(
                        Request(self.conn, message, received_at)
                    ):
                        return
                case Move() | Quit() | Chat() | OfferDraw() | AnswerDraw() | Abort() | Analyse():
                    if self._check_connected():
                        self._game_request(message, received_at)
                case Watch(game_id=game_id) | Unwatch(game_id=game_id):
                    watch = isinstance(message, Watch)
                    if self._check_connected() and not await self._to_lobby(
                        WatchRequest(self.conn, game_id, watch)
                    ):
                        return
                case FollowGames() | UnfollowGames():
                    follow = isinstance(message, FollowGames)
                    if self._check_connected() and not await self._to_lobby(
                        FollowRequest(self.conn, follow)
                    ):
                        return

    def _game_request(self, message: GameMessage, received_at: float) -> None:
        """Route a request about a game (the connection has a session)."""
        assert self.name is not None
        match message:
            case Move(game_id=game_id, column=column, ply=ply):
                move = PlayMove(self.mailbox, self.name, column, received_at, ply)
                self._to_game(game_id, move, "move")
            case Quit(game_id=game_id):
                self._to_game(game_id, QuitGame(self.mailbox, self.name), "quit")
            case Chat(game_id=game_id, text=text):
                say = Say(self.mailbox, self.name, text, time.time())
                self._to_game(game_id, say, "chat")
            case OfferDraw(game_id=game_id):
                offer = game_state.DrawOfferRequested(self.conn, self.name)
                self._to_game(game_id, GameRequest(self.mailbox, offer), "offer_draw")
            case AnswerDraw(game_id=game_id, accept=accept):
                answer = game_state.DrawAnswerRequested(self.conn, self.name, accept)
                self._to_game(game_id, GameRequest(self.mailbox, answer), "answer_draw")
            case Abort(game_id=game_id):
                abort = game_state.AbortRequested(self.conn, self.name)
                self._to_game(game_id, GameRequest(self.mailbox, abort), "abort")
            case Analyse(game_id=game_id):
                if self.analyst is None:
                    self._error("busy", "analyses are off on this server", "analyse")
                else:
                    self.analyst.request(AnalysisRequest(self.mailbox, self.name, game_id))

    def _read_now(self, frame: str) -> bool:
        """Handle ``frame`` now, in the task that read it from the socket, if the reader is
        parked waiting for it in the lobby phase and it is a game request that the reader
        would route without waiting (``_game_request``) and without closing the connection;
        False, and nothing done, otherwise: the reader gets it as usual.  The same steps
        as the reader's, in its order (routes, then the size, the rate, the decoding)."""
        if not self._parked or self.mailbox.closed:
            return False
        limit = self.settings.frame_limit
        now = trio.current_time()
        if frame_size(frame, limit) > limit or not self.bucket.has_token(now):
            return False
        try:
            message = decode_client(frame, limit)
        except ProtocolError:
            return False
        if not isinstance(message, GAME_MESSAGES):
            return False
        try:
            for joined in self.mailbox.take_routes():
                self._joined_game(joined)
            self.metrics.messages_in.inc()
            self.bucket.take(now)
            self._game_request(message, now)
        except Exception:
            # Not in the reader's task: this connection alone is closed, as the reader's
            # own failure would close it.
            log.exception("connection crashed conn=%d name=%s", self.conn, self.name)
            self.mailbox.close(CLOSE_INTERNAL_ERROR, "internal error")
        return True

    async def _join(self, username: str, resume: str | None) -> bool:
        """Ask for a session and apply the lobby's answer, here in the reader: no frame is
        read before it is known.  False when the lobby is gone (the server is stopping)."""
        self.connection = self.connection.apply(Hello())
        try:
            joining = await self._identify(username, resume)
        except StoreError:
            log.exception("account lookup failed conn=%d", self.conn)
            self._error("store_unavailable", "accounts are unavailable, try again")
            self.connection = self.connection.apply(LookupFailed())
            return True
        self.connection = self.connection.apply(Identified())
        reply, answers = trio.open_memory_channel[JoinAnswer](1)
        with answers:
            if not await self._to_lobby(Join(joining, self.mailbox, reply)):
                return False
            try:
                answer = await answers.receive()
            except trio.EndOfChannel:
                return False
        if isinstance(answer, SessionGranted):
            self.connection = self.connection.apply(Opened(answer.name))
            if answer.game is not None:
                self._joined_game(answer.game)
        else:
            self.connection = self.connection.apply(Refused(trio.current_time()))
        return True

    async def _leave(self, request: Request) -> bool:
        """Ask the lobby to end the session (``leave``) and apply its answer here, before the
        next frame is read: a ``new_connection`` right behind it finds no session.  False
        when the lobby is gone (the server is stopping)."""
        reply, answers = trio.open_memory_channel[bool](1)
        with answers:
            if not await self._to_lobby(LeaveRequest(request, reply)):
                return False
            try:
                ended = await answers.receive()
            except trio.EndOfChannel:
                return False
        if ended:
            self._move_on()  # off the result screen of a game whose chat lingers
            for game_id in list(self.games):
                self._forget_game(game_id)  # the next session is someone else's
            self.connection = self.connection.apply(SessionEnded(trio.current_time()))
        return True

    async def _to_lobby(self, item: LobbyInput) -> bool:
        """Send to the lobby; False when it is gone (the server is stopping)."""
        try:
            await self.lobby.send(item)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    async def _identify(self, username: str, resume: str | None) -> Connected:
        """Look the accounts up here, in this connection's task, so the lobby never waits."""
        signed_in = None
        if self.session is not None:
            signed_in = await self.store.get_account(self.session.name)
            if signed_in is not None and not self.session.is_current(signed_in):
                signed_in = None  # signed out (everywhere) since this cookie was signed
        if signed_in is not None:
            return Connected(self.conn, username, resume, _account_info(signed_in))
        registered = is_valid_username(username) and (
            await self.store.get_account(username) is not None
        )
        return Connected(self.conn, username, resume, name_registered=registered)

    def _check_connected(self) -> bool:
        if self.connection.phase is not Phase.IN_LOBBY:
            self._error("not_connected", "send new_connection first")
            return False
        return True

    def _to_game(self, game_id: str, item: GameInput, ref: str) -> None:
        game = self.games.get(game_id)
        if game is None:
            if self._finished is not None and game_id in self._finished:
                self._error("game_over", "this game is over", ref)
            else:
                self._error("unknown_game", "you are not playing in this game", ref)
            return
        if game.statistics().current_buffer_used >= GAME_INBOX_SHARE:
            self._error("rate_limited", "too many requests in flight; wait for replies", ref)
            return
        try:
            game.send_nowait(item)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._forget_game(game_id)
            self._error("game_over", "this game is over", ref)
        except trio.WouldBlock:
            self._error("rate_limited", "too many requests in flight; wait for replies", ref)

    def _error(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        self.metrics.errors.labels(code).inc()
        self.mailbox.deliver(encode(Error(code=code, message=message, ref=ref)))

    # ----------------------------------------------------------------- writing

    async def _write(self) -> None:
        """Write the inbox's items to the socket, in order, reporting each written.

        With a direct writer (``websocket_direct``), the messages queued when the writer
        wakes (``WRITE_BATCH`` at most) are written together with one system call, past
        hypercorn's send path; whatever the socket cannot take now goes the usual way, in
        order.  The items taken are at most ``WRITE_BATCH`` beyond the inbox's bound, so a
        client that does not read still fills the inbox and is dropped (``CLOSE_TOO_SLOW``).
        """
        # ``receive`` rather than ``async for``: one coroutine frame less held by every idle
        # connection's writer while it waits.
        inbox = self._inbox
        assert inbox is not None  # started only once it is made (``_open_inbox``)
        receive = inbox.receive
        direct = self.mailbox.direct
        position = 0
        try:
            async with inbox:
                while True:
                    try:
                        item = await receive()
                    except trio.EndOfChannel:
                        return
                    items = [item] if direct is None else self._with_queued(inbox, item)
                    index = 0
                    while index < len(items):
                        item = items[index]
                        if isinstance(item, CloseRequested):
                            return
                        if isinstance(item, FlushRequested):
                            if direct is not None:
                                await direct.flush()
                            done = 1
                        else:
                            texts = [item]
                            for later in items[index + 1 :]:
                                if not isinstance(later, str):
                                    break
                                texts.append(later)
                            await self._send_texts(texts, direct)
                            done = len(texts)
                        for _ in range(done):
                            position += 1
                            self._report_written(position)
                        index += done
        finally:
            self._writer_finished = True
            if self._writer_done is not None:
                self._writer_done.set()

    def _open_inbox(self) -> trio.MemorySendChannel[Outgoing] | None:
        """The first item is being queued for the socket (``Mailbox.open_inbox``): make the
        inbox and start the writer task; None once the connection is over (refused)."""
        if self._ended:
            return None
        send, self._inbox = trio.open_memory_channel[Outgoing](self.settings.inbox_size)
        self._start_writer()
        return send

    def _start_writer(self) -> None:
        """Something is queued for the socket: start the writer task, once (it then stays)."""
        if not self._writer_started and self._nursery is not None:
            try:
                self._nursery.start_soon(self._write)
            except RuntimeError:
                # Closed to new arrivals: the connection's last task has just ended and
                # ``run`` has not yet resumed to clear ``_nursery`` (another actor's step can
                # come in between).  Nothing is written any more: ``run`` closes the inbox.
                return
            self._writer_started = True

    @staticmethod
    def _with_queued(inbox: trio.MemoryReceiveChannel[Outgoing], item: Outgoing) -> list[Outgoing]:
        """``item`` and the items queued behind it in ``inbox``, ``WRITE_BATCH`` at most."""
        items = [item]
        take = inbox.receive_nowait
        while len(items) < WRITE_BATCH and isinstance(item, str):
            try:
                item = take()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            items.append(item)
        return items

    async def _send_texts(self, texts: list[str], direct: DirectWriter | None) -> None:
        """Send these frames, in order: directly in one write when the socket takes them now
        (a part it did not take is finished before anything else), else through hypercorn."""
        written = Written.NOTHING if direct is None else direct.write_texts_nowait(texts)
        if written is Written.PART:
            assert direct is not None
            await direct.flush()
        elif written is Written.NOTHING:
            for text in texts:
                await self.socket.send(text)
        self.metrics.messages_out.inc(len(texts))

    def _report_written(self, position: int) -> None:
        """Tell the mailbox its ``position``-th item is on the socket; time it if it was a
        stamped reply."""
        reply = self.mailbox.written(position)
        if reply is not None:
            answers, path = reply
            seconds = trio.current_time() - answers
            self.metrics.reply_seconds.labels(path).observe(max(0.0, seconds))

    def _joined_game(self, joined: JoinedGame) -> None:
        for game_id, game in list(self.games.items()):
            if game.statistics().open_receive_channels == 0:
                self._forget_game(game_id)
        self._move_on()
        self.games[joined.game_id] = joined.game_inbox

    def _move_on(self) -> None:
        """Tell the games still open (finished ones whose chat lingers) that this connection
        has left their result screen: it started another game, or it is closing."""
        for game in self.games.values():
            with contextlib.suppress(
                trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
            ):
                game.send_nowait(MovedOn(self.conn))

    def _forget_game(self, game_id: str) -> None:
        if self.games.pop(game_id, None) is not None:
            if self._finished is None:
                self._finished = collections.deque(maxlen=FINISHED_GAMES_REMEMBERED)
            self._finished.append(game_id)

    def _start_closer(self) -> None:
        """``Mailbox.close`` was called: start the task that closes the socket."""
        if self._nursery is not None:
            # Closed to new arrivals (see ``_start_writer``): the connection is over anyway.
            with contextlib.suppress(RuntimeError):
                self._nursery.start_soon(self._close_as_asked)

    async def _close_as_asked(self) -> None:
        """Close the socket as the lobby, a game or the reader asked: after what was queued
        before the request, unless the client is too slow to wait for; then end the reader
        and the writer."""
        assert self._nursery is not None
        cancel_scope = self._nursery.cancel_scope
        writing = self._writer_started and not self._writer_finished
        if self.mailbox.close_code != CLOSE_TOO_SLOW and writing:
            self._writer_done = trio.Event()
            with trio.move_on_after(1):
                await self._writer_done.wait()
        # Cancelling ends the reader, which tells the lobby at once (``run``), even while
        # the writer is stuck on a client that stopped reading.
        cancel_scope.cancel()
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await self.socket.close(self.mailbox.close_code, self.mailbox.close_reason)
        log.info(
            "connection closed by server conn=%d name=%s code=%d reason=%s",
            self.conn,
            self.name,
            self.mailbox.close_code,
            self.mailbox.close_reason,
        )


def _account_info(account: Account) -> AccountInfo:
    return AccountInfo(
        name=account.name,
        color=account.color,
        wins=account.wins,
        losses=account.losses,
        draws=account.draws,
    )
