"""Reading server frames cheaply: peek at the tag, decode each distinct frame once.

Most frames a simulated client receives need no decoding at all: an idle user drops its lobby
updates, and a player only needs to know *that* its fresh ``user_list`` arrived.  Decoding a
10,000-user ``user_list`` with the strict codec takes tens of milliseconds, so those are only
peeked at.  Frames whose content matters (``game_state``, ``game_over``, ``error``, ...) go
through ``protocol.codec.decode_server``, and through a small memo first: the server encodes
one frame per event and sends the same text to both players or to every watcher, so the load
tester decodes it once, not once per recipient.
"""

from __future__ import annotations

from typing import Final

from protocol.codec import decode_server
from protocol.messages import ServerMessage

_TYPE_KEY: Final = '"type":"'
_TYPE_START: Final = len(_TYPE_KEY)


def peek_type(text: str) -> str:
    """The ``type`` tag of a server frame without parsing it; ``""`` if there is none.

    Sound for every server message: a JSON string cannot contain an unescaped ``"``, so
    ``"type":"`` only occurs as a key, and only the top-level object has a ``type`` key.
    Searched from the end, where the codec writes the tag.  Only a hint: frames that
    matter are decoded in full, which rejects anything malformed.
    """
    index = text.rfind(_TYPE_KEY)
    if index < 0:
        return ""
    start = index + _TYPE_START
    end = text.find('"', start)
    return text[start:end] if end > 0 else ""


class FrameDecoder:
    """``decode_server`` with a bounded memo keyed by the frame's text.

    Decoding is a pure function of the text, so a memo hit is exactly the decoded message.
    Messages are shared between recipients and must not be mutated.  Raises
    ``ProtocolError`` like ``decode_server``.
    """

    __slots__ = ("_capacity", "_memo")

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._memo: dict[str, ServerMessage] = {}

    def decode(self, text: str) -> ServerMessage:
        message = self._memo.get(text)
        if message is None:
            message = decode_server(text)
            if len(self._memo) >= self._capacity:
                self._memo.clear()
            self._memo[text] = message
        return message
