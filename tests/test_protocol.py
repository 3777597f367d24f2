"""The wire codec: round trips, strictness, hostile input, and the protocol document."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol
from protocol import (
    CLIENT_MESSAGE_TYPES,
    DEFAULT_MAX_MESSAGE_BYTES,
    ERROR_CODES,
    SERVER_MESSAGE_TYPES,
    TYPE_NAMES,
    ChatMessage,
    GameOver,
    Invitation,
    Move,
    NewConnection,
    OpponentDisconnected,
    ProtocolError,
    Quit,
    UserInfo,
    UserList,
    Welcome,
    decode_client,
    decode_server,
    encode,
)
from protocol.codec import encode_user_info, encode_user_list

PROTOCOL_DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
ALL_MESSAGE_TYPES = CLIENT_MESSAGE_TYPES + SERVER_MESSAGE_TYPES
CLIENT_TAGS = sorted(TYPE_NAMES[cls] for cls in CLIENT_MESSAGE_TYPES)
SERVER_TAGS = sorted(TYPE_NAMES[cls] for cls in SERVER_MESSAGE_TYPES)
CODEC_ERROR_CODES = ("too_large", "bad_json", "bad_message", "unknown_type", "invalid_field")


# --------------------------------------------------------------------------- strategies

# Strings stay short so that every client message fits in DEFAULT_MAX_MESSAGE_BYTES.
_text = st.text(max_size=20)


def _strategy_for(type_: Any) -> st.SearchStrategy[Any]:
    """A strategy for one field type, derived from the annotations of messages.py."""
    origin, args = get_origin(type_), get_args(type_)
    if type_ is str:
        return _text
    if type_ is bool:
        return st.booleans()
    if type_ is int:
        return st.integers()
    if type_ is float:
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6)
    if type_ is type(None):
        return st.none()
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(_strategy_for(args[0]), max_size=4)
    if origin is tuple:
        return st.tuples(*map(_strategy_for, args))
    if origin in (types.UnionType, Union):  # ``Literal[...] | None`` is a typing.Union
        return st.one_of(*map(_strategy_for, args))
    if attrs.has(type_):
        return _builds(type_)
    raise NotImplementedError(f"no strategy for {type_!r}")


def _builds(cls: type) -> st.SearchStrategy[Any]:
    # Every field is given explicitly, so defaulted fields (e.g. ``resume``) vary too.
    hints = get_type_hints(cls)
    return st.builds(cls, **{f.name: _strategy_for(hints[f.name]) for f in attrs.fields(cls)})


MESSAGE_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    cls: _builds(cls) for cls in ALL_MESSAGE_TYPES
}

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)
_field_names = sorted({f.name for cls in ALL_MESSAGE_TYPES for f in attrs.fields(cls)} | {"from"})
_field_keys = st.sampled_from(_field_names) | st.text(max_size=5)
# Shallow values keep generation fast; deep ones are covered by ``json_values``.
_field_values = (
    _json_scalars
    | st.lists(_json_scalars, max_size=3)
    | st.dictionaries(_field_keys, _json_scalars, max_size=3)
)
tagged_objects = st.builds(
    lambda tag, fields: {**fields, "type": tag},
    st.sampled_from(CLIENT_TAGS + SERVER_TAGS),
    st.dictionaries(_field_keys, _field_values, max_size=5),
)


@st.composite
def mutated_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A valid message's JSON with one field replaced, dropped or added."""
    cls = draw(st.sampled_from(ALL_MESSAGE_TYPES))
    value: dict[str, Any] = json.loads(encode(draw(MESSAGE_STRATEGIES[cls])))
    key = draw(st.sampled_from(sorted(value)) | _field_keys)
    if draw(st.booleans()):
        value.pop(key, None)
    else:
        value[key] = draw(_field_values)
    return value


def _decode_or_protocol_error(decode: Any, data: str | bytes) -> None:
    """Let anything but a ProtocolError fail the test."""
    try:
        decode(data)
    except ProtocolError as exc:
        assert exc.code in CODEC_ERROR_CODES


