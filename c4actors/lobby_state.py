"""The lobby's rules as a sans-io state machine: who is online, who invited whom, who plays.

``LobbyState.handle(event)`` takes one event (a connection opened or closed, a
challenge request, a game's end, ...) and returns the effects to carry out: messages
for connections, games to start, lobby changes to broadcast.  It owns no socket, no
task and no clock, so the Trio lobby actor drives it today and a multi-process
(Redis) lobby can drive the very same object later; the property tests run it
through millions of event sequences without any I/O.

Guarantees, checked by ``tests/test_lobby_state.py`` after every step:

* user states are pairwise consistent (A INVITATION_SENT to B iff B
  INVITATION_RECEIVED from A; A PLAYING with B iff B PLAYING with A in one game);
* a user has at most one pending invitation and at most one game;
* a refused event returns only an ``Send(conn, Error)`` and changes nothing;
* replaying the emitted ``LobbyChanged`` effects on a copy of the first snapshot
  reproduces ``snapshot()`` exactly.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterator
from typing import Final, TypeAlias

import attrs

from c4actors.colors import assign_colors, css_colors
from protocol.messages import (
    Accept,
    Cancel,
    Challenge,
    Colors,
    Decline,
    Error,
    Invitation,
    InvitationCancelled,
    InvitationDeclined,
    InvitationSent,
    LobbyUpdate,
    ServerMessage,
    UserInfo,
    UserState,
    Welcome,
)

ConnId: TypeAlias = int
"""Identifies one socket. A user keeps their name across sockets (reloads), not their id."""

USERNAME_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,24}")
USERNAME_RULE: Final = "1-24 characters: letters, digits, '_' and '-'"

AVAILABLE: Final = "AVAILABLE"
INVITATION_SENT: Final = "INVITATION_SENT"
INVITATION_RECEIVED: Final = "INVITATION_RECEIVED"
PLAYING: Final = "PLAYING"

CLOSE_TAKEN_OVER: Final = 4000
"""Close code for a socket whose session was taken over by a newer one (a reload)."""


def is_valid_username(name: str) -> bool:
    return USERNAME_RE.fullmatch(name) is not None


# --------------------------------------------------------------------------- events


@attrs.frozen
class AccountInfo:
    """A registered account as the lobby needs it (looked up before ``Connected``)."""

    name: str
    color: str
    wins: int = 0
    losses: int = 0
    draws: int = 0


@attrs.frozen
class Connected:
    """A socket sent ``new_connection``. ``resume`` is the token it offered, if any.

    ``account`` is the account the socket is signed in to (its session cookie), if
    any; ``name_registered`` says whether ``username`` belongs to an account, so a
    guest can be refused a registered name.
    """

    conn: ConnId
    username: str
    resume: str | None = None
    account: AccountInfo | None = None
    name_registered: bool = False


@attrs.frozen
class Disconnected:
    """A socket closed (for any reason). Unknown or superseded sockets are ignored."""

    conn: ConnId


@attrs.frozen
class Request:
    """A lobby request (challenge, cancel, accept, decline) from a socket."""

    conn: ConnId
    message: Challenge | Cancel | Accept | Decline


@attrs.frozen
class GameEnded:
    """A game actor finished its game. ``winner`` is None for a draw or an aborted game;
    an aborted game (a crash, a shutdown) changes nobody's record."""

    game_id: str
    winner: str | None
    aborted: bool = False
    recorded: bool = True
    """False when the store failed to save the result: registered players' records, which
    mirror the store, then stay as they were."""


@attrs.frozen
class ColorChanged:
    """A registered user picked another colour (it applies from their next game)."""

    name: str
    color: str


Event: TypeAlias = Connected | Disconnected | Request | GameEnded | ColorChanged


# --------------------------------------------------------------------------- effects


@attrs.frozen
class Send:
    """Deliver ``message`` to the socket ``conn``."""

    conn: ConnId
    message: ServerMessage


@attrs.frozen
class SendUserList:
    """Deliver a ``user_list`` snapshot of the whole lobby to ``conn``.

    Not a ``Send`` with the users in it: building that list for every join would make
    joining O(users).  The actor keeps the lobby's encoded rows from the ``LobbyChanged``
    effects instead, which always come before this effect within one event."""

    conn: ConnId


@attrs.frozen
class LobbyChanged:
    """Users joined or changed (``users``, their current info) or left (``left``).

    The actor coalesces these into ``lobby_update`` broadcasts (see ``LobbyUpdateBuffer``).
    """

    users: tuple[UserInfo, ...] = ()
    left: tuple[str, ...] = ()


