"""The rules of one game as a sans-io reducer: seats, turns, grace deadlines and the end.

``apply(game, event, now)`` takes the game's whole state (an immutable ``Game``), one
event (a move or a quit from a socket, a seat left or returned, a deadline reached,
an abort) and the current time, and returns the new state with the effects to carry
out: messages for sockets (``Send``; the shell encodes each once), the deadline to wake
up at (``ArmDeadline`` / ``CancelDeadline``) and the end (``Finished``, once).  It owns
no socket, no task and no clock: the Trio ``GameActor`` drives it today, and since a
``Game`` serialises to JSON and back (``to_json`` / ``from_json``), a multi-process
server can keep it in Redis and carry on with it anywhere.

Rules, checked by ``tests/test_game_state.py`` over random event sequences:

* a game ends exactly once (one ``Finished``, one ``game_over`` to the players then
  connected), and its result agrees with ``c4actors.rules`` for the moves played;
* after the end nothing changes: a move or a quit is answered ``game_over``;
* a refused event (not your turn, an illegal move, a stranger's move, a move for another
  ply, a deadline that has not passed, a seat that is not away) returns the same state,
  and at most one ``error`` to its sender;
* a move that names its ply (the number of moves played when the player decided) is
  played only at that ply, so one resent after a reconnect is never played twice;
* a player who is away never wins by disconnect: when a grace period ends the win goes
  to the opponent only if they are connected then; with both away the game is aborted;
* nobody can stall a game: with a move timeout, the player to move who has not moved
  within it loses on time (``timeout``), or the game is aborted if not both players have
  moved yet (an abandoned opening is no game, as the Lichess first-move rule has it);
* in a timed game (``setup.time_control``, Fischer) a player's clock runs from when the
  server received the opponent's move to when it receives theirs, and gains the increment
  after each move it was charged for; it starts only after the player's first move, which
  has its own limit (``first_move_seconds``, the same abort as above); a player whose
  clock reaches zero loses on time, and a player who is away keeps losing time;
* every deadline (grace periods, the move timeout) is a function of the state alone, so a
  game restored from JSON re-arms exactly the same ones; and an event that arrives at or
  after a deadline the shell has not fed yet is handled after that deadline, never before
  (a move that reaches the server after the flag does not count).

* draw offers: at most one is pending, a player offers again only ``DRAW_OFFER_PLIES``
  plies after their last offer, an offer lapses when the player it was made to moves, and
  accepting it (or offering back) ends the game as a draw by ``agreement``;
* a player may abort only until both players have moved (``cannot_abort`` after), and an
  aborted game changes nobody's record.

Sockets are named by ``ConnId`` (the lobby's ids): a move counts only from the socket
that holds the seat now, so a socket whose session was taken over plays no more.
"""

from __future__ import annotations

import json
import math
from typing import Final, TypeAlias

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from c4actors.game_record import GameResult, GameSetup
from c4actors.rules import Board, IllegalMoveError, Termination
from protocol.messages import (
    Cell,
    Clocks,
    DrawDeclined,
    DrawOffered,
    Error,
    ErrorCode,
    GameOver,
    GameOverReason,
    GameStarted,
    GameState,
    OpponentDisconnected,
    OpponentReconnected,
    PlayerNumber,
    ServerMessage,
    Watching,
)

ConnId: TypeAlias = int
"""Identifies one socket, as in the lobby."""

SEATS: Final[tuple[PlayerNumber, PlayerNumber]] = (1, 2)
DEFAULT_MOVE_TIMEOUT: Final = 120.0
"""Seconds the player to move has in an untimed game (``c4actors serve --move-timeout``)."""
DRAW_OFFER_PLIES: Final = 4
"""Plies (moves of either player) between two draw offers of one player: two of each."""


# --------------------------------------------------------------------------- state


@attrs.frozen(kw_only=True)
class Seat:
    """One player's place at the table: the socket that holds it now (None while the player is
    away) and, while away, when their grace period ends (clock seconds, as ``now``)."""

    conn: ConnId | None
    away_until: float | None = None


