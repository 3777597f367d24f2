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
    the bytes hypercorn would send for it."""
    return bytes(_framer(variant).send_data(text, fin=True))


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
