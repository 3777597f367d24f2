"""The server's WebSocket compression policy: off unless asked for, and then bounded.

Why this exists: hypercorn 0.18 accepts ``permessage-deflate`` whenever a client offers it
(every browser does) with wsproto's ``PerMessageDeflate``, which inflates each frame whole
before hypercorn's message-size check sees it: a 260 KB frame became 256 MB in the server.
hypercorn has no setting for this, so ``install`` replaces the two names its handshake uses
(``hypercorn.protocol.ws_stream.PerMessageDeflate`` and ``.Connection``):

- ``PerMessageDeflate()`` becomes the extension this connection's policy allows: by default
  ``SizeLimit``, which declines compression (a compressed frame is then a protocol error,
  1002), or ``BoundedDeflate``, which negotiates bounded windows, keeps no compression state
  between messages, and stops inflating a message at the size limit instead of after it.
  Both count each message's bytes as they arrive and fail the connection at the limit (1009).
- ``Connection`` becomes ``FailingConnection``, which answers a frame wsproto failed to parse
  (a protocol error, an oversized message) with a close frame carrying the code, as RFC 6455
  section 7.1.7 asks; hypercorn would only drop the TCP connection.

The policy travels in a context variable that the ASGI app sets (``use_policy``) in the
connection's own task just before it accepts the handshake: hypercorn builds the extension
in that same call, so no other connection sees it.
"""

from __future__ import annotations

import contextvars
import zlib
from collections.abc import Generator
from typing import Final

import attrs
from hypercorn.protocol import ws_stream
from wsproto.connection import Connection, ConnectionState
from wsproto.events import CloseConnection, Event
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

from c4actors.websocket_frames import Variant

WINDOW_BITS: Final = 12
"""A 4 KiB LZ77 window both ways (zlib allows 9-15; browsers use 15 unless told): messages
are small JSON, so a larger window buys little and costs memory while (de)compressing."""


@attrs.frozen
class CompressionPolicy:
    """What one connection may negotiate: no compression, or bounded compression."""

    enabled: bool = False
    max_message_bytes: int = 64 * 1024
    """Most bytes one message may inflate to; the connection is closed (1009) at once past it."""


OFF: Final = CompressionPolicy()
_policy: contextvars.ContextVar[CompressionPolicy] = contextvars.ContextVar(
    "c4actors_websocket_compression"
)
_negotiated: contextvars.ContextVar[Extension] = contextvars.ContextVar(
    "c4actors_websocket_extension"
)
"""The extension this task's last handshake made (``frame_variant``)."""


def use_policy(policy: CompressionPolicy) -> None:
    """Apply ``policy`` to the handshake this task accepts next (call it in the app's task)."""
    _policy.set(policy)


class SizeLimit(Extension):
    """Declines compression and enforces the size limit as frames arrive.

    Its name matches no offer, so the handshake answers without ``Sec-WebSocket-Extensions``
    and wsproto refuses a frame with RSV1 set (1002).  Enabled all the same, so that wsproto
    shows it every frame: one byte over ``max_message_bytes`` in a message fails the
    connection (1009) through wsproto, which ends it, where hypercorn's own check sends a
    close and then waits for the peer to answer for as long as the peer likes.
    """

    name = "c4actors-size-limit"

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self._in_data_frame = False
        self._received = 0
        """Bytes of the message being received, so far."""

    def enabled(self) -> bool:
        return True

    def offer(self) -> bool | str:
        return False

    def accept(self, offer: str) -> bool | str | None:
        return None

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        self._in_data_frame = _count_frame(self, opcode)
        return RsvBits(False, False, False)

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._in_data_frame:
            return data
        return _count_plain(self, data)