@attrs.frozen(kw_only=True)
class Game:
    """The whole state of one game: a plain value, equal after a JSON round trip."""

    setup: GameSetup
    grace_seconds: float
    seats: tuple[Seat, Seat]
    board: Board = attrs.field(factory=Board.empty)
    result: GameResult | None = None
    """Set once, when the game ends."""
    move_timeout: float = 0.0
    """Seconds the player to move has before they lose on time (0: no limit)."""
    turn_started: float = 0.0
    """Clock time the current turn began: the start, or when the server received the last
    move (the time a ``MoveRequested`` is applied at)."""
    draw_offer: PlayerNumber | None = None
    """The player whose draw offer is pending, if any."""
    draw_offered_at: tuple[int | None, int | None] = (None, None)
    """Per seat: the number of plies on the board at their last draw offer."""
    first_move_seconds: float = 0.0
    """Timed games: seconds each player has for their first move (their clock starts after)."""
    clocks: tuple[float, float] | None = None
    """Timed games: each player's remaining seconds as of ``turn_started`` (None: untimed)."""
    started_at: float = 0.0
    """Wall-clock time (epoch seconds) the game began, for its record: kept with the game,
    so a cluster's standby that carries it on records when it really began.  Not a clock
    time: ``shifted`` leaves it."""

    @property
    def game_id(self) -> str:
        return self.setup.game_id

    @property
    def is_over(self) -> bool:
        return self.result is not None

    @property
    def mover(self) -> PlayerNumber:
        """The player to move."""
        return 1 if self.board.turn == 1 else 2

    @property
    def mover_clock_runs(self) -> bool:
        """Whether the player to move is on their clock: a timed game, after their first move."""
        return self.clocks is not None and len(self.board.moves) >= 2

    @property
    def turn_deadline(self) -> float | None:
        """When the player to move loses on time (or the opening is aborted), if ever.

        Asked several times per move: written out rather than through ``mover`` and
        ``mover_clock_runs``, so that a timed game's turn costs hardly more than an
        untimed one's."""
        if self.result is not None:
            return None
        clocks = self.clocks
        if clocks is not None:
            board = self.board
            if len(board.moves) >= 2:
                return self.turn_started + clocks[0 if board.turn == 1 else 1]
            return self.turn_started + self.first_move_seconds
        if self.move_timeout <= 0:
            return None
        return self.turn_started + self.move_timeout

    def clocks_at(self, now: float) -> tuple[float, float] | None:
        """Both players' remaining time at ``now`` (timed games)."""
        clocks = self.clocks
        if clocks is None or len(self.board.moves) < 2 or self.result is not None:
            return clocks
        spent = now - self.turn_started
        if self.board.turn == 1:
            return (max(0.0, clocks[0] - spent), clocks[1])
        return (clocks[0], max(0.0, clocks[1] - spent))

    @property
    def deadline(self) -> float | None:
        """The earliest deadline: a grace period's end or the turn's.  (Asked a few times per
        move: the usual case, both players here, builds nothing.)"""
        turn = self.turn_deadline
        first, second = self.seats[0].away_until, self.seats[1].away_until
        if first is None and second is None:
            return turn
        return min(time for time in (first, second, turn) if time is not None)

    def seat(self, number: PlayerNumber) -> Seat:
        return self.seats[number - 1]

    def number_of(self, name: str) -> PlayerNumber | None:
        """The seat of the player called ``name`` (exactly as the lobby spells it)."""
        for number in SEATS:
            if self.setup.player(number).name == name:
                return number
        return None

    def connected(self) -> tuple[ConnId, ...]:
        """The sockets of the players who are here, seat 1 first."""
        return tuple(seat.conn for seat in self.seats if seat.conn is not None)


# --------------------------------------------------------------------------- events


@attrs.frozen
class MoveRequested:
    """Socket ``conn``, signed in as ``name``, asks to drop a token in ``column``; with
    ``ply``, only if that many moves are played (else ``stale_move``: it was resent)."""

    conn: ConnId
    name: str
    column: int
    ply: int | None = None


