"""The values the store keeps: accounts and game records (immutable)."""

from __future__ import annotations

import attrs

from protocol.messages import GameOverReason, GameResult


@attrs.frozen(kw_only=True)
class Account:
    name: str
    password_hash: str = attrs.field(repr=False)
    color: str
    wins: int = 0
    losses: int = 0
    draws: int = 0
    created_at: float = 0.0


@attrs.frozen(kw_only=True)
class GameRecord:
    """A finished game as stored. ``winner`` is None for a draw or an aborted game."""

    game_id: str
    player1: str
    player2: str
    registered1: bool
    registered2: bool
    color1: str
    color2: str
    moves: tuple[int, ...]
    result: GameResult | None
    """None for an aborted game (no result, nobody's record changes)."""
    winner: str | None
    reason: GameOverReason
    started_at: float
    ended_at: float


@attrs.frozen(kw_only=True)
class GameSummary:
    """One line of a profile's recent games."""

    game_id: str
    opponent: str
    outcome: str
    """``win``, ``loss``, ``draw`` or ``aborted``, from the profile owner's side."""
    reason: GameOverReason
    moves: int
    ended_at: float


@attrs.frozen(kw_only=True)
class LeaderboardRow:
    name: str
    wins: int
    losses: int
    draws: int
    ratio: float
    """Wins over games played (0 with no games)."""
