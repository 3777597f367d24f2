"""What a game actor's inbox takes: the players' requests (straight from their
connections, no lobby hop: moves, quits, chat, draw offers and aborts) and the lobby's
news of their seats.

A module of its own so that the connections and the lobby, which only write to a game's
inbox, need not import the actor (its store, its logs); the actor turns each item into an
event of its core (``c4actors.game_state``) or of its chat room.
"""

from __future__ import annotations

from typing import Final

import attrs

from c4actors import game_state as core
from c4actors.actors.mailbox import Mailbox

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
