"""The game's frames as the game actor encodes them: ``game_state`` written by hand.

``game_state`` is the frame of every move (one a move, shared by both players and the
spectators), and the protocol's codec (``protocol.codec.encode``: cattrs' unstructure hook
for the union, then the JSON encoder over the dictionary it built) spent about 3 us on it,
a third as much as the game core's whole move.  ``encode_game_state`` writes the same text
from the message's fields directly, with the JSON encoder's own string and number rules;
the codec stays the one definition of the protocol: every other message goes through it,
and ``tests/test_game_frames.py`` checks the two byte for byte on generated states (key
order, omitted fields, escapes, numbers), so a change to ``GameState`` or to the codec that
this module does not follow fails there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Final

from protocol.codec import encode
from protocol.messages import GameState, ServerMessage

_string: Final[Callable[[str], str]] = json.encoder.encode_basestring
"""A JSON string as the codec writes it (``ensure_ascii=False``: only quotes, backslashes
and control characters escaped)."""
_encoder: Final = json.JSONEncoder(
    ensure_ascii=False, check_circular=False, allow_nan=False, separators=(",", ":")
)
_chunks: Final[Callable[[object, int], Sequence[str]]] = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None,  # no circular check
    _encoder.default,
    _string,
    None,  # no indent
    ":",
    ",",
    False,  # keys in order
    False,  # no keys skipped
    False,  # no NaN nor infinity
)
"""The codec's JSON encoder (``protocol.codec``: the same options), made once: its ``encode``
makes this C encoder again on every call, which cost more than encoding a row of the board."""


def _json(value: object) -> str:
    """``value`` in JSON, as the codec's encoder writes it."""
    return "".join(_chunks(value, 0))


def _number(value: float) -> str:
    """A number as the codec's JSON encoder writes it (``allow_nan=False``)."""
    kind = value.__class__
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        return float.__repr__(value)
    return _json(value)


def encode_game_state(state: GameState) -> str:
    """``encode(state)``, the same text (see the module docstring)."""
    last = state.last_move
    parts = [
        '{"game_id":',
        _string(state.game_id),
        ',"board":',
        _json(state.board),
        ',"moves":',
        _json(state.moves),
        ',"next":',
        "null" if state.next is None else _string(state.next),
        ',"last_move":',
        "null"
        if last is None
        else f'{{"row":{_number(last.row)},"column":{_number(last.column)}}}',
    ]
    if state.seconds_to_move is not None:
        parts += (',"seconds_to_move":', _number(state.seconds_to_move))
    clocks = state.clocks
    if clocks is not None:
        parts += (
            ',"clocks":{"player1":',
            _number(clocks.player1),
            ',"player2":',
            _number(clocks.player2),
            "}",
        )
    parts.append(',"type":"game_state"}')
    return "".join(parts)


def encode_frame(message: ServerMessage) -> str:
    """A message the game sends, encoded: ``game_state`` by hand, the others by the codec."""
    if type(message) is GameState:
        return encode_game_state(message)
    return encode(message)
