"""Reading server frames cheaply: peek at the tag, decode each distinct frame once.

Most frames a simulated client receives need no decoding at all: an idle user drops its lobby
updates, and a player only needs to know *that* its fresh ``user_list`` arrived.  Decoding a
10,000-user ``user_list`` with the strict codec takes tens of milliseconds, so those are only
peeked at.  Frames whose content matters (``game_state``, ``game_over``, ``error``, ...) go
through ``protocol.codec.decode_server``, and through a small memo first: the server encodes
one frame per event and sends the same text to both players or to every watcher, so the load
tester decodes it once, not once per recipient.

The frames of every move (``game_state``), and those of every game (``game_over``,
``game_started``, ``invitation`` and ``invitation_sent``, without a time control), are decoded
by hand first (``decode_hot``): the same JSON parser, then each field's JSON type checked as the
strict codec checks it (no extra or missing keys, an int is not a bool or a float, strings
valid Unicode), without cattrs' generic structuring, which was most of the decoding's cost
(issue 17: at 100 closed-loop games the load tester's CPU set the moves/s).  Anything it does
not accept as exactly right goes to ``decode_server``, which decides, so a wrong frame is the
same ``ProtocolError`` as before and the hand decode only ever has to be right about what it
accepts (``tests/test_loadtest_frames.py`` compares both on generated frames).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Final, cast, get_args

from c4actors.rules import COLUMNS
from protocol.codec import decode_server, encode, structure_float
from protocol.messages import (
    Cell,
    Clocks,
    Colors,
    GameOver,
    GameOverReason,
    GameResult,
    GameStarted,
    GameState,
    Invitation,
    InvitationSent,
    Move,
    PlayerNumber,
    ServerMessage,
)

_TYPE_KEY: Final = '"type":"'
_TYPE_START: Final = len(_TYPE_KEY)


def peek_type(text: str) -> str:
    """The ``type`` tag of a server frame without parsing it; ``""`` if there is none.

    Sound for every server message: a JSON string cannot contain an unescaped ``"``, so
    ``"type":"`` only occurs as a key, and only the top-level object has a ``type`` key.
    Searched from the end, where the codec writes the tag.  Only a hint: frames that
    matter are decoded in full, which rejects anything malformed.
    """
    index = text.rfind(_TYPE_KEY)
    if index < 0:
        return ""
    start = index + _TYPE_START
    end = text.find('"', start)
    return text[start:end] if end > 0 else ""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_load_json: Final = json.JSONDecoder(parse_constant=_reject_constant).decode
"""The strict codec's parser: ``NaN`` and ``Infinity`` are not JSON."""

_STATE_KEYS: Final = frozenset({"type", "game_id", "board", "moves", "next", "last_move"})
_STATE_OPTIONAL: Final = frozenset({"seconds_to_move", "clocks"})
_OVER_KEYS: Final = frozenset({"type", "game_id", "result", "winner", "reason"})
_STARTED_KEYS: Final = frozenset({"type", "game_id", "player1", "player2", "colors", "you"})
_STARTED_OPTIONAL: Final = frozenset({"time_control", "rematch_of", "computer"})
_CELL_KEYS: Final = frozenset({"row", "column"})
_CLOCK_KEYS: Final = frozenset({"player1", "player2"})
_RESULTS: Final[frozenset[str]] = frozenset(get_args(GameResult))
_REASONS: Final[frozenset[str]] = frozenset(get_args(GameOverReason))


class _NotHot(Exception):
    """The frame is not one ``decode_hot`` accepts as exactly right: the strict codec decides."""


def _text(value: object) -> str:
    """A JSON string.  Only ASCII ones are accepted here (every name and row the load tester
    meets): the codec's check for lone surrogates is then moot, and others go to it."""
    if type(value) is not str or not value.isascii():
        raise _NotHot
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _texts(values: object) -> list[str]:
    if type(values) is not list:
        raise _NotHot
    for value in values:
        if type(value) is not str or not value.isascii():
            raise _NotHot
    return values


def _ints(values: object) -> list[int]:
    if type(values) is not list:
        raise _NotHot
    for value in values:
        if type(value) is not int:
            raise _NotHot
    return values


def _int(value: object) -> int:
    if type(value) is not int:
        raise _NotHot
    return value


def _float(value: object) -> float:
    if type(value) is float and math.isfinite(value):
        return value  # the common case without a call
    try:
        return structure_float(value)  # the codec's own rule for every other case
    except (TypeError, ValueError):
        raise _NotHot from None


def _keys(value: object, required: frozenset[str], optional: frozenset[str]) -> dict[str, Any]:
    """``value`` as a JSON object with every required key and no key but the optional ones."""
    if type(value) is not dict:
        raise _NotHot
    keys = value.keys()
    if not required <= keys or not keys <= required | optional:
        raise _NotHot
    return value


