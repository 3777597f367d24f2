"""The lobby's rules as a sans-io state machine: who is online, who invited whom, who plays.

``LobbyState.handle(event)`` takes one event (a connection opened or closed, a
challenge request, a game's end, ...) and returns the effects to carry out: messages
for connections, games to start, lobby changes to broadcast.  It owns no socket, no
task and no clock (a ``Request`` carries the time it arrived), so the Trio lobby actor
drives it today and a multi-process (Redis) lobby can drive the very same object later;
the property tests run it through millions of event sequences without any I/O.

Guarantees, checked by ``tests/test_lobby_state.py`` after every step:

* user states are pairwise consistent (A INVITATION_SENT to B iff B
  INVITATION_RECEIVED from A; A PLAYING with B iff B PLAYING with A in one game);
* a user has at most one pending invitation and at most one game;
* a refused event returns only an ``Send(conn, Error)`` (followed, for a refused
  ``new_connection``, by ``SessionRefused(conn)``) and changes nothing;
* nobody is kept busy by invitations: a challenger whose invitation was declined cannot
  invite the same user again for ``decline_cooldown`` seconds (``declined_recently``), and
  a user holding an invitation who challenges someone else declines it instead of being
  refused;
* a socket starts at most ``max_games_per_minute`` games in any 60 seconds: a challenge
  or an accept beyond that is refused (``too_many_games``), so one client cannot fill
  the store with games started and abandoned at once;
* the core says what became of each ``new_connection`` itself: an accepted one emits
  ``SessionOpened`` before anything else is sent to that socket, so the actor never
  has to infer a session from a ``welcome`` or from querying the registry afterwards;
* a user who disconnects outside a game cancels the invitation they are part of, in either
  direction: the side that stays gets ``invitation_cancelled`` with ``reason: "left"``,
  never ``invitation_declined``; so does one who asks to ``leave`` (refused while
  playing), whose socket then has no session (``SessionClosed``) and may join again;
* nobody waits for an answer forever: an invitation pending for ``invitation_timeout``
  seconds expires at the first ``Tick`` at or after its deadline (``next_deadline`` says
  when that is), both sides get ``invitation_cancelled`` with ``reason: "expired"`` and are
  AVAILABLE again;
* quick pairing: ``seek`` puts a user in the pool (state SEEKING) unless a compatible
  user already waits there, in which case the two play at once on the clock both asked
  for, the one who waited moving first.  Two seeks are compatible when they ask for the
  same time control (or both for none), so nobody is paired with a clock they did not ask
  for, nobody waits while a compatible partner waits, and the pool holds at most one user
  per time control.  Only SEEKING users are in the pool, and ``unseek``, challenging
  someone, a game starting or leaving takes them out; seekers cannot be challenged, and
  seeking declines an invitation held, as a challenge does;
* rematches: after a game both connected players are on its result screen until they
  leave it (``leave_result``, a challenge, a seek, another game, a reload or a disconnect);
  only while both are there can either offer a rematch (``opponent_left`` otherwise).  A
  finished game has at most one pending offer; the opponent's ``rematch`` accepts it, so
  two crossing offers start one game; accepting starts the rematch at once, seats swapped
  and on the first game's clock.  An offer ends when either player leaves the result
  screen (the other is told ``reason: "left"``) or, unanswered, at the first ``Tick`` at or
  after ``rematch_timeout`` seconds (both told ``expired``).  A player offers at most
  ``REMATCH_OFFERS_PER_MINUTE`` rematches in any ``REMATCH_WINDOW``, and a declined offerer
  waits ``decline_cooldown`` before offering (or challenging) the decliner again;
* replaying the emitted ``LobbyChanged`` effects on a copy of the first snapshot
  reproduces ``listed()`` exactly, and every unlisted user is told their own row.

The list is bounded (``list_limit``): only the first users to connect are listed, so a
join costs a bounded snapshot and, beyond the limit, no broadcast at all but a count.
"""

from __future__ import annotations

import heapq
import hmac
import itertools
import json
import math
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, TypeAlias, TypeVar

import attrs
import cattrs

from c4actors.colors import assign_colors
from c4actors.game_record import Computer, GameResult, GameSetup, Player
from c4actors.time_controls import TimeControlRules
from protocol.messages import (
    Accept,
    AnswerRematch,
    BotLevel,
    Cancel,
    Challenge,
    Decline,
    Error,
    ErrorCode,
    FirstMover,
    Invitation,
    InvitationCancelled,
    InvitationDeclined,
    InvitationSent,
    Leave,
    LeaveResult,
    LeftLobby,
    LobbyUpdate,
    PlayComputer,
    PlayerNumber,
    Rematch,
    RematchCancelled,
    RematchDeclined,
    RematchOffered,
    Seek,
    ServerMessage,
    TimeControl,
    Unseek,
    UserInfo,
    UserState,
    Welcome,
)

ConnId: TypeAlias = int
"""Identifies one socket. A user keeps their name across sockets (reloads), not their id."""

USERNAME_MAX: Final = 24
USERNAME_RE: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{USERNAME_MAX}}}")
"""The name rule; the page applies the same one, served by ``GET /api/config``."""
USERNAME_RULE: Final = "1-24 characters: letters, digits, '_' and '-'"

AVAILABLE: Final = "AVAILABLE"
INVITATION_SENT: Final = "INVITATION_SENT"
INVITATION_RECEIVED: Final = "INVITATION_RECEIVED"
PLAYING: Final = "PLAYING"
SEEKING: Final = "SEEKING"

DECLINE_COOLDOWN: Final = 60.0
"""Seconds after a decline during which the declined challenger cannot invite that user
again: otherwise a challenger who re-invites the moment they are declined keeps the
other user's state INVITATION_RECEIVED, and nobody else can ever invite them."""

GAMES_WINDOW: Final = 60.0
"""The window of ``max_games_per_minute``, in seconds."""
DEFAULT_MAX_GAMES_PER_MINUTE: Final = 30
"""Games a socket may start per minute: far more than a person plays (a game takes at
least seven moves), far fewer than a script abandoning games as fast as it can."""

DEFAULT_INVITATION_TIMEOUT: Final = 60.0
"""Seconds an invitation stays pending unanswered: long enough to notice and answer it,
short enough that a challenger whose opponent walked away is not left waiting."""

DEFAULT_REMATCH_TIMEOUT: Final = 30.0
"""Seconds a rematch offer waits for an answer: the players are looking at the result
screen, so an offer not answered by then will not be."""

REMATCH_OFFERS_PER_MINUTE: Final = 2
REMATCH_WINDOW: Final = 60.0
"""A player makes at most ``REMATCH_OFFERS_PER_MINUTE`` rematch offers in any
``REMATCH_WINDOW`` seconds (as Lichess allows): an offer is a notice on the other
player's screen, and nobody should be able to keep it blinking."""
COMPUTER_CONN: Final = -1
"""The "socket" of the computer's seat in a ``StartGame``: real sockets count from 1."""

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


LobbyRequest: TypeAlias = (
    Challenge
    | Cancel
    | Accept
    | Decline
    | Seek
    | Unseek
    | Rematch
    | AnswerRematch
    | LeaveResult
    | Leave
    | PlayComputer
)
"""The client messages the lobby answers."""


@attrs.frozen
class Request:
    """A lobby request (challenge, cancel, accept, decline, seek, unseek, leave) from a socket.

    ``at`` is when it arrived, in seconds on the server's monotonic clock: the rules that
    depend on time (the decline cooldown, the games-started cap) read it here, so the
    core never reads a clock itself."""

    conn: ConnId
    message: LobbyRequest
    at: float


@attrs.frozen
class Tick:
    """The time is now ``now`` (the server's monotonic clock, as ``Request.at``): expire
    the invitations whose deadline has come.  The actor feeds it once ``next_deadline``
    has passed; feeding it at any other time is harmless."""

    now: float


@attrs.frozen
class GameEnded:
    """A game actor finished its game; a result that does not count (an aborted game: a
    crash, a shutdown) changes nobody's record."""

    game_id: str
    result: GameResult
    recorded: bool = True
    """False when the store failed to save the result: registered players' records, which
    mirror the store, then stay as they were."""


@attrs.frozen
class ColorChanged:
    """A registered user picked another colour (it applies from their next game)."""

    name: str
    color: str


Event: TypeAlias = Connected | Disconnected | Request | Tick | GameEnded | ColorChanged


# --------------------------------------------------------------------------- effects


