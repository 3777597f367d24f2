"""What travels between the edges and the core, as JSON: pure, no I/O.

Edge -> core, one stream shared by every edge (``Uplink``): what the edge's user actors
and HTTP handlers would have put into the lobby's or a game's inbox in one process, with
the edge's own connection number (the core maps it to a cluster-wide one) instead of a
mailbox, and the name of a game instead of its inbox.  Several items travel as one entry.

Core -> edge, one stream per edge (``Downlink``): the frames the core's actors delivered
to that edge's connections, each frame text **once** however many of the edge's
connections get it (a lobby update reaches every watcher with one copy per edge), and
the operations on its connections, in the order the actors did them: ``deliver``,
``route`` (the connection's moves for a game go to the core from now on), ``unroute``
(that game is over), ``close``, ``answer`` (to a ``new_connection``) and ``reply`` (to an
HTTP handler's query).

Broadcasts (a ``lobby_update`` to the lobby's watchers, a ``game_list_update`` to the
followers of the games list) travel as one ``broadcast`` op per edge, not one ``deliver``
per connection: the frame once, a sequence number per channel (counted by the core, the
same for every edge), and which of the edge's connections joined or left the channel's
audience since its previous broadcast (``add`` / ``drop``), or all of them (``full``).
The edge keeps each channel's audience and delivers the frame to it.  An edge that sees a
number that does not follow the last one (an entry it never read, or its first broadcast
that is not ``full``) cannot trust its audience: it asks for a resync (``ResyncIn``), and
the core sends a fresh ``user_list`` / ``game_list`` to that edge's audience and a ``full``
broadcast next (``CHANNELS``).

Error handling: ``decode_uplink`` / ``decode_downlink`` raise ``WireError`` on anything
that is not what an edge or a core of this version writes; the reader logs and skips it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, Literal, NamedTuple, TypeAlias, Union, get_args

import attrs
import cattrs
from cattrs.strategies import configure_tagged_union

from c4actors.actors.lobby import Audience
from c4actors.lobby_state import AccountInfo
from protocol.messages import UserInfo


class WireError(ValueError):
    """An entry that is not what this version writes."""


# --------------------------------------------------------------------------- edge -> core


@attrs.frozen
class JoinIn:
    """A socket's ``new_connection``, its accounts looked up (``lobby_state.Connected``)."""

    conn: int
    username: str
    resume: str | None = None
    account: AccountInfo | None = None
    name_registered: bool = False


@attrs.frozen
class LeftIn:
    """A socket of the edge closed (``lobby_state.Disconnected``)."""

    conn: int


@attrs.frozen
class LeaveIn:
    """A socket's ``leave`` (``actors.lobby.LeaveRequest``): answered with a ``left`` op."""

    conn: int


@attrs.frozen
class RequestIn:
    """A lobby request; ``frame`` is the client message encoded again (``protocol.encode``)."""

    conn: int
    frame: str


@attrs.frozen
class ColorIn:
    name: str
    color: str


@attrs.frozen
class WatchIn:
    conn: int
    game_id: str
    watch: bool


@attrs.frozen
class FollowIn:
    """``follow_games`` (``unfollow_games`` when not ``follow``)."""

    conn: int
    follow: bool


GameAction: TypeAlias = Literal["move", "quit", "chat", "offer_draw", "answer_draw", "abort"]


class GameIn(NamedTuple):
    """A player's request to a game (``game_inbox``: ``PlayMove``, ``QuitGame``, ``Say``,
    ``GameRequest``); ``action`` is also the ``ref`` of an error about it.

    A named tuple, not a frozen attrs class: every move is one, made by an edge and again
    by the core, which reads a move's row into it without a call in Python (``_game_in``);
    the frozen class's ``__init__`` was most of a move's decoding (0.64 of 0.85 us)."""

    conn: int
    game_id: str
    name: str
    action: GameAction
    column: int = 0
    ply: int | None = None
    """A move's ``ply`` (``protocol.Move.ply``), when the client sent one."""
    text: str = ""
    sent_at: float = 0.0
    accept: bool = False