@attrs.frozen
class QuitRequested:
    """Socket ``conn``, signed in as ``name``, forfeits."""

    conn: ConnId
    name: str


@attrs.frozen
class SeatLeft:
    """``name``'s socket dropped: their grace period starts."""

    name: str


@attrs.frozen
class SeatReturned:
    """``name`` is back (or took their session over) on socket ``conn``."""

    name: str
    conn: ConnId


@attrs.frozen
class DrawOfferRequested:
    """Socket ``conn``, signed in as ``name``, offers a draw (or accepts a pending one)."""

    conn: ConnId
    name: str


@attrs.frozen
class DrawAnswerRequested:
    """Socket ``conn``, signed in as ``name``, accepts or declines the opponent's offer."""

    conn: ConnId
    name: str
    accept: bool


@attrs.frozen
class AbortRequested:
    """Socket ``conn``, signed in as ``name``, aborts the game before both players moved."""

    conn: ConnId
    name: str


@attrs.frozen
class DeadlineReached:
    """The clock reached the deadline last armed (or a later time)."""


@attrs.frozen
class Aborted:
    """The game cannot go on: the server is stopping, or the game crashed (``crashed``: the
    players are told ``internal_error`` first)."""

    crashed: bool = False


Event: TypeAlias = (
    MoveRequested
    | QuitRequested
    | SeatLeft
    | SeatReturned
    | DeadlineReached
    | Aborted
    | DrawOfferRequested
    | DrawAnswerRequested
    | AbortRequested
)


# --------------------------------------------------------------------------- effects


@attrs.frozen
class Send:
    """Deliver ``message`` to each socket in ``to`` (encode it once); with ``spectators``,
    then the same frame to everyone watching the game.

    The core says who hears a message, so the shell never guesses it from the message: a
    new position, the end and the players' chat are public, and are emitted even when no
    player is there to hear them (both away), since spectators may be."""

    to: tuple[ConnId, ...]
    message: ServerMessage
    spectators: bool = False


@attrs.frozen
class ArmDeadline:
    """Feed ``DeadlineReached`` to the game when the clock reaches ``at`` (replaces any
    deadline armed before)."""

    at: float


@attrs.frozen
class CancelDeadline:
    """No deadline any more: every player is here, or the game is over."""


@attrs.frozen
class Finished:
    """The game ended with ``result``: save it and report it (exactly once per game)."""

    result: GameResult


Effect: TypeAlias = Send | ArmDeadline | CancelDeadline | Finished


# --------------------------------------------------------------------------- the reducer


def start(
    setup: GameSetup,
    conns: tuple[ConnId, ConnId],
    grace_seconds: float,
    now: float = 0.0,
    *,
    move_timeout: float = 0.0,
    first_move_seconds: float = 0.0,
    started_at: float = 0.0,
) -> tuple[Game, list[Effect]]:
    """A new game with both players on ``conns``, begun at clock time ``now`` (and at
    wall-clock time ``started_at``): each gets ``game_started``, then both the empty board;
    the first turn's deadline is armed.

    ``move_timeout`` applies to untimed games, ``first_move_seconds`` to timed ones."""
    control = setup.time_control
    game = Game(
        setup=setup,
        grace_seconds=grace_seconds,
        seats=(Seat(conn=conns[0]), Seat(conn=conns[1])),
        move_timeout=move_timeout,
        turn_started=now,
        first_move_seconds=first_move_seconds,
        clocks=None if control is None else (control.base_seconds, control.base_seconds),
        started_at=started_at,
    )
    effects: list[Effect] = [Send((conns[n - 1],), _started(game, n)) for n in SEATS]
    effects += _to_players(game, _state(game, now))
    return game, effects + _deadline_changes(None, game)


