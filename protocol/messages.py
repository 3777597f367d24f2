"""Every message of the c4actors wire protocol, in one registry.

Each class is one JSON object on the wire, tagged by its ``type`` field (the
snake_case name in ``TYPE_NAMES``).  The server, the load tester and the tests
all import these classes, so there is exactly one definition of the protocol.

Client -> server messages are the ``ClientMessage`` union; server -> client
messages are the ``ServerMessage`` union.  Rows (in ``board``, ``last_move``
and ``line``) count from 0 at the top; columns from 0 at the left.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias, get_args

import attrs

PROTOCOL_VERSION = 1

UserState: TypeAlias = Literal[
    "AVAILABLE", "INVITATION_SENT", "INVITATION_RECEIVED", "PLAYING", "SEEKING"
]
"""``SEEKING``: waiting in the quick-pairing pool (``seek``) for anyone to play."""
GameResult: TypeAlias = Literal["win", "draw"]
GameOverReason: TypeAlias = Literal[
    "four_in_a_row", "board_full", "forfeit", "disconnect", "timeout", "agreement", "aborted"
]
"""``timeout``: the player to move ran out of time; ``agreement``: a draw offer accepted;
``aborted``: the game could not go on (a server fault or shutdown, a player did not make
their first move in time, or a player aborted it before both had moved); nobody's record
changes."""
PlayerNumber: TypeAlias = Literal[1, 2]
RematchCancelReason: TypeAlias = Literal["left", "expired"]
"""Why a rematch offer is off: ``left`` (``by`` left the result screen: went back to the
lobby, challenged or sought someone else, started another game or disconnected; told to
the other player) or ``expired`` (unanswered in time; told to both, ``by`` is the other)."""
CancelReason: TypeAlias = Literal["cancelled", "left", "expired"]
"""Why an invitation was called off: ``cancelled`` (the challenger withdrew it), ``left``
(either side disconnected) or ``expired`` (nobody answered it in time; told to both sides)."""
ErrorCode: TypeAlias = Literal[
    "bad_json",
    "bad_message",
    "unknown_type",
    "invalid_field",
    "too_large",
    "not_connected",
    "already_connected",
    "invalid_name",
    "name_taken",
    "name_registered",
    "account_mismatch",
    "store_unavailable",
    "result_not_saved",
    "self_challenge",
    "not_available",
    "invalid_time_control",
    "too_many_games",
    "declined_recently",
    "already_seeking",
    "not_seeking",
    "unknown_user",
    "no_invitation",
    "invalid_column",
    "column_full",
    "not_your_turn",
    "stale_move",
    "unknown_game",
    "game_over",
    "chat_too_long",
    "chat_invalid",
    "chat_flood",
    "chat_closed",
    "chat_off",
    "no_draw_offer",
    "draw_offer_limit",
    "cannot_abort",
    "opponent_left",
    "already_offered",
    "no_rematch_offer",
    "rematch_offer_limit",
    "not_watching",
    "too_many_spectators",
    "watching_too_many",
    "rate_limited",
    "busy",
    "analysis_running",
    "analysis_limit",
    "analysis_failed",
    "server_shutdown",
    "server_recovering",
    "internal_error",
]
"""Every ``Error.code`` the server sends, in one place (docs/protocol.md, "Error codes",
explains each; a test checks that the table and this type name the same codes)."""
ERROR_CODES: Final[frozenset[str]] = frozenset(get_args(ErrorCode))

BotLevel: TypeAlias = Literal["beginner", "casual", "strong", "perfect"]
"""A computer opponent's strength, weakest first (docs/protocol.md, "Playing the computer")."""
FirstMover: TypeAlias = Literal["you", "computer"]
Grade: TypeAlias = Literal["best", "inaccuracy", "mistake", "blunder"]
"""How a move compares with the best: ``best``; ``inaccuracy`` (the same verdict, but a
longer win or a quicker loss); ``mistake`` (a win to a draw, or a draw to a loss);
``blunder`` (a win to a loss)."""
VerdictOutcome: TypeAlias = Literal["win", "draw", "loss"]


# --------------------------------------------------------------------------- shared values