@attrs.frozen
class MovedOnIn:
    conn: int
    game_id: str


@attrs.frozen
class QueryIn:
    """An HTTP handler's question to the lobby; the answer comes back as a ``reply``."""

    query: int
    what: Literal["snapshot", "online", "stats"]
    name: str = ""


@attrs.frozen
class AliveIn:
    """The edge is alive (sent every ``HEARTBEAT`` seconds): an edge the core has not
    heard from for ``EDGE_TIMEOUT`` is dead, and its connections are gone."""


Channel: TypeAlias = Audience
CHANNELS: Final[tuple[Channel, ...]] = ("lobby", "games")
"""``lobby``: ``lobby_update`` to the watchers (a fresh ``user_list`` on a resync);
``games``: ``game_list_update`` to the games list's followers (a fresh ``game_list``)."""


@attrs.frozen
class ResyncIn:
    """The edge missed broadcasts of ``channel`` (a gap in their numbers): the core sends a
    fresh list to each of the edge's connections in its audience, then a ``full`` broadcast."""

    channel: Channel


@attrs.frozen
class AttachIn:
    """The edge saw another core than before (the standby took over): its connections
    (joined or joining), so the new core closes those it does not know and forgets those
    that are gone."""

    conns: list[int]


@attrs.frozen
class SharedIn:
    """Something the edge's shared limits recorded (``shared_limits.SharedEvent``): the
    core passes it on to every other edge (a ``shared`` op) and keeps WebSocket counts."""

    kind: str
    a: str
    b: str = ""


HEARTBEAT: Final = 1.0
EDGE_TIMEOUT: Final = 4.0

UplinkItem: TypeAlias = (
    JoinIn
    | LeftIn
    | LeaveIn
    | RequestIn
    | ColorIn
    | WatchIn
    | FollowIn
    | GameIn
    | MovedOnIn
    | QueryIn
    | AttachIn
    | AliveIn
    | ResyncIn
    | SharedIn
)


@attrs.frozen
class Uplink:
    """One entry of the input stream: items from one edge, in the order it sent them."""

    edge: str
    items: list[UplinkItem]
    seq: int = 0
    """The entry's number, growing with each entry that edge process sends (0: not
    numbered).  An append whose reply was lost or that Redis refused is made again, so the
    entry may be in the stream twice, or after a later one: the core handles each number
    of each edge once, in whatever order (``handled_inputs``)."""


# --------------------------------------------------------------------------- core -> edge

OpName: TypeAlias = Literal[
    "deliver", "route", "unroute", "close", "answer", "left", "reply", "broadcast", "shared"
]


class Op(NamedTuple):
    """One operation on the edge's connection ``conn`` (``reply``: on query ``conn``).

    ``deliver``: ``frame`` indexes ``Downlink.frames``.  ``route`` / ``unroute``: ``text``
    is the game id.  ``close``: ``code`` and ``text`` (the reason).  ``answer``: ``text`` is
    the session's name (None: refused), ``game`` the game a resumed session is routed to.
    ``left``: the answer to a ``leave``, ``value`` true when the session ended.
    ``reply``: ``value`` is the answer's JSON.  ``broadcast`` (``conn`` unused): ``frame``
    to the channel's audience on the edge; ``value`` is ``{"ch": channel, "seq": n}`` with
    ``"add"`` and ``"drop"`` (the audience's changes since broadcast ``n - 1``) or ``"full"``
    (the whole audience), lists of the edge's connection numbers.  ``shared`` (``conn``
    unused): another edge's (``text``) limits event, ``value`` ``[kind, a, b]``
    (``shared_limits``), or, with ``text`` None, every other edge's open WebSockets by
    address (``{edge: {address: count}}``: the first batch a new edge gets).

    A named tuple, not an attrs class: the core makes one per frame it delivers (two or
    more a move) and each edge one per op it reads, and a frozen attrs class of seven
    fields cost about three times as much to make."""

    op: OpName
    conn: int
    frame: int = -1
    code: int = 0
    text: str | None = None
    game: str | None = None
    value: Any = None

    def extra(self) -> bool:
        """Whether any field after ``frame`` is set (a ``deliver`` has none)."""
        return (
            self.code != 0
            or self.text is not None
            or self.game is not None
            or (self.value is not None)
        )


