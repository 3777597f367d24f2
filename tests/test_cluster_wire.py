"""What travels between a cluster's edges and its core (``cluster.wire``): the compact forms
the hot path uses (a move as a row of six, a ``deliver`` as a row of three) and the
hand-written readers' refusals, each value's type checked as cattrs checked it.

The round trips of every kind of item and op are in ``test_cluster_relays.py``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from types import FrameType
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c4actors.cluster import wire
from c4actors.cluster.core import EdgeOutbox
from tests.encoder_spy import record_encodes


def test_a_move_travels_as_a_row_of_six() -> None:
    entry = wire.Uplink("edge-a", [wire.GameIn(4, "g1", "ann", "move", column=3, ply=6)], 2)
    text = wire.encode_uplink(entry)
    assert text == '{"edge":"edge-a","items":[[4,"g1","ann","move",3,6]],"seq":2}'
    assert wire.decode_uplink(text) == entry


def test_a_game_request_travels_without_its_trailing_defaults() -> None:
    items: list[wire.UplinkItem] = [
        wire.GameIn(1, "g1", "ann", "move"),
        wire.GameIn(1, "g1", "ann", "move", column=6),
        wire.GameIn(1, "g1", "ann", "move", ply=0),
        wire.GameIn(2, "g2", "bob", "chat", text="hi", sent_at=12.5),
        wire.GameIn(2, "g2", "bob", "answer_draw", accept=True),
        wire.WatchIn(3, "g3", True),
    ]
    data = json.loads(wire.encode_uplink(wire.Uplink("edge-a", items, 1)))
    assert data["items"] == [
        [1, "g1", "ann", "move"],
        [1, "g1", "ann", "move", 6],
        [1, "g1", "ann", "move", 0, 0],
        [2, "g2", "bob", "chat", 0, None, "hi", 12.5],
        [2, "g2", "bob", "answer_draw", 0, None, "", 0.0, True],
        {"k": "WatchIn", "conn": 3, "game_id": "g3", "watch": True},
    ]


def test_every_field_of_a_game_request_round_trips() -> None:
    items: list[wire.UplinkItem] = [
        wire.GameIn(1, "g1", "ann", "move"),  # column 0, no ply
        wire.GameIn(1, "g1", "ann", "move", column=6, ply=0),
        wire.GameIn(2, "g2", "bob", "chat", text="hi ✓", sent_at=12.0),
        wire.GameIn(2, "g2", "bob", "answer_draw", accept=True),
        wire.GameIn(3, "g3", "cy", "quit"),
    ]
    entry = wire.Uplink("edge-a", items, 9)
    decoded = wire.decode_uplink(wire.encode_uplink(entry))
    assert decoded == entry
    assert all(
        type(item.sent_at) is float for item in decoded.items if isinstance(item, wire.GameIn)
    )


@pytest.mark.parametrize(
    "row",
    [
        [True, "g1", "ann", "move", 3, 6],
        ["4", "g1", "ann", "move", 3, 6],
        [4, 1, "ann", "move", 3, 6],
        [4, "g1", None, "move", 3, 6],
        [4, "g1", "ann", "resign", 3, 6],
        [4, "g1", "ann", "move", 2.0, 6],
        [4, "g1", "ann", "move", True, 6],
        [4, "g1", "ann", "move", 3, "3"],
        [4, "g1", "ann", "move", 3, False],
        [4, "g1", "ann", "chat", 0, None, 5],
        [4, "g1", "ann", "chat", 0, None, "hi", "now"],
        [4, "g1", "ann", "answer_draw", 0, None, "", 0.0, 1],
        [4, "g1", "ann", "answer_draw", 0, None, "", 0.0, True, "extra"],
        [4, "g1", "ann"],
        [],
        # The object form of a game request is another version's.
        {"k": "GameIn", "conn": 4, "game_id": "g1", "name": "ann", "action": "move"},
    ],
)
def test_a_game_request_of_another_shape_is_refused(row: object) -> None:
    text = json.dumps({"edge": "a", "items": [row], "seq": 1})
    with pytest.raises(wire.WireError, match="not an input entry"):
        wire.decode_uplink(text)


def test_a_deliver_travels_as_a_row_of_three() -> None:
    ops = [
        wire.Op("deliver", 5, frame=0),
        wire.Op("route", 5, text="g1"),
        wire.Op("close", 6, code=1012, text="the server restarted"),
        wire.Op("answer", 7, text="ann", game="g1"),
        wire.Op("answer", 8),
        wire.Op("left", 9, value=False),
        wire.Op("broadcast", 0, frame=0, value={"ch": "lobby", "seq": 3, "add": [5], "drop": []}),
    ]
    entry = wire.Downlink(['{"type":"game_state"}'], ops, "core-1", 4)
    data = json.loads(wire.encode_downlink(entry).partition("\n")[0])
    assert data["ops"][:5] == [
        ["deliver", 5, 0],
        ["route", 5, -1, 0, "g1"],
        ["close", 6, -1, 1012, "the server restarted"],
        ["answer", 7, -1, 0, "ann", "g1"],
        ["answer", 8],
    ]
    assert wire.decode_downlink(wire.encode_downlink(entry)) == entry


@pytest.mark.parametrize(
    "ops",
    [
        [["deliver", 5, "0"]],
        [["deliver", True, 0]],
        [["deliver"]],
        [["send", 5, 0]],
        [["close", 6, -1, "1012"]],
        [["answer", 7, -1, 0, 3]],
        [["left", 9, -1, 0, None, None, False, "more"]],
        [{"op": "deliver", "conn": 5, "frame": 0}],
    ],
)
def test_an_op_of_another_shape_is_refused(ops: list[object]) -> None:
    text = json.dumps({"frames": ["{}"], "ops": ops, "core": "c", "seq": 1})
    with pytest.raises(wire.WireError, match="not a frames entry"):
        wire.decode_downlink(text)


@pytest.mark.parametrize(
    "data",
    [
        {"frames": [1], "ops": []},
        {"frames": [], "ops": {}},
        {"frames": [], "ops": [], "seq": "1"},
        {"frames": [], "ops": [], "core": None},
        {"frames": [], "ops": [], "more": 1},
    ],
)
def test_a_frames_entry_of_another_shape_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(wire.WireError, match="not a frames entry"):
        wire.decode_downlink(json.dumps(data))


def test_each_frame_travels_on_a_line_of_its_own_never_escaped_again() -> None:
    frames = ['{"type":"game_state","text":"a \\"quote\\" and a\\nbreak"}', '{"type":"error"}']
    entry = wire.Downlink(frames, [wire.Op("deliver", 1, frame=0), wire.Op("deliver", 2, 1)])
    text = wire.encode_downlink(entry)
    header, *lines = text.split("\n")
    assert lines == frames
    assert json.loads(header)["n"] == 2
    assert wire.decode_downlink(text) == entry
    empty = wire.Downlink([], [], "core-1", 3)
    assert wire.decode_downlink(wire.encode_downlink(empty)) == empty


def test_a_frame_holding_a_line_break_travels_as_a_string() -> None:
    entry = wire.Downlink(["{\n}", "{}"], [wire.Op("deliver", 1, frame=0)], "core-1", 2)
    text = wire.encode_downlink(entry)
    assert json.loads(text)["frames"] == ["{\n}", "{}"]
    assert wire.decode_downlink(text) == entry


@pytest.mark.parametrize(
    "text",
    [
        '{"ops":[],"n":2}\n{}',
        '{"ops":[],"n":1}\n{}\n{}',
        '{"ops":[],"n":0}\n{}',
        '{"ops":[],"n":"1"}\n{}',
        '{"ops":[],"n":1,"frames":["{}"]}\n{}',
        '{"ops":[],"frames":["{}"]}\n{}',
    ],
)
def test_frames_not_as_announced_are_refused(text: str) -> None:
    with pytest.raises(wire.WireError, match="not a frames entry"):
        wire.decode_downlink(text)


def _python_calls(function: Callable[[], object]) -> list[str]:
    """The Python functions ``function`` calls (their names, in order; C calls left out)."""
    called: list[str] = []

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event == "call":
            called.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        function()
    finally:
        sys.setprofile(None)
    return called[1:]  # (the lambda itself)


def test_a_move_is_read_into_its_item_without_a_call_in_python() -> None:
    """Every move crosses the uplink and is read by the core: its row becomes a ``GameIn``
    with no constructor run in Python (a frozen attrs class's ``__init__`` was most of a
    move's reading), and it is the item the edge wrote."""
    moves = [wire.GameIn(conn, f"g{conn}", "ann", "move", column=3, ply=conn) for conn in range(8)]
    text = wire.encode_uplink(wire.Uplink("edge-a", list(moves), 5))
    decoded: list[wire.Uplink] = []
    calls = _python_calls(lambda: decoded.append(wire.decode_uplink(text)))
    assert decoded == [wire.Uplink("edge-a", list(moves), 5)]
    ours = [name for name in calls if name not in ("loads", "decode", "raw_decode", "<listcomp>")]
    assert ours == ["decode_uplink", *["_game_in"] * len(moves), "__init__"], calls  # Uplink's


def test_an_outbox_writes_each_deliver_as_it_comes_and_only_joins_at_the_take() -> None:
    """The core's outbox keeps each op as its row's text (a ``deliver`` made by hand, no
    ``Op``): its batch is the encoder's text for the same ops, and taking it asks the JSON
    encoder for the core's name only."""
    outbox = EdgeOutbox("edge-a", "core-1")
    state, error = '{"type":"game_state"}', '{"type":"error"}'
    outbox.deliver(4, state)
    outbox.deliver(9, state)
    outbox.add(wire.Op("route", 9, text="g1"))
    outbox.deliver(9, error)
    assert outbox.rows == [
        '["deliver",4,0]',
        '["deliver",9,0]',
        '["route",9,-1,0,"g1"]',
        '["deliver",9,1]',
    ]
    with pytest.MonkeyPatch.context() as patch:
        encoded = record_encodes(patch, wire)
        text = outbox.take(3)
    assert encoded == ["core-1"]
    ops = [
        wire.Op("deliver", 4, 0),
        wire.Op("deliver", 9, 0),
        wire.Op("route", 9, text="g1"),
        wire.Op("deliver", 9, 1),
    ]
    assert text == wire.encode_downlink(wire.Downlink([state, error], ops, "core-1", 3))
    assert text == _encoded_by_the_json_encoder(wire.Downlink([state, error], ops, "core-1", 3))


_OP_DEFAULTS = (None, None, -1, 0, None, None, None)


def _encoded_by_the_json_encoder(entry: wire.Downlink) -> str:
    """``encode_downlink`` as the JSON encoder writes it, the header whole (as it was
    written before the rows were made by hand)."""
    rows = []
    for op in entry.ops:
        row = list(op)
        while len(row) > 2 and row[-1] == _OP_DEFAULTS[len(row) - 1]:
            row.pop()
        rows.append(row)

    def dumps(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    body = "\n".join(entry.frames)
    if entry.frames and body.count("\n") != len(entry.frames) - 1:
        return dumps({"frames": entry.frames, "ops": rows, "core": entry.core, "seq": entry.seq})
    header = dumps({"ops": rows, "core": entry.core, "seq": entry.seq, "n": len(entry.frames)})
    return header + "\n" + body if entry.frames else header


_texts = st.text(max_size=8)
_ops = st.one_of(
    st.tuples(st.just("deliver"), st.integers(-5, 10**12), st.integers(0, 99)),
    st.tuples(
        st.sampled_from(get_args(wire.OpName)),
        st.integers(-5, 10**12),
        st.integers(-1, 99),
        st.integers(0, 5000),
        st.none() | _texts,
        st.none() | _texts,
        st.none()
        | st.booleans()
        | st.dictionaries(_texts, st.lists(st.integers(0, 99), max_size=3), max_size=3),
    ),
).map(lambda fields: wire.Op(*fields))


@given(
    frames=st.lists(_texts.map(json.dumps) | st.text(min_size=1, max_size=8), max_size=4),
    ops=st.lists(_ops, max_size=8),
    core=_texts,
    seq=st.integers(0, 10**12),
)
def test_a_batch_is_the_json_encoders_text_and_reads_back(
    frames: list[str], ops: list[wire.Op], core: str, seq: int
) -> None:
    """Written by hand or not, a batch is byte for byte what the JSON encoder writes for
    it (either form: a frame holding a line break sends it whole), and reads back.  (A
    frame is never empty: it is a client message's JSON.)"""
    entry = wire.Downlink(frames, ops, core, seq)
    text = wire.encode_downlink(entry)
    assert text == _encoded_by_the_json_encoder(entry)
    outbox = EdgeOutbox("edge-a", core)
    for op in ops:
        outbox.add(op)
    outbox.frames = list(frames)
    assert outbox.take(seq) == text
    decoded = wire.decode_downlink(text)
    assert decoded.frames == frames and decoded.core == core and decoded.seq == seq
    assert [op._replace(value=None) for op in decoded.ops] == [
        op._replace(value=None) for op in ops
    ]


def test_a_games_route_and_a_joins_answer_are_written_without_the_json_encoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ops of texts, numbers and nulls (a game's ``route`` and ``unroute`` for each
    player, a join's ``answer``, a ``close``) are written by hand as they come: the
    encoder, made anew on each call, cost about 2 us each; an op with a ``value`` still
    takes it."""
    ops = [
        wire.Op("route", 5, text='g"1'),
        wire.Op("unroute", 5, text="g1 ✓"),
        wire.Op("answer", 7, text="ann", game="g1"),
        wire.Op("answer", 8),
        wire.Op("close", 6, code=1012, text="the server restarted"),
    ]
    expected = [
        json.loads(_encoded_by_the_json_encoder(wire.Downlink([], [op])))["ops"][0] for op in ops
    ]
    expected_texts = [
        json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in expected
    ]

    def refused(value: object) -> str:
        raise AssertionError(f"encoded {value!r}")

    monkeypatch.setattr(wire, "_dumps", refused)
    assert [wire.op_text(op) for op in ops] == expected_texts
    with pytest.raises(AssertionError, match="encoded"):
        wire.op_text(wire.Op("left", 9, value=True))