@attrs.frozen(kw_only=True)
class UserInfo:
    """One row of the lobby's user table, as every watcher sees it."""

    name: str
    state: UserState
    wins: int = 0
    losses: int = 0
    draws: int = 0
    registered: bool = False
    time_control: TimeControl | None = None
    """The clock a ``SEEKING`` user waits to play with (None: untimed, or not seeking), so
    the lobby can say who waits for which game."""


@attrs.frozen(kw_only=True)
class Colors:
    """CSS colours (``#rrggbb``) of the two players' tokens in one game."""

    player1: str
    player2: str


@attrs.frozen(kw_only=True)
class TimeControl:
    """A Fischer clock: each player has ``base_seconds`` for the whole game and gains
    ``increment_seconds`` after each move (docs/protocol.md, "Time controls", gives the
    bounds the server accepts)."""

    base_seconds: float
    increment_seconds: float = 0.0


@attrs.frozen(kw_only=True)
class Clocks:
    """Both players' remaining time in a timed game, in seconds, as the message was sent
    (the clock of the player to move is running)."""

    player1: float
    player2: float


@attrs.frozen(kw_only=True)
class GameInfo:
    """One row of the lobby's list of games in progress: who plays in which colours, how
    many moves were played and how many watch."""

    game_id: str
    player1: str
    player2: str
    colors: Colors
    moves: int = 0
    spectators: int = 0


@attrs.frozen(kw_only=True)
class Cell:
    """A board cell: ``row`` 0 is the top row, ``column`` 0 the leftmost."""

    row: int
    column: int


@attrs.frozen(kw_only=True)
class Verdict:
    """A position's value with perfect play, for the player named (the mover, in
    ``analysis``): ``outcome``, ``plies`` until the end, and ``score`` (higher is better:
    a quicker win, a slower loss)."""

    outcome: VerdictOutcome
    plies: int
    score: int


@attrs.frozen(kw_only=True)
class MoveNote:
    """One move of an analysed game: ``ply`` (1 is the first move), the ``column`` played,
    the mover's ``before`` verdict, the ``best`` columns there, the mover's verdict
    ``after`` the move (as before it: from the mover's side), and its ``grade``."""

    ply: int
    column: int
    before: Verdict
    best: list[int]
    after: Verdict
    grade: Grade


# --------------------------------------------------------------------------- client -> server


@attrs.frozen(kw_only=True)
class NewConnection:
    """First message on every socket: claim a name, or resume a session with its token."""

    username: str
    resume: str | None = None


@attrs.frozen(kw_only=True)
class Challenge:
    """Invite an AVAILABLE user to a game, untimed or with ``time_control``."""

    opponent: str
    time_control: TimeControl | None = None


@attrs.frozen(kw_only=True)
class Cancel:
    """The challenger withdraws their pending invitation to ``opponent``."""

    opponent: str


@attrs.frozen(kw_only=True)
class Accept:
    """The invited user accepts ``challenger``'s invitation: a game starts."""

    challenger: str


@attrs.frozen(kw_only=True)
class Decline:
    """The invited user refuses ``challenger``'s invitation."""

    challenger: str


@attrs.frozen(kw_only=True)
class Seek:
    """Play anyone: wait in the quick-pairing pool until another user seeks the same
    ``time_control`` (None: untimed), then a game starts on that clock."""

    time_control: TimeControl | None = None


@attrs.frozen(kw_only=True)
class Unseek:
    """Leave the quick-pairing pool."""


@attrs.frozen(kw_only=True)
class Leave:
    """End this socket's session without closing the socket (a guest leaving, or changing
    name): the lobby forgets the user, and the socket may send ``new_connection`` again."""


@attrs.frozen(kw_only=True)
class Move:
    """Drop a token in ``column`` (0..6) of game ``game_id``.

    ``ply``, when sent, is the number of moves already played when the player decided (the
    length of the last ``game_state.moves``): the move counts only at that ply, so a move
    resent after a reconnect is never played twice (``stale_move``).  Absent: any ply."""

    game_id: str
    column: int
    ply: int | None = None


