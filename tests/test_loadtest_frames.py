"""The load tester's hand decode of the move frames (``c4actors.loadtest.frames``) accepts a
frame only when the strict codec accepts it too, and then decodes it to the same message;
every frame the strict codec rejects is still a ``ProtocolError`` from ``FrameDecoder``
(issue 17: cheaper decoding must not let a wrong frame through).

Frames are generated as valid ``game_state`` / ``game_over`` objects, then often broken: a
field replaced by any JSON value (a bool for an int, a float, a string, an object, ...), a
key removed or added, the tag changed, the text cut or not an object at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c4actors.loadtest.frames import FrameDecoder, decode_hot
from protocol.codec import ProtocolError, decode_server, encode
from protocol.messages import Cell, GameOver, GameState

names = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8),
    st.text(max_size=4),  # any Unicode
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
json_values = st.recursive(
    st.none() | numbers | names,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)
cells = st.fixed_dictionaries({"row": st.integers(0, 5), "column": st.integers(0, 6)})


@st.composite
def game_states(draw: st.DrawFn) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "game_state",
        "game_id": draw(names),
        "board": draw(st.lists(st.text(".12", min_size=7, max_size=7), max_size=6)),
        "moves": draw(st.lists(st.integers(0, 6), max_size=12)),
        "next": draw(st.none() | names),
        "last_move": draw(st.none() | cells),
    }
    if draw(st.booleans()):
        frame["seconds_to_move"] = draw(st.none() | st.floats(0, 100) | st.integers(0, 100))
    if draw(st.booleans()):
        frame["clocks"] = draw(
            st.none()
            | st.fixed_dictionaries(
                {"player1": st.floats(0, 100) | st.integers(0, 100), "player2": st.floats(0, 9)}
            )
        )
    return frame


@st.composite
def game_overs(draw: st.DrawFn) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "game_over",
        "game_id": draw(names),
        "result": draw(st.sampled_from(["win", "draw"])),
        "winner": draw(st.none() | names),
        "reason": draw(st.sampled_from(["four_in_a_row", "forfeit", "timeout", "aborted"])),
    }
    if draw(st.booleans()):
        pairs = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6)).map(list), max_size=5)
        frame["line"] = draw(st.none() | pairs)
    return frame


def replace_somewhere(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with one node (itself, a field, an item, a nested field) replaced."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: replace_somewhere(draw, value[key])}
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], replace_somewhere(draw, value[index]), *value[index + 1 :]]
    return draw(json_values)


@st.composite
def frames(draw: st.DrawFn) -> str:
    frame = draw(game_states() | game_overs())
    how = draw(st.sampled_from(["valid", "replace", "remove", "add", "retag", "cut", "other"]))
    if how == "replace":
        frame = replace_somewhere(draw, frame)
    elif how == "remove":
        frame.pop(draw(st.sampled_from(sorted(frame))))
    elif how == "add":
        frame[draw(names)] = draw(json_values)
    elif how == "retag":
        frame["type"] = draw(st.sampled_from(["game_over", "game_state", "welcome", "x"]))
    text = json.dumps(frame, separators=(",", ":"))
    if how == "cut":
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif how == "other":
        text = draw(st.sampled_from(["[]", "null", '"game_state"', "{}", "NaN"]))
    return text


def strict(text: str) -> object:
    """``decode_server``'s message, or the ``ProtocolError`` it raised."""
    try:
        return decode_server(text)
    except ProtocolError as error:
        return error


@given(frames())
def test_the_hand_decode_accepts_only_what_the_strict_codec_decodes_the_same(text: str) -> None:
    fast = decode_hot(text)
    if fast is not None:
        # repr: the same classes and the same types inside (3.0, not 3; tuples in a line)
        assert repr(fast) == repr(strict(text))


@given(frames())
def test_the_decoder_raises_for_every_frame_the_strict_codec_rejects(text: str) -> None:
    expected = strict(text)
    if isinstance(expected, ProtocolError):
        with pytest.raises(ProtocolError):
            FrameDecoder().decode(text)
    else:
        assert repr(FrameDecoder().decode(text)) == repr(expected)


@pytest.mark.parametrize(
    "message",
    [
        GameState(
            game_id="g7",
            board=["......."] * 5 + ["...1..."],
            moves=[3],
            next="bob",
            last_move=Cell(row=5, column=3),
            seconds_to_move=30.0,
        ),
        GameState(game_id="g7", board=[], moves=[], next=None, last_move=None),
        GameOver(game_id="g7", result="draw", winner=None, reason="board_full"),
        GameOver(
            game_id="g7",
            result="win",
            winner="ann",
            reason="four_in_a_row",
            line=[(5, 0), (5, 1), (5, 2), (5, 3)],
        ),
    ],
)
def test_the_move_frames_the_server_sends_are_decoded_by_hand(
    message: GameState | GameOver,
) -> None:
    """The hot path is taken at all (else the property tests above would hold trivially)."""
    assert decode_hot(encode(message)) == message