def apply(game: Game, event: Event, now: float) -> tuple[Game, list[Effect]]:
    """Apply one event at clock time ``now``; return the new state and the effects, in order.

    Never raises for any event: what the rules refuse is answered with an ``error`` to its
    sender (if it has one) and leaves ``game`` as it was."""
    if game.result is not None:
        return game, _after_the_end(event)
    deadline = game.deadline
    if deadline is not None and now >= deadline and not isinstance(event, DeadlineReached):
        # The shell has not fed this deadline yet (the event won the race to the inbox):
        # the deadline comes first, and every deadline ends the game.
        game, ended = _deadline_reached(game, now)
        return game, ended + _after_the_end(event)
    match event:
        case MoveRequested(conn=conn, name=name, column=column, ply=ply):
            return _move(game, conn, name, column, ply, now, deadline)
        case QuitRequested(conn=conn, name=name):
            number = _seat_of(game, conn, name)
            if number is None:
                return game, [_refuse(conn, "unknown_game", NOT_PLAYING, "quit")]
            return _finish(game, _name(game, _other(number)), "forfeit")
        case SeatLeft(name=name):
            return _seat_left(game, name, now)
        case SeatReturned(name=name, conn=conn):
            return _seat_returned(game, name, conn, now)
        case DeadlineReached():
            return _deadline_reached(game, now)
        case DrawOfferRequested(conn=conn, name=name):
            return _offer_draw(game, conn, name)
        case DrawAnswerRequested(conn=conn, name=name, accept=accept):
            return _answer_draw(game, conn, name, accept)
        case AbortRequested(conn=conn, name=name):
            if _seat_of(game, conn, name) is None:
                return game, [_refuse(conn, "unknown_game", NOT_PLAYING, "abort")]
            if len(game.board.moves) >= 2:
                text = "both players have moved: quit to forfeit instead"
                return game, [_refuse(conn, "cannot_abort", text, "abort")]
            return _finish(game, None, "aborted")
        case Aborted(crashed=crashed):
            effects: list[Effect] = []
            if crashed:
                crash = Error(code="internal_error", message="this game crashed and ended")
                effects += _to_players(game, crash)
            game, finish = _finish(game, None, "aborted")
            return game, effects + finish


NOT_PLAYING: Final = "you are not playing in this game"


def _after_the_end(event: Event) -> list[Effect]:
    """A request that reaches a finished game (it was queued behind the last move)."""
    match event:
        case MoveRequested(conn=conn):
            return [_refuse(conn, "game_over", "this game is over", "move")]
        case QuitRequested(conn=conn):
            return [_refuse(conn, "game_over", "this game is over", "quit")]
        case DrawOfferRequested(conn=conn):
            return [_refuse(conn, "game_over", "this game is over", "offer_draw")]
        case DrawAnswerRequested(conn=conn):
            return [_refuse(conn, "game_over", "this game is over", "answer_draw")]
        case AbortRequested(conn=conn):
            return [_refuse(conn, "game_over", "this game is over", "abort")]
        case _:
            return []


def _offer_draw(game: Game, conn: ConnId, name: str) -> tuple[Game, list[Effect]]:
    number = _seat_of(game, conn, name)
    if number is None:
        return game, [_refuse(conn, "unknown_game", NOT_PLAYING, "offer_draw")]
    if game.draw_offer == _other(number):
        return _finish(game, None, "agreement")  # both want a draw: offering back accepts
    plies = len(game.board.moves)
    last = game.draw_offered_at[number - 1]
    if game.draw_offer == number:
        text = "your draw offer is still pending"
        return game, [_refuse(conn, "draw_offer_limit", text, "offer_draw")]
    if last is not None and plies - last < DRAW_OFFER_PLIES:
        text = f"one draw offer every {DRAW_OFFER_PLIES // 2} moves of each player"
        return game, [_refuse(conn, "draw_offer_limit", text, "offer_draw")]
    offered_at = (
        (plies, game.draw_offered_at[1]) if number == 1 else (game.draw_offered_at[0], plies)
    )
    game = attrs.evolve(game, draw_offer=number, draw_offered_at=offered_at)
    return game, _to_players(game, DrawOffered(game_id=game.game_id, by=name))