@attrs.frozen(kw_only=True)
class Quit:
    """Leave game ``game_id``: a forfeit, the opponent wins."""

    game_id: str


@attrs.frozen(kw_only=True)
class Chat:
    """Say ``text`` to the other player of game ``game_id`` (during the game and for a while
    after it; at most 140 characters)."""

    game_id: str
    text: str


@attrs.frozen(kw_only=True)
class OfferDraw:
    """Offer the opponent a draw in game ``game_id`` (or accept theirs, if they offered one)."""

    game_id: str


@attrs.frozen(kw_only=True)
class AnswerDraw:
    """Accept (``accept: true``) or decline the opponent's pending draw offer."""

    game_id: str
    accept: bool


@attrs.frozen(kw_only=True)
class Abort:
    """End game ``game_id`` with nobody's record changed: only until both players have moved."""

    game_id: str


@attrs.frozen(kw_only=True)
class Watch:
    """Become a spectator of game ``game_id``: its ``watching``, ``game_state`` and
    ``game_over`` (and its players' chat) follow, until ``unwatch`` or the game's end."""

    game_id: str


@attrs.frozen(kw_only=True)
class Unwatch:
    """Stop watching game ``game_id`` (answered ``unwatched``)."""

    game_id: str


@attrs.frozen(kw_only=True)
class FollowGames:
    """Ask for the lobby's list of games in progress: a ``game_list`` now, then
    ``game_list_update``s while not playing (a fresh ``game_list`` after each game), until
    ``unfollow_games`` or the end of the connection."""


@attrs.frozen(kw_only=True)
class UnfollowGames:
    """Stop getting the list of games in progress (no answer)."""


@attrs.frozen(kw_only=True)
class Rematch:
    """On the result screen of game ``game_id``: offer its opponent a rematch (or accept
    theirs, if they offered one first: two crossing offers start one game)."""

    game_id: str


@attrs.frozen(kw_only=True)
class AnswerRematch:
    """Accept (``accept: true``: the rematch starts at once) or decline the opponent's
    pending rematch offer for game ``game_id``."""

    game_id: str
    accept: bool


@attrs.frozen(kw_only=True)
class LeaveResult:
    """The player left the result screen of game ``game_id`` (back to the lobby): a rematch
    offer either way is off, and the opponent can no longer offer one.  Never answered."""

    game_id: str


@attrs.frozen(kw_only=True)
class PlayComputer:
    """Play a game against the computer at ``level``; ``first`` says who moves first.
    Answered with ``game_started`` (its ``computer`` names the level), as any game."""

    level: BotLevel
    first: FirstMover = "you"


@attrs.frozen(kw_only=True)
class Analyse:
    """Ask for the perfect-play analysis of finished game ``game_id`` (yours or any stored
    one): ``analysis_progress`` while it is computed, then ``analysis``."""

    game_id: str


ClientMessage: TypeAlias = (
    NewConnection
    | Challenge
    | Cancel
    | Accept
    | Decline
    | Seek
    | Unseek
    | Leave
    | Move
    | Quit
    | Chat
    | OfferDraw
    | AnswerDraw
    | Abort
    | Watch
    | Unwatch
    | FollowGames
    | UnfollowGames
    | Rematch
    | AnswerRematch
    | LeaveResult
    | PlayComputer
    | Analyse
)
CLIENT_MESSAGE_TYPES: Final[tuple[type, ...]] = get_args(ClientMessage)


# --------------------------------------------------------------------------- server -> client


@attrs.frozen(kw_only=True)
class Welcome:
    """Reply to ``new_connection``: the session is open. Keep ``resume`` to reconnect."""

    username: str
    resume: str
    protocol: int = PROTOCOL_VERSION
    account: bool = False
    grace_seconds: float = 0.0
    """How long a playing user's session outlives its socket: a page keeps ``resume`` that
    long after it closes, so a new tab or a reload within it takes the game back."""
    chat: bool = True
    """Whether games have a chat on this server (``c4actors serve --chat off``: no)."""


@attrs.frozen(kw_only=True)
class LeftLobby:
    """Reply to ``leave``: the session of ``username`` has ended; the socket stays open and
    may send ``new_connection`` again (under any name)."""

    username: str