@attrs.frozen
class StartGame:
    """Start a game actor; ``player1`` (the challenged user) moves first."""

    game_id: str
    player1: str
    player2: str
    conn1: ConnId
    conn2: ConnId
    color1: str = "red"
    color2: str = "yellow"
    registered1: bool = False
    registered2: bool = False

    @property
    def colors(self) -> Colors:
        return css_colors(self.color1, self.color2)


@attrs.frozen
class PlayerAway:
    """A playing user's socket dropped: their game starts the grace period."""

    game_id: str
    name: str


@attrs.frozen
class PlayerReturned:
    """A playing user is back on socket ``conn``: their game resends its state there."""

    game_id: str
    name: str
    conn: ConnId


@attrs.frozen
class CloseConnection:
    """Close socket ``conn`` (its session moved to a newer socket)."""

    conn: ConnId
    code: int
    reason: str


Effect: TypeAlias = (
    Send | SendUserList | LobbyChanged | StartGame | PlayerAway | PlayerReturned | CloseConnection
)


# --------------------------------------------------------------------------- state


@attrs.define
class _User:
    name: str
    token: str
    conn: ConnId | None
    """None while the user is away (socket dropped mid-game, inside the grace period)."""
    state: UserState = AVAILABLE
    peer: str | None = None
    """Key of the other side of the pending invitation or game."""
    game_id: str | None = None
    wins: int = 0
    losses: int = 0
    draws: int = 0
    registered: bool = False
    color: str | None = None
    """A registered user's preferred colour; None for guests."""

    def info(self) -> UserInfo:
        return UserInfo(
            name=self.name,
            state=self.state,
            wins=self.wins,
            losses=self.losses,
            draws=self.draws,
            registered=self.registered,
        )

    def reset(self) -> None:
        self.state = AVAILABLE
        self.peer = None
        self.game_id = None


def _key(name: str) -> str:
    """Names are unique case-insensitively but shown as given."""
    return name.casefold()