@attrs.frozen
class Send:
    """Deliver ``message`` to the socket ``conn``."""

    conn: ConnId
    message: ServerMessage


@attrs.frozen
class SendUserList:
    """Deliver a ``user_list`` snapshot of the listed lobby to ``conn``, with ``own`` (the
    user's own row) appended when they are not listed.

    Not a ``Send`` with the users in it: building that list for every join would cost
    O(list) encodes.  The actor keeps the listed rows encoded from the ``LobbyChanged``
    effects instead, which always come before this effect within one event."""

    conn: ConnId
    own: UserInfo | None = None


@attrs.frozen
class LobbyChanged:
    """Listed users joined or changed (``users``, their current info) or left the list
    (``left``); ``online`` is how many users are connected after the event.

    Both tuples are empty when only the count changed (an unlisted user came or went).
    The actor coalesces these into ``lobby_update`` broadcasts
    (see ``c4actors.lobby_updates.LobbyUpdateBuffer``).
    """

    users: tuple[UserInfo, ...] = ()
    left: tuple[str, ...] = ()
    online: int = attrs.field(kw_only=True)

    @property
    def count_only(self) -> bool:
        return not (self.users or self.left)


@attrs.frozen
class StartGame:
    """Start a game actor for ``setup``, its players on sockets ``conn1`` and ``conn2``
    (``COMPUTER_CONN`` for the computer's seat, when ``setup.computer`` is set)."""

    setup: GameSetup
    conn1: ConnId
    conn2: ConnId

    @property
    def game_id(self) -> str:
        return self.setup.game_id


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


@attrs.frozen
class SessionOpened:
    """Socket ``conn`` now holds the session of ``name`` (new, or resumed from another socket).

    Emitted before anything else is sent to ``conn``, so the connection knows its name
    (and, when ``game_id`` is set, the game it is playing) before it reads its next frame.
    """

    conn: ConnId
    name: str
    game_id: str | None = None


@attrs.frozen
class SessionClosed:
    """Socket ``conn``'s session ended as it asked (``leave``): the user is gone from the
    lobby, and the socket, still open, has no session (it may send ``new_connection``
    again).  Emitted last, after the ``left_lobby`` reply and whatever the leaving caused."""

    conn: ConnId


@attrs.frozen
class SessionRefused:
    """Socket ``conn``'s ``new_connection`` was refused: it has no session (it may try again).

    Emitted after the error that says why, so the actor can still deliver that error.
    Not emitted when the socket already has a session (``already_connected``): that
    session stays open."""

    conn: ConnId


Effect: TypeAlias = (
    Send
    | SendUserList
    | LobbyChanged
    | StartGame
    | PlayerAway
    | PlayerReturned
    | CloseConnection
    | SessionOpened
    | SessionRefused
    | SessionClosed
)


# --------------------------------------------------------------------------- state


@attrs.frozen
class _Result:
    """The result screen a user is on: the finished game, the opponent's key, whether the
    user moved first in it and its clock (a rematch swaps the seats and keeps the clock)."""

    game_id: str
    opponent: str
    first: bool
    time_control: TimeControl | None


@attrs.frozen
class _Offer:
    """A pending rematch offer of game ``game_id``: ``by`` offers ``to`` (both keys), until
    ``deadline`` (None: no timeout); ``number`` tells its deadline entry from stale ones."""

    game_id: str
    by: str
    to: str
    deadline: float | None
    number: int


def _user_changed(user: _User, _attribute: Any, value: Any) -> Any:
    """Every change of a tracked user's field notes the user (``LobbyState.take_changes``)."""
    owner = user.owner
    if owner is not None:
        owner.changed.add(_key(user.name))
    return value


@attrs.define(on_setattr=_user_changed)
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
    invitation: tuple[float, int] | None = None
    """The challenger's pending invitation: its deadline, and its number in the deadline
    heap (an entry of the heap whose number is no longer here is stale)."""
    time_control: TimeControl | None = None
    """The clock of the invitation this user sent and that is still pending, or of the game
    they seek (None: untimed)."""
    result: _Result | None = None
    """The result screen this user is on (None: none); kept by ``reset``."""
    offers: tuple[float, ...] = ()
    """When this user made their last rematch offers (at most ``REMATCH_OFFERS_PER_MINUTE``)."""
    owner: _Tracked[str, _User] | None = attrs.field(
        default=None, init=False, eq=False, repr=False, on_setattr=attrs.setters.NO_OP
    )
    """The tracked table of users this user is in (``LobbyState.track_changes``), told of
    every change of a field; not saved (``init=False``: cattrs leaves it out)."""

    def info(self) -> UserInfo:
        return UserInfo(
            name=self.name,
            state=self.state,
            wins=self.wins,
            losses=self.losses,
            draws=self.draws,
            registered=self.registered,
            time_control=self.time_control if self.state == SEEKING else None,
        )

    def reset(self) -> None:
        self.state = AVAILABLE
        self.peer = None
        self.game_id = None
        self.invitation = None
        self.time_control = None


SAVE_VERSION: Final = 2
"""The version of ``LobbyState.save``'s data; ``restore`` refuses any other (2: with the
result screens, which are users' fields, the rematch offers and the games' clocks)."""

_saver: Final = cattrs.Converter(forbid_extra_keys=True)
"""Users as plain data (tuples become lists); attrs fields added to ``_User`` later are
saved and restored with no change here."""


def _key(name: str) -> str:
    """Names are unique case-insensitively but shown as given."""
    return name.casefold()


_K = TypeVar("_K")
_V = TypeVar("_V")
_MISSING: Final[Any] = object()


class _Tracked(dict[_K, _V]):
    """A table of the lobby that notes the keys set or removed since the last
    ``take_changes`` (``changed``) and each key's place (``places``: a number taken when
    the key is added, kept while it stays), so the lobby can be saved a key at a time and
    put back in the same order (a dict's: the order keys were first set).

    Only what goes through the dict is seen: a value changed in place (a socket's deque of
    game starts) is noted with ``touch``; a user notes itself (``_user_changed``)."""

    __slots__ = ("changed", "counter", "places")

    def __init__(self, items: Mapping[_K, _V], counter: Iterator[int]) -> None:
        super().__init__(items)
        self.counter = counter
        self.places: dict[_K, int] = {key: next(counter) for key in self}
        self.changed: set[_K] = set(self)

    def __setitem__(self, key: _K, value: _V) -> None:
        if key not in self.places:
            self.places[key] = next(self.counter)
        self.changed.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: _K) -> None:
        super().__delitem__(key)
        del self.places[key]
        self.changed.add(key)

    def pop(self, key: _K, default: Any = _MISSING) -> Any:
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default is _MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[_K, _V]:
        key = next(reversed(self))
        return key, self.pop(key)

    def setdefault(self, key: _K, default: Any = None) -> Any:
        # The caller may change the value in place: noted as changed either way.
        if key not in self:
            self[key] = default
        self.changed.add(key)
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    def touch(self, key: _K) -> None:
        self.changed.add(key)


class _TrackedUsers(_Tracked[str, "_User"]):
    """The users' table: a user put in it reports its own changes to it."""

    __slots__ = ()

    def __init__(self, items: Mapping[str, _User], counter: Iterator[int]) -> None:
        super().__init__(items, counter)
        for user in self.values():
            user.owner = self

    def __setitem__(self, key: str, value: _User) -> None:
        value.owner = self
        super().__setitem__(key, value)


_PART_TAGS: Final = ("u:", "c:", "g:", "l:", "w:", "s:", "o:", "t:")
"""The parts of a lobby saved by parts (``take_changes``), one per key of a table: users,
sockets, games, listed and waiting users, each socket's game starts, rematch offers and
the games' clocks; ``rest`` holds the small remainder."""
REST_PART: Final = "rest"


def _same(value: Any) -> Any:
    return value


def _zero(_value: Any) -> int:
    return 0


def _first(row: tuple[int, str, Any]) -> int:
    return row[0]


_dumps: Final = json.JSONEncoder(separators=(",", ":")).encode
"""A part's compact JSON text (``take_changed_texts``; ASCII, as the keeper's)."""
_string_text: Final = json.encoder.encode_basestring_ascii


class _NotPlain(Exception):
    """A value ``_user_text`` does not write by hand: the encoder writes the user."""