@attrs.frozen(kw_only=True)
class UserList:
    """Snapshot of the listed lobby plus the user themself; a client replaces its whole view
    with it.  ``online`` counts every connected user, listed or not: on a busy server the list
    holds only the first users (``docs/protocol.md``), so a join need not cost O(users)."""

    users: list[UserInfo]
    online: int


@attrs.frozen(kw_only=True)
class LobbyUpdate:
    """Changes since the last update: apply ``left`` first, then ``users``; ``online`` is the
    number of connected users now (it may be the only change)."""

    users: list[UserInfo]
    left: list[str]
    online: int


@attrs.frozen(kw_only=True)
class GameList:
    """Snapshot of the listed games in progress, answering ``follow_games`` (and again after
    each of the follower's own games); a client replaces its whole list with it.  ``total``
    counts every game in progress, listed or not: the list is bounded like the user list."""

    games: list[GameInfo]
    total: int


@attrs.frozen(kw_only=True)
class GameListUpdate:
    """Changes to the list of games since the last update: apply ``ended`` first, then
    ``games``; ``total`` is the number of games in progress now (it may be the only change)."""

    games: list[GameInfo]
    ended: list[str]
    total: int


@attrs.frozen(kw_only=True)
class InvitationSent:
    """To the challenger: the invitation to ``to`` is pending (``time_control``: as asked)."""

    to: str
    time_control: TimeControl | None = None


@attrs.frozen(kw_only=True)
class Invitation:
    """To the challenged user: ``from_`` (wire key ``from``) invites you, to a game with
    ``time_control`` if set (accepting agrees to it)."""

    from_: str
    time_control: TimeControl | None = None


@attrs.frozen(kw_only=True)
class InvitationDeclined:
    """To the challenger: ``by`` declined the invitation."""

    by: str


@attrs.frozen(kw_only=True)
class InvitationCancelled:
    """To either side: the invitation is off because ``by`` withdrew it (``reason``
    ``cancelled``, told to the challenged user) or left (``left``, told to whoever stays),
    or because it was not answered in time (``expired``, told to both; ``by`` is the other
    side).

    ``reason`` has a default so that a frame without it (an older server) still decodes."""

    by: str
    reason: CancelReason = "cancelled"


@attrs.frozen(kw_only=True)
class GameStarted:
    """To both players: a game began (or is resumed after a reconnect)."""

    game_id: str
    player1: str
    player2: str
    colors: Colors
    you: PlayerNumber
    time_control: TimeControl | None = None
    rematch_of: str | None = None
    """Set when this game is a rematch of that finished game (the seats swapped)."""
    computer: BotLevel | None = None
    """Set in a game against the computer: its level (the computer's seat has no socket)."""


@attrs.frozen(kw_only=True)
class GameState:
    """To both players after every move: the whole position. ``next`` is null once over.

    ``seconds_to_move``: how long ``next`` has, from when this message was sent, before they
    lose on time (or the game is aborted, before both players moved); absent when no limit
    applies (the server's ``--move-timeout`` is 0, or the game is over).  ``clocks``: both
    players' remaining time, in timed games only."""

    game_id: str
    board: list[str]
    moves: list[int]
    next: str | None
    last_move: Cell | None
    seconds_to_move: float | None = None
    clocks: Clocks | None = None


@attrs.frozen(kw_only=True)
class GameOver:
    """To both players: the game ended. ``line`` is the winning four, if any."""

    game_id: str
    result: GameResult
    winner: str | None
    reason: GameOverReason
    line: list[tuple[int, int]] | None = None


@attrs.frozen(kw_only=True)
class OpponentDisconnected:
    """Your opponent's socket dropped; they have ``grace_seconds`` to come back."""

    game_id: str
    grace_seconds: float


@attrs.frozen(kw_only=True)
class OpponentReconnected:
    """Your opponent came back within the grace period; play goes on."""

    game_id: str


@attrs.frozen(kw_only=True)
class DrawOffered:
    """To both players: ``by`` offers a draw (answer with ``answer_draw``; it lapses when the
    player it was offered to moves)."""

    game_id: str
    by: str