class LobbyState:
    """Registry of users, invitations and games; see the module docstring.

    ``new_token`` and ``new_game_id`` are injected so that the object stays
    deterministic under test while the server passes ``secrets``-based factories.
    """

    def __init__(self, new_token: Callable[[], str], new_game_id: Callable[[], str]) -> None:
        self._new_token = new_token
        self._new_game_id = new_game_id
        self._users: dict[str, _User] = {}
        self._conns: dict[ConnId, str] = {}
        self._games: dict[str, tuple[str, str]] = {}

    # ----------------------------------------------------------------- queries

    def snapshot(self) -> list[UserInfo]:
        """The whole lobby as a ``user_list`` carries it."""
        return [user.info() for user in self._users.values()]

    def watchers(self) -> Iterator[ConnId]:
        """Sockets that receive lobby updates: connected users who are not playing."""
        for user in self._users.values():
            if user.conn is not None and user.state != PLAYING:
                yield user.conn

    def name_of(self, conn: ConnId) -> str | None:
        key = self._conns.get(conn)
        return None if key is None else self._users[key].name

    def user_count(self) -> int:
        return len(self._users)

    def game_count(self) -> int:
        return len(self._games)

    def game_players(self, game_id: str) -> tuple[str, str] | None:
        keys = self._games.get(game_id)
        return None if keys is None else (self._users[keys[0]].name, self._users[keys[1]].name)

    def user_info(self, name: str) -> UserInfo | None:
        user = self._users.get(_key(name))
        return None if user is None else user.info()

    def peer_of(self, name: str) -> str | None:
        user = self._users.get(_key(name))
        if user is None or user.peer is None:
            return None
        return self._users[user.peer].name

    def game_of(self, name: str) -> str | None:
        user = self._users.get(_key(name))
        return None if user is None else user.game_id

    def is_away(self, name: str) -> bool:
        user = self._users.get(_key(name))
        return user is not None and user.conn is None

    # ----------------------------------------------------------------- events

    def handle(self, event: Event) -> list[Effect]:
        """Apply one event; return the effects to carry out, in order."""
        match event:
            case Connected():
                return self._connect(event)
            case Disconnected(conn=conn):
                return self._disconnect(conn)
            case Request(conn=conn, message=message):
                key = self._conns.get(conn)
                if key is None:
                    return [_error(conn, "not_connected", "send new_connection first")]
                return self._request(conn, self._users[key], message)
            case GameEnded():
                return self._game_ended(event)
            case ColorChanged(name=name, color=color):
                user = self._users.get(_key(name))
                if user is not None and user.registered:
                    user.color = color
                return []

    def _connect(self, event: Connected) -> list[Effect]:
        conn, name = event.conn, event.username
        ref = "new_connection"
        if conn in self._conns:
            return [_error(conn, "already_connected", "this socket already has a session", ref)]
        if not is_valid_username(name):
            return [_error(conn, "invalid_name", f"invalid name: {USERNAME_RULE}", ref)]
        key = _key(name)
        user = self._users.get(key)
        if user is not None and _token_matches(event.resume, user.token):
            # The token proves the session, whatever happened to the name meanwhile.
            return self._resume(conn, key, user)
        account = event.account
        if account is not None and _key(account.name) != key:
            text = f"you are signed in as {account.name}: connect under that name or sign out"
            return [_error(conn, "account_mismatch", text, ref)]
        if account is None and event.name_registered:
            text = f"{name!r} is a registered name: sign in to use it"
            return [_error(conn, "name_registered", text, ref)]
        if user is None:
            user = _User(name=name, token=self._new_token(), conn=conn)
            if account is not None:
                user.name, user.registered, user.color = account.name, True, account.color
                user.wins, user.losses, user.draws = account.wins, account.losses, account.draws
            self._users[key] = user
            self._conns[conn] = key
            welcome = Welcome(username=user.name, resume=user.token, account=user.registered)
            return [
                Send(conn, welcome),
                LobbyChanged(users=(user.info(),)),
                SendUserList(conn),
            ]
        return [_error(conn, "name_taken", f"the name {user.name!r} is already online", ref)]

    def _resume(self, conn: ConnId, key: str, user: _User) -> list[Effect]:
        """A valid token takes the session over, even from a socket that is still open."""
        effects: list[Effect] = []
        if user.conn is not None:
            del self._conns[user.conn]
            reason = "session resumed on another connection"
            effects.append(CloseConnection(user.conn, CLOSE_TAKEN_OVER, reason))
        user.conn = conn
        user.token = self._new_token()
        self._conns[conn] = key
        effects += [
            Send(conn, Welcome(username=user.name, resume=user.token, account=user.registered)),
            SendUserList(conn),
        ]
        if user.state == PLAYING:
            assert user.game_id is not None
            effects.append(PlayerReturned(user.game_id, user.name, conn))
        elif user.peer is not None:
            peer_name = self._users[user.peer].name
            message = (
                InvitationSent(to=peer_name)
                if user.state == INVITATION_SENT
                else Invitation(from_=peer_name)
            )
            effects.append(Send(conn, message))
        return effects

    def _disconnect(self, conn: ConnId) -> list[Effect]:
        key = self._conns.pop(conn, None)
        if key is None:
            return []
        user = self._users[key]
        if user.state == PLAYING:
            assert user.game_id is not None
            user.conn = None
            return [PlayerAway(user.game_id, user.name)]
        effects: list[Effect] = []
        if user.peer is not None:
            peer = self._users[user.peer]
            notice = (
                InvitationCancelled(by=user.name)
                if user.state == INVITATION_SENT
                else InvitationDeclined(by=user.name)
            )
            peer.reset()
            if peer.conn is not None:
                effects.append(Send(peer.conn, notice))
            effects.append(LobbyChanged(users=(peer.info(),)))
        del self._users[key]
        effects.append(LobbyChanged(left=(user.name,)))
        return effects

    def _request(
        self, conn: ConnId, user: _User, message: Challenge | Cancel | Accept | Decline
    ) -> list[Effect]:
        match message:
            case Challenge(opponent=opponent):
                return self._challenge(conn, user, opponent)
            case Cancel(opponent=opponent):
                return self._answer(conn, user, opponent, INVITATION_SENT, "cancel")
            case Accept(challenger=challenger):
                return self._answer(conn, user, challenger, INVITATION_RECEIVED, "accept")
            case Decline(challenger=challenger):
                return self._answer(conn, user, challenger, INVITATION_RECEIVED, "decline")

    def _challenge(self, conn: ConnId, user: _User, opponent_name: str) -> list[Effect]:
        ref = "challenge"
        key = _key(opponent_name)
        if key == _key(user.name):
            return [_error(conn, "self_challenge", "you cannot challenge yourself", ref)]
        opponent = self._users.get(key)
        if opponent is None:
            return [_error(conn, "unknown_user", f"no user named {opponent_name!r} is online", ref)]
        if user.state != AVAILABLE:
            return [_error(conn, "not_available", "you already have an invitation or a game", ref)]
        if opponent.state != AVAILABLE:
            return [_error(conn, "not_available", f"{opponent.name} is not available", ref)]
        user.state, user.peer = INVITATION_SENT, key
        opponent.state, opponent.peer = INVITATION_RECEIVED, _key(user.name)
        effects: list[Effect] = [Send(conn, InvitationSent(to=opponent.name))]
        if opponent.conn is not None:
            effects.append(Send(opponent.conn, Invitation(from_=user.name)))
        effects.append(LobbyChanged(users=(user.info(), opponent.info())))
        return effects

    def _answer(
        self, conn: ConnId, user: _User, other_name: str, needed: UserState, action: str
    ) -> list[Effect]:
        """Cancel (by the challenger), accept or decline (by the challenged user)."""
        key = _key(other_name)
        if user.state != needed or user.peer != key:
            who = "to" if action == "cancel" else "from"
            text = f"no pending invitation {who} {other_name!r}"
            return [_error(conn, "no_invitation", text, action)]
        other = self._users[key]
        if action == "accept":
            game_id = self._new_game_id()
            user.state = other.state = PLAYING
            user.game_id = other.game_id = game_id
            self._games[game_id] = (_key(user.name), key)
            assert other.conn is not None
            color1, color2 = assign_colors(user.color, other.color)
            start = StartGame(
                game_id,
                user.name,
                other.name,
                conn,
                other.conn,
                color1,
                color2,
                user.registered,
                other.registered,
            )
            return [
                start,
                LobbyChanged(users=(user.info(), other.info())),
            ]
        user.reset()
        other.reset()
        effects: list[Effect] = []
        if other.conn is not None:
            notice = (
                InvitationCancelled(by=user.name)
                if action == "cancel"
                else InvitationDeclined(by=user.name)
            )
            effects.append(Send(other.conn, notice))
        effects.append(LobbyChanged(users=(user.info(), other.info())))
        return effects

    def _game_ended(self, event: GameEnded) -> list[Effect]:
        keys = self._games.pop(event.game_id, None)
        if keys is None:
            return []
        winner_key = None if event.winner is None else _key(event.winner)
        changed: list[UserInfo] = []
        left: list[str] = []
        still_here: list[ConnId] = []
        for key in keys:
            user = self._users[key]
            if event.aborted or (user.registered and not event.recorded):
                pass
            elif winner_key is None:
                user.draws += 1
            elif winner_key == key:
                user.wins += 1
            else:
                user.losses += 1
            user.reset()
            if user.conn is None:
                del self._users[key]
                left.append(user.name)
            else:
                changed.append(user.info())
                still_here.append(user.conn)
        effects: list[Effect] = [LobbyChanged(users=tuple(changed), left=tuple(left))]
        # Players got no lobby traffic during the game: resynchronise them with a snapshot.
        effects += [SendUserList(conn) for conn in still_here]
        return effects


