"""What the core keeps in Redis so that a standby carries on exactly where it stopped.

One hash (``STATE``) holds the core's whole state, one field per part:

* ``lobby``: ``LobbyState.save`` and the relay's table of connections (each cluster
  connection number with its edge and the edge's own number, and the next number), which
  change together (a join, a departure);
* ``game:<id>``: each game in progress, ``game_state.to_json`` (moves, seats, time
  control, clocks, deadlines), from its start until the lobby has heard of its end;
* ``clock``: the core's clock (``trio.current_time``) at its last commit.

``StateKeeper`` is the ``Journal`` the core's actors report to: it only notes what
changed, and the relay writes it (``changes``) in the same fenced commit as the
acknowledgement of the inputs that caused it and the frames they sent: per input batch,
the lobby field only when the lobby changed and one field per game that changed, never
the whole world.

Times are on each process's own monotonic clock, so a standby restoring the state
(``load``) moves every saved time by its now minus the old core's last ``clock``: the
outage is charged to nobody (no flag falls, no grace period ends because of it), and each
deadline comes as long after the restore as it was after the last commit.

Error handling: ``load`` raises ``ValueError`` for a state it cannot read, whole: the
caller starts empty rather than half restored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import cattrs

from c4actors import game_state
from c4actors.game_state import Game
from c4actors.lobby_state import LobbyState

STATE: Final = "c4:state"
LOBBY: Final = "lobby"
CLOCK: Final = "clock"
GAME_PREFIX: Final = "game:"


@attrs.frozen
class ConnRow:
    """A connection of an edge, as the core numbers it."""

    conn: int
    edge: str
    local: int


@attrs.frozen
class SavedCore:
    """What ``load`` read: the lobby (``LobbyState.save`` data), its connections, the
    next connection number and the games, every time already on the reader's clock."""

    lobby: dict[str, Any]
    conns: list[ConnRow]
    next_conn: int
    games: list[Game]


class StateKeeper:
    """The core's ``Journal``: see the module docstring.  ``wake`` is called on every
    change, so the relay commits what no input caused (a flag falling, a game ending)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._save_lobby: Callable[[], dict[str, Any]] | None = None
        """The lobby's ``save`` (of its state now: a restore makes another)."""
        self._lobby_dirty = False
        self._games: dict[str, Game] = {}
        self._gone: set[str] = set()

    # Journal
    def lobby_changed(self, save: Callable[[], dict[str, Any]]) -> None:
        self._save_lobby, self._lobby_dirty = save, True
        self._wake()

    def game_changed(self, game: Game) -> None:
        self._games[game.game_id] = game
        self._gone.discard(game.game_id)
        self._wake()

    def game_gone(self, game_id: str) -> None:
        self._games.pop(game_id, None)
        self._gone.add(game_id)
        self._wake()

    def connections_changed(self) -> None:
        """The relay's table changed (the lobby field holds it too)."""
        self._lobby_dirty = True
        self._wake()

    @property
    def lobby_dirty(self) -> bool:
        return self._lobby_dirty

    @property
    def dirty(self) -> bool:
        return self._lobby_dirty or bool(self._games) or bool(self._gone)

    def changes(
        self, conns: Callable[[], list[ConnRow]], next_conn: int
    ) -> tuple[dict[str, str], list[str]]:
        """The fields to set and to delete for everything noted since the last call (then
        forgotten); the lobby field with ``conns()`` and ``next_conn``, the relay's table."""
        puts: dict[str, str] = {}
        save = self._save_lobby
        if self._lobby_dirty and save is not None:
            puts[LOBBY] = json.dumps(
                {
                    "lobby": save(),
                    "conns": [[row.conn, row.edge, row.local] for row in conns()],
                    "next_conn": next_conn,
                },
                separators=(",", ":"),
            )
        for game_id, game in self._games.items():
            puts[GAME_PREFIX + game_id] = game_state.to_json(game)
        deletes = [GAME_PREFIX + game_id for game_id in sorted(self._gone)]
        self._lobby_dirty, self._games, self._gone = False, {}, set()
        return puts, deletes


def load(fields: Mapping[str, str], now: float) -> SavedCore | None:
    """The state a core committed (``fields``: the ``STATE`` hash), every time moved onto
    the clock whose time is ``now``; None when no core committed a lobby yet."""
    if LOBBY not in fields:
        return None
    try:
        delta = now - float(fields[CLOCK])
        saved = json.loads(fields[LOBBY])
        lobby = LobbyState.shifted_save(saved["lobby"], delta)
        conns = [ConnRow(int(conn), str(edge), int(local)) for conn, edge, local in saved["conns"]]
        next_conn = int(saved["next_conn"])
        games = [
            game_state.shifted(game_state.from_json(text), delta)
            for field, text in sorted(fields.items())
            if field.startswith(GAME_PREFIX)
        ]
    except (KeyError, TypeError, ValueError, cattrs.BaseValidationError) as exc:
        raise ValueError(f"not a core state: {exc!r}") from None
    return SavedCore(lobby, conns, next_conn, games)
