"""What the core keeps in Redis so that a standby carries on exactly where it stopped.

One hash (``STATE``) holds the core's whole state, in small fields, so that a commit
writes what changed and nothing else (a join costs O(1), not O(users)):

* ``lobby:<part>``: the lobby by parts (``LobbyState.take_changed_texts``: one field per user,
  socket, game, listed or waiting user..., and ``lobby:rest``), as JSON;
* ``conn:<n>``: the relay's row for cluster connection ``n`` (its edge and the edge's own
  number), and ``next_conn``, the next number;
* ``game:<id>``: each game in progress, ``game_state.to_json`` (moves, seats, time
  control, clocks, deadlines), from its start until the lobby has heard of its end:
  written whole when it starts and when anything but a move changes it (a seat left or
  returned, a draw offer, the end), and
* ``moves:<id>``: what the moves since that whole write changed (``game_delta``: the
  columns played since, the turn's start, the clocks, the draw offer), written instead of
  the whole game after a move and deleted with each whole write, so that a move costs a
  few dozen bytes made by hand, not the game's whole JSON;
* ``chat:<id>``: a game in progress's chat as far as its flood rule remembers it (each
  player's recent messages), once someone spoke, until the game is gone;
* ``ended:<id>``: a finished game's chat while it stays open after the end (the game, when
  the chat closes, the voices, the players who moved on), until it closes;
* ``aud:<id>``: a game's audience: who watches it, or, once it is over, its spectators
  kept to follow its players into a rematch (``LobbyActor.save_audience``), until it has
  none (one field per game: a spectator's arrival rewrites its game's audience, not
  every game's);
* ``follow:<n>``: connection ``n`` follows the list of games (every page does: one field
  each, so a join stays O(1));
* ``inputs_handled``: the input entries handled from each edge (``wire.Uplink.seq``:
  ``handled_inputs.HandledInputs``, one number per edge unless a gap is open), so that an
  entry an edge appends again after a lost reply is dropped by a core that took over
  after the first copy was handled, and one that came late is still handled once;
  (only the edges known as live: a dead edge is left out, and a standby drops its
  entries too);
* ``edges_fenced``: an older core's names of the edges it declared dead, no longer
  needed (an edge not in ``inputs_handled`` is fenced already): deleted by the first whole
  write of a core that takes over;
* ``clock``: the core's clock (``trio.current_time``) at its last commit.

``StateKeeper`` is the ``Journal`` the core's actors report to: it only notes what
changed, and the relay writes it (``changes``) in the same fenced commit as the
acknowledgement of the inputs that caused it and the frames they sent: per input batch,
the lobby's parts that changed and one field per game that changed, never the whole world.
A core that took over rewrites the whole lobby once (its times are on its own clock now)
and deletes the fields it did not restore (``loaded``).

Finished games' records are not state: ``take_records`` hands them to the commit, which
appends them to the ``records`` stream (``c4actors.cluster.recorder``) together with the
game's removal, and the edges write them to the SQL store.

Times are on each process's own monotonic clock, so a standby restoring the state
(``load``) moves every saved time by its now minus the old core's last ``clock``: the
outage is charged to nobody (no flag falls, no grace period ends because of it), and each
deadline comes as long after the restore as it was after the last commit.

The audiences were one field (``audiences``) before they were saved per game, rewritten
whole at every change: O(all spectators) per change.  ``load`` still reads that field
(beside any ``aud:<id>``), and a core that took over deletes it with its first commit (it
writes every audience it restored again, per game): the state in Redis outlives the
processes (a standby upgraded first takes over from an older core; a cluster stopped and
started again restores what the last core committed), and a few lines keep every spectator
of such an upgrade.  The other way is not kept: a core of an older version taking over
from a newer one restores no spectators (it ignores ``aud:<id>`` and deletes them), which
loses nobody's game.

The games were written whole after every move before ``moves:<id>``: such a state (an
older core's) loads as it is, each ``game:<id>`` a whole game with no delta.  A core of an
older version taking over from a newer one would restore each game as of its last whole
write (it ignores ``moves:<id>``): downgrading with games in progress is not supported.

Error handling: ``load`` raises ``ValueError`` for a state it cannot read, whole: the
caller starts empty rather than half restored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs
import cattrs

from c4actors import game_state
from c4actors.chat_rules import ChatRoom, Said, Voice
from c4actors.cluster import game_delta
from c4actors.cluster.handled_inputs import HandledInputs
from c4actors.cluster.recorder import record_to_json
from c4actors.game_record import GameRecord
from c4actors.game_state import Game
from c4actors.lobby_state import REST_PART, LobbyState

STATE: Final = "c4:state"
LOBBY_PREFIX: Final = "lobby:"
LOBBY_REST: Final = LOBBY_PREFIX + REST_PART
CONN_PREFIX: Final = "conn:"
NEXT_CONN: Final = "next_conn"
CLOCK: Final = "clock"
AUDIENCES: Final = "audiences"
"""The field all audiences were saved in before ``aud:<id>``: read, never written."""
AUDIENCE_PREFIX: Final = "aud:"
GAME_PREFIX: Final = "game:"
MOVES_PREFIX: Final = "moves:"
"""A game's moves since its ``game:<id>`` was written whole (``game_delta``)."""
_COMPACT: Final = (",", ":")
_dumps: Final = json.JSONEncoder(separators=_COMPACT).encode
"""``json.dumps(value, separators=_COMPACT)`` without making an encoder per call."""
_string_text: Final = json.encoder.encode_basestring_ascii
"""A string as ``_dumps`` writes it."""
CHAT_PREFIX: Final = "chat:"
FOLLOW_PREFIX: Final = "follow:"
INPUTS_HANDLED: Final = "inputs_handled"
EDGES_FENCED: Final = "edges_fenced"
"""An older core's field (the names of the latest edges it declared dead), deleted."""
ENDED_PREFIX: Final = "ended:"