def _token_matches(offered: str | None, token: str) -> bool:
    return offered is not None and hmac.compare_digest(offered, token)


def _error(conn: ConnId, code: str, message: str, ref: str | None = None) -> Send:
    return Send(conn, Error(code=code, message=message, ref=ref))


# --------------------------------------------------------------------------- broadcasts


@attrs.define
class LobbyUpdateBuffer:
    """Coalesces ``LobbyChanged`` effects into one ``lobby_update`` per tick.

    Only each user's latest info is kept; a user who joined and left within one
    tick appears only in ``left``.  Clients apply ``left`` first, then ``users``,
    so a name that left and came back appears in both and ends up present.
    """

    _users: dict[str, UserInfo] = attrs.field(factory=dict)
    _left: dict[str, None] = attrs.field(factory=dict)

    def add(self, change: LobbyChanged) -> None:
        for name in change.left:
            self._users.pop(name, None)
            self._left[name] = None
        for info in change.users:
            self._users[info.name] = info

    def __bool__(self) -> bool:
        return bool(self._users or self._left)

    def take(self) -> LobbyUpdate | None:
        """The pending update, or None when nothing changed; the buffer is then empty."""
        if not self:
            return None
        update = LobbyUpdate(users=list(self._users.values()), left=list(self._left))
        self._users.clear()
        self._left.clear()
        return update