def _user_text(user: _User) -> str:
    """``_dumps(_saver.unstructure(user))``, written by hand (the fields in order, the
    encoder's string and number rules); a value of another type than the fields say
    takes the encoder's way."""
    try:
        invitation = user.invitation
        offers = user.offers
        return (
            f'{{"name":{_text(user.name)},"token":{_text(user.token)}'
            f',"conn":{_optional_number(user.conn)},"state":{_text(user.state)}'
            f',"peer":{_optional_text(user.peer)},"game_id":{_optional_text(user.game_id)}'
            f',"wins":{_number(user.wins)},"losses":{_number(user.losses)}'
            f',"draws":{_number(user.draws)},"registered":{_bool(user.registered)}'
            f',"color":{_optional_text(user.color)}'
            f',"invitation":'
            + (
                "null"
                if invitation is None
                else f"[{_number(invitation[0])},{_number(invitation[1])}]"
            )
            + f',"time_control":{_control_text(user.time_control)}'
            + f',"result":{_result_text(user.result)}'
            + ',"offers":['
            + ",".join([_number(at) for at in offers])
            + "]}"
        )
    except (_NotPlain, TypeError, IndexError, ValueError):
        return _dumps(_saver.unstructure(user))


def _text(value: object) -> str:
    if type(value) is not str:
        raise _NotPlain
    return _string_text(value)


def _optional_text(value: object) -> str:
    return "null" if value is None else _text(value)


def _number(value: object) -> str:
    """An ``int`` or a ``float`` as the encoder writes it (``NaN``, ``Infinity``...)."""
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float:
        if value != value:
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    raise _NotPlain


def _optional_number(value: object) -> str:
    return "null" if value is None else _number(value)


def _bool(value: object) -> str:
    if type(value) is not bool:
        raise _NotPlain
    return "true" if value else "false"


def _control_text(control: TimeControl | None) -> str:
    if control is None:
        return "null"
    if type(control) is not TimeControl:
        raise _NotPlain
    return (
        f'{{"base_seconds":{_number(control.base_seconds)}'
        f',"increment_seconds":{_number(control.increment_seconds)}}}'
    )


def _result_text(result: _Result | None) -> str:
    if result is None:
        return "null"
    if type(result) is not _Result:
        raise _NotPlain
    return (
        f'{{"game_id":{_text(result.game_id)},"opponent":{_text(result.opponent)}'
        f',"first":{_bool(result.first)},"time_control":{_control_text(result.time_control)}}}'
    )


assert [field.name for field in attrs.fields(_User) if field.init] == [
    *("name", "token", "conn", "state", "peer", "game_id", "wins", "losses", "draws"),
    *("registered", "color", "invitation", "time_control", "result", "offers"),
], "_user_text writes each saved field of a user by hand, in this order"
assert [field.name for field in attrs.fields(_Result)] == [
    "game_id",
    "opponent",
    "first",
    "time_control",
]
assert [field.name for field in attrs.fields(TimeControl)] == ["base_seconds", "increment_seconds"]