@attrs.frozen(kw_only=True)
class DrawDeclined:
    """To both players: ``by`` declined the pending draw offer."""

    game_id: str
    by: str


@attrs.frozen(kw_only=True)
class RematchOffered:
    """To both players of the finished game ``game_id``: ``by`` offers a rematch (answer
    with ``answer_rematch``, or offer one too; it is off after ``expires_in`` seconds)."""

    game_id: str
    by: str
    expires_in: float | None = None


@attrs.frozen(kw_only=True)
class RematchDeclined:
    """To both players: ``by`` declined the rematch offer of game ``game_id``."""

    game_id: str
    by: str


@attrs.frozen(kw_only=True)
class RematchCancelled:
    """The rematch offer of game ``game_id`` is off: ``by`` left the result screen
    (``reason: "left"``, told to the other player) or nobody answered it in time
    (``expired``, told to both; ``by`` is the other player)."""

    game_id: str
    by: str
    reason: RematchCancelReason


@attrs.frozen(kw_only=True)
class ChatMessage:
    """To everyone who hears game ``game_id`` (its players): ``from_`` (wire key ``from``)
    said ``text`` at ``at`` (the server's wall clock, epoch seconds)."""

    game_id: str
    from_: str
    text: str
    at: float


@attrs.frozen(kw_only=True)
class Watching:
    """To a spectator, answering ``watch``: who plays game ``game_id`` in which colours, and
    how many watch it (this spectator included).  The position follows in a ``game_state``.

    A message of its own rather than ``game_started`` with no seat: a client that never
    watches keeps reading ``game_started`` as "my game began"."""

    game_id: str
    player1: str
    player2: str
    colors: Colors
    spectators: int
    rematch_of: str | None = None
    """Set when this game is a rematch of that finished game: its spectators are moved
    here without asking (this message is how they learn it), as a ``watch`` would."""


@attrs.frozen(kw_only=True)
class Unwatched:
    """To a spectator: it no longer watches game ``game_id`` (it sent ``unwatch``, or its own
    game started).  Nothing more of that game reaches it after this message."""

    game_id: str


@attrs.frozen(kw_only=True)
class SpectatorCount:
    """To the players of game ``game_id``: ``spectators`` watch it now.
    Sent only when the count changed, at most about once a second (changes in between are
    coalesced into the next), so a game nobody watches never sends it."""

    game_id: str
    spectators: int


@attrs.frozen(kw_only=True)
class Error:
    """A request was refused or malformed. ``code`` is machine-readable; ``ref`` names the
    request type it answers, when known."""

    code: ErrorCode
    message: str
    ref: str | None = None


@attrs.frozen(kw_only=True)
class AnalysisProgress:
    """To the asker of ``analyse``: ``done`` of the game's ``total`` moves are analysed."""

    game_id: str
    done: int
    total: int


@attrs.frozen(kw_only=True)
class Analysis:
    """To the asker of ``analyse``: every move of game ``game_id`` with its verdicts and
    grade; ``lost_at``: the ply of the move after which its player never again held a
    draw or a win (null in a drawn game, or when the loser was lost from the start)."""

    game_id: str
    moves: list[MoveNote]
    lost_at: int | None = None


ServerMessage: TypeAlias = (
    Welcome
    | LeftLobby
    | UserList
    | LobbyUpdate
    | GameList
    | GameListUpdate
    | InvitationSent
    | Invitation
    | InvitationDeclined
    | InvitationCancelled
    | GameStarted
    | GameState
    | GameOver
    | OpponentDisconnected
    | OpponentReconnected
    | DrawOffered
    | DrawDeclined
    | RematchOffered
    | RematchDeclined
    | RematchCancelled
    | ChatMessage
    | Watching
    | Unwatched
    | SpectatorCount
    | AnalysisProgress
    | Analysis
    | Error
)
SERVER_MESSAGE_TYPES: Final[tuple[type, ...]] = get_args(ServerMessage)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


TYPE_NAMES: dict[type, str] = {
    cls: _snake(cls.__name__) for cls in CLIENT_MESSAGE_TYPES + SERVER_MESSAGE_TYPES
}
