"""The values the store keeps: accounts and game records (immutable)."""

from __future__ import annotations

import attrs

from c4actors.game_record import GameRecord
from protocol.messages import GameOverReason

__all__ = ["Account", "GameRecord", "GameSummary", "LeaderboardRow"]


@attrs.frozen(kw_only=True)
class Account:
    name: str
    password_hash: str = attrs.field(repr=False)
    color: str
    wins: int = 0
    losses: int = 0
    draws: int = 0
    created_at: float = 0.0
    session_version: int = 0
    """Session cookies carry the version they were signed with; ending the account's
    sessions (logout) increments it, so every earlier cookie stops working."""


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
