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

from c4actors.loadtest.frames import FrameDecoder, decode_hot, move_texts
from protocol.codec import ProtocolError, decode_server, encode
from protocol.messages import (
    Cell,
    Colors,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    InvitationSent,
    Move,
    ServerMessage,
)

names = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8)
"""Names as the load tester's are (ASCII); others come in as near misses."""
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
INFINITE = "__1e400__"
"""Written as ``1e400`` in the frame: a JSON number that Python reads as infinity."""
NEAR_MISSES: tuple[Any, ...] = (
    True,
    False,
    1.0,
    0.5,
    -1,
    10**400,  # too large for a float
    INFINITE,
    "1",
    "",
    "\ud800",  # a lone surrogate
    "\u00e9",  # not ASCII (valid: the strict codec decides)
    None,
    [],
    {},
    [1],
    [1, 2, 3],
    {"row": 1},
)
"""Values one step from right: what a strict decoder must tell apart from ints, floats,
strings, lists and objects."""
near_misses: st.SearchStrategy[Any] = st.sampled_from(NEAR_MISSES)
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


def paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node of a JSON value (itself, its fields and items, nested), as key paths."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*path, index))
    return found


@st.composite
def game_starts(draw: st.DrawFn) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "game_started",
        "game_id": draw(names),
        "player1": draw(names),
        "player2": draw(names),
        "colors": {"player1": draw(names), "player2": draw(names)},
        "you": draw(st.sampled_from([1, 2])),
    }
    for key, value in [
        ("rematch_of", st.none() | names),
        ("time_control", st.none() | st.just({"base_seconds": 60, "increment_seconds": 1})),
        ("computer", st.none() | st.just("casual")),
    ]:
        if draw(st.booleans()):
            frame[key] = draw(value)
    return frame


@st.composite
def invitations(draw: st.DrawFn) -> dict[str, Any]:
    key, kind = draw(st.sampled_from([("from", "invitation"), ("to", "invitation_sent")]))
    frame: dict[str, Any] = {"type": kind, key: draw(names)}
    if draw(st.booleans()):
        frame["time_control"] = draw(st.none() | st.just({"base_seconds": 60}))
    return frame


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    return [*value[:head], replaced(value[head], rest, new), *value[head + 1 :]]


@st.composite
def frames(draw: st.DrawFn) -> str:
    frame = draw(game_states() | game_overs() | game_starts() | invitations())
    how = draw(
        st.sampled_from(["valid", *["replace"] * 6, "remove", "add", "retag", "cut", "other"])
    )
    if how == "replace":
        # Any node, mostly by a near miss: a bool where an int goes, an int too large ...
        path = draw(st.sampled_from(paths(frame)[1:]))
        frame = replaced(frame, path, draw(st.one_of(near_misses, near_misses, json_values)))
    elif how == "remove":
        frame.pop(draw(st.sampled_from(sorted(frame))))
    elif how == "add":
        frame[draw(names)] = draw(json_values)
    elif how == "retag":
        frame["type"] = draw(
            st.sampled_from(
                ["game_over", "game_state", "game_started", "invitation", "invitation_sent", "x"]
            )
        )
    text = dumps(frame)
    if how == "cut":
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif how == "other":
        text = draw(st.sampled_from(["[]", "null", '"game_state"', "{}", "NaN"]))
    return text


def dumps(frame: Any) -> str:
    return json.dumps(frame, separators=(",", ":")).replace(f'"{INFINITE}"', "1e400")


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


EXAMPLES: list[dict[str, Any]] = [
    {
        "type": "game_state",
        "game_id": "g7",
        "board": ["...1...", "...2..."],
        "moves": [3, 3],
        "next": "ann",
        "last_move": {"row": 4, "column": 3},
        "seconds_to_move": 30,
        "clocks": {"player1": 12.5, "player2": 3},
    },
    {
        "type": "game_state",
        "game_id": "g7",
        "board": [],
        "moves": [],
        "next": None,
        "last_move": None,
        "seconds_to_move": None,
        "clocks": None,
    },
    {
        "type": "game_over",
        "game_id": "g7",
        "result": "win",
        "winner": "ann",
        "reason": "four_in_a_row",
        "line": [[5, 0], [5, 1], [5, 2], [5, 3]],
    },
    {"type": "game_over", "game_id": "g7", "result": "draw", "winner": None, "reason": "aborted"},
    {
        "type": "game_started",
        "game_id": "g7",
        "player1": "ann",
        "player2": "bob",
        "colors": {"player1": "#ff0000", "player2": "#0000ff"},
        "you": 2,
        "rematch_of": "g6",
    },
    {"type": "invitation", "from": "ann", "time_control": None},
    {"type": "invitation_sent", "to": "bob"},
]


@pytest.mark.parametrize("frame", EXAMPLES)
def test_every_node_of_a_move_frame_replaced_by_every_near_miss(frame: dict[str, Any]) -> None:
    """Exhaustively, beside the random frames: each field, item and nested field in turn,
    and each optional key left out."""
    texts = [dumps(replaced(frame, path, value)) for path in paths(frame) for value in NEAR_MISSES]
    texts += [dumps({k: v for k, v in frame.items() if k != key}) for key in frame]
    accepted = 0
    for text in texts:
        fast = decode_hot(text)
        if fast is not None:
            accepted += 1
            assert repr(fast) == repr(strict(text)), text
        expected = strict(text)
        if isinstance(expected, ProtocolError):
            with pytest.raises(ProtocolError):
                FrameDecoder().decode(text)
    assert accepted  # a null for an optional field, for one


@pytest.mark.parametrize(
    "message",
    [
        GameStarted(
            game_id="g7",
            player1="ann",
            player2="bob",
            colors=Colors(player1="#ff0000", player2="#0000ff"),
            you=1,
        ),
        Invitation(from_="ann"),
        InvitationSent(to="bob"),
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
def test_the_game_frames_the_server_sends_are_decoded_by_hand(message: ServerMessage) -> None:
    """The hot path is taken at all (else the property tests above would hold trivially)."""
    assert decode_hot(encode(message)) == message


@given(st.text(max_size=12), st.integers(0, 6))
def test_a_games_move_texts_are_the_encoded_moves(game_id: str, column: int) -> None:
    assert move_texts(game_id)[column] == encode(Move(game_id=game_id, column=column))