# --------------------------------------------------------------------------- round trips


def test_every_message_class_has_a_strategy() -> None:
    assert set(MESSAGE_STRATEGIES) == set(CLIENT_MESSAGE_TYPES) | set(SERVER_MESSAGE_TYPES)
    assert set(TYPE_NAMES) == set(ALL_MESSAGE_TYPES)


@pytest.mark.parametrize("cls", CLIENT_MESSAGE_TYPES, ids=TYPE_NAMES.__getitem__)
@given(data=st.data())
def test_client_message_round_trip(cls: type, data: st.DataObject) -> None:
    message = data.draw(MESSAGE_STRATEGIES[cls])
    assert decode_client(encode(message)) == message
    assert type(message) is cls


@pytest.mark.parametrize("cls", SERVER_MESSAGE_TYPES, ids=TYPE_NAMES.__getitem__)
@given(data=st.data())
def test_server_message_round_trip(cls: type, data: st.DataObject) -> None:
    message = data.draw(MESSAGE_STRATEGIES[cls])
    assert decode_server(encode(message)) == message
    assert type(message) is cls


def test_encode_is_compact_and_tagged() -> None:
    text = encode(Move(game_id="g1", column=3))
    assert " " not in text
    assert json.loads(text) == {"type": "move", "game_id": "g1", "column": 3}
    assert json.loads(encode(Welcome(username="ann", resume="t")))["type"] == "welcome"


def test_encode_keeps_non_ascii_text() -> None:
    assert "Zoë" in encode(NewConnection(username="Zoë"))


def test_encode_rejects_non_messages() -> None:
    with pytest.raises(TypeError):
        encode(object())  # type: ignore[arg-type]


def test_invitation_uses_wire_key_from() -> None:
    text = encode(Invitation(from_="bob"))
    assert json.loads(text) == {"type": "invitation", "from": "bob"}
    assert decode_server(text) == Invitation(from_="bob")
    with pytest.raises(ProtocolError) as info:
        decode_server('{"type":"invitation","from_":"bob"}')
    assert info.value.code == "invalid_field"
    assert "$.from" in info.value.message
    assert "$.from_" not in info.value.message.replace("(from_)", "")


def test_chat_message_uses_wire_key_from() -> None:
    line = ChatMessage(game_id="g", from_="bob", text="gg", at=1.5)
    text = encode(line)
    assert json.loads(text) == {
        "type": "chat_message",
        "game_id": "g",
        "from": "bob",
        "text": "gg",
        "at": 1.5,
    }
    assert decode_server(text) == line


def test_game_over_line_is_a_list_of_pairs() -> None:
    message = GameOver(
        game_id="g", result="win", winner="ann", reason="four_in_a_row", line=[(5, 0), (5, 1)]
    )
    assert json.loads(encode(message))["line"] == [[5, 0], [5, 1]]
    assert decode_server(encode(message)) == message
    with pytest.raises(ProtocolError):
        decode_server(encode(message).replace("[5,1]", "[5,1,2]"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type":"new_connection","username":"ann"}', NewConnection(username="ann")),
        (
            '{"type":"new_connection","username":"ann","resume":null}',
            NewConnection(username="ann"),
        ),
        (
            '{"type":"new_connection","username":"ann","resume":"tok"}',
            NewConnection(username="ann", resume="tok"),
        ),
    ],
)
def test_new_connection_with_and_without_resume(text: str, expected: NewConnection) -> None:
    assert decode_client(text) == expected
    assert decode_client(text.encode()) == expected


def test_a_move_without_ply_is_todays_move() -> None:
    """``ply`` is optional: absent or null means any ply, and an unset one is not sent."""
    for text in (
        '{"type":"move","game_id":"g","column":3}',
        '{"type":"move","game_id":"g","column":3,"ply":null}',
    ):
        assert decode_client(text) == Move(game_id="g", column=3)
    assert json.loads(encode(Move(game_id="g", column=3))) == {
        "type": "move",
        "game_id": "g",
        "column": 3,
    }
    with_ply = Move(game_id="g", column=3, ply=4)
    assert decode_client(encode(with_ply)) == with_ply


