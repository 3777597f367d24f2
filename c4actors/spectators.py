"""Who watches which game, and the limits on it: a plain object, no socket, no task.

The lobby actor holds one ``Spectators`` and asks it before it routes a ``watch`` to a
game: the decision (allowed, or which error) is made here, so the limits are tested
without a server.  The game actor only holds the mailboxes of the spectators it was
given, and delivers each frame it encoded for its players to them afterwards.

Limits: ``max_per_game`` spectators per game (``--max-spectators``) and ``max_per_conn``
games watched per connection (``--max-watching``).  A game's entry goes when the game
ends (``game_ended``), a connection's when it leaves (``left``) or starts its own game
(``stop_all``): in each case the caller tells the games concerned.

A finished game's spectators follow its players into their rematch: ``RematchFollowers``
keeps them while the lobby core says a rematch may still start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeAlias

import attrs

from protocol.messages import ErrorCode

ConnId: TypeAlias = int
DEFAULT_MAX_SPECTATORS: Final = 1000
DEFAULT_MAX_WATCHING: Final = 3


@attrs.frozen
class Refusal:
    """Why a ``watch`` or ``unwatch`` is refused: the ``error`` to send its connection."""

    code: ErrorCode
    message: str


@attrs.define
class Spectators:
    """See the module docstring."""

    max_per_game: int = DEFAULT_MAX_SPECTATORS
    max_per_conn: int = DEFAULT_MAX_WATCHING
    by_game: dict[str, set[ConnId]] = attrs.field(factory=dict)
    by_conn: dict[ConnId, set[str]] = attrs.field(factory=dict)

    def count(self, game_id: str) -> int:
        """How many watch ``game_id`` now."""
        return len(self.by_game.get(game_id, ()))

    def watch(self, conn: ConnId, game_id: str) -> Refusal | None:
        """Add ``conn`` as a spectator of the live game ``game_id``, or say why not.
        Watching a game one already watches is allowed and changes nothing (the game
        answers it again with the current position)."""
        watched = self.by_conn.get(conn, set())
        if game_id in watched:
            return None
        if len(watched) >= self.max_per_conn:
            text = f"you may watch at most {self.max_per_conn} games at once; unwatch one first"
            return Refusal("watching_too_many", text)
        if self.count(game_id) >= self.max_per_game:
            return Refusal("too_many_spectators", "this game has as many spectators as it may")
        self.by_conn.setdefault(conn, set()).add(game_id)
        self.by_game.setdefault(game_id, set()).add(conn)
        return None

    def unwatch(self, conn: ConnId, game_id: str) -> Refusal | None:
        """Remove ``conn`` from ``game_id``'s spectators, or say it was not one."""
        watched = self.by_conn.get(conn)
        if watched is None or game_id not in watched:
            return Refusal("not_watching", "you are not watching this game")
        self._remove(conn, game_id)
        return None

    def stop_all(self, conn: ConnId) -> list[str]:
        """``conn`` watches nothing any more (it left, or its own game starts): the games
        it watched, whose game actors must drop its mailbox."""
        games = sorted(self.by_conn.get(conn, ()))
        for game_id in games:
            self._remove(conn, game_id)
        return games

    def game_ended(self, game_id: str) -> list[ConnId]:
        """The game is over: its spectators watch it no longer (and may watch others).
        Returns who they were, so a caller can take them along (into a rematch, say)."""
        conns = self.by_game.pop(game_id, set())
        for conn in conns:
            watched = self.by_conn.get(conn)
            if watched is not None:
                watched.discard(game_id)
                if not watched:
                    del self.by_conn[conn]
        return sorted(conns)

    def _remove(self, conn: ConnId, game_id: str) -> None:
        watched = self.by_conn[conn]
        watched.discard(game_id)
        if not watched:
            del self.by_conn[conn]
        conns = self.by_game[game_id]
        conns.discard(conn)
        if not conns:
            del self.by_game[game_id]


MIN_PRUNE: Final = 64


@attrs.define
class RematchFollowers:
    """The spectators of finished games whose players may still start a rematch, to be made
    spectators of it (``follow``).

    ``still_possible(game_id, player)`` is the lobby core's word on whether the players of
    ``game_id`` (``player`` one of them) are both on its result screen.  Entries it rules out
    are dropped whenever the table has doubled since the last sweep, so it holds at most
    about twice the games that may still be rematched, at an amortised O(1) per game.
    The connections kept may have left or started a game since: the caller checks."""

    still_possible: Callable[[str, str], bool]
    by_game: dict[str, tuple[str, list[ConnId]]] = attrs.field(factory=dict)
    prune_at: int = MIN_PRUNE

    def keep(self, game_id: str, player: str, conns: list[ConnId]) -> list[str]:
        """``game_id`` ended watched by ``conns``; ``player`` is one of its players.
        Returns the games whose entries a sweep dropped (a cluster's core deletes their
        saved audiences)."""
        if not conns or not self.still_possible(game_id, player):
            return []
        self.by_game[game_id] = (player, conns)
        swept: list[str] = []
        if len(self.by_game) >= self.prune_at:
            for ended, (name, _) in list(self.by_game.items()):
                if not self.still_possible(ended, name):
                    del self.by_game[ended]
                    swept.append(ended)
            self.prune_at = max(MIN_PRUNE, 2 * len(self.by_game))
        return swept

    def follow(self, game_id: str) -> list[ConnId]:
        """The rematch of ``game_id`` started: the connections that watched it."""
        _, conns = self.by_game.pop(game_id, ("", []))
        return conns