@attrs.frozen
class ConnRow:
    """A connection of an edge, as the core numbers it."""

    conn: int
    edge: str
    local: int


@attrs.frozen
class EndedChat:
    """A finished game's chat, still open (``Journal.chat_lingers``), times on the reader's
    clock."""

    game: Game
    voices: tuple[Voice, Voice]
    closes_at: float
    moved_on: frozenset[int]


@attrs.frozen
class SavedCore:
    """What ``load`` read: the lobby (``LobbyState.save`` data), its connections, the
    next connection number, the games, their chats' voices by game and the audiences
    (``TakeOver.audiences``), every time already on the reader's clock."""

    lobby: dict[str, Any]
    conns: list[ConnRow]
    next_conn: int
    games: list[Game]
    chats: dict[str, tuple[Voice, Voice]] = attrs.field(factory=dict)
    audiences: dict[str, Any] = attrs.field(factory=dict)
    handled: HandledInputs = attrs.field(factory=HandledInputs)
    """The input entries handled from each edge (``wire.Uplink.seq``)."""
    ended: list[EndedChat] = attrs.field(factory=list)


class StateKeeper:
    """The core's ``Journal``: see the module docstring.  ``wake`` is called on every
    change, so the relay commits what no input caused (a flag falling, a game ending)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._take_lobby: Callable[[], tuple[dict[str, str], list[str]]] | None = None
        """The lobby's ``take_changed_texts`` (of its state now: a restore makes another)."""
        self._lobby_dirty = False
        self._games: dict[str, Game] = {}
        self._bases: dict[str, tuple[tuple[object, ...], tuple[int, ...]]] = {}
        """Each game in progress as last written whole (``game:<id>``), as its values a
        delta does not carry and its moves (``game_delta.delta_from``): a move after it is
        written as a delta of it (``moves:<id>``)."""
        self._chats: dict[str, tuple[Voice, Voice]] = {}
        self._gone: set[str] = set()
        self._conns: dict[int, ConnRow | None] = {}
        self._next_conn: int | None = None
        self._stale: set[str] = set()
        """Fields found at the take over: those the first whole write of the lobby does
        not write again are deleted with it (``loaded``)."""
        self._save_audience: Callable[[str], dict[str, Any] | None] | None = None
        self._audiences: set[str] = set()
        """The games whose audience changed."""
        self._following: dict[int, bool] = {}
        self._ended: dict[str, tuple[Game, ChatRoom | None]] = {}
        self._ended_games: dict[str, tuple[Game, str]] = {}
        """Each lingering chat's finished game and its JSON as a JSON string (the field's
        ``game``), as last written in ``ended:<id>``: the field is written again when a
        player moves on or someone speaks, the game unchanged, and that string, escaped
        once, is most of the field (``_ended_text``)."""
        self._handled: HandledInputs | None = None
        """The relay's input entries handled per edge, when they changed."""
        self._records: list[GameRecord] = []

    # Journal
    def lobby_changed(self, take: Callable[[], tuple[dict[str, str], list[str]]]) -> None:
        self._take_lobby, self._lobby_dirty = take, True
        self._wake()

    def game_changed(self, game: Game) -> None:
        self._games[game.game_id] = game
        self._gone.discard(game.game_id)
        self._wake()

    def game_gone(self, game_id: str) -> None:
        self._games.pop(game_id, None)
        self._bases.pop(game_id, None)
        self._chats.pop(game_id, None)
        self._gone.add(game_id)
        self._wake()

    def game_recorded(self, record: GameRecord) -> None:
        self._records.append(record)
        self._wake()

    def chat_changed(self, game_id: str, voices: tuple[Voice, Voice]) -> None:
        self._chats[game_id] = voices
        self._wake()

    def chat_lingers(self, game: Game, room: ChatRoom | None) -> None:
        self._ended[game.game_id] = (game, room)
        self._wake()

    def audience_changed(self, game_id: str, save: Callable[[str], dict[str, Any] | None]) -> None:
        self._save_audience = save
        self._audiences.add(game_id)
        self._wake()

    def following_changed(self, conn: int, following: bool) -> None:
        self._following[conn] = following
        self._wake()

    def inputs_handled(self, handled: HandledInputs) -> None:
        """The relay handled input entries: ``handled`` says which, per edge, committed
        with their acknowledgement (the relay's own: read at the commit)."""
        self._handled = handled
        self._wake()

    def connection_changed(self, conn: int, row: ConnRow | None) -> None:
        """The relay's row of cluster connection ``conn`` is now ``row`` (None: gone)."""
        self._conns[conn] = row
        self._wake()

    def loaded(self, fields: Iterable[str], keep: Iterable[str] = ()) -> None:
        """``fields`` were in ``STATE`` when this core took over: each one the first write
        of the whole lobby does not write again is deleted with it, but ``keep`` (the
        restored games' fields: written when they change) and the clock."""
        self._stale = set(fields) - set(keep) - {CLOCK, NEXT_CONN, INPUTS_HANDLED}

    @property
    def dirty(self) -> bool:
        return (
            self._lobby_dirty
            or bool(self._audiences)
            or bool(self._games)
            or bool(self._chats)
            or bool(self._gone)
            or bool(self._conns)
            or bool(self._following)
            or self._handled is not None
            or bool(self._ended)
            or bool(self._records)
        )

    def take_records(self) -> list[str]:
        """The records of the games finished since the last call (then forgotten), as the
        ``records`` stream carries them."""
        records, self._records = self._records, []
        return [record_to_json(record) for record in records]

    def changes(self, next_conn: int) -> tuple[dict[str, str], list[str]]:
        """The fields to set and to delete for everything noted since the last call (then
        forgotten), with ``next_conn``, the relay's next connection number."""
        puts: dict[str, str] = {}
        deletes: list[str] = []
        take = self._take_lobby
        if self._lobby_dirty and take is not None:
            parts, gone = take()
            for name, part in parts.items():
                puts[LOBBY_PREFIX + name] = part  # JSON already
            deletes += [LOBBY_PREFIX + name for name in gone]
        for conn, row in self._conns.items():
            if row is None:
                deletes.append(f"{CONN_PREFIX}{conn}")
            else:
                puts[f"{CONN_PREFIX}{conn}"] = json.dumps([row.edge, row.local])
        if next_conn != self._next_conn:
            puts[NEXT_CONN] = str(next_conn)
            self._next_conn = next_conn
        save_audience = self._save_audience
        if save_audience is not None:
            for game_id in self._audiences:
                audience = save_audience(game_id)
                if audience is None:
                    deletes.append(AUDIENCE_PREFIX + game_id)
                else:
                    puts[AUDIENCE_PREFIX + game_id] = _dumps(audience)
        for conn, following in self._following.items():
            if following:
                puts[f"{FOLLOW_PREFIX}{conn}"] = "1"
            else:
                deletes.append(f"{FOLLOW_PREFIX}{conn}")
        if self._handled is not None:
            puts[INPUTS_HANDLED] = self._handled.to_json()
            self._handled = None
        bases = self._bases
        for game_id, game in self._games.items():
            base = bases.get(game_id)
            delta = None if base is None else game_delta.delta_from(base[0], base[1], game)
            if delta is None:
                puts[GAME_PREFIX + game_id] = game_state.to_json(game)
                deletes.append(MOVES_PREFIX + game_id)  # the base holds every move now
                bases[game_id] = (game_delta.base_values(game), game.board.moves)
            else:
                puts[MOVES_PREFIX + game_id] = delta
        for game_id, voices in self._chats.items():
            puts[CHAT_PREFIX + game_id] = _dumps(_voice_rows(voices))
        deletes += [prefix + game_id for game_id in sorted(self._gone) for prefix in GAME_FIELDS]
        ended_games = self._ended_games
        for game_id, (game, room) in self._ended.items():
            if room is None or room.closes_at is None:
                deletes.append(ENDED_PREFIX + game_id)
                ended_games.pop(game_id, None)
            else:
                written = ended_games.get(game_id)
                if written is None or written[0] is not game:
                    text = _string_text(game_state.to_json(game))
                    written = ended_games[game_id] = (game, text)
                puts[ENDED_PREFIX + game_id] = _ended_text(written[1], room)
        self._ended = {}
        if self._stale and self._lobby_dirty and take is not None:
            deletes += sorted(self._stale - puts.keys() - set(deletes))
            self._stale = set()
        self._lobby_dirty, self._games, self._gone, self._conns = False, {}, set(), {}
        self._audiences, self._chats, self._following = set(), {}, {}
        return puts, deletes