@pytest.mark.parametrize("ply", ['"4"', "4.0", "true", "[4]"])
def test_a_mistyped_ply_is_invalid_field(ply: str) -> None:
    error = _error(decode_client, f'{{"type":"move","game_id":"g","column":3,"ply":{ply}}}')
    assert (error.code, error.ref) == ("invalid_field", "move")
    assert "$.ply" in error.message


def test_float_fields_accept_ints() -> None:
    message = decode_server('{"type":"opponent_disconnected","game_id":"g","grace_seconds":20}')
    assert message == OpponentDisconnected(game_id="g", grace_seconds=20.0)
    assert isinstance(message, OpponentDisconnected)
    assert type(message.grace_seconds) is float


# --------------------------------------------------------------------------- strictness


def _error(decode: Any, data: str | bytes, *limit: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decode(data, *limit)
    return info.value


@pytest.mark.parametrize("column", ['"3"', "3.5", "true", "null", "[3]", "{}"])
def test_mistyped_field_is_invalid_field_naming_it(column: str) -> None:
    error = _error(decode_client, f'{{"type":"move","game_id":"g","column":{column}}}')
    assert error.code == "invalid_field"
    assert "$.column" in error.message
    assert error.ref == "move"


def test_transform_error_text() -> None:
    error = _error(decode_client, '{"type":"move","game_id":"g","column":"3"}')
    assert error.message == "invalid value for type, expected int @ $.column"
    assert str(error) == "invalid_field: invalid value for type, expected int @ $.column"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"type":"challenge","opponent":3}', "$.opponent"),
        ('{"type":"challenge","opponent":true}', "$.opponent"),
        ('{"type":"new_connection","username":"a","resume":5}', "$.resume"),
        ('{"type":"new_connection","username":"\\ud800"}', "$.username"),
    ],
)
def test_strings_are_strict(text: str, field: str) -> None:
    error = _error(decode_client, text)
    assert (error.code, field in error.message) == ("invalid_field", True)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"type":"welcome","username":"a","resume":"t","account":1}', "$.account"),
        ('{"type":"welcome","username":"a","resume":"t","protocol":true}', "$.protocol"),
        ('{"type":"opponent_disconnected","game_id":"g","grace_seconds":true}', "$.grace_seconds"),
        ('{"type":"opponent_disconnected","game_id":"g","grace_seconds":"1"}', "$.grace_seconds"),
        ('{"type":"opponent_disconnected","game_id":"g","grace_seconds":1e999}', "$.grace_seconds"),
        ('{"type":"user_list","users":"abc"}', "$.users"),
        ('{"type":"user_list","users":{"name":"a"}}', "$.users"),
        ('{"type":"user_list","users":[{"name":"a","state":"BUSY"}]}', "$.users[0].state"),
        ('{"type":"lobby_update","users":[],"left":["a",1]}', "$.left[1]"),
        (
            '{"type":"game_started","game_id":"g","player1":"a","player2":"b",'
            '"colors":{"player1":"#000000","player2":"#ffffff"},"you":true}',
            "$.you",
        ),
        (
            '{"type":"game_started","game_id":"g","player1":"a","player2":"b",'
            '"colors":["#000000","#ffffff"],"you":1}',
            "$.colors",
        ),
        (
            '{"type":"game_state","game_id":"g","board":[],"moves":[],"next":null,'
            '"last_move":{"row":0}}',
            "$.last_move.column",
        ),
    ],
)
def test_server_fields_are_strict(text: str, field: str) -> None:
    error = _error(decode_server, text)
    assert error.code == "invalid_field"
    assert field in error.message


def test_extra_field_is_invalid_field() -> None:
    error = _error(decode_client, '{"type":"move","game_id":"g","column":3,"speed":9}')
    assert error.code == "invalid_field"
    assert "speed" in error.message


def test_missing_field_is_invalid_field() -> None:
    error = _error(decode_client, '{"type":"move","game_id":"g"}')
    assert error.code == "invalid_field"
    assert "$.column" in error.message


