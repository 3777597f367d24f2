"""What a game actor's inbox takes: the players' requests (straight from their
connections, no lobby hop: moves, quits, chat, draw offers and aborts) and the lobby's
news of their seats.

A module of its own so that the connections and the lobby, which only write to a game's
inbox, need not import the actor (its store, its logs); the actor turns each item into an
event of its core (``c4actors.game_state``) or of its chat room.
"""

from __future__ import annotations

from typing import Final, Protocol

import attrs
import trio

from c4actors import game_state as core
from c4actors.actors.mailbox import InboxStatistics, Mailbox

GAME_INBOX_SIZE: Final = 64


@attrs.frozen
class PlayMove:
    """From a player's connection: drop a token in ``column`` (at ``ply`` only, if given)."""

    sender: Mailbox
    name: str
    column: int
    received_at: float = 0.0
    """``trio.current_time()`` when the frame arrived: the time the move is played at (clocks
    are charged from receipt to receipt), and the start of the move latency metric."""
    ply: int | None = None
    """The frame's ``ply``: the number of moves played when the player decided."""


@attrs.frozen
class QuitGame:
    """From a player's connection: forfeit."""

    sender: Mailbox
    name: str


@attrs.frozen
class SeatLeft:
    """From the lobby: ``name``'s socket dropped; start their grace period."""

    name: str


@attrs.frozen
class SeatReturned:
    """From the lobby: ``name`` is back on ``mailbox``; resend the game there."""

    name: str
    mailbox: Mailbox


@attrs.frozen
class Say:
    """From a player's connection: a chat message (``sent_at``: wall clock, epoch seconds)."""

    sender: Mailbox
    name: str
    text: str
    sent_at: float


@attrs.frozen
class GameRequest:
    """From a player's connection: a request the core decides alone (a draw offer or answer,
    an abort), already made into its core event."""

    sender: Mailbox
    event: core.DrawOfferRequested | core.DrawAnswerRequested | core.AbortRequested


@attrs.frozen
class MovedOn:
    """From a player's connection: it started another game, or closed (ends the chat after
    the end early once both players have)."""

    conn: int


@attrs.frozen
class WatchGame:
    """From the lobby, which checked the limits: ``mailbox`` watches this game from now on;
    ``spectators`` is how many do (it included)."""

    mailbox: Mailbox
    spectators: int


@attrs.frozen
class UnwatchGame:
    """From the lobby: connection ``conn`` watches this game no more; ``tell``: answer it
    ``unwatched`` (not when it left: nobody would read it)."""

    conn: int
    tell: bool = True


@attrs.frozen
class Knock:
    """From the lobby: the game's ``SpectatorDoor`` holds requests.  Only a nudge for a game
    waiting on its inbox: dropped when the inbox is full, since the game opens its door
    before every item it handles anyway."""


KNOCK: Final = Knock()


class SpectatorDoor:
    """One game's ``WatchGame`` / ``UnwatchGame`` from the lobby, in their order, beside its
    bounded inbox.

    A thousand spectators may ask to watch within one lobby step (it handles 64 events a
    step): as inbox items they overflowed the game's 64 places, and the lobby, which never
    waits for a game, dropped the rest, so watchers the lobby counted were never served.
    The lobby has already bounded them (``--max-spectators``), so a plain list is safe here;
    the lobby knocks (``KNOCK``) when the list was empty, and the game takes the whole list
    before each item it handles."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: list[WatchGame | UnwatchGame] = []

    def put(self, item: WatchGame | UnwatchGame) -> bool:
        """Queue ``item``; True when the game has to be knocked for (nothing was waiting)."""
        self._waiting.append(item)
        return len(self._waiting) == 1

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def take(self) -> list[WatchGame | UnwatchGame]:
        """Everything queued, oldest first (for the game only)."""
        waiting, self._waiting = self._waiting, []
        return waiting


class DirectHandler(Protocol):
    """What a ``DirectInbox`` asks of its game (``GameActor`` has it)."""

    def handle_now(self, item: GameInput, /, admitted: bool = False) -> bool:
        """Handle ``item`` now, in the caller's task, if the game waits idle for its next
        item (True), else leave it to the inbox (False); ``admitted``: a move the caller
        has had the move gate admit already."""
        ...

    @property
    def wants_waking(self) -> bool:
        """After ``handle_now``: the game's own task must run (its game ended, or it failed)."""
        ...


class DirectInbox:
    """A game's inbox in a cluster's core: an item that finds the game waiting idle for its
    next one (nothing queued, its task parked on the inbox) is handled at once in the
    sender's task (``DirectHandler.handle_now``: the relay's, handing out an input batch),
    instead of being queued and the game's task woken for it.

    Why: in the core every game runs in one process, and waking a game's task for each move
    (a scheduler step, the instruments' two calls, the channel's receive and the task's
    rescheduling) was a fixed cost on every move beside the rules' own work.  Nothing a
    client sees changes: the game handles its items in the order they came (an item goes
    straight to the game only when nothing is queued before it, and a woken task that has
    not run yet is no longer waiting, so it gets the queue), with the same code, the same
    clock and the same move gate.  One process keeps its game tasks (its senders are the
    connections' readers, whose fairness the move gate was measured with)."""

    __slots__ = ("_send", "game")

    def __init__(self, send: trio.MemorySendChannel[GameInput]) -> None:
        self._send = send
        self.game: DirectHandler | None = None
        """The game, once its actor exists (it is routed before: ``LobbyActor._start_game``)."""

    def send_nowait(self, value: GameInput, /) -> None:
        """Handle ``value`` now if the game waits idle, else queue it; raises as a memory
        channel's ``send_nowait`` does."""
        if self.game is None:
            self._send.send_nowait(value)
        else:
            self._hand(value, self._send.statistics())

    def send_below(self, value: GameInput, share: int, /, admitted: bool = False) -> bool:
        """``send_nowait`` for a player's request, refused (False, nothing sent) when
        ``share`` items or more are queued already: the share of the inbox a connection may
        fill (``user.GAME_INBOX_SHARE``).  One look at the channel for both: the relay
        checked the share, then ``send_nowait`` looked again, and each ``statistics()``
        builds a frozen object of seven counts (two a move were about 3% of the core's
        samples, issue 16).  ``admitted``: a move the move gate admitted already (the
        relay asks it for each move, ``CoreRelay._handle_entries``)."""
        waiting = self._send.statistics()
        if waiting.current_buffer_used >= share:
            return False
        self._hand(value, waiting, admitted)
        return True

    def _hand(
        self, value: GameInput, waiting: trio.MemoryChannelStatistics, admitted: bool = False
    ) -> None:
        game, send = self.game, self._send
        if (
            game is not None
            and waiting.tasks_waiting_receive
            and not waiting.current_buffer_used
            and game.handle_now(value, admitted)
        ):
            if game.wants_waking:
                send.send_nowait(KNOCK)  # nothing is queued: it fits
            return
        send.send_nowait(value)

    def statistics(self) -> InboxStatistics:
        return self._send.statistics()


GameInput = (
    PlayMove
    | QuitGame
    | SeatLeft
    | SeatReturned
    | Say
    | GameRequest
    | MovedOn
    | WatchGame
    | UnwatchGame
    | Knock
)