def _answer_draw(game: Game, conn: ConnId, name: str, accept: bool) -> tuple[Game, list[Effect]]:
    ref = "answer_draw"
    number = _seat_of(game, conn, name)
    if number is None:
        return game, [_refuse(conn, "unknown_game", NOT_PLAYING, ref)]
    if game.draw_offer != _other(number):
        return game, [_refuse(conn, "no_draw_offer", "your opponent offers no draw", ref)]
    if accept:
        return _finish(game, None, "agreement")
    game = attrs.evolve(game, draw_offer=None)
    return game, _to_players(game, DrawDeclined(game_id=game.game_id, by=name))


def _move(
    game: Game,
    conn: ConnId,
    name: str,
    column: int,
    ply: int | None,
    now: float,
    deadline: float | None,
) -> tuple[Game, list[Effect]]:
    """``deadline`` is ``game.deadline``, which ``apply`` has just computed."""
    number = _seat_of(game, conn, name)
    if number is None:
        return game, [_refuse(conn, "unknown_game", NOT_PLAYING, "move")]
    played = len(game.board.moves)
    if ply is not None and ply != played:
        # Before the turn check: a move resent after a reconnect, once the opponent has
        # answered it, is the mover's turn again and would otherwise be played twice.
        text = f"this move was for ply {ply}, but {played} moves are played: it is not played"
        return game, [_refuse(conn, "stale_move", text, "move")]
    if game.board.turn != number:
        return game, [_refuse(conn, "not_your_turn", "wait for your opponent's move", "move")]
    try:
        board = game.board.play(column)
    except IllegalMoveError as error:
        return game, [_refuse(conn, error.code, error.message, "move")]
    clocks = game.clocks
    if clocks is not None and game.mover_clock_runs:
        # The apply loop ended the game if the deadline had passed: ``now`` is before it.
        control = game.setup.time_control
        assert control is not None
        left = clocks[number - 1] - (now - game.turn_started) + control.increment_seconds
        clocks = _with_clock(clocks, number, left)
        # The player a draw was offered to answers it by moving: the offer lapses.
    offer = None if game.draw_offer == _other(number) else game.draw_offer
    game = attrs.evolve(game, board=board, turn_started=now, draw_offer=offer, clocks=clocks)
    effects = _to_players(game, _state(game, now), spectators=True)
    outcome = board.outcome
    if outcome.termination is Termination.WIN:
        assert outcome.winner is not None
        winner = _name(game, 1 if outcome.winner == 1 else 2)
        game, finish = _finish(game, winner, "four_in_a_row", outcome.line)
        return game, effects + finish
    if outcome.termination is Termination.DRAW:
        game, finish = _finish(game, None, "board_full")
        return game, effects + finish
    return game, effects + _deadline_changes(deadline, game)


def _seat_left(game: Game, name: str, now: float) -> tuple[Game, list[Effect]]:
    number = game.number_of(name)
    if number is None or game.seat(number).conn is None:
        return game, []
    if game.grace_seconds <= 0:
        game = _with_seat(game, number, Seat(conn=None))
        return _disconnect_end(game, number)
    deadline = game.deadline
    game = _with_seat(game, number, Seat(conn=None, away_until=now + game.grace_seconds))
    effects: list[Effect] = []
    other = game.seat(_other(number)).conn
    if other is not None:
        notice = OpponentDisconnected(game_id=game.game_id, grace_seconds=game.grace_seconds)
        effects.append(Send((other,), notice))
    return game, effects + _deadline_changes(deadline, game)


def _seat_returned(game: Game, name: str, conn: ConnId, now: float) -> tuple[Game, list[Effect]]:
    number = game.number_of(name)
    if number is None:
        return game, []
    was_away = game.seat(number).conn is None
    deadline = game.deadline
    game = _with_seat(game, number, Seat(conn=conn))
    effects: list[Effect] = [
        Send((conn,), _started(game, number)),
        Send((conn,), _state(game, now)),
    ]
    other = game.seat(_other(number)).conn
    if was_away and other is not None:
        effects.append(Send((other,), OpponentReconnected(game_id=game.game_id)))
    return game, effects + _deadline_changes(deadline, game)