def load(fields: Mapping[str, str], now: float) -> SavedCore | None:
    """The state a core committed (``fields``: the ``STATE`` hash), every time moved onto
    the clock whose time is ``now``; None when no core committed a lobby yet."""
    if LOBBY_REST not in fields:
        return None
    try:
        delta = now - float(fields[CLOCK])
        parts = {
            field.removeprefix(LOBBY_PREFIX): json.loads(text)
            for field, text in fields.items()
            if field.startswith(LOBBY_PREFIX)
        }
        lobby = LobbyState.shifted_save(LobbyState.save_from_parts(parts), delta)
        conns = []
        for field, text in fields.items():
            if field.startswith(CONN_PREFIX):
                edge, local = json.loads(text)
                conns.append(ConnRow(int(field.removeprefix(CONN_PREFIX)), str(edge), int(local)))
        conns.sort(key=lambda row: row.conn)
        next_conn = int(fields[NEXT_CONN])
        games = [
            game_state.shifted(_game(field.removeprefix(GAME_PREFIX), text, fields), delta)
            for field, text in sorted(fields.items())
            if field.startswith(GAME_PREFIX)
        ]
        chats = {
            field.removeprefix(CHAT_PREFIX): _voices(json.loads(text), delta)
            for field, text in fields.items()
            if field.startswith(CHAT_PREFIX)
        }
        audiences = json.loads(fields.get(AUDIENCES, "{}"))  # an older core's, if any
        if not isinstance(audiences, dict):
            raise TypeError("the audiences are not an object")
        by_game = {
            field.removeprefix(AUDIENCE_PREFIX): json.loads(text)
            for field, text in fields.items()
            if field.startswith(AUDIENCE_PREFIX)
        }
        if not all(isinstance(audience, dict) for audience in by_game.values()):
            raise TypeError("a game's audience is not an object")
        if by_game:
            audiences["games"] = by_game
        following = sorted(
            int(field.removeprefix(FOLLOW_PREFIX))
            for field in fields
            if field.startswith(FOLLOW_PREFIX)
        )
        if following:
            audiences["following"] = following
        handled = HandledInputs.from_json(fields.get(INPUTS_HANDLED, "{}"))
        ended = [
            _ended_chat(json.loads(text), delta)
            for field, text in sorted(fields.items())
            if field.startswith(ENDED_PREFIX)
        ]
    except (KeyError, TypeError, ValueError, cattrs.BaseValidationError) as exc:
        raise ValueError(f"not a core state: {exc!r}") from None
    return SavedCore(lobby, conns, next_conn, games, chats, audiences, handled, ended)