@attrs.frozen
class Downlink:
    frames: list[str]
    ops: list[Op]
    core: str = ""
    """The core process that sent it: an edge that sees another one than before knows the
    standby took over, and that its sessions were the old core's."""
    seq: int = 0
    """The batch's number, growing with each batch that core sends (to any edge; 0: not
    numbered).  A commit whose reply was lost is made again, whole, so its batch may be
    in the stream twice: an edge drops one from the same core whose number is not above
    the last it carried out."""


# --------------------------------------------------------------------------- encoding

_converter: Final = cattrs.Converter(forbid_extra_keys=True)
_TAGGED: Final[Any] = Union[tuple(kind for kind in get_args(UplinkItem) if kind is not GameIn)]  # noqa: UP007
"""Every item but ``GameIn`` travels as an object with its kind in ``k`` (cattrs); a game
request only as a row (``_game_row``), so an object of that kind is another version's."""
configure_tagged_union(_TAGGED, _converter, tag_name="k")
_dumps: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_string: Final[Callable[[str], str]] = json.encoder.encode_basestring
"""A string as ``_dumps`` writes it (``ensure_ascii=False``)."""


def encode_uplink(entry: Uplink) -> str:
    items = [_game_row(item) if type(item) is GameIn else _item_row(item) for item in entry.items]
    return _dumps({"edge": entry.edge, "items": items, "seq": entry.seq})


def _item_row(item: UplinkItem) -> Any:
    return _converter.unstructure(item, _TAGGED)


def _game_row(item: GameIn) -> list[Any]:
    """A player's request as a row of its fields in ``GameIn``'s order, without the
    trailing defaults (a move: ``[conn, game_id, name, "move", column, ply]``), written
    without cattrs: every move crosses the stream this way, and a row is cheaper than an
    object of named keys to make, to write, and for the core to read and check."""
    if item.action == "move" and item.ply is not None and _plain(item):
        return [item.conn, item.game_id, item.name, "move", item.column, item.ply]
    row = [
        item.conn,
        item.game_id,
        item.name,
        item.action,
        item.column,
        item.ply,
        item.text,
        item.sent_at,
        item.accept,
    ]
    while len(row) > _GAME_REQUIRED and row[-1] == _GAME_DEFAULTS[len(row) - 1]:
        row.pop()
    return row


def _plain(item: GameIn) -> bool:
    """No field after ``ply`` is set (every move)."""
    return not item.text and not item.sent_at and not item.accept


def decode_uplink(text: str) -> Uplink:
    """The entry ``encode_uplink`` wrote.  A player's request (every move: a row, where
    every other item is an object with its kind in ``k``) is read by hand, its types
    checked as strictly as the rest; the other items through cattrs."""
    try:
        data = json.loads(text)
        if type(data) is not dict or not data.keys() <= _UPLINK_KEYS:
            raise WireError(f"keys {sorted(data) if type(data) is dict else type(data)}")
        edge, rows, seq = data["edge"], data["items"], data.get("seq", 0)
        if type(edge) is not str or type(rows) is not list or type(seq) is not int:
            raise WireError("edge, items or seq of the wrong type")
        items = [_game_in(row) if type(row) is list else _item(row) for row in rows]
        return Uplink(edge, items, seq)
    except WireError as error:
        raise WireError(f"not an input entry: {error}") from None
    except Exception as error:  # any JSON: cattrs raises what the shape makes it raise
        raise WireError(f"not an input entry: {error!r}") from None


_UPLINK_KEYS: Final = frozenset({"edge", "items", "seq"})