@pytest.mark.parametrize(
    "text",
    [
        '{"game_id":"g","column":3}',
        '{"type":"castle","game_id":"g"}',
        '{"type":3}',
        '{"type":null}',
        '{"type":["move"]}',
        '{"type":"welcome","username":"a","resume":"t"}',  # a server message
    ],
)
def test_missing_or_unknown_type_is_unknown_type(text: str) -> None:
    assert _error(decode_client, text).code == "unknown_type"


def test_client_message_is_unknown_to_decode_server() -> None:
    assert _error(decode_server, '{"type":"quit","game_id":"g"}').code == "unknown_type"


@pytest.mark.parametrize("text", ["", "nope", "{", '{"type":"quit",}', "NaN", b"\xff\xfe"])
def test_not_json_is_bad_json(text: str | bytes) -> None:
    assert _error(decode_client, text).code == "bad_json"


@pytest.mark.parametrize("text", ["[]", "3", '"move"', "null", "true"])
def test_json_that_is_not_an_object_is_bad_message(text: str) -> None:
    assert _error(decode_client, text).code == "bad_message"


def test_long_text_is_too_large() -> None:
    assert _error(decode_client, "x" * 5000).code == "too_large"
    assert _error(decode_client, b"x" * 5000).code == "too_large"
    padding = " " * (DEFAULT_MAX_MESSAGE_BYTES + 1 - len('{"type":"quit","game_id":"g"}'))
    assert _error(decode_client, '{"type":"quit","game_id":"g"}' + padding).code == "too_large"


@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "bytes"])
def test_limit_counts_bytes_not_characters(as_bytes: bool) -> None:
    """One rule with the server's own check: a frame's UTF-8 bytes, however it arrives."""
    name = "é" * 2100
    text = encode(NewConnection(username=name))
    assert len(text) < DEFAULT_MAX_MESSAGE_BYTES < len(text.encode())
    frame: str | bytes = text.encode() if as_bytes else text
    assert _error(decode_client, frame).code == "too_large"
    assert decode_client(frame, len(text.encode())) == NewConnection(username=name)
    assert _error(decode_client, frame, len(text.encode()) - 1).code == "too_large"


def test_the_limit_is_the_callers() -> None:
    frame = '{"type":"quit","game_id":"g"}' + " " * 5000
    assert _error(decode_client, frame).code == "too_large"
    assert decode_client(frame, 16384) == Quit(game_id="g")


def test_deep_nesting_is_a_protocol_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert _error(decode_client, deep).code == "too_large"
    assert _error(decode_server, deep).code == "bad_json"
    assert _error(decode_client, "[" * 2000 + "]" * 2000).code == "bad_json"
    assert _error(decode_client, deep, 10**6).code == "bad_json"


def test_huge_integer_is_a_protocol_error() -> None:
    huge = '{"type":"move","game_id":"g","column":' + "9" * 10_000 + "}"
    assert _error(decode_client, huge).code == "too_large"
    assert _error(decode_server, "9" * 10_000).code == "bad_json"
    assert _error(decode_client, huge, 10**6).code == "bad_json"


# --------------------------------------------------------------------------- hostile input


@given(st.text())
def test_decode_client_arbitrary_text(text: str) -> None:
    _decode_or_protocol_error(decode_client, text)


@given(st.binary())
def test_decode_client_arbitrary_bytes(data: bytes) -> None:
    _decode_or_protocol_error(decode_client, data)


@given(json_values)
def test_decode_arbitrary_json(value: Any) -> None:
    text = json.dumps(value)
    _decode_or_protocol_error(decode_client, text)
    _decode_or_protocol_error(decode_server, text)


@given(tagged_objects | mutated_messages())
def test_decode_tagged_objects_with_random_fields(value: dict[str, Any]) -> None:
    text = json.dumps(value, ensure_ascii=False)
    _decode_or_protocol_error(decode_client, text)
    _decode_or_protocol_error(decode_server, text)


# --------------------------------------------------------------------------- the document

