"""One game described once, from the lobby that starts it to the store that keeps it.

``GameSetup`` says who plays which game in which colours and whether each player has
an account; the lobby core makes it when a challenge is accepted, the game core plays
it and the store saves it.  ``GameResult`` says how the game ended; the game core makes
it, the lobby applies it to the players' records and the store saves it.  A stored game
(``GameRecord``) is the two together with the times: no layer copies their fields into
a look-alike of its own, so a field added here reaches every layer at once.

Pure values (frozen attrs classes of plain data), so they serialise with cattrs.
"""

from __future__ import annotations

from typing import Literal

import attrs

from c4actors.colors import css_colors
from protocol.messages import BotLevel, Colors, GameOverReason, PlayerNumber, TimeControl

StoredOutcome = Literal["win", "draw"]


@attrs.frozen(kw_only=True)
class Player:
    """One side of a game: the name as shown, the palette colour it plays in, and whether the
    name is a registered account (only those records are stored)."""

    name: str
    color: str
    registered: bool = False


@attrs.frozen(kw_only=True)
class Computer:
    """The computer's seat in a game against it: ``seat`` (1 or 2) at ``level``.  Its seat
    has no socket; the game actor moves for it."""

    level: BotLevel
    seat: PlayerNumber


@attrs.frozen(kw_only=True)
class GameSetup:
    """Who plays: ``player1`` (the challenged user) moves first; ``time_control`` is the
    clock both agreed to (None: untimed); ``rematch_of`` is the finished game this one is
    a rematch of (its seats swapped; not stored: it only tells the players and spectators);
    ``computer`` is set in a game against the computer (such a game changes nobody's
    record: the leaderboard is for people)."""

    game_id: str
    player1: Player
    player2: Player
    time_control: TimeControl | None = None
    rematch_of: str | None = None
    computer: Computer | None = None

    @property
    def players(self) -> tuple[Player, Player]:
        return (self.player1, self.player2)

    @property
    def colors(self) -> Colors:
        """The CSS colours of both players' tokens, as ``game_started`` carries them."""
        return css_colors(self.player1.color, self.player2.color)

    @property
    def any_registered(self) -> bool:
        return self.player1.registered or self.player2.registered

    def player(self, number: PlayerNumber) -> Player:
        return self.player1 if number == 1 else self.player2


@attrs.frozen(kw_only=True)
class GameResult:
    """How a game ended. ``winner`` is None for a draw or an aborted game; ``moves`` are the
    columns played, in order."""

    winner: str | None
    reason: GameOverReason
    moves: tuple[int, ...] = ()

    @property
    def aborted(self) -> bool:
        """The game could not go on (a crash, a shutdown): nobody's record changes."""
        return self.reason == "aborted"

    @property
    def outcome(self) -> StoredOutcome | None:
        """``win`` or ``draw`` as the store and ``game_over`` say it; None when aborted."""
        if self.aborted:
            return None
        return "draw" if self.winner is None else "win"

    @property
    def kept(self) -> bool:
        """Whether the game is stored: only once both players moved.  A game left at the
        first move is no game (Lichess aborts those too), and storing every one would let
        two sockets fill the disk with challenges and quits."""
        return len(self.moves) >= 2

    @property
    def counts(self) -> bool:
        """Whether the players' records change: the game is kept and was not aborted."""
        return self.kept and not self.aborted


@attrs.frozen(kw_only=True)
class GameRecord:
    """A finished game as the store keeps it (``started_at`` and ``ended_at``: Unix times)."""

    setup: GameSetup
    result: GameResult
    started_at: float
    ended_at: float

    @property
    def game_id(self) -> str:
        return self.setup.game_id