def _item(row: Any) -> UplinkItem:
    item: UplinkItem = _converter.structure(row, _TAGGED)
    return item


_GAME_ACTIONS: Final = frozenset(get_args(GameAction))
_GAME_REQUIRED: Final = 4
"""A game request's row holds at least ``conn, game_id, name, action``."""
_GAME_DEFAULTS: Final = (None, None, None, None, 0, None, "", 0.0, False)
"""The defaults of ``GameIn``'s fields after the required ones, by position."""
_GAME_TYPES: Final[tuple[tuple[type, ...], ...]] = (
    (int,),
    (str,),
    (str,),
    (str,),
    (int,),
    (int, type(None)),
    (str,),
    (float, int),
    (bool,),
)


_MOVE_TAIL: Final = ("", 0.0, False)
"""A move's ``GameIn`` fields after ``ply`` (``text``, ``sent_at``, ``accept``)."""
_new_tuple: Final = tuple.__new__
"""A named tuple made from all its values at once, without its ``__new__`` (a call in
Python that fills the defaults in)."""


def _game_in(row: list[Any]) -> GameIn:
    """A row ``_game_row`` wrote, each value's type checked (exactly: a bool is not an
    int here, as cattrs refused it); a move's row of six first, by its own test."""
    if (
        len(row) == 6
        and row[3] == "move"
        and type(row[0]) is int
        and type(row[1]) is str
        and type(row[2]) is str
        and type(row[4]) is int
        and type(row[5]) is int
    ):
        row += _MOVE_TAIL
        return _new_tuple(GameIn, row)
    if not _GAME_REQUIRED <= len(row) <= len(_GAME_TYPES):
        raise WireError(f"a game request is {row!r}")
    for value, types in zip(row, _GAME_TYPES, strict=False):
        if type(value) not in types:
            raise WireError(f"a game request is {row!r}")
    if row[3] not in _GAME_ACTIONS:
        raise WireError(f"a game request's action is {row[3]!r}")
    full: list[Any] = [*row, *_GAME_DEFAULTS[len(row) :]]
    conn, game_id, name, action, column, ply, text, sent_at, accept = full
    return GameIn(conn, game_id, name, action, column, ply, text, float(sent_at), accept)


def encode_downlink(entry: Downlink) -> str:
    """A line of JSON (the ops, the core, the number and how many frames follow), then
    each frame on a line of its own, as it is: a frame is compact JSON, which never holds
    a line break (a string's is escaped), so it is neither escaped again here nor
    unescaped by the edge.  A batch with a frame that does hold one (none does: frames
    come from ``protocol.encode``) travels whole as JSON, its frames as strings.

    Each op is a row of its fields in ``Op``'s order, without the trailing defaults (a
    ``deliver`` is ``["deliver", conn, frame]``): cheaper to make and to read than an
    object per op."""
    return encode_rows(entry.frames, [op_text(op) for op in entry.ops], entry.core, entry.seq)


def op_text(op: Op) -> str:
    """``op``'s row as ``encode_downlink`` writes it (a plain ``deliver``: ``deliver_text``).
    A row of texts, numbers and nulls (every op but those with a ``value``: a game's
    ``route`` and ``unroute``, a join's ``answer``, a ``close``) is written by hand too:
    the JSON encoder, made anew on each call, cost about 2 us for such a row."""
    if op[0] == "deliver" and op[3:] == _DELIVER_TAIL:
        return deliver_text(op[1], op[2])
    row = _op_row(op)
    parts = []
    for value in row:
        kind = type(value)
        if kind is str:
            parts.append(_string(value))
        elif kind is int:
            parts.append(int.__repr__(value))
        elif value is None:
            parts.append("null")
        else:
            return _dumps(row)
    return "[" + ",".join(parts) + "]"


def deliver_text(conn: int, frame: int) -> str:
    """A plain ``deliver``'s row, written by hand: the JSON encoder's text for it."""
    return f'["deliver",{conn},{frame}]'