class BoundedDeflate(PerMessageDeflate):
    """wsproto's permessage-deflate with three bounds.

    - Windows: the server compresses with ``WINDOW_BITS`` and tells the client to do the same
      (``client_max_window_bits``); a client that cannot be told so (it did not offer the
      parameter, RFC 7692 section 7.1.2.2) gets no compression at all.
    - State: ``client_no_context_takeover`` and ``server_no_context_takeover`` both ways, so
      no zlib object outlives the message it (de)compresses; an idle connection costs nothing.
    - Size: each chunk is inflated into at most the room left under ``max_message_bytes``
      (``zlib.decompressobj().decompress(data, max_length)``); one byte more fails the
      connection with 1009 before anything larger exists in memory.  Uncompressed messages
      are counted as ``SizeLimit`` counts them.
    """

    def __init__(self, max_message_bytes: int) -> None:
        super().__init__(
            client_no_context_takeover=True,
            server_no_context_takeover=True,
            client_max_window_bits=WINDOW_BITS,
            server_max_window_bits=WINDOW_BITS,
        )
        self.max_message_bytes = max_message_bytes
        self._in_data_frame = False
        self._received = 0
        """Bytes of the message being received (inflated if compressed), so far."""

    def accept(self, offer: str) -> bool | str | None:
        try:
            client_bits, server_bits = self._parse_params(offer)
            if client_bits is None:
                return None
            self.client_max_window_bits = min(client_bits, WINDOW_BITS)
            self.server_max_window_bits = min(server_bits or WINDOW_BITS, WINDOW_BITS)
        except ValueError:  # a malformed or out-of-range parameter: decline, do not fail
            return None
        # _parse_params records the client's no-context-takeover requests; ours stand anyway.
        self.client_no_context_takeover = self.server_no_context_takeover = True
        self._enabled = True
        return (
            "client_no_context_takeover; server_no_context_takeover; "
            f"client_max_window_bits={self.client_max_window_bits}; "
            f"server_max_window_bits={self.server_max_window_bits}"
        )

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        self._in_data_frame = _count_frame(self, opcode)
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._in_data_frame:
            return data
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return _count_plain(self, data)
        return self._inflate(data)

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if not fin or not self._in_data_frame:  # a control frame between fragments ends nothing
            return None
        if not self._inbound_compressed or not self._inbound_is_compressible:
            self._inbound_compressed = None
            return None
        # The empty block the sender stripped (RFC 7692 section 7.2.2); no flush(), which
        # would inflate without a bound.
        data = self._inflate(b"\x00\x00\xff\xff")
        self._inbound_compressed = None
        self._decompressor = None  # client_no_context_takeover: nothing kept between messages
        return data

    def _inflate(self, data: bytes) -> bytes | CloseReason:
        if self._decompressor is None:  # pragma: no cover - frame_inbound_header made one
            return CloseReason.INTERNAL_ERROR
        room = self.max_message_bytes - self._received
        try:
            # At most one byte past the room: output cut short leaves input unconsumed.
            inflated = self._decompressor.decompress(data, room + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._received += len(inflated)
        if self._received > self.max_message_bytes:
            self._decompressor = None
            return CloseReason.MESSAGE_TOO_BIG
        return inflated


def _count_frame(extension: SizeLimit | BoundedDeflate, opcode: Opcode) -> bool:
    """Whether a frame counts towards its message's size; the first frame of a message
    (text or binary, not a continuation or a control frame between fragments) restarts it."""
    if opcode in (Opcode.TEXT, Opcode.BINARY):
        extension._received = 0
    return not opcode.iscontrol()


def _count_plain(extension: SizeLimit | BoundedDeflate, data: bytes) -> bytes | CloseReason:
    """Count uncompressed ``data`` towards its message: ``data`` itself, or 1009 past the
    limit (one rule for both extensions, so a plain message is bounded the same either way)."""
    extension._received += len(data)
    if extension._received > extension.max_message_bytes:
        return CloseReason.MESSAGE_TOO_BIG
    return data


def _negotiable_extension() -> Extension:
    """Stands in for ``PerMessageDeflate()`` in hypercorn's handshake."""
    policy = _policy.get(OFF)
    extension: Extension
    if policy.enabled:
        extension = BoundedDeflate(policy.max_message_bytes)
    else:
        extension = SizeLimit(policy.max_message_bytes)
    _negotiated.set(extension)
    return extension


def frame_variant() -> Variant:
    """How the WebSocket this task has just accepted frames what the server sends: plain
    (``SizeLimit``, or compression offered and declined) or deflated with the window agreed
    (``BoundedDeflate``, which always keeps no context between messages, so its frames are
    the same for every socket with that window: ``websocket_frames``).
    ``ValueError`` when the handshake was not made by this policy (no telling)."""
    extension = _negotiated.get(None)
    if isinstance(extension, SizeLimit):
        return None
    if isinstance(extension, BoundedDeflate):
        if not extension.enabled():
            return None
        if not extension.server_no_context_takeover:  # pragma: no cover - accept sets it
            raise ValueError("a deflate context is kept between messages")
        return int(extension.server_max_window_bits)
    raise ValueError("no handshake made by the compression policy in this task")


class FailingConnection(Connection):
    """A wsproto connection that fails properly on a frame it cannot accept.

    wsproto reports such a frame as a ``CloseConnection`` event but leaves the state OPEN;
    hypercorn answers a close only in state REMOTE_CLOSING, so the peer saw the TCP
    connection drop (1006) instead of the code.  Moving to REMOTE_CLOSING makes hypercorn
    send the close frame (with wsproto's code: 1002, 1007, 1009) and then end the stream.
    """

    def events(self) -> Generator[Event, None, None]:
        for event in super().events():
            if isinstance(event, CloseConnection) and self._state is ConnectionState.OPEN:
                self._state = ConnectionState.REMOTE_CLOSING
                if event.code == CloseReason.MESSAGE_TOO_BIG:  # not "error in extension"
                    event = CloseConnection(event.code, "message too large")
            yield event


def install() -> None:
    """Put the policy into hypercorn's WebSocket handshake (idempotent)."""
    ws_stream.PerMessageDeflate = _negotiable_extension  # type: ignore[attr-defined,assignment]
    ws_stream.Connection = FailingConnection  # type: ignore[attr-defined]