def _deadline_reached(game: Game, now: float) -> tuple[Game, list[Effect]]:
    deadline = game.deadline
    if deadline is None or now < deadline:
        return game, []
    if game.turn_deadline == deadline:
        return _timeout_end(game)
    gone: PlayerNumber = 1 if game.seat(1).away_until == deadline else 2
    return _disconnect_end(game, gone)


def _timeout_end(game: Game) -> tuple[Game, list[Effect]]:
    """The player to move ran out of time: they lose, whoever is here (their opponent was
    not to move, so being away cost nothing), unless not both have moved yet: then the game
    is aborted, with no change to anybody's record (such games are not kept anyway)."""
    if len(game.board.moves) < 2:
        return _finish(game, None, "aborted")
    return _finish(game, _name(game, _other(game.mover)), "timeout")


def _disconnect_end(game: Game, gone: PlayerNumber) -> tuple[Game, list[Effect]]:
    """``gone``'s grace period is over: the opponent wins if they are here, else nobody does."""
    other = _other(gone)
    if game.seat(other).conn is None:
        return _finish(game, None, "aborted")
    return _finish(game, _name(game, other), "disconnect")


def _finish(
    game: Game,
    winner: str | None,
    reason: GameOverReason,
    line: tuple[tuple[int, int], ...] | None = None,
) -> tuple[Game, list[Effect]]:
    result = GameResult(winner=winner, reason=reason, moves=game.board.moves)
    deadline = game.deadline
    seats = (Seat(conn=game.seats[0].conn), Seat(conn=game.seats[1].conn))
    game = attrs.evolve(game, result=result, seats=seats)
    over = GameOver(
        game_id=game.game_id,
        result="draw" if winner is None else "win",
        winner=winner,
        reason=reason,
        line=None if line is None else list(line),
    )
    effects = _to_players(game, over, spectators=True)
    effects += _deadline_changes(deadline, game)
    effects.append(Finished(result))
    return game, effects


# --------------------------------------------------------------------------- helpers


def _to_players(game: Game, message: ServerMessage, *, spectators: bool = False) -> list[Effect]:
    """``message`` to every player who is here (nothing when nobody is), and with
    ``spectators`` to the spectators too (then even when no player is here)."""
    conns = game.connected()
    return [Send(conns, message, spectators)] if conns or spectators else []


def _deadline_changes(before: float | None, game: Game) -> list[Effect]:
    after = game.deadline
    if after == before:
        return []
    return [CancelDeadline()] if after is None else [ArmDeadline(after)]


def _seat_of(game: Game, conn: ConnId, name: str) -> PlayerNumber | None:
    """The sender's seat, if the sender is the socket that holds it now."""
    number = game.number_of(name)
    if number is None or game.seat(number).conn != conn:
        return None
    return number


def _with_seat(game: Game, number: PlayerNumber, seat: Seat) -> Game:
    seats = (seat, game.seats[1]) if number == 1 else (game.seats[0], seat)
    return attrs.evolve(game, seats=seats)


def _with_clock(
    clocks: tuple[float, float], number: PlayerNumber, left: float
) -> tuple[float, float]:
    return (left, clocks[1]) if number == 1 else (clocks[0], left)


def _other(number: PlayerNumber) -> PlayerNumber:
    return 2 if number == 1 else 1


def _name(game: Game, number: PlayerNumber) -> str:
    return game.setup.player(number).name


def _refuse(conn: ConnId, code: ErrorCode, message: str, ref: str) -> Send:
    return Send((conn,), Error(code=code, message=message, ref=ref))


def _started(game: Game, number: PlayerNumber) -> GameStarted:
    setup = game.setup
    return GameStarted(
        game_id=setup.game_id,
        player1=setup.player1.name,
        player2=setup.player2.name,
        colors=setup.colors,
        you=number,
        time_control=setup.time_control,
        rematch_of=setup.rematch_of,
        computer=None if setup.computer is None else setup.computer.level,
    )


