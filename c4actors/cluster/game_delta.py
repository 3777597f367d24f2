"""What a move changes in a game, as the core journals it: a game's moves since its last
whole write, instead of the whole game again.

A cluster's core committed each changed game's whole JSON (``game_state.to_json``) after
every move: about 5 us of the core's CPU a move, its largest single cost beside the
actors (docs/benchmarks.md, issue 16).  A move changes only the board (one more column),
the turn's start, the clocks and the pending draw offer; everything else of a ``Game``
(its setup, seats, grace periods, the draw offers' plies, the result) changes at a start,
a seat left or returned, a draw offer, the end: rarely.  So the keeper writes the game
whole (its *base*) when it starts and whenever anything but those changed, and after a
move only its *delta* (``delta_of``): the columns played since the base and the
per-move values as they are now, a short text made by hand.

A delta is a state, not an increment: it names the ply it follows (the base's number of
moves) and carries every move since, so it replaces the one before, and applying one
(``applied``) is safe whatever the order: a delta the game already holds (applied twice,
or older than the game) changes nothing, and one that does not follow the game (a gap,
other columns, a move that is not legal) raises ``ValueError``, never half applies.

The text: ``[ply, "columns", turn_started, [clock, clock] | null, draw_offer | null]``,
the columns as one digit each (a board has seven: ``"3340"``), made from the moves' bytes
in C rather than by joining them one by one (0.24 against 1.3 us for 14 moves).
"""

from __future__ import annotations

import json
from operator import attrgetter
from typing import Any, Final

import attrs

from c4actors.game_state import Game
from c4actors.rules import COLUMNS

MOVED_FIELDS: Final = frozenset({"board", "turn_started", "clocks", "draw_offer"})
"""The fields of a ``Game`` a move changes: a delta carries them, the base the others."""

_BASE_FIELDS: Final = tuple(
    field.name for field in attrs.fields(Game) if field.name not in MOVED_FIELDS
)
assert COLUMNS <= 10, "a column is one digit in a delta"
_DIGITS: Final = bytes.maketrans(bytes(range(10)), b"0123456789")
_base_values: Final = attrgetter(*_BASE_FIELDS)
"""Every field a delta does not carry, as a tuple: compared whole (identical objects
compare at once: a move's ``attrs.evolve`` keeps them)."""


def delta_of(base: Game, game: Game) -> str | None:
    """The delta that makes ``game`` of ``base`` (the game as last written whole), or None
    when ``game`` differs from it in more than moves played since (write it whole)."""
    return delta_from(base_values(base), base.board.moves, game)


def base_values(base: Game) -> tuple[object, ...]:
    """Every field of ``base`` a delta does not carry (``delta_from``)."""
    return _base_values(base)


def delta_from(values: tuple[object, ...], played: tuple[int, ...], game: Game) -> str | None:
    """``delta_of`` a base given by its ``base_values`` and its moves (``played``), kept
    by the caller from when it wrote the base (``cluster.keeper``): the base itself, long
    out of the caches, is not read again at each commit, nor its values gathered anew."""
    moves = game.board.moves
    count = len(played)
    if len(moves) <= count or moves[:count] != played:
        return None
    if _base_values(game) != values:
        return None
    clocks = game.clocks
    clocks_text = "null" if clocks is None else f"[{clocks[0]!r},{clocks[1]!r}]"
    offer = game.draw_offer
    columns = bytes(moves[count:]).translate(_DIGITS).decode()
    return (
        f'[{count},"{columns}",{game.turn_started!r},{clocks_text},'
        f"{'null' if offer is None else offer}]"
    )


def applied(game: Game, text: str) -> Game:
    """``game`` with the delta ``text`` applied: the same ``game`` when it holds the
    delta's moves already (applied twice, or an older delta).  Raises ``ValueError`` when
    the text is not a delta, or does not follow ``game``."""
    ply, columns, turn_started, clocks, offer = _parsed(text)
    moves = game.board.moves
    count = len(moves)
    end = ply + len(columns)
    if ply > count:
        raise ValueError(f"a delta from ply {ply} does not follow a game of {count} moves")
    if moves[ply:end] != columns[: count - ply]:
        raise ValueError(f"a delta from ply {ply} has other moves than the game")
    if end <= count:
        return game  # held already
    board = game.board
    for column in columns[count - ply :]:
        board = board.play(column)  # IllegalMoveError is a ValueError
    return attrs.evolve(
        game, board=board, turn_started=turn_started, clocks=clocks, draw_offer=offer
    )


def _parsed(
    text: str,
) -> tuple[int, tuple[int, ...], float, tuple[float, float] | None, Any]:
    data = json.loads(text)
    if not isinstance(data, list) or len(data) != 5:
        raise ValueError(f"not a game's delta: {text!r}")
    ply, columns, turn_started, clocks, offer = data
    if not _is_int(ply) or ply < 0:
        raise ValueError(f"a delta's ply is not a count: {ply!r}")
    if (
        not isinstance(columns, str)
        or not columns
        or not columns.isdigit()
        or not columns.isascii()
    ):
        raise ValueError(f"a delta's moves are not columns: {columns!r}")
    if not _is_number(turn_started):
        raise ValueError(f"a delta's turn start is not a time: {turn_started!r}")
    if clocks is not None and not (
        isinstance(clocks, list) and len(clocks) == 2 and all(map(_is_number, clocks))
    ):
        raise ValueError(f"a delta's clocks are not two times: {clocks!r}")
    if offer not in (None, 1, 2) or isinstance(offer, bool):
        raise ValueError(f"a delta's draw offer is not a player: {offer!r}")
    pair = None if clocks is None else (float(clocks[0]), float(clocks[1]))
    return ply, tuple(map(int, columns)), float(turn_started), pair, offer


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