def _game_state(data: dict[str, Any]) -> GameState:
    _keys(data, _STATE_KEYS, _STATE_OPTIONAL)
    last = data["last_move"]
    cell = None
    if last is not None:
        _keys(last, _CELL_KEYS, frozenset())
        cell = Cell(row=_int(last["row"]), column=_int(last["column"]))
    seconds = data.get("seconds_to_move")
    clocks = data.get("clocks")
    if clocks is not None:
        _keys(clocks, _CLOCK_KEYS, frozenset())
        clocks = Clocks(player1=_float(clocks["player1"]), player2=_float(clocks["player2"]))
    return GameState(
        game_id=_text(data["game_id"]),
        board=_texts(data["board"]),
        moves=_ints(data["moves"]),
        next=_optional_text(data["next"]),
        last_move=cell,
        seconds_to_move=None if seconds is None else _float(seconds),
        clocks=clocks,
    )


def _game_over(data: dict[str, Any]) -> GameOver:
    _keys(data, _OVER_KEYS, frozenset({"line"}))
    result, reason, line = data["result"], data["reason"], data.get("line")
    if type(result) is not str or result not in _RESULTS:
        raise _NotHot
    if type(reason) is not str or reason not in _REASONS:
        raise _NotHot
    cells: list[tuple[int, int]] | None = None
    if line is not None:
        if type(line) is not list:
            raise _NotHot
        cells = []
        for pair in line:
            if type(pair) is not list or len(pair) != 2:
                raise _NotHot
            cells.append((_int(pair[0]), _int(pair[1])))
    return GameOver(
        game_id=_text(data["game_id"]),
        result=cast(GameResult, result),
        winner=_optional_text(data["winner"]),
        reason=cast(GameOverReason, reason),
        line=cells,
    )


def _game_started(data: dict[str, Any]) -> GameStarted:
    _keys(data, _STARTED_KEYS, _STARTED_OPTIONAL)
    if data.get("time_control") is not None or data.get("computer") is not None:
        raise _NotHot  # not a game between two load-tester players: the codec decides
    colors = _keys(data["colors"], _CLOCK_KEYS, frozenset())
    you = data["you"]
    if type(you) is not int or you not in (1, 2):
        raise _NotHot
    return GameStarted(
        game_id=_text(data["game_id"]),
        player1=_text(data["player1"]),
        player2=_text(data["player2"]),
        colors=Colors(player1=_text(colors["player1"]), player2=_text(colors["player2"])),
        you=cast(PlayerNumber, you),
        rematch_of=_optional_text(data.get("rematch_of")),
    )


def _invitation(data: dict[str, Any]) -> Invitation:
    _keys(data, _FROM_KEYS, _TIME_CONTROL)
    if data.get("time_control") is not None:
        raise _NotHot
    return Invitation(from_=_text(data["from"]))


def _invitation_sent(data: dict[str, Any]) -> InvitationSent:
    _keys(data, _TO_KEYS, _TIME_CONTROL)
    if data.get("time_control") is not None:
        raise _NotHot
    return InvitationSent(to=_text(data["to"]))


_FROM_KEYS: Final = frozenset({"type", "from"})
_TO_KEYS: Final = frozenset({"type", "to"})
_TIME_CONTROL: Final = frozenset({"time_control"})
_HOT: Final[dict[str, Callable[[dict[str, Any]], ServerMessage]]] = {
    "game_state": _game_state,
    "game_over": _game_over,
    "game_started": _game_started,
    "invitation": _invitation,
    "invitation_sent": _invitation_sent,
}


def decode_hot(text: str) -> ServerMessage | None:
    """``text`` decoded by hand if it is one of the frames of a game (module docstring)
    exactly as the strict codec would decode it; None for anything else.

    Sound only as far as it accepts: None is never an error, the caller hands the frame to
    ``decode_server``."""
    try:
        data = _load_json(text)
    except (ValueError, RecursionError):
        return None
    if type(data) is not dict:
        return None
    kind = data.get("type")
    decode = _HOT.get(kind) if type(kind) is str else None
    if decode is None:
        return None
    try:
        return decode(data)
    except _NotHot:
        return None


class FrameDecoder:
    """``decode_server`` with a bounded memo keyed by the frame's text.

    Decoding is a pure function of the text, so a memo hit is exactly the decoded message.
    Messages are shared between recipients and must not be mutated.  Raises
    ``ProtocolError`` like ``decode_server``.
    """

    __slots__ = ("_capacity", "_memo")

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._memo: dict[str, ServerMessage] = {}

    def decode(self, text: str) -> ServerMessage:
        message = self._memo.get(text)
        if message is None:
            message = decode_hot(text) or decode_server(text)
            if len(self._memo) >= self._capacity:
                self._memo.clear()
            self._memo[text] = message
        return message


def move_texts(game_id: str) -> tuple[str, ...]:
    """The ``move`` frame of game ``game_id`` for each column, exactly as ``encode`` writes
    it: one encode per game and player instead of one per move (the load tester sends a move
    for every two frames it receives).  The column's digits are the only part that varies,
    and ``"column":0`` occurs in the encoded frame only as its field (a quote inside the
    game id is escaped)."""
    head, tail = encode(Move(game_id=game_id, column=0)).rsplit('"column":0', 1)
    return tuple(f'{head}"column":{column}{tail}' for column in range(COLUMNS))