class LobbyState:
    """Registry of users, invitations and games; see the module docstring.

    ``new_token`` and ``new_game_id`` are injected so that the object stays
    deterministic under test while the server passes ``secrets``-based factories.
    ``list_limit`` bounds how many users are listed (None: everyone).
    ``decline_cooldown`` is how long a declined challenger must wait to invite that user again.
    ``max_games_per_minute`` caps the games a socket starts in any ``GAMES_WINDOW``
    (None: no cap).
    ``invitation_timeout`` is how long an invitation stays pending (None: forever).
    ``rematch_timeout`` is how long a rematch offer stays pending (None: forever).
    """

    def __init__(
        self,
        new_token: Callable[[], str],
        new_game_id: Callable[[], str],
        list_limit: int | None = None,
        decline_cooldown: float = DECLINE_COOLDOWN,
        max_games_per_minute: int | None = DEFAULT_MAX_GAMES_PER_MINUTE,
        grace_seconds: float = 0.0,
        invitation_timeout: float | None = DEFAULT_INVITATION_TIMEOUT,
        chat: bool = True,
        time_controls: TimeControlRules | None = None,
        rematch_timeout: float | None = DEFAULT_REMATCH_TIMEOUT,
    ) -> None:
        self._time_controls = time_controls or TimeControlRules()
        self._grace_seconds = grace_seconds
        """Only told to clients (``welcome``): the game actors keep the deadlines."""
        self._chat = chat
        """Only told to clients (``welcome``): the game actors hold the chat."""
        if list_limit is not None and list_limit < 1:
            raise ValueError(f"list_limit must be at least 1 (or None), not {list_limit}")
        if decline_cooldown < 0:
            raise ValueError(f"decline_cooldown must not be negative, not {decline_cooldown}")
        if max_games_per_minute is not None and max_games_per_minute < 1:
            text = f"max_games_per_minute must be at least 1 (or None), not {max_games_per_minute}"
            raise ValueError(text)
        if invitation_timeout is not None and not invitation_timeout > 0:
            text = f"invitation_timeout must be positive (or None), not {invitation_timeout}"
            raise ValueError(text)
        self._invitation_timeout = invitation_timeout
        if rematch_timeout is not None and not rematch_timeout > 0:
            text = f"rematch_timeout must be positive (or None), not {rematch_timeout}"
            raise ValueError(text)
        self._rematch_timeout = rematch_timeout
        # Pending rematch offers by finished game, and their (deadline, number, game id)
        # entries, earliest first; stale entries are dropped as the invitations' are.
        self._rematches: dict[str, _Offer] = {}
        self._rematch_deadlines: list[tuple[float, int, str]] = []
        # The clock of each timed game in progress, for its rematch.
        self._game_controls: dict[str, TimeControl] = {}
        # (deadline, number, challenger key) of every invitation made, earliest first.  An
        # answered invitation's entry is left in place (stale: its number is no longer the
        # challenger's) and dropped when it comes to the top, so answering costs O(1).
        self._deadlines: list[tuple[float, int, str]] = []
        self._invitation_numbers = 0
        """The number the next invitation takes (a plain int, so a snapshot can save it)."""
        self._max_games = max_games_per_minute
        # When each socket started its games in the last ``GAMES_WINDOW`` (oldest first);
        # a socket's entry goes with the socket.
        self._games_started: dict[ConnId, deque[float]] = {}
        self._new_token = new_token
        self._new_game_id = new_game_id
        self._list_limit = list_limit
        self._decline_cooldown = decline_cooldown
        # (challenger key, declining user's key) -> when the challenger may invite again.
        # Every entry lasts as long, so insertion order is expiry order: expired entries
        # are dropped from the front (``_forget_declines``), and the table stays as small
        # as the declines of the last ``decline_cooldown`` seconds.
        self._declines: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._users: dict[str, _User] = {}
        self._conns: dict[ConnId, str] = {}
        # Each game's players' keys: one key only in a game against the computer.
        self._games: dict[str, tuple[str, ...]] = {}
        # Keys of the listed users, and of the others in the order they joined (the next
        # to be listed first): both ordered, so promotion is O(1).
        self._listed: dict[str, None] = {}
        self._waiting: dict[str, None] = {}
        # The users waiting to be paired (``seek``): the key of the one waiting for each
        # time control (None: untimed), the longest waiting first.  One per clock at most:
        # a second seeker of the same clock is paired at once.
        self._pool: dict[TimeControl | None, str] = {}
        self._tables: list[tuple[str, _Tracked[Any, Any], Callable[[Any], Any]]] | None = None
        """The tables saved by parts, once ``track_changes`` was called (None: never)."""
        self._rest_saved: dict[str, Any] | None = None

    # ----------------------------------------------------------------- queries

    def snapshot(self) -> list[UserInfo]:
        """The whole registry, listed or not (the property tests check it against the list)."""
        return [user.info() for user in self._users.values()]

    def listed(self) -> list[UserInfo]:
        """The listed users, as a ``user_list`` carries them (before the user's own row)."""
        return [self._users[key].info() for key in self._listed]

    def is_listed(self, name: str) -> bool:
        return _key(name) in self._listed

    def watchers(self) -> Iterator[ConnId]:
        """Sockets that receive lobby updates: connected users who are not playing."""
        for user in self._users.values():
            if user.conn is not None and user.state != PLAYING:
                yield user.conn

    def user_list_for(self, conn: ConnId) -> SendUserList | None:
        """The ``user_list`` a watcher is sent to start over (a cluster's edge missed
        broadcasts); None when ``conn`` is not a watcher."""
        key = self._conns.get(conn)
        if key is None:
            return None
        user = self._users[key]
        if user.conn != conn or user.state == PLAYING:
            return None
        return self._send_user_list(conn, key)

    def name_of(self, conn: ConnId) -> str | None:
        key = self._conns.get(conn)
        return None if key is None else self._users[key].name

    def user_count(self) -> int:
        return len(self._users)

    def game_count(self) -> int:
        return len(self._games)

    def game_players(self, game_id: str) -> tuple[str, ...] | None:
        """The names of the people playing ``game_id`` (one against the computer)."""
        keys = self._games.get(game_id)
        return None if keys is None else tuple(self._users[key].name for key in keys)

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

    def seekers(self) -> list[str]:
        """The names in the quick-pairing pool, the longest waiting first."""
        return [self._users[key].name for key in self._pool.values()]

    def is_away(self, name: str) -> bool:
        user = self._users.get(_key(name))
        return user is not None and user.conn is None

    def games_counted(self, conn: ConnId) -> int:
        """How many game starts the cap remembers for ``conn`` (none without a cap): at most
        the cap, so the memory kept per socket is bounded however long it plays."""
        return len(self._games_started.get(conn, ()))

    def declined_until(self, challenger: str, challenged: str) -> float | None:
        """When ``challenger`` may invite ``challenged`` again after being declined by them
        (None: no decline remembered; the time may already have passed)."""
        return self._declines.get((_key(challenger), _key(challenged)))

    def invitation_deadline(self, name: str) -> float | None:
        """When the invitation sent by ``name`` expires (None: none pending, or no timeout)."""
        user = self._users.get(_key(name))
        return None if user is None or user.invitation is None else user.invitation[0]

    def result_screen(self, name: str) -> str | None:
        """The finished game whose result screen ``name`` is on (None: none)."""
        user = self._users.get(_key(name))
        return None if user is None or user.result is None else user.result.game_id

    def rematch_possible(self, game_id: str, player: str) -> bool:
        """Whether ``player`` and their opponent in the finished ``game_id`` are both still on
        its result screen (so a rematch may still start)."""
        user = self._users.get(_key(player))
        if user is None or not _on_result(user, game_id):
            return False
        assert user.result is not None
        opponent = self._users.get(user.result.opponent)
        return opponent is not None and _on_result(opponent, game_id)

    def rematch_offer(self, game_id: str) -> tuple[str, str, float | None] | None:
        """The pending rematch offer of ``game_id``: who offers, to whom, until when."""
        offer = self._rematches.get(game_id)
        if offer is None:
            return None
        return (self._users[offer.by].name, self._users[offer.to].name, offer.deadline)

    def next_deadline(self) -> float | None:
        """When the earliest pending invitation or rematch offer expires: feed ``Tick`` then
        (None: none)."""
        return _earliest(self._next_invitation_deadline(), self._next_offer_deadline())

    def invitation_pending(self) -> bool:
        """Some challenge waits for its answer (with an invitation timeout, else unknown:
        False).  The move gate holds moves meanwhile, so the accept's hops meet short turns
        (``c4actors.move_gate``)."""
        return self._next_invitation_deadline() is not None

    def _next_invitation_deadline(self) -> float | None:
        heap = self._deadlines
        while heap and not self._is_pending(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _next_offer_deadline(self) -> float | None:
        heap = self._rematch_deadlines
        while heap and not self._is_pending_offer(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _is_pending(self, entry: tuple[float, int, str]) -> bool:
        deadline, number, key = entry
        user = self._users.get(key)
        return user is not None and user.invitation == (deadline, number)

    # ----------------------------------------------------------------- snapshots

    def save(self) -> dict[str, Any]:
        """Everything this lobby knows that its configuration does not say, as JSON-safe
        data: users (with their tokens, states, invitations and their deadlines, records,
        result screens and rematch offers made), sockets, games and their clocks, the list
        and its queue, the pool, the decline cooldowns, the games each socket started, the
        pending invitations and rematch offers with their deadlines.  ``restore`` with the same
        configuration gives a lobby that answers every later event exactly as this one
        (the state machine tests check it at every step).

        Named ``save``, not ``snapshot``: ``snapshot()`` is the registry as rows."""
        return {
            "version": SAVE_VERSION,
            "users": [_saver.unstructure(user) for user in self._users.values()],
            "conns": [[conn, key] for conn, key in self._conns.items()],
            "games": [[game_id, *keys] for game_id, keys in self._games.items()],
            "listed": list(self._listed),
            "waiting": list(self._waiting),
            # The seekers' keys, longest waiting first: each one's clock is in their user.
            "pool": list(self._pool.values()),
            # Only the pending invitations' entries, sorted (so a valid heap): the stale
            # ones are left for ``next_deadline`` to drop, and mean nothing.
            "deadlines": sorted(
                list(entry) for entry in self._deadlines if self._is_pending(entry)
            ),
            "invitation_numbers": self._invitation_numbers,
            "games_started": [[conn, list(times)] for conn, times in self._games_started.items()],
            "declines": [[*pair, until] for pair, until in self._declines.items()],
            "rematches": [_saver.unstructure(offer) for offer in self._rematches.values()],
            "rematch_deadlines": sorted(
                list(entry) for entry in self._rematch_deadlines if self._is_pending_offer(entry)
            ),
            "game_controls": [
                [game_id, _saver.unstructure(control)]
                for game_id, control in self._game_controls.items()
            ],
        }

    def track_changes(self) -> None:
        """From now on note what changes, for ``take_changes`` (a cluster's core: each
        commit writes only the parts of the lobby that changed, so a join costs O(1) however
        many users there are).  Not called in one process, which pays nothing for it."""
        counter = itertools.count()
        users = self._users = _TrackedUsers(self._users, counter)
        conns = self._conns = _Tracked(self._conns, counter)
        games = self._games = _Tracked(self._games, counter)
        listed = self._listed = _Tracked(self._listed, counter)
        waiting = self._waiting = _Tracked(self._waiting, counter)
        started = self._games_started = _Tracked(self._games_started, counter)
        rematches = self._rematches = _Tracked(self._rematches, counter)
        controls = self._game_controls = _Tracked(self._game_controls, counter)
        self._tables = [
            ("u:", users, _saver.unstructure),
            ("c:", conns, _same),
            ("g:", games, list),
            ("l:", listed, _zero),
            ("w:", waiting, _zero),
            ("s:", started, list),
            ("o:", rematches, _saver.unstructure),
            ("t:", controls, _saver.unstructure),
        ]
        self._rest_saved = None

    def take_changes(self) -> tuple[dict[str, Any], list[str]]:
        """The parts of the lobby changed since the last call (the first: all of them),
        as JSON-safe data by part name, and the names of the parts gone.  Applied in turn
        to a mapping of parts, they give what ``save_from_parts`` turns into ``save()``'s
        data.  Each key of a table is a part (``[place, value]``, the place keeping the
        table's order); ``rest`` holds what is small (the pool, the declines...)."""
        return self._take(as_text=False)

    def take_changed_texts(self) -> tuple[dict[str, str], list[str]]:
        """``take_changes``, each part as its compact JSON text (what a cluster's core
        commits: ``cluster.keeper``), a user's written by hand (``_user_text``): the JSON
        encoder took about 4 us for a user's part, and a game changes each player's part
        three times or more (the challenge, the start, the end)."""
        return self._take(as_text=True)

    def _take(self, *, as_text: bool) -> tuple[dict[str, Any], list[str]]:
        if self._tables is None:
            raise RuntimeError("take_changes before track_changes")
        puts: dict[str, Any] = {}
        deletes: list[str] = []
        for tag, table, encode in self._tables:
            if not table.changed:
                continue
            places = table.places
            by_hand = as_text and tag == "u:"
            for key in table.changed:
                place = places.get(key)
                if place is None:
                    deletes.append(f"{tag}{key}")
                elif by_hand:
                    puts[f"{tag}{key}"] = f"[{place},{_user_text(table[key])}]"
                elif as_text:
                    puts[f"{tag}{key}"] = f"[{place},{_dumps(encode(table[key]))}]"
                else:
                    puts[f"{tag}{key}"] = [place, encode(table[key])]
            table.changed = set()
        rest = {
            "version": SAVE_VERSION,
            "pool": list(self._pool.values()),
            "invitation_numbers": self._invitation_numbers,
            "declines": [[*pair, until] for pair, until in self._declines.items()],
        }
        if rest != self._rest_saved:
            self._rest_saved = rest
            puts[REST_PART] = _dumps(rest) if as_text else rest
        return puts, deletes

    @staticmethod
    def save_from_parts(parts: Mapping[str, Any]) -> dict[str, Any]:
        """``save()``'s data from the parts ``take_changes`` gave (each part's last value,
        the deleted ones left out).  Raises ``ValueError`` for parts it did not write."""
        try:
            rest = parts[REST_PART]
            rows: dict[str, list[tuple[int, str, Any]]] = {tag: [] for tag in _PART_TAGS}
            for name, part in parts.items():
                if name != REST_PART:
                    place, value = part
                    rows[name[:2]].append((int(place), name[2:], value))
            tables = {
                tag: [(key, value) for _place, key, value in sorted(found, key=_first)]
                for tag, found in rows.items()
            }
            users = [value for _key_, value in tables["u:"]]
            offers = [value for _key_, value in tables["o:"]]
            return {
                "version": rest["version"],
                "users": users,
                "conns": [[int(conn), key] for conn, key in tables["c:"]],
                "games": [[game_id, *keys] for game_id, keys in tables["g:"]],
                "listed": [key for key, _ in tables["l:"]],
                "waiting": [key for key, _ in tables["w:"]],
                "pool": rest["pool"],
                # A pending invitation's entry is its challenger's (``_is_pending``).
                "deadlines": sorted(
                    [value["invitation"][0], value["invitation"][1], key]
                    for key, value in tables["u:"]
                    if value.get("invitation") is not None
                ),
                "invitation_numbers": rest["invitation_numbers"],
                "games_started": [[int(conn), times] for conn, times in tables["s:"]],
                "declines": rest["declines"],
                "rematches": offers,
                "rematch_deadlines": sorted(
                    [offer["deadline"], offer["number"], offer["game_id"]]
                    for offer in offers
                    if offer["deadline"] is not None
                ),
                "game_controls": [[game_id, control] for game_id, control in tables["t:"]],
            }
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"not a lobby's parts: {exc!r}") from None

    @staticmethod
    def shifted_save(saved: Mapping[str, Any], delta: float) -> dict[str, Any]:
        """``saved`` (what ``save`` wrote) on a clock ``delta`` seconds ahead: every time in
        it moves (invitations' and rematch offers' deadlines, the decline cooldowns, when
        games were started and offers made), so a standby restoring another process's lobby
        charges nobody for the outage.  ``saved`` itself is left as it was."""
        shifted = dict(saved)
        users = []
        for user in saved.get("users", []):
            user = dict(user)
            if user.get("invitation") is not None:
                deadline, number = user["invitation"]
                user["invitation"] = [deadline + delta, number]
            user["offers"] = [at + delta for at in user.get("offers", [])]
            users.append(user)
        shifted["users"] = users
        shifted["deadlines"] = [[d + delta, *rest] for d, *rest in saved.get("deadlines", [])]
        shifted["games_started"] = [
            [conn, [at + delta for at in times]] for conn, times in saved.get("games_started", [])
        ]
        shifted["declines"] = [[a, b, until + delta] for a, b, until in saved.get("declines", [])]
        shifted["rematches"] = [
            {**offer, "deadline": None if offer["deadline"] is None else offer["deadline"] + delta}
            for offer in saved.get("rematches", [])
        ]
        shifted["rematch_deadlines"] = [
            [d + delta, *rest] for d, *rest in saved.get("rematch_deadlines", [])
        ]
        return shifted

    @classmethod
    def restore(
        cls,
        saved: Mapping[str, Any],
        new_token: Callable[[], str],
        new_game_id: Callable[[], str],
        **config: Any,
    ) -> LobbyState:
        """The lobby ``save`` described, with this process's token and game id makers and
        the configuration ``__init__`` takes (``config``: the same as the saver's).

        Raises ``ValueError`` for data that ``save`` did not write (another version, a
        missing or mistyped part, users and sockets that do not refer to each other): a
        bad snapshot is refused whole, never half restored."""
        lobby = cls(new_token, new_game_id, **config)
        try:
            if saved.get("version") != SAVE_VERSION:
                raise ValueError(f"not a lobby snapshot of version {SAVE_VERSION}")
            users = [_saver.structure(data, _User) for data in saved["users"]]
            lobby._users = {_key(user.name): user for user in users}
            lobby._conns = {int(conn): str(key) for conn, key in saved["conns"]}
            # One key only: a game against the computer.
            lobby._games = {str(g): tuple(map(str, keys)) for g, *keys in saved["games"]}
            lobby._listed = dict.fromkeys(map(str, saved["listed"]))
            lobby._waiting = dict.fromkeys(map(str, saved["waiting"]))
            seekers = [lobby._users[str(key)] for key in saved["pool"]]
            lobby._pool = {user.time_control: _key(user.name) for user in seekers}
            if len(lobby._pool) != len(seekers):
                raise ValueError("two seekers of one clock")
            lobby._deadlines = [(float(d), int(n), str(k)) for d, n, k in saved["deadlines"]]
            heapq.heapify(lobby._deadlines)
            lobby._invitation_numbers = int(saved["invitation_numbers"])
            lobby._games_started = {
                int(conn): deque(map(float, times)) for conn, times in saved["games_started"]
            }
            lobby._declines = OrderedDict(
                ((str(a), str(b)), float(until)) for a, b, until in saved["declines"]
            )
            offers = [_saver.structure(data, _Offer) for data in saved["rematches"]]
            lobby._rematches = {offer.game_id: offer for offer in offers}
            lobby._rematch_deadlines = [
                (float(d), int(n), str(g)) for d, n, g in saved["rematch_deadlines"]
            ]
            heapq.heapify(lobby._rematch_deadlines)
            lobby._game_controls = {
                str(game_id): _saver.structure(control, TimeControl)
                for game_id, control in saved["game_controls"]
            }
        except (KeyError, TypeError, ValueError, cattrs.BaseValidationError) as exc:
            raise ValueError(f"not a lobby snapshot: {exc!r}") from None
        keys = set(lobby._users)
        referred = (
            set(lobby._conns.values())
            | {key for pair in lobby._games.values() for key in pair}
            | set(lobby._listed)
            | set(lobby._waiting)
            | set(lobby._pool.values())
            | {user.peer for user in users if user.peer is not None}
            | {key for offer in offers for key in (offer.by, offer.to)}
        )
        if len(keys) != len(users) or not referred <= keys:
            raise ValueError("not a lobby snapshot: users and their references disagree")
        return lobby

    def _is_pending_offer(self, entry: tuple[float, int, str]) -> bool:
        offer = self._rematches.get(entry[2])
        return offer is not None and offer.number == entry[1]

    # ----------------------------------------------------------------- events

    def handle(self, event: Event) -> list[Effect]:
        """Apply one event; return the effects to carry out, in order."""
        match event:
            case Connected():
                return self._connect(event)
            case Disconnected(conn=conn):
                return self._disconnect(conn)
            case Request(conn=conn, message=message, at=at):
                key = self._conns.get(conn)
                if key is None:
                    return [_error(conn, "not_connected", "send new_connection first")]
                self._forget_declines(at)
                return self._request(conn, self._users[key], message, at)
            case Tick(now=now):
                return self._expire(now)
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
            return _refuse(conn, "invalid_name", f"invalid name: {USERNAME_RULE}")
        key = _key(name)
        user = self._users.get(key)
        if user is not None and _token_matches(event.resume, user.token):
            # The token proves the session, whatever happened to the name meanwhile.
            return self._resume(conn, key, user)
        account = event.account
        if account is not None and _key(account.name) != key:
            text = f"you are signed in as {account.name}: connect under that name or sign out"
            return _refuse(conn, "account_mismatch", text)
        if user is not None and account is not None and user.registered:
            # The account's session cookie proves the session as well as a token: a player
            # takes it over from any tab or device, in the lobby or in a game.
            return self._resume(conn, key, user)
        if account is None and event.name_registered:
            text = f"{name!r} is a registered name: sign in to use it"
            return _refuse(conn, "name_registered", text)
        if user is None:
            user = _User(name=name, token=self._new_token(), conn=conn)
            if account is not None:
                user.name, user.registered, user.color = account.name, True, account.color
                user.wins, user.losses, user.draws = account.wins, account.losses, account.draws
            self._users[key] = user
            self._conns[conn] = key
            welcome = self._welcome(user)
            if self._list_has_room():
                self._listed[key] = None
                change = LobbyChanged(users=(user.info(),), online=len(self._users))
            else:
                self._waiting[key] = None
                change = LobbyChanged(online=len(self._users))
            opened = SessionOpened(conn, user.name)
            return [opened, Send(conn, welcome), change, self._send_user_list(conn, key)]
        return _refuse(conn, "name_taken", f"the name {user.name!r} is already online")

    def _welcome(self, user: _User) -> Welcome:
        return Welcome(
            username=user.name,
            resume=user.token,
            account=user.registered,
            grace_seconds=self._grace_seconds,
            chat=self._chat,
        )

    def _resume(self, conn: ConnId, key: str, user: _User) -> list[Effect]:
        """A valid token, or the account's own session cookie, takes the session over, even
        from a socket that is still open (closed with ``CLOSE_TAKEN_OVER``)."""
        # The new socket's page starts afresh: the result screen, if any, is left.
        effects = self._leave_result(user)
        if user.conn is not None:
            del self._conns[user.conn]
            self._games_started.pop(user.conn, None)
            reason = "session resumed on another connection"
            effects.append(CloseConnection(user.conn, CLOSE_TAKEN_OVER, reason))
        user.conn = conn
        user.token = self._new_token()
        self._conns[conn] = key
        game_id = user.game_id if user.state == PLAYING else None
        effects += [
            SessionOpened(conn, user.name, game_id),
            Send(conn, self._welcome(user)),
            self._send_user_list(conn, key),
        ]
        if user.state == PLAYING:
            assert user.game_id is not None
            effects.append(PlayerReturned(user.game_id, user.name, conn))
        elif user.peer is not None:
            peer = self._users[user.peer]
            message = (
                InvitationSent(to=peer.name, time_control=user.time_control)
                if user.state == INVITATION_SENT
                else Invitation(from_=peer.name, time_control=peer.time_control)
            )
            effects.append(Send(conn, message))
        return effects

    def _disconnect(self, conn: ConnId) -> list[Effect]:
        key = self._conns.pop(conn, None)
        self._games_started.pop(conn, None)
        if key is None:
            return []
        user = self._users[key]
        if user.state == PLAYING:
            assert user.game_id is not None
            user.conn = None
            return [PlayerAway(user.game_id, user.name)]
        effects = self._leave_result(user)
        if user.peer is not None:
            # Leaving is not declining: whichever side stays is told the invitation is off.
            peer = self._users[user.peer]
            peer.reset()
            if peer.conn is not None:
                effects.append(Send(peer.conn, InvitationCancelled(by=user.name, reason="left")))
            # Leave first: the place freed on the list may go to the peer, whose new row is
            # then broadcast rather than told to the peer alone.
            effects.append(self._remove([key]))
            effects += self._changed([peer])
            return effects
        effects.append(self._remove([key]))
        return effects

    def _request(self, conn: ConnId, user: _User, message: LobbyRequest, at: float) -> list[Effect]:
        match message:
            case Challenge(opponent=opponent, time_control=time_control):
                if time_control is not None:
                    refusal = self._time_controls.refusal(time_control)
                    if refusal is not None:
                        return [_error(conn, "invalid_time_control", refusal, "challenge")]
                return self._challenge(conn, user, opponent, at, time_control)
            case Cancel(opponent=opponent):
                return self._answer(conn, user, opponent, INVITATION_SENT, "cancel", at)
            case Accept(challenger=challenger):
                return self._answer(conn, user, challenger, INVITATION_RECEIVED, "accept", at)
            case Decline(challenger=challenger):
                return self._answer(conn, user, challenger, INVITATION_RECEIVED, "decline", at)
            case Seek(time_control=time_control):
                if time_control is not None:
                    refusal = self._time_controls.refusal(time_control)
                    if refusal is not None:
                        return [_error(conn, "invalid_time_control", refusal, "seek")]
                return self._seek(conn, user, at, time_control)
            case Leave():
                if user.state == PLAYING:
                    text = "you are playing: finish or quit your game first"
                    return [_error(conn, "not_available", text, "leave")]
                # As a disconnect, but the socket stays: it may join again, under any name.
                # The games cap is the socket's, so leaving and joining again keeps it.
                started = self._games_started.get(conn)
                left = Send(conn, LeftLobby(username=user.name))
                effects = [left, *self._disconnect(conn), SessionClosed(conn)]
                if started is not None:
                    self._games_started[conn] = started
                return effects
            case PlayComputer(level=level, first=first):
                return self._play_computer(conn, user, level, first, at)
            case Unseek():
                if user.state != SEEKING:
                    return [_error(conn, "not_seeking", "you are not looking for a game", "unseek")]
                self._leave_pool(user)
                user.state = AVAILABLE
                return self._changed([user])
            case Rematch(game_id=game_id):
                return self._rematch(conn, user, game_id, at)
            case AnswerRematch(game_id=game_id, accept=accept):
                return self._answer_rematch(conn, user, game_id, accept, at)
            case LeaveResult(game_id=game_id):
                # Never answered: leaving a result screen one is not on changes nothing.
                return self._leave_result(user) if _on_result(user, game_id) else []

    def _challenge(
        self,
        conn: ConnId,
        user: _User,
        opponent_name: str,
        at: float,
        time_control: TimeControl | None = None,
    ) -> list[Effect]:
        ref = "challenge"
        key = _key(opponent_name)
        if key == _key(user.name):
            return [_error(conn, "self_challenge", "you cannot challenge yourself", ref)]
        opponent = self._users.get(key)
        if opponent is None:
            return [_error(conn, "unknown_user", f"no user named {opponent_name!r} is online", ref)]
        if user.state not in (AVAILABLE, INVITATION_RECEIVED, SEEKING):
            return [_error(conn, "not_available", "you already have an invitation or a game", ref)]
        if (refusal := self._games_cap(conn, at, ref)) is not None:
            return [refusal]
        until = self._declines.get((_key(user.name), key))
        if until is not None and until > at:
            wait = math.ceil(until - at)
            text = f"{opponent.name} declined your challenge: you can challenge them in {wait} s"
            return [_error(conn, "declined_recently", text, ref)]
        if opponent.state != AVAILABLE:
            return [_error(conn, "not_available", f"{opponent.name} is not available", ref)]
        effects = self._leave_result(user)
        changed = [user, opponent]
        if user.state == INVITATION_RECEIVED:
            # Challenging someone else answers the invitation held: a decline.  Refusing
            # instead would let a challenger who re-invites at once keep this user busy.
            assert user.peer is not None
            challenger = self._users[user.peer]
            effects += self._decline(user, challenger, at)
            changed.insert(0, challenger)
        elif user.state == SEEKING:
            self._leave_pool(user)  # a challenge is a choice of opponent
        user.state, user.peer = INVITATION_SENT, key
        user.time_control = time_control
        opponent.state, opponent.peer = INVITATION_RECEIVED, _key(user.name)
        if self._invitation_timeout is not None:
            number = self._invitation_numbers
            self._invitation_numbers += 1
            user.invitation = (at + self._invitation_timeout, number)
            heapq.heappush(self._deadlines, (*user.invitation, _key(user.name)))
        effects.append(Send(conn, InvitationSent(to=opponent.name, time_control=time_control)))
        if opponent.conn is not None:
            invitation = Invitation(from_=user.name, time_control=time_control)
            effects.append(Send(opponent.conn, invitation))
        effects += self._changed(changed)
        return effects

    def _seek(
        self, conn: ConnId, user: _User, at: float, time_control: TimeControl | None
    ) -> list[Effect]:
        """Pair ``user`` with the seeker waiting for the same clock, or let them wait."""
        ref = "seek"
        if user.state == SEEKING:
            return [_error(conn, "already_seeking", "you are already looking for a game", ref)]
        if user.state not in (AVAILABLE, INVITATION_RECEIVED):
            text = "you already have an invitation out or a game"
            return [_error(conn, "not_available", text, ref)]
        if (refusal := self._games_cap(conn, at, ref)) is not None:
            return [refusal]
        effects = self._leave_result(user)
        changed: list[_User] = []
        if user.state == INVITATION_RECEIVED:
            # As a challenge does: answering the invitation held with a decline means
            # nobody can keep a user out of the pool by inviting them.
            assert user.peer is not None
            challenger = self._users[user.peer]
            effects += self._decline(user, challenger, at)
            changed.append(challenger)
        partner_key = self._pool.pop(time_control, None)
        if partner_key is None:
            user.state = SEEKING
            user.time_control = time_control
            self._pool[time_control] = _key(user.name)
            return effects + self._changed([*changed, user])
        partner = self._users[partner_key]
        partner.time_control = None
        # The partner's cap was checked when they sought; they started nothing since.
        # Whoever waited moves first: the one who asked first is served first.
        game = self._start_game(partner, user, at, time_control)
        return effects + self._changed(changed) + game

    def _leave_pool(self, user: _User) -> None:
        """Take the SEEKING ``user`` out of the pool (their state is the caller's to set)."""
        del self._pool[user.time_control]
        user.time_control = None

    def _play_computer(
        self, conn: ConnId, user: _User, level: BotLevel, first: FirstMover, at: float
    ) -> list[Effect]:
        """``user`` plays the computer at once (as a seek would, it declines an invitation
        held and leaves the pool); the computer's seat has no socket and no record."""
        ref = "play_computer"
        if user.state not in (AVAILABLE, INVITATION_RECEIVED, SEEKING):
            text = "you already have an invitation out or a game"
            return [_error(conn, "not_available", text, ref)]
        if (refusal := self._games_cap(conn, at, ref)) is not None:
            return [refusal]
        # As any game does, it takes the player off a result screen they were on.
        effects: list[Effect] = self._leave_result(user)
        changed: list[_User] = []
        if user.state == INVITATION_RECEIVED:
            assert user.peer is not None
            challenger = self._users[user.peer]
            effects += self._decline(user, challenger, at)
            changed.append(challenger)
        elif user.state == SEEKING:
            self._leave_pool(user)
        game_id = self._new_game_id()
        user.state, user.game_id, user.peer = PLAYING, game_id, None
        self._games[game_id] = (_key(user.name),)
        if self._max_games is not None:
            self._games_started.setdefault(conn, deque()).append(at)
        seat: PlayerNumber = 2 if first == "you" else 1
        person_first = seat == 2
        color1, color2 = assign_colors(
            *((user.color, None) if person_first else (None, user.color))
        )
        person = Player(name=user.name, registered=user.registered, color="")
        machine = Player(name=computer_name(level), color="")
        player1, player2 = (person, machine) if person_first else (machine, person)
        setup = GameSetup(
            game_id=game_id,
            player1=attrs.evolve(player1, color=color1),
            player2=attrs.evolve(player2, color=color2),
            computer=Computer(level=level, seat=seat),
        )
        conns = (conn, COMPUTER_CONN) if person_first else (COMPUTER_CONN, conn)
        start = StartGame(setup, *conns)
        return [*effects, *self._changed(changed), start, *self._changed([user])]

    def _start_game(
        self,
        player1: _User,
        player2: _User,
        at: float,
        time_control: TimeControl | None = None,
        rematch_of: str | None = None,
    ) -> list[Effect]:
        """``player1`` (who moves first) and ``player2`` start a game, at time ``at``, untimed
        or on ``time_control``; both leave any result screen they were on."""
        effects = self._leave_result(player1) + self._leave_result(player2)
        game_id = self._new_game_id()
        player1.state = player2.state = PLAYING
        player1.game_id = player2.game_id = game_id
        player1.peer, player2.peer = _key(player2.name), _key(player1.name)
        self._games[game_id] = (_key(player1.name), _key(player2.name))
        assert player1.conn is not None and player2.conn is not None
        if self._max_games is not None:  # without a cap, nothing to remember
            for started in (player1.conn, player2.conn):
                self._games_started.setdefault(started, deque()).append(at)
        color1, color2 = assign_colors(player1.color, player2.color)
        setup = GameSetup(
            game_id=game_id,
            player1=Player(name=player1.name, color=color1, registered=player1.registered),
            player2=Player(name=player2.name, color=color2, registered=player2.registered),
            time_control=time_control,
            rematch_of=rematch_of,
        )
        if time_control is not None:
            self._game_controls[game_id] = time_control
        start = StartGame(setup, player1.conn, player2.conn)
        return [*effects, start, *self._changed([player1, player2])]

    def _rematch(self, conn: ConnId, user: _User, game_id: str, at: float) -> list[Effect]:
        """Offer a rematch of ``game_id``, or accept the opponent's pending offer of it."""
        ref = "rematch"
        result = user.result
        if result is None or result.game_id != game_id:
            if user.state in (PLAYING, INVITATION_SENT, SEEKING):
                text = "you already have an invitation out or a game"
                return [_error(conn, "not_available", text, ref)]
            text = "you are not on the result screen of this game"
            return [_error(conn, "unknown_game", text, ref)]
        opponent = self._users.get(result.opponent)
        if opponent is None or not _on_result(opponent, game_id):
            text = "your opponent has left this game: challenge them from the lobby"
            return [_error(conn, "opponent_left", text, ref)]
        offer = self._rematches.get(game_id)
        if offer is not None:
            if offer.by == _key(user.name):
                text = "you already offered a rematch: wait for the answer"
                return [_error(conn, "already_offered", text, ref)]
            return self._accept_rematch(conn, user, opponent, offer, at, ref)
        until = self._declines.get((_key(user.name), result.opponent))
        if until is not None and until > at:
            wait = math.ceil(until - at)
            text = f"{opponent.name} declined your rematch: you can offer again in {wait} s"
            return [_error(conn, "declined_recently", text, ref)]
        recent = tuple(offered for offered in user.offers if offered > at - REMATCH_WINDOW)
        if len(recent) >= REMATCH_OFFERS_PER_MINUTE:
            wait = math.ceil(recent[0] + REMATCH_WINDOW - at)
            limit = REMATCH_OFFERS_PER_MINUTE
            text = f"you may offer {limit} rematches a minute: wait {wait} s before the next"
            return [_error(conn, "rematch_offer_limit", text, ref)]
        if (refusal := self._games_cap(conn, at, ref)) is not None:
            return [refusal]
        user.offers = (*recent, at)
        deadline = None if self._rematch_timeout is None else at + self._rematch_timeout
        number, self._invitation_numbers = self._invitation_numbers, self._invitation_numbers + 1
        offer = _Offer(game_id, _key(user.name), result.opponent, deadline, number)
        self._rematches[game_id] = offer
        if deadline is not None:
            heapq.heappush(self._rematch_deadlines, (deadline, offer.number, game_id))
        offered = RematchOffered(game_id=game_id, by=user.name, expires_in=self._rematch_timeout)
        assert opponent.conn is not None  # on a result screen, so connected
        return [Send(conn, offered), Send(opponent.conn, offered)]

    def _answer_rematch(
        self, conn: ConnId, user: _User, game_id: str, accept: bool, at: float
    ) -> list[Effect]:
        ref = "answer_rematch"
        offer = self._rematches.get(game_id)
        if offer is None or offer.to != _key(user.name):
            return [_error(conn, "no_rematch_offer", "no rematch offer to answer", ref)]
        offerer = self._users[offer.by]
        if accept:
            return self._accept_rematch(conn, user, offerer, offer, at, ref)
        del self._rematches[game_id]
        # As a declined challenge: the offerer may not ask again for a while.
        pair = (offer.by, offer.to)
        self._declines.pop(pair, None)
        self._declines[pair] = at + self._decline_cooldown
        declined = RematchDeclined(game_id=game_id, by=user.name)
        assert offerer.conn is not None
        return [Send(conn, declined), Send(offerer.conn, declined)]

    def _accept_rematch(
        self, conn: ConnId, user: _User, offerer: _User, offer: _Offer, at: float, ref: str
    ) -> list[Effect]:
        """``user`` accepts ``offerer``'s pending ``offer``: the rematch starts now, the one
        who moved second moving first, on the same clock.  An invitation either player holds
        is declined (as a challenge or a seek declines it)."""
        if (refusal := self._games_cap(conn, at, ref)) is not None:
            return [refusal]
        del self._rematches[offer.game_id]
        effects: list[Effect] = []
        changed: list[_User] = []
        for player in (user, offerer):
            if player.state == INVITATION_RECEIVED:
                assert player.peer is not None
                challenger = self._users[player.peer]
                effects += self._decline(player, challenger, at)
                changed.append(challenger)
        result = user.result
        assert result is not None
        first, second = (offerer, user) if result.first else (user, offerer)
        started = self._start_game(first, second, at, result.time_control, offer.game_id)
        return effects + self._changed(changed) + started

    def _leave_result(self, user: _User) -> list[Effect]:
        """``user`` leaves their result screen, if on one: a pending rematch offer of that
        game is off, and the opponent, if still there, is told."""
        result = user.result
        if result is None:
            return []
        user.result = None
        offer = self._rematches.pop(result.game_id, None)
        opponent = self._users.get(result.opponent)
        if offer is None or opponent is None or not _on_result(opponent, result.game_id):
            return []
        assert opponent.conn is not None
        notice = RematchCancelled(game_id=result.game_id, by=user.name, reason="left")
        return [Send(opponent.conn, notice)]

    def _decline(self, user: _User, challenger: _User, at: float) -> list[Effect]:
        """``user`` declines ``challenger``'s invitation: both are available again, the
        challenger is told, and cannot invite ``user`` again for the cooldown."""
        user.reset()
        challenger.reset()
        pair = (_key(challenger.name), _key(user.name))
        self._declines.pop(pair, None)  # re-inserted last, so the table stays in expiry order
        self._declines[pair] = at + self._decline_cooldown
        if challenger.conn is None:
            return []
        return [Send(challenger.conn, InvitationDeclined(by=user.name))]

    def _games_cap(self, conn: ConnId, at: float, ref: str) -> Send | None:
        """The refusal of a request that would start one game too many for ``conn``."""
        if self._max_games is None:
            return None
        started = self._games_started.get(conn)
        if started is None:
            return None
        if started and started[0] <= at - GAMES_WINDOW:
            while started and started[0] <= at - GAMES_WINDOW:
                started.popleft()
            if isinstance(self._games_started, _Tracked):
                self._games_started.touch(conn)
        if len(started) < self._max_games:
            return None
        wait = math.ceil(started[0] + GAMES_WINDOW - at)
        games = "one game" if self._max_games == 1 else f"{self._max_games} games"
        text = f"you may start {games} a minute: wait {wait} s before the next"
        return _error(conn, "too_many_games", text, ref)

    def _forget_declines(self, now: float) -> None:
        while self._declines:
            pair, until = next(iter(self._declines.items()))
            if until > now:
                return
            del self._declines[pair]

    def _answer(
        self,
        conn: ConnId,
        user: _User,
        other_name: str,
        needed: UserState,
        action: str,
        at: float,
    ) -> list[Effect]:
        """Cancel (by the challenger), accept or decline (by the challenged user)."""
        key = _key(other_name)
        if user.state != needed or user.peer != key:
            who = "to" if action == "cancel" else "from"
            text = f"no pending invitation {who} {other_name!r}"
            return [_error(conn, "no_invitation", text, action)]
        other = self._users[key]
        if action == "accept":
            if (refusal := self._games_cap(conn, at, action)) is not None:
                return [refusal]
            other.invitation = None  # answered: it no longer expires
            # The challenged user moves first, on the challenger's clock (as the invitation said).
            control, other.time_control = other.time_control, None
            return self._start_game(user, other, at, control)
        effects: list[Effect] = []
        if action == "decline":
            effects += self._decline(user, other, at)
        else:
            user.reset()
            other.reset()
            if other.conn is not None:
                notice = InvitationCancelled(by=user.name, reason="cancelled")
                effects.append(Send(other.conn, notice))
        effects += self._changed([user, other])
        return effects

    def _expire(self, now: float) -> list[Effect]:
        """Call off every invitation and rematch offer whose deadline is ``now`` or earlier:
        both sides are told (``by`` is the other side, as in every ``invitation_cancelled``)."""
        effects: list[Effect] = []
        changed: list[_User] = []
        while (deadline := self._next_invitation_deadline()) is not None and deadline <= now:
            _, _, key = heapq.heappop(self._deadlines)
            challenger = self._users[key]
            assert challenger.peer is not None
            challenged = self._users[challenger.peer]
            challenger.reset()
            challenged.reset()
            for user, other in ((challenger, challenged), (challenged, challenger)):
                if user.conn is not None:
                    notice = InvitationCancelled(by=other.name, reason="expired")
                    effects.append(Send(user.conn, notice))
            changed += (challenger, challenged)
        while (deadline := self._next_offer_deadline()) is not None and deadline <= now:
            _, _, game_id = heapq.heappop(self._rematch_deadlines)
            offer = self._rematches.pop(game_id)
            by, to = self._users[offer.by], self._users[offer.to]
            for player, other in ((by, to), (to, by)):
                assert player.conn is not None  # on a result screen, so connected
                off = RematchCancelled(game_id=offer.game_id, by=other.name, reason="expired")
                effects.append(Send(player.conn, off))
        return effects + self._changed(changed)

    def _game_ended(self, event: GameEnded) -> list[Effect]:
        keys = self._games.pop(event.game_id, None)
        if keys is None:
            return []
        result = event.result
        winner_key = None if result.winner is None else _key(result.winner)
        changed: list[_User] = []
        gone: list[str] = []
        control = self._game_controls.pop(event.game_id, None)
        against_computer = len(keys) == 1  # the leaderboard is for games between people
        for number, key in enumerate(keys):
            user = self._users[key]
            if not result.counts or against_computer or (user.registered and not event.recorded):
                pass
            elif winner_key is None:
                user.draws += 1
            elif winner_key == key:
                user.wins += 1
            else:
                user.losses += 1
            user.reset()
            if user.conn is None:
                gone.append(key)
            else:
                # Both connected players see the result: a rematch may be offered there
                # (not against the computer, which has no seat in the lobby).
                if not against_computer:
                    opponent = keys[1 - number]
                    user.result = _Result(event.game_id, opponent, number == 0, control)
                changed.append(user)
        # Players got no lobby traffic during the game: a snapshot resynchronises them, and
        # carries their own row, so they need no personal update.
        effects = self._changed(changed, tell_unlisted=False)
        if gone:
            effects.append(self._remove(gone))
        for user in changed:
            assert user.conn is not None
            effects.append(self._send_user_list(user.conn, _key(user.name)))
        return effects

    # ----------------------------------------------------------------- the list

    def _list_has_room(self) -> bool:
        return self._list_limit is None or len(self._listed) < self._list_limit

    def _send_user_list(self, conn: ConnId, key: str) -> SendUserList:
        if key in self._listed:
            return SendUserList(conn)
        return SendUserList(conn, own=self._users[key].info())

    def _changed(self, users: Iterable[_User], *, tell_unlisted: bool = True) -> list[Effect]:
        """The effects of these users' rows changing: a broadcast for the listed ones, and
        for each unlisted one a ``lobby_update`` with their own row, to them alone."""
        listed: list[UserInfo] = []
        effects: list[Effect] = []
        online = len(self._users)
        for user in users:
            if _key(user.name) in self._listed:
                listed.append(user.info())
            elif tell_unlisted and user.conn is not None:
                own = LobbyUpdate(users=[user.info()], left=[], online=online)
                effects.append(Send(user.conn, own))
        if listed:
            effects.insert(0, LobbyChanged(users=tuple(listed), online=online))
        return effects

    def _remove(self, keys: list[str]) -> LobbyChanged:
        """Forget these users; listed places they free go to the longest-waiting users."""
        left: list[str] = []
        for key in keys:
            user = self._users.pop(key)
            if user.state == SEEKING:
                self._leave_pool(user)
            if key in self._listed:
                del self._listed[key]
                left.append(user.name)
            else:
                del self._waiting[key]
        promoted: list[UserInfo] = []
        while self._waiting and self._list_has_room():
            key = next(iter(self._waiting))
            del self._waiting[key]
            self._listed[key] = None
            promoted.append(self._users[key].info())
        return LobbyChanged(users=tuple(promoted), left=tuple(left), online=len(self._users))


def _on_result(user: _User, game_id: str) -> bool:
    return user.result is not None and user.result.game_id == game_id


def _earliest(*times: float | None) -> float | None:
    known = [time for time in times if time is not None]
    return min(known) if known else None


def computer_name(level: BotLevel) -> str:
    """The computer's name in a game: never a user's (a user's name has no space)."""
    return f"Computer ({level})"


def _token_matches(offered: str | None, token: str) -> bool:
    return offered is not None and hmac.compare_digest(offered, token)


def _error(conn: ConnId, code: ErrorCode, message: str, ref: str | None = None) -> Send:
    return Send(conn, Error(code=code, message=message, ref=ref))


def _refuse(conn: ConnId, code: ErrorCode, message: str) -> list[Effect]:
    """A ``new_connection`` refused: the reason, then the refusal itself."""
    return [_error(conn, code, message, "new_connection"), SessionRefused(conn)]