_HEADING = re.compile(r"^### `([a-z_]+)`\s*$", re.MULTILINE)
_JSON_FENCE = re.compile(r"^```json[ \t]*(\S*)[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _doc() -> str:
    return PROTOCOL_DOC.read_text(encoding="utf-8")


def test_doc_has_a_heading_for_every_message_type() -> None:
    headings = _HEADING.findall(_doc())
    missing = sorted(set(TYPE_NAMES.values()) - set(headings))
    assert not missing, f"docs/protocol.md lacks headings for {missing}"


def _wire_name(field: str) -> str:
    """A field's JSON key (a Python keyword gets a trailing underscore in the class)."""
    return field.removesuffix("_")


def test_doc_field_tables_name_exactly_each_messages_fields() -> None:
    """Each message's section has a table of its fields: none missing, none that is gone."""
    sections = dict(re.findall(r"^### `([a-z_]+)`\s*\n(.*?)(?=^#)", _doc(), re.M | re.S))
    for cls in ALL_MESSAGE_TYPES:
        tag = TYPE_NAMES[cls]
        documented = set(re.findall(r"^\| `(\w+)`", sections[tag], re.MULTILINE)) - {"type"}
        fields = {_wire_name(field.name) for field in attrs.fields(cls)}
        assert documented == fields, f"docs/protocol.md's table for {tag}"


def test_doc_lists_exactly_the_error_codes() -> None:
    table = _doc().split("## Error codes", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)`", table, re.MULTILINE))
    assert documented == ERROR_CODES


def test_an_unknown_error_code_does_not_decode() -> None:
    frame = json.dumps({"type": "error", "code": "no_such_code", "message": "?"})
    with pytest.raises(ProtocolError):
        decode_server(frame)


def test_doc_examples_decode() -> None:
    decoders = {"client": decode_client, "server": decode_server}
    examples = _JSON_FENCE.findall(_doc())
    assert examples
    seen: set[type] = set()
    for direction, body in examples:
        assert direction in {*decoders, "fragment"}, f"untagged json fence: {body}"
        if direction == "fragment":
            json.loads(body)
            continue
        seen.add(type(decoders[direction](body)))
    missing = sorted(TYPE_NAMES[cls] for cls in set(ALL_MESSAGE_TYPES) - seen)
    assert not missing, f"docs/protocol.md has no example for {missing}"


def test_doc_lists_codec_error_codes() -> None:
    doc = _doc()
    for code in CODEC_ERROR_CODES:
        assert f"`{code}`" in doc


def test_public_api_is_reexported() -> None:
    for name in ("encode", "decode_client", "decode_server", "ProtocolError", "converter"):
        assert name in protocol.__all__
    for cls in ALL_MESSAGE_TYPES:
        assert getattr(protocol, cls.__name__) is cls


@given(
    st.lists(st.builds(UserInfo, state=st.sampled_from(["AVAILABLE", "PLAYING"])), max_size=5),
    st.integers(min_value=0, max_value=10**9),
)
def test_user_list_built_from_encoded_rows_is_a_user_list(
    users: list[UserInfo], online: int
) -> None:
    frame = encode_user_list((encode_user_info(user) for user in users), online)
    assert decode_server(frame) == UserList(users=users, online=online)


def test_a_game_that_is_no_rematch_reads_as_before() -> None:
    """``rematch_of`` is left out of ``game_started`` and ``watching`` when unset: a client
    that never asks for a rematch sees exactly the frames it always did."""
    colors = protocol.Colors(player1="#000000", player2="#ffffff")
    started = protocol.GameStarted(game_id="g", player1="a", player2="b", colors=colors, you=1)
    watching = protocol.Watching(game_id="g", player1="a", player2="b", colors=colors, spectators=1)
    for message in (started, watching):
        assert "rematch_of" not in json.loads(protocol.encode(message))
        rematch = attrs.evolve(message, rematch_of="f")
        assert json.loads(protocol.encode(rematch))["rematch_of"] == "f"
        assert protocol.decode_server(protocol.encode(rematch)) == rematch
