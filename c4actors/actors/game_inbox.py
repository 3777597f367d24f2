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
)
