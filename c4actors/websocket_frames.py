"""A server message framed once for all the sockets that get it, not once per socket.

Why: a move watched by a thousand spectators is one message to a thousand sockets.  Through
hypercorn each socket frames it again (wsproto: UTF-8, header, maybe deflate) on its way out.
The bytes differ only by how the socket frames messages, its ``Variant``:

- ``None``: no compression, the same header and payload for every socket;
- an ``int``: permessage-deflate with that server window (bits).  Our policy always
  negotiates ``server_no_context_takeover`` (``websocket_compression.BoundedDeflate``), so each
  message is compressed from a fresh state: the bytes are the same for every socket with
  that window, and one compression serves them all.

``PreparedFrame`` keeps the text (for sockets written through hypercorn) and builds the bytes
for each variant on first use, with wsproto's own framing and compression (the bytes are
exactly those hypercorn would send; ``tests/test_websocket_frames.py`` compares them).

The way in has its counterpart, ``client_texts``: the messages of a chunk received from a
client when the chunk is nothing but the plainest frames (whole, final, masked, uncompressed
text frames within the size limit, valid UTF-8), which is what a player's socket sends all
game long.  Those it reads in a few slices; anything else it leaves to wsproto
(``websocket_direct`` explains when it is asked, and why the result is the same).
Pure: no socket, no task.
"""

from __future__ import annotations

from typing import TypeAlias

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol

Variant: TypeAlias = int | None
"""How a socket frames a server message: ``None`` plain, or the server's deflate window bits
(no context takeover)."""

_framers: dict[Variant, FrameProtocol] = {}
"""One wsproto framer per variant.  Reusable: a whole message (``fin``) leaves no state in it,
and the deflate extension drops its compressor at the end of each message."""


def _framer(variant: Variant) -> FrameProtocol:
    framer = _framers.get(variant)
    if framer is None:
        if variant is None:
            framer = FrameProtocol(client=False, extensions=[])
        else:
            deflate = PerMessageDeflate()
            # What the server agreed to, read back as wsproto reads an agreement: enabled,
            # with these parameters.
            deflate.finalize(
                f"permessage-deflate; server_no_context_takeover; server_max_window_bits={variant}"
            )
            framer = FrameProtocol(client=False, extensions=[deflate])
        _framers[variant] = framer
    return framer


def frame_bytes(text: str, variant: Variant) -> bytes:
    """The whole WebSocket frame (a final text frame) of ``text`` for a socket of ``variant``:
    the bytes hypercorn would send for it.  A plain one is built here (RFC 6455 section
    5.2: FIN and the text opcode, the shortest length, no mask from a server): wsproto's
    framer took about 1.4 us of Python for a 120-byte ``game_state``, ten times this, and
    a cluster frames each move's ``game_state`` once on each edge."""
    if variant is None:
        payload = text.encode()
        size = len(payload)
        if size < 126:
            return bytes((_FIN_TEXT, size)) + payload
        if size < 1 << 16:
            return b"\x81\x7e" + size.to_bytes(2, "big") + payload
        return b"\x81\x7f" + size.to_bytes(8, "big") + payload
    return bytes(_framer(variant).send_data(text, fin=True))


_FIN_TEXT = 0x81
"""First byte of a final, uncompressed text frame (FIN, no RSV bit, opcode 1)."""


def client_texts(data: bytes, limit: int) -> list[str] | None:
    """The text messages in ``data``, if it is only whole client frames, each final,
    masked, uncompressed, of text, with a minimally encoded length of at most ``limit``
    bytes and valid UTF-8; None for anything else (a partial frame at the end included), so
    that wsproto parses it instead and answers exactly as it always has: each of those
    conditions is one of its checks (RFC 6455 sections 5.1-5.7), and for such frames it
    yields these texts and nothing else (``tests/test_websocket_frames.py`` compares the two).
    """
    texts: list[str] = []
    at, end = 0, len(data)
    while at < end:
        if end - at < 6 or data[at] != _FIN_TEXT:
            return None
        second = data[at + 1]
        if not second & 0x80:
            return None  # unmasked: wsproto fails the connection (1002)
        size = second & 0x7F
        at += 2
        if size == 126:
            size = int.from_bytes(data[at : at + 2], "big")
            at += 2
            if size < 126:
                return None  # not minimal: a protocol error
        elif size == 127:
            size = int.from_bytes(data[at : at + 8], "big")
            at += 8
            if size < 1 << 16 or size >> 63:
                return None
        start = at + 4
        if size > limit or start + size > end:
            return None
        masked = data[start : start + size]
        if size:
            key = data[at:start] * (size // 4 + 1)
            masked = (
                int.from_bytes(masked, "little") ^ int.from_bytes(key[:size], "little")
            ).to_bytes(size, "little")
        try:
            texts.append(masked.decode())
        except UnicodeDecodeError:
            return None  # wsproto fails the connection (1007)
        at = start + size
    return texts or None


class PreparedFrame:
    """One encoded server message (``text``) and its frame bytes, built once per variant.

    The game actor makes one per message and hands the same object to every socket: a
    socket written directly takes ``bytes_for`` its variant; one written through
    hypercorn takes ``text``."""

    __slots__ = ("_built", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._built: dict[Variant, bytes] = {}

    def bytes_for(self, variant: Variant) -> bytes:
        """The whole WebSocket frame (a final text frame) for a socket of ``variant``."""
        built = self._built.get(variant)
        if built is None:
            built = self._built[variant] = frame_bytes(self.text, variant)
        return built

    def __repr__(self) -> str:
        return f"<PreparedFrame {self.text[:40]!r}>"
