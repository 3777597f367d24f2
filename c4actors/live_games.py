"""The games in progress as the lobby lists them: a pure value beside ``lobby_state``.

No socket, no task, no clock: the lobby actor tells it what happened (a game started, a
move was played, its spectators changed, it ended) and broadcasts the ``GamesChanged``
it answers, coalesced by a ``GameListBuffer`` exactly as the user list's changes are by
``LobbyUpdateBuffer`` (the same ticks, lengthened the same way under load).

Promises, checked by ``tests/test_live_games.py``:

* the list is bounded like the user list (``list_limit``, the lobby's): only the first
  games to start are listed, the others are counted in ``total``; the place a listed game
  frees when it ends goes to the longest-running unlisted game;
* replaying the ``GamesChanged`` effects on a copy of the first snapshot reproduces
  ``listed()`` exactly, and a change to an unlisted game is no broadcast at all (only a
  start or an end changes ``total``);
* a connection hears the list only if it asked (``follow``): a client that never sends
  ``follow_games`` sees the protocol as it was before the list existed.

Why the lobby and not each game: the lobby already knows every game and every spectator
count (``Spectators``); the games only report their move count (``GameMoved``), without
waiting, and a count lost to a full lobby inbox is corrected by the next move.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import TypeAlias

import attrs

from c4actors.coalescer import Coalescer
from c4actors.game_record import GameSetup
from protocol.messages import GameInfo, GameList, GameListUpdate

ConnId: TypeAlias = int


@attrs.frozen
class GameMoved:
    """From a game actor to the lobby: game ``game_id`` has ``moves`` moves now."""

    game_id: str
    moves: int


@attrs.frozen
class GamesChanged:
    """Listed games that started or changed (``games``, their current rows) or left the list
    (``ended``); ``total`` is how many games are in progress after the change.  Both tuples
    are empty when only the count changed (an unlisted game started or ended)."""

    games: tuple[GameInfo, ...] = ()
    ended: tuple[str, ...] = ()
    total: int = attrs.field(kw_only=True)

    @property
    def count_only(self) -> bool:
        return not (self.games or self.ended)


class LiveGames:
    """The games in progress, which are listed, and who follows the list; see the module
    docstring.  ``list_limit`` bounds the listed games (None: every game)."""

    def __init__(self, list_limit: int | None = None) -> None:
        if list_limit is not None and list_limit < 1:
            raise ValueError(f"list_limit must be at least 1 (or None), not {list_limit}")
        self._list_limit = list_limit
        self._games: dict[str, GameInfo] = {}
        # The listed games in the order they started, and the others likewise (the next to
        # be listed first): both ordered, so a promotion is O(1).
        self._listed: dict[str, None] = {}
        self._waiting: OrderedDict[str, None] = OrderedDict()
        self._followers: dict[ConnId, None] = {}
        self._counts: dict[str, int] = {}
        """Move counts of unlisted games newer than their rows (``moved_all``): nobody sees
        such a row, so it is made again only when it is read (``_row``), not at each move
        (at 1,000 games in a closed loop nine moves in ten were an unlisted game's)."""

    # ----------------------------------------------------------------- queries

    @property
    def total(self) -> int:
        return len(self._games)

    def listed(self) -> list[GameInfo]:
        """The listed games, in the order they started (as ``game_list`` carries them)."""
        return [self._games[game_id] for game_id in self._listed]

    def info(self, game_id: str) -> GameInfo | None:
        return self._row(game_id)

    def snapshot(self) -> GameList:
        return GameList(games=self.listed(), total=self.total)

    def followers(self) -> Iterator[ConnId]:
        return iter(self._followers)

    def follows(self, conn: ConnId) -> bool:
        return conn in self._followers

    # ----------------------------------------------------------------- followers

    def follow(self, conn: ConnId) -> GameList:
        """``conn`` follows the list from now on; the snapshot it starts from (asking again
        is allowed: a fresh snapshot)."""
        self._followers[conn] = None
        return self.snapshot()

    def unfollow(self, conn: ConnId) -> None:
        """``conn`` follows the list no more (it asked, or it left); harmless if it did not."""
        self._followers.pop(conn, None)

    # ----------------------------------------------------------------- games

    def started(self, setup: GameSetup) -> GamesChanged:
        info = GameInfo(
            game_id=setup.game_id,
            player1=setup.player1.name,
            player2=setup.player2.name,
            colors=setup.colors,
        )
        self._games[info.game_id] = info
        if self._list_limit is None or len(self._listed) < self._list_limit:
            self._listed[info.game_id] = None
            return GamesChanged(games=(info,), total=self.total)
        self._waiting[info.game_id] = None
        return GamesChanged(total=self.total)

    def moved(self, game_id: str, moves: int) -> GamesChanged | None:
        """The game has ``moves`` moves (a count never goes back: a late report is ignored)."""
        info = self._row(game_id)
        if info is None or moves <= info.moves:
            return None
        return self._changed(attrs.evolve(info, moves=moves))

    def moved_all(self, counts: Mapping[str, int]) -> GamesChanged | None:
        """``moved`` for each game in ``counts`` (id to move count), as one change: the rows
        of the listed games whose count went up, in ``counts``' order (None: no such row).

        What the lobby applies at each knock for move counts (``LobbyActor.report_moves``):
        about 25 games a knock at 100 games in a closed loop, one change and one buffer add
        instead of one each (issue 16: the counts were a fifth of the lobby's time)."""
        games, listed, rows, unlisted = self._games, self._listed, [], self._counts
        for game_id, moves in counts.items():
            info = games.get(game_id)
            if info is None:
                continue
            if game_id not in listed:
                if moves > unlisted.get(game_id, info.moves):
                    unlisted[game_id] = moves  # its row made when read (``_row``)
                continue
            if moves <= info.moves:
                continue
            # Made directly: ``attrs.evolve`` costs twice as much, once a move.
            info = GameInfo(
                game_id=game_id,
                player1=info.player1,
                player2=info.player2,
                colors=info.colors,
                moves=moves,
                spectators=info.spectators,
            )
            games[game_id] = info
            rows.append(info)
        return GamesChanged(games=tuple(rows), total=self.total) if rows else None

    def watched(self, game_id: str, spectators: int) -> GamesChanged | None:
        """The game has ``spectators`` spectators now."""
        info = self._row(game_id)
        if info is None or spectators == info.spectators:
            return None
        return self._changed(attrs.evolve(info, spectators=spectators))

    def ended(self, game_id: str) -> GamesChanged | None:
        """The game is over: off the list, its place to the longest-running unlisted game."""
        self._counts.pop(game_id, None)
        if self._games.pop(game_id, None) is None:
            return None
        if game_id not in self._listed:
            del self._waiting[game_id]
            return GamesChanged(total=self.total)
        del self._listed[game_id]
        promoted: tuple[GameInfo, ...] = ()
        if self._waiting:
            next_id, _ = self._waiting.popitem(last=False)
            self._listed[next_id] = None
            row = self._row(next_id)  # its latest count: listed from now on
            assert row is not None
            promoted = (row,)
        return GamesChanged(games=promoted, ended=(game_id,), total=self.total)

    def _row(self, game_id: str) -> GameInfo | None:
        """The game's row, with its latest move count (``_counts``)."""
        info = self._games.get(game_id)
        moves = self._counts.pop(game_id, None)
        if info is None or moves is None:
            return info
        info = self._games[game_id] = attrs.evolve(info, moves=moves)
        return info

    def _changed(self, info: GameInfo) -> GamesChanged | None:
        self._games[info.game_id] = info
        if info.game_id not in self._listed:
            return None  # nobody sees an unlisted game's row
        return GamesChanged(games=(info,), total=self.total)


def _game_id(info: GameInfo) -> str:
    return info.game_id


@attrs.define
class GameListBuffer:
    """Coalesces ``GamesChanged`` into one ``game_list_update`` per tick: a
    ``c4actors.coalescer.Coalescer`` of game rows keyed by id, the same one (and so the same
    policy) as ``c4actors.lobby_updates.LobbyUpdateBuffer`` (a row change goes out one tick
    after the first change of the batch, a count-only change after the longer count tick,
    both lengthened with the followers the last update reached; ``tick <= 0``: at once).

    Only each game's latest row is kept: a game that started and ended within one tick
    appears only in ``ended``; clients apply ``ended`` first, then ``games``."""

    tick: float = 0.0
    _rows: Coalescer[GameInfo] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rows = Coalescer(_game_id, self.tick)

    def add(self, change: GamesChanged, now: float) -> None:
        """Buffer ``change`` (made at time ``now``) and set when the update is due."""
        self._rows.add(change.games, change.ended, change.total, now)

    def __bool__(self) -> bool:
        return bool(self._rows)

    @property
    def count_only(self) -> bool:
        return self._rows.count_only

    @property
    def due(self) -> float | None:
        """When the pending update must be sent; None when nothing is pending."""
        return self._rows.due

    def take(self) -> GameListUpdate | None:
        """The pending update, or None when nothing changed; the buffer is then empty."""
        batch = self._rows.take()
        if batch is None:
            return None
        return GameListUpdate(games=batch.rows, ended=batch.removed, total=batch.count)

    def reached(self, followers: int) -> None:
        """The update just taken was delivered to ``followers`` connections."""
        self._rows.reached(followers)

    @property
    def effective_tick(self) -> float:
        return self._rows.effective_tick

    @property
    def count_tick(self) -> float:
        return self._rows.count_tick
