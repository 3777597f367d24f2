"""A prepared frame is byte for byte what hypercorn's wsproto connection would send that
socket, for every variant our compression policy negotiates, message after message."""

from __future__ import annotations

import zlib
from typing import NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage
from wsproto.extensions import Extension
from wsproto.frame_protocol import FrameProtocol

from c4actors.websocket_compression import BoundedDeflate, SizeLimit
from c4actors.websocket_frames import PreparedFrame, Variant

LIMIT = 1 << 20
texts = st.one_of(
    st.text(max_size=300),
    # Long enough for the 2- and 8-byte length headers (over 125 and 65,535 bytes).
    st.builds(
        lambda part, times: part * times, st.text(min_size=1, max_size=8), st.integers(1, 20_000)
    ),
)


def negotiated(offer: str | None) -> tuple[Extension, Variant]:
    """The extension our policy makes for a client's offer (None: compression off), and the
    variant that socket frames with."""
    if offer is None:
        return SizeLimit(LIMIT), None
    deflate = BoundedDeflate(LIMIT)
    assert deflate.accept(offer) is not None
    return deflate, deflate.server_max_window_bits


OFFERS = [
    None,
    "permessage-deflate; client_max_window_bits",  # what a browser offers
    "permessage-deflate; client_max_window_bits; server_max_window_bits=9",
    "permessage-deflate; client_max_window_bits=10; server_max_window_bits=10",
]


@pytest.mark.parametrize("offer", OFFERS)
@given(first=texts, second=texts)
def test_a_prepared_frame_is_what_the_socket_would_send(
    offer: str | None, first: str, second: str
) -> None:
    extension, variant = negotiated(offer)
    connection = Connection(ConnectionType.SERVER, [extension])
    # Twice each, interleaved: no state carried from one message to the next.
    for text in (first, second, first):
        assert PreparedFrame(text).bytes_for(variant) == connection.send(TextMessage(text))


def test_one_frame_builds_each_variant_once_and_the_text_stays_the_same_object() -> None:
    text = '{"type":"game_state","moves":[3,3,4]}'
    frame = PreparedFrame(text)
    plain = frame.bytes_for(None)
    assert frame.bytes_for(None) is plain
    deflated = frame.bytes_for(12)
    assert deflated[0] & 0x40, "compressed: RSV1 set"
    payload = deflated[2:]
    inflated = zlib.decompressobj(-12).decompress(payload + b"\x00\x00\xff\xff")
    assert inflated.decode() == text
    assert plain == b"\x81" + bytes([len(text)]) + text.encode()
    assert frame.text is text


def test_a_plain_frame_is_built_without_wsproto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every socket without compression (a player's, nearly always) gets its frames built
    here, not through wsproto's framer (about ten times the CPU); the compressed variants
    still are (their bytes are compared with wsproto's above, the plain ones too)."""

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("framed through wsproto")

    monkeypatch.setattr(FrameProtocol, "send_data", refuse)
    for size in (0, 125, 126, 65_535, 65_536):
        text = "é" * (size // 2) + "x" * (size % 2)
        payload = text.encode()
        header = PreparedFrame(text).bytes_for(None)[: -len(payload) or None]
        assert header[0] == 0x81
        assert len(header) == {0: 2, 125: 2, 126: 4, 65_535: 4, 65_536: 10}[size]
    with pytest.raises(AssertionError, match="wsproto"):
        PreparedFrame("x").bytes_for(12)
