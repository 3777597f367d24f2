"""JSON <-> message classes: one strict cattrs converter, configured once at import.

``encode`` turns any message into one compact JSON text frame.  ``decode_client``
(used by the server) and ``decode_server`` (used by the load tester and the tests)
turn a frame back into a message.

Error handling: the decoders raise ``ProtocolError`` and nothing else, whatever the
input.  Its ``code`` is one of the protocol's error codes (``too_large``,
``bad_json``, ``bad_message``, ``unknown_type``, ``invalid_field``) and its
``message`` is human-readable, e.g. ``invalid value for type, expected int @
$.column``; the server copies both into its ``error`` reply.

Strictness: nothing is coerced.  ``"3"``, ``3.5``, ``true`` and ``null`` are not
ints, a number is not a string, ``true`` is not ``1``, a string is not a list and
a list is not an object.  Floats accept JSON ints but not booleans, infinities or
NaN.  Strings must be valid Unicode (no lone surrogates), since the server may
echo them back.  Range and syntax rules (column 0..6, name syntax) are the
server's job, not the codec's.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, TypeVar, get_args, get_origin

import attrs
from cattrs import Converter
from cattrs.cols import is_mutable_sequence, list_structure_factory
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.strategies import configure_tagged_union
from cattrs.v import format_exception, transform_error

from protocol.messages import (
    CLIENT_MESSAGE_TYPES,
    SERVER_MESSAGE_TYPES,
    TYPE_NAMES,
    Challenge,
    ChatMessage,
    ClientMessage,
    ErrorCode,
    GameStarted,
    GameState,
    Invitation,
    InvitationSent,
    Move,
    Seek,
    ServerMessage,
    UserInfo,
    Watching,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "ProtocolError",
    "converter",
    "decode_client",
    "decode_server",
    "encode",
    "encode_user_info",
    "encode_user_list",
    "frame_size",
]

DEFAULT_MAX_MESSAGE_BYTES: Final = 4096
"""Longest client frame, in UTF-8 bytes, unless the server is given another limit
(``--max-message-bytes``, which it passes to ``decode_client``).  Bytes, not characters:
the one rule for every size check, as a frame's cost is its bytes."""
_T = TypeVar("_T")

# A UTF-8 character takes at most 4 bytes: a text this short is under the limit for sure,
# and is not encoded to be measured.
_MAX_UTF8_BYTES_PER_CHAR: Final = 4


class ProtocolError(Exception):
    """A frame that is not a valid message: bad JSON, wrong shape, unknown type, bad field.

    ``code`` is the machine-readable error code sent back in ``Error.code``;
    ``message`` says what is wrong; ``ref`` is the frame's ``type`` when it was
    recognised (for ``Error.ref``), else ``None``.
    """

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.ref = ref

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --------------------------------------------------------------------------- strict hooks


def _structure_int(value: object, _: object) -> int:
    if type(value) is int:
        return value
    raise TypeError("not an int")


def structure_float(value: object, _: object = float) -> float:
    """A JSON number as a finite float: an int only if it fits, never a bool or text.
    Public because the load tester's hand decoder (``c4actors.loadtest.frames``) applies
    the very same rule."""
    if type(value) is float:
        result = value
    elif type(value) is int:
        try:
            result = float(value)
        except OverflowError:
            raise ValueError("out of range") from None
    else:
        raise TypeError("not a number")
    if not math.isfinite(result):
        raise ValueError("not finite")
    return result


def _structure_bool(value: object, _: object) -> bool:
    if type(value) is bool:
        return value
    raise TypeError("not a bool")


def _structure_str(value: object, _: object) -> str:
    if type(value) is not str:
        raise TypeError("not a str")
    if not value.isascii():
        value.encode()  # UnicodeEncodeError (a ValueError) on lone surrogates
    return value


def _is_literal(type_: Any) -> bool:
    return get_origin(type_) is Literal


def _literal_structure_factory(literal: Any) -> Callable[[object, object], object]:
    # cattrs' own literal hook tests ``value in args``, so ``true`` would pass for ``1``:
    # compare the JSON type too.
    allowed = frozenset((type(arg), arg) for arg in get_args(literal))

    def structure_literal(value: object, _: object) -> object:
        if not isinstance(value, list | dict) and (type(value), value) in allowed:
            return value
        raise ValueError("not an allowed value")

    return structure_literal


def _list_structure_factory(list_type: Any) -> Callable[[object, object], list[Any]]:
    # cattrs' own list hook accepts any iterable (a string would become a list of chars).
    structure_items = list_structure_factory(list_type, converter)

    def structure_list(value: object, _: object) -> list[Any]:
        if type(value) is not list:
            raise TypeError("not a list")
        result: list[Any] = structure_items(value, list_type)
        return result

    return structure_list