GAME_FIELDS: Final = (GAME_PREFIX, MOVES_PREFIX, CHAT_PREFIX)
"""The fields of one game in progress, deleted together once it is gone."""


def _game(game_id: str, text: str, fields: Mapping[str, str]) -> Game:
    """A game as its last whole write and the delta since, if any (not yet shifted)."""
    game = game_state.from_json(text)
    moves = fields.get(MOVES_PREFIX + game_id)
    return game if moves is None else game_delta.applied(game, moves)


def _ended_text(game_text: str, room: ChatRoom) -> str:
    """An ``ended:<id>`` field: the encoder's text for ``{"game": the game's JSON,
    "closes_at", "voices", "moved_on"}``, around ``game_text``, the game's JSON already
    written as a JSON string (``_string_text``)."""
    rest = {
        "closes_at": room.closes_at,
        "voices": _voice_rows(room.voices),
        "moved_on": sorted(room.moved_on),
    }
    return '{"game":' + game_text + "," + _dumps(rest)[1:]


def _voice_rows(voices: tuple[Voice, Voice]) -> list[list[list[Any]]]:
    return [[[said.at, said.norm] for said in voice.recent] for voice in voices]


def _ended_chat(data: Any, delta: float) -> EndedChat:
    """An ``ended:<id>`` field, moved onto the reader's clock."""
    game = game_state.shifted(game_state.from_json(str(data["game"])), delta)
    closes_at = float(data["closes_at"]) + delta
    moved_on = frozenset(int(conn) for conn in data["moved_on"])
    return EndedChat(game, _voices(data["voices"], delta), closes_at, moved_on)


def _voices(rows: Any, delta: float) -> tuple[Voice, Voice]:
    """A ``chat:<id>`` field's two voices, moved onto the reader's clock."""
    first, second = (
        Voice(tuple(Said(float(at), str(norm)) for at, norm in row)).shifted(delta) for row in rows
    )
    return first, second
