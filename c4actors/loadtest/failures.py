"""What a simulated client counts as an error, and how each failure is classified.

Every failure ends the client (or the pair of players) that saw it and is counted by kind in
the run's ``ErrorLog``; any error makes ``c4actors loadtest`` exit non-zero.
"""

from __future__ import annotations

import trio
from trio_websocket import ConnectionClosed, DisconnectionTimeout, HandshakeError

from protocol.codec import ProtocolError
from protocol.messages import Error, ServerMessage

from .referee import RefereeError


class ClientFailure(Exception):
    """The server did something a correct server does not: ``kind`` names what."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class RampCutShort(Exception):
    """A connection that never started because the run ended first: not an error."""


def unexpected(message: ServerMessage, context: str) -> ClientFailure:
    """A message that has no place at this point of the conversation.

    An ``error`` reply is classified by its code (``server_error:<code>``).
    """
    if isinstance(message, Error):
        return ClientFailure(f"server_error:{message.code}", f"{context}: {message.message}")
    return ClientFailure("protocol_error", f"{context}: unexpected {message!r}"[:300])


def classify(error: BaseException) -> tuple[str, str] | None:
    """``(kind, detail)`` for the exceptions a client expects; None for anything else (a bug).

    ``RampCutShort`` is expected but not an error: the caller skips it.
    """
    if isinstance(error, ClientFailure | RefereeError):
        return error.kind, error.detail
    if isinstance(error, ProtocolError):
        return "protocol_error", str(error)
    if isinstance(error, ConnectionClosed):
        return "unexpected_close", str(error.reason)
    if isinstance(error, DisconnectionTimeout):
        return "close_timeout", "the server did not answer the close handshake in time"
    if isinstance(error, trio.TooSlowError):
        return "timeout", "the server did not answer in time"
    if isinstance(error, HandshakeError | OSError):
        return "connect_failed", f"{type(error).__name__}: {error}"
    return None