def _is_fixed_tuple(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and bool(args) and ... not in args


def _tuple_structure_factory(tuple_type: Any) -> Callable[[object, object], tuple[Any, ...]]:
    structure_items = converter.gen_structure_hetero_tuple(tuple_type)

    def structure_tuple(value: object, _: object) -> tuple[Any, ...]:
        if type(value) is not list:
            raise TypeError("not a list")
        result: tuple[Any, ...] = structure_items(value, tuple_type)
        return result

    return structure_tuple


# Python attribute name -> JSON key, where they differ (``from`` is a keyword).
_WIRE_KEYS: Final[dict[type, dict[str, str]]] = {
    Invitation: {"from_": "from"},
    ChatMessage: {"from_": "from"},
}


# Optional fields added after version 1, left out of a frame while unset (None), so a
# client written before them sees exactly the frames it always did.
_OMITTED_WHEN_UNSET: Final[dict[type, tuple[str, ...]]] = {
    GameState: ("seconds_to_move", "clocks"),
    Challenge: ("time_control",),
    InvitationSent: ("time_control",),
    Invitation: ("time_control",),
    GameStarted: ("time_control", "rematch_of", "computer"),
    Move: ("ply",),
    Watching: ("rematch_of",),
    Seek: ("time_control",),
    UserInfo: ("time_control",),
}


def _renames(cls: type) -> dict[str, Any]:
    return {name: override(rename=key) for name, key in _WIRE_KEYS.get(cls, {}).items()}


def _unstructure_overrides(cls: type) -> dict[str, Any]:
    omitted = {name: override(omit_if_default=True) for name in _OMITTED_WHEN_UNSET.get(cls, ())}
    return _renames(cls) | omitted


# cattrs' error paths name the attribute (``$.from_``); show the JSON key instead.
_PATH_RENAMES: Final = {
    f".{name}": f".{key}" for renames in _WIRE_KEYS.values() for name, key in renames.items()
}
_PATH_RENAME_RE: Final = re.compile("|".join(rf"{re.escape(name)}\b" for name in _PATH_RENAMES))


def _attrs_structure_factory(cls: Any) -> Callable[[object, object], Any]:
    structure_fields = make_dict_structure_fn(cls, converter, **_renames(cls))

    def structure_object(value: object, _: object) -> Any:
        if type(value) is not dict:
            raise TypeError("not an object")
        return structure_fields(value, cls)

    return structure_object


def _attrs_unstructure_factory(cls: Any) -> Callable[[Any], dict[str, Any]]:
    return make_dict_unstructure_fn(cls, converter, **_unstructure_overrides(cls))


converter: Final = Converter(forbid_extra_keys=True)
"""The one converter of the protocol; ``unstructure`` messages with ``unstructure_as=``
``ClientMessage`` or ``ServerMessage`` (as ``encode`` does) or the ``type`` tag is lost."""

converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(float, structure_float)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(str, _structure_str)
# Factories registered later take precedence over cattrs' defaults.
converter.register_structure_hook_factory(_is_literal, _literal_structure_factory)
converter.register_structure_hook_factory(is_mutable_sequence, _list_structure_factory)
converter.register_structure_hook_factory(_is_fixed_tuple, _tuple_structure_factory)
converter.register_structure_hook_factory(attrs.has, _attrs_structure_factory)
converter.register_unstructure_hook_factory(attrs.has, _attrs_unstructure_factory)
configure_tagged_union(
    ClientMessage, converter, tag_name="type", tag_generator=TYPE_NAMES.__getitem__
)
configure_tagged_union(
    ServerMessage, converter, tag_name="type", tag_generator=TYPE_NAMES.__getitem__
)


# --------------------------------------------------------------------------- encode

_UNSTRUCTURE_HOOKS: Final[dict[type, Callable[[Any], dict[str, Any]]]] = {
    **dict.fromkeys(CLIENT_MESSAGE_TYPES, converter.get_unstructure_hook(ClientMessage)),
    **dict.fromkeys(SERVER_MESSAGE_TYPES, converter.get_unstructure_hook(ServerMessage)),
}
# Built once; ``check_circular`` is off because unstructured messages are trees.
_dump_json: Final = json.JSONEncoder(
    ensure_ascii=False, check_circular=False, allow_nan=False, separators=(",", ":")
).encode


def encode(message: ServerMessage | ClientMessage) -> str:
    """One message as a compact JSON object with its ``type`` tag.

    Hot path (one call per move and per lobby tick): a dict lookup on the exact class
    picks the union's unstructure hook, prepared once at import.
    """
    try:
        unstructure = _UNSTRUCTURE_HOOKS[type(message)]
    except KeyError:
        raise TypeError(f"not a protocol message: {message!r}") from None
    text: str = _dump_json(unstructure(message))
    return text


_unstructure_user_info: Final = converter.get_unstructure_hook(UserInfo)


def encode_user_list(rows: Iterable[str], online: int) -> str:
    """A ``user_list`` frame from rows already encoded by ``encode_user_info``: the lobby
    keeps every row encoded, so a snapshot is one string join, not one encode per user."""
    return f'{{"type":"user_list","users":[{",".join(rows)}],"online":{int(online)}}}'


def encode_user_info(info: UserInfo) -> str:
    text: str = _dump_json(_unstructure_user_info(info))
    return text


# --------------------------------------------------------------------------- decode


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_load_json: Final = json.JSONDecoder(parse_constant=_reject_constant).decode
_CLIENT_TAGS: Final = frozenset(TYPE_NAMES[cls] for cls in CLIENT_MESSAGE_TYPES)
_SERVER_TAGS: Final = frozenset(TYPE_NAMES[cls] for cls in SERVER_MESSAGE_TYPES)
_structure_client_message: Final = converter.get_structure_hook(ClientMessage)
_structure_server_message: Final = converter.get_structure_hook(ServerMessage)


def frame_size(frame: str | bytes, limit: int) -> int:
    """The frame's size in UTF-8 bytes, as far as comparing it with ``limit`` needs: exact
    when that is in doubt, else a bound on the same side of the limit (a text is encoded
    only when its length alone does not tell)."""
    if isinstance(frame, bytes):
        return len(frame)
    if len(frame) * _MAX_UTF8_BYTES_PER_CHAR <= limit or len(frame) > limit:
        return len(frame)
    return len(frame.encode("utf-8", "surrogatepass"))


def _parse_object(text: str | bytes, max_bytes: int | None) -> dict[str, Any]:
    if max_bytes is not None and frame_size(text, max_bytes) > max_bytes:
        raise ProtocolError("too_large", f"message larger than {max_bytes} bytes")
    if isinstance(text, bytes):
        try:
            text = str(text, "utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("bad_json", "message is not valid UTF-8") from None
    try:
        value = _load_json(text)
    except RecursionError:
        raise ProtocolError("bad_json", "JSON nested too deeply") from None
    except ValueError as exc:  # includes JSONDecodeError and the int digit limit
        raise ProtocolError("bad_json", f"not valid JSON: {exc}") from None
    if type(value) is not dict:
        raise ProtocolError("bad_message", "a message must be a JSON object")
    return value


def _check_tag(message: dict[str, Any], tags: frozenset[str]) -> str:
    if "type" not in message:
        raise ProtocolError("unknown_type", "missing field: type")
    tag = message["type"]
    if type(tag) is not str:
        raise ProtocolError("unknown_type", "type must be a string")
    if tag not in tags:
        raise ProtocolError("unknown_type", f"unknown message type: {tag[:100]!r}")
    return tag


def _format_exception(exc: BaseException, type_: Any) -> str:
    if get_origin(type_) is Literal:
        choices = ", ".join(json.dumps(arg) for arg in get_args(type_))
        return f"invalid value, expected one of {choices}"
    return format_exception(exc, type_)


def _invalid_field(exc: Exception, tag: str) -> ProtocolError:
    lines = transform_error(exc, format_exception=_format_exception)
    text = "; ".join(_PATH_RENAME_RE.sub(lambda m: _PATH_RENAMES[m[0]], line) for line in lines)
    # Extra keys are quoted verbatim: escape lone surrogates so the reply can be sent.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return ProtocolError("invalid_field", text, ref=tag)


def decode_client(text: str | bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> ClientMessage:
    """Parse one client -> server frame; raise ``ProtocolError`` and nothing else.

    Frames over ``max_bytes`` UTF-8 bytes are refused (``too_large``) before parsing, so
    no input costs more than its size allows.  The server passes its own limit, and closes
    an oversized frame's connection (1009) before it gets here.
    """
    message = _parse_object(text, max_bytes)
    tag = _check_tag(message, _CLIENT_TAGS)
    try:
        result: ClientMessage = _structure_client_message(message, ClientMessage)
    except Exception as exc:
        raise _invalid_field(exc, tag) from None
    return result


def decode_server(text: str | bytes) -> ServerMessage:
    """Parse one server -> client frame; raise ``ProtocolError`` and nothing else.

    No size limit here: a ``user_list`` grows with the lobby.
    """
    message = _parse_object(text, None)
    tag = _check_tag(message, _SERVER_TAGS)
    try:
        result: ServerMessage = _structure_server_message(message, ServerMessage)
    except Exception as exc:
        raise _invalid_field(exc, tag) from None
    return result


def decode_object(text: str | bytes, cls: type[_T], max_bytes: int) -> _T:
    """Parse a JSON object into the attrs class ``cls`` with the same strict rules as the
    wire messages (for the HTTP API's bodies); raise ``ProtocolError`` and nothing else."""
    message = _parse_object(text, max_bytes)
    try:
        return converter.structure(message, cls)
    except Exception as exc:
        raise _invalid_field(exc, cls.__name__) from None