WIRE_SECONDS_DIGITS: Final = 3
"""Times in a ``game_state`` are rounded to the millisecond: a float's full repr
(``300.26289999999995``) is three times longer, and a timed game's state carries three of them
on every move, to both players; the state itself keeps the exact times."""


def _state(game: Game, now: float) -> GameState:
    board = game.board
    last = board.last_move
    turn = game.turn_deadline
    clocks = game.clocks_at(now)
    return GameState(
        game_id=game.game_id,
        board=board.to_rows(),
        moves=list(board.moves),
        next=None if board.is_over else _name(game, 1 if board.turn == 1 else 2),
        last_move=None if last is None else Cell(row=last[0], column=last[1]),
        seconds_to_move=(
            None
            if turn is None or board.is_over
            else round(max(0.0, turn - now), WIRE_SECONDS_DIGITS)
        ),
        clocks=(
            None
            if clocks is None
            else Clocks(
                player1=round(clocks[0], WIRE_SECONDS_DIGITS),
                player2=round(clocks[1], WIRE_SECONDS_DIGITS),
            )
        ),
    )


def watching(game: Game, spectators: int, now: float) -> list[ServerMessage]:
    """What a new spectator of ``game`` is sent: the players and colours (``watching``,
    with ``spectators`` counting it), then the position as the players last saw it."""
    setup = game.setup
    header = Watching(
        game_id=setup.game_id,
        player1=setup.player1.name,
        player2=setup.player2.name,
        colors=setup.colors,
        spectators=spectators,
        rematch_of=setup.rematch_of,
    )
    return [header, _state(game, now)]


# --------------------------------------------------------------------------- JSON


_converter: Final = cattrs.Converter(forbid_extra_keys=True)
_converter.register_unstructure_hook(Board, lambda board: list(board.moves))
_converter.register_structure_hook(Board, lambda moves, _: Board.from_moves(moves))


_dumps: Final = json.JSONEncoder(separators=(",", ":")).encode
_unstructure_rest: Final = make_dict_unstructure_fn(
    Game, _converter, setup=override(omit=True), _cattrs_omit_if_default=False
)
_SETUP_TEXTS: Final[dict[int, tuple[GameSetup, str]]] = {}
"""Each game's setup as JSON, by the setup's identity (kept alive here, so an id is never
another object's): a cluster's core writes its game's whole JSON on every move, and the
setup, about 40% of the text, never changes."""
_SETUP_TEXTS_MAX: Final = 4096


def to_json(game: Game) -> str:
    """The whole game as JSON text (the board as its moves): the JSON encoder's text for
    the game's fields, written by hand (a cluster's core writes a game whole when it
    starts and when it ends, and cattrs and the encoder took about three quarters of the
    time: the encoder makes a piece of text per token); a value of a type the hand does
    not write (anything but ``int``, ``float``, ``str`` and None where the fields hold
    them) takes the encoder's way."""
    setup = setup_json(game.setup)
    try:
        return '{"setup":' + setup + _rest_text(game)
    except _NotPlain:
        return '{"setup":' + setup + "," + _dumps(_unstructure_rest(game))[1:]


def setup_json(setup: GameSetup) -> str:
    """The setup as JSON text (compact, ASCII: as ``to_json`` writes it), kept by the
    setup's identity: a game's start, its end and its record write it (``to_json``,
    ``cluster.recorder.record_to_json``)."""
    cached = _SETUP_TEXTS.get(id(setup))
    if cached is None or cached[0] is not setup:
        if len(_SETUP_TEXTS) >= _SETUP_TEXTS_MAX:
            _SETUP_TEXTS.clear()
        cached = _SETUP_TEXTS[id(setup)] = (setup, _dumps(_converter.unstructure(setup)))
    return cached[1]