def encode_rows(frames: list[str], rows: list[str], core: str, seq: int) -> str:
    """``encode_downlink`` of a batch whose ops are already rows of text (``op_text``), in
    order: the core's outboxes write each op as it comes (``core.EdgeOutbox``), so a
    batch is joined, not encoded, at its commit.  The header is written by hand, the
    encoder's text for ``{"ops": [...], "core": core, "seq": seq, "n": len(frames)}``."""
    ops = ",".join(rows)
    core_text = _dumps(core)
    header = f'{{"ops":[{ops}],"core":{core_text},"seq":{seq},"n":{len(frames)}}}'
    if not frames:
        return header
    body = "\n".join(frames)
    if body.count("\n") == len(frames) - 1:
        return header + "\n" + body
    return f'{{"frames":{_dumps(frames)},"ops":[{ops}],"core":{core_text},"seq":{seq}}}'


def _op_row(op: Op) -> list[Any]:
    row = list(op)
    while len(row) > 2 and row[-1] == _OP_DEFAULTS[len(row) - 1]:
        row.pop()
    return row


_OP_DEFAULTS: Final = ("", 0, -1, 0, None, None, None)
_DELIVER_TAIL: Final = _OP_DEFAULTS[3:]
"""A plain ``deliver``'s fields after ``frame`` (a tuple is JSON's array: written as its
first three)."""
_OP_NAMES: Final = frozenset(get_args(OpName))
_OP_TYPES: Final[tuple[tuple[type, ...], ...]] = (
    (str,),
    (int,),
    (int,),
    (int,),
    (str, type(None)),
    (str, type(None)),
)
_DOWNLINK_KEYS: Final = frozenset({"frames", "ops", "core", "seq", "n"})


def decode_downlink(text: str) -> Downlink:
    """The entry ``encode_downlink`` wrote (either form), read by hand (no cattrs: an edge
    reads every batch the core sends), every value's type checked."""
    try:
        header, _, body = text.partition("\n")
        data = json.loads(header)
        if type(data) is not dict or not data.keys() <= _DOWNLINK_KEYS:
            raise WireError(f"keys {sorted(data) if type(data) is dict else type(data)}")
        rows, core, seq = data["ops"], data.get("core", ""), data.get("seq", 0)
        count = data.get("n")
        if count is None:  # whole JSON, the frames as strings
            frames = data["frames"]
            if body or type(frames) is not list or any(type(f) is not str for f in frames):
                raise WireError("frames are not texts")
        else:
            frames = body.split("\n") if body else []
            if "frames" in data or type(count) is not int or len(frames) != count:
                raise WireError(f"{len(frames)} frames, {count!r} announced")
        if type(rows) is not list or type(core) is not str or type(seq) is not int:
            raise WireError("ops, core or seq of the wrong type")
        return Downlink(frames, [_op(row) for row in rows], core, seq)
    except WireError as error:
        raise WireError(f"not a frames entry: {error}") from None
    except Exception as error:  # any JSON
        raise WireError(f"not a frames entry: {error!r}") from None


def _op(row: Any) -> Op:
    if (
        type(row) is list
        and len(row) == 3
        and row[0] == "deliver"
        and type(row[1]) is int
        and type(row[2]) is int
    ):
        return Op("deliver", row[1], row[2])
    if type(row) is not list or not 2 <= len(row) <= len(_OP_DEFAULTS):
        raise WireError(f"an op is {row!r}")
    for value, types in zip(row, _OP_TYPES, strict=False):
        if type(value) not in types:
            raise WireError(f"an op is {row!r}")
    if row[0] not in _OP_NAMES:
        raise WireError(f"an op is {row[0]!r}")
    return Op(*row)


def unstructure(value: object) -> Any:
    """A query's answer (``UserInfo`` rows, a bool, ``LobbyStats``) as JSON values."""
    return _converter.unstructure(value)


def structure_users(value: Any) -> list[UserInfo]:
    return _converter.structure(value, list[UserInfo])