class _NotPlain(Exception):
    """A value ``_rest_text`` does not write by hand (``to_json`` encodes the game's rest
    with the encoder)."""


def _rest_text(game: Game) -> str:
    """``to_json``'s text after the setup: ``,"grace_seconds":...}``, the fields in
    ``Game``'s order, as the encoder writes them."""
    first, second = game.seats
    result = game.result
    clocks = game.clocks
    offered = game.draw_offered_at
    moves = game.board.moves
    return (
        f',"grace_seconds":{_number(game.grace_seconds)}'
        f',"seats":[{{"conn":{_optional(first.conn)},"away_until":{_optional(first.away_until)}}}'
        f',{{"conn":{_optional(second.conn)},"away_until":{_optional(second.away_until)}}}]'
        f',"board":{_ints(moves)}'
        f',"result":{"null" if result is None else _result_text(result)}'
        f',"move_timeout":{_number(game.move_timeout)}'
        f',"turn_started":{_number(game.turn_started)}'
        f',"draw_offer":{_optional(game.draw_offer)}'
        f',"draw_offered_at":[{_optional(offered[0])},{_optional(offered[1])}]'
        f',"first_move_seconds":{_number(game.first_move_seconds)}'
        f',"clocks":{"null" if clocks is None else f"[{_number(clocks[0])},{_number(clocks[1])}]"}'
        f',"started_at":{_number(game.started_at)}}}'
    )


def _number(value: object) -> str:
    """An ``int`` or a ``float`` as the encoder writes it (``NaN``, ``Infinity``...)."""
    if type(value) is float:
        return _float_text(value)
    if type(value) is int:
        return int.__repr__(value)
    raise _NotPlain


def _optional(value: object) -> str:
    return "null" if value is None else _number(value)


def _ints(values: tuple[int, ...]) -> str:
    if not all(type(value) is int for value in values):
        raise _NotPlain
    return "[" + ",".join(map(int.__repr__, values)) + "]"


def _result_text(result: GameResult) -> str:
    winner, reason = result.winner, result.reason
    if type(reason) is not str or not (winner is None or type(winner) is str):
        raise _NotPlain
    winner_text = "null" if winner is None else _string_text(winner)
    return (
        f'{{"winner":{winner_text},"reason":{_string_text(reason)},"moves":{_ints(result.moves)}}}'
    )


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return float.__repr__(value)


_string_text: Final = json.encoder.encode_basestring_ascii
"""A string as the encoder writes it (``ensure_ascii``, as ``_dumps``)."""

assert [field.name for field in attrs.fields(Game)] == [
    *("setup", "grace_seconds", "seats", "board", "result", "move_timeout", "turn_started"),
    *("draw_offer", "draw_offered_at", "first_move_seconds", "clocks", "started_at"),
], "_rest_text writes each field of a Game by hand, in this order"
assert [field.name for field in attrs.fields(Seat)] == ["conn", "away_until"]
assert [field.name for field in attrs.fields(GameResult)] == ["winner", "reason", "moves"]


def from_json(text: str) -> Game:
    """The game ``to_json`` wrote; raises ``cattrs`` / ``ValueError`` errors on bad text."""
    return _converter.structure(json.loads(text), Game)


def shifted(game: Game, delta: float) -> Game:
    """The same game on a clock ``delta`` seconds ahead: every time it holds (the turn's
    start, the grace periods' ends) moves by ``delta``; the clocks' remaining seconds are
    relative to the turn's start, so they stay.  A standby core restores a game saved on
    another process's clock with ``delta`` = its now minus the old core's last commit: the
    outage is charged to nobody, and every deadline comes the same time after the restore
    as it was after that commit."""
    seats = (_shifted_seat(game.seats[0], delta), _shifted_seat(game.seats[1], delta))
    return attrs.evolve(game, seats=seats, turn_started=game.turn_started + delta)


def _shifted_seat(seat: Seat, delta: float) -> Seat:
    if seat.away_until is None:
        return seat
    return attrs.evolve(seat, away_until=seat.away_until + delta)
