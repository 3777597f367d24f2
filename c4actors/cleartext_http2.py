"""HTTP/2 only over TLS: no cleartext HTTP/2 (h2c), which nothing here needs.

Why this exists: hypercorn 0.18 switches any plain-TCP connection to HTTP/2 when a request
asks for it (``Upgrade: h2c``) or starts with the HTTP/2 preface (``PRI * HTTP/2.0``, "prior
knowledge"), and has no setting to stop it.  The page, the API and the WebSocket all speak
HTTP/1.1; a second protocol stack reachable in cleartext only widens what a client can reach
(HTTP/2's own flow control, stream limits and request smuggling through proxies that pass
h2c upgrades along).  With TLS, HTTP/2 is negotiated by ALPN and stays available.

``install`` replaces the HTTP/1.1 protocol class hypercorn's connection wrapper builds
(``hypercorn.protocol.H11Protocol``) with a subclass that, on a cleartext connection, ignores
``Upgrade: h2c`` (RFC 9110 lets a server ignore an upgrade: the request is answered in
HTTP/1.1) and answers the HTTP/2 preface with ``505 HTTP Version Not Supported`` and a close.
"""

from __future__ import annotations

import h11
import hypercorn.protocol
from hypercorn.events import Closed
from hypercorn.protocol.h11 import H11Protocol


class _NotServed(Exception):
    """The request was answered here (505) and the connection closed: nothing more to do."""


class H11WithoutCleartextHTTP2(H11Protocol):
    """hypercorn's HTTP/1.1 protocol, minus the switch to HTTP/2 on cleartext connections."""

    async def _check_protocol(self, event: h11.Request) -> None:
        if self.ssl:
            await super()._check_protocol(event)
            return
        if event.method == b"PRI" and event.target == b"*" and event.http_version == b"2.0":
            await self._send_error_response(505)
            await self.send(Closed())
            raise _NotServed
        # Anything else, ``Upgrade: h2c`` included, is served as HTTP/1.1.

    async def _handle_events(self) -> None:
        try:
            await super()._handle_events()
        except _NotServed:
            return


def install() -> None:
    """Make hypercorn build ``H11WithoutCleartextHTTP2`` for every connection (idempotent)."""
    hypercorn.protocol.H11Protocol = H11WithoutCleartextHTTP2  # type: ignore[attr-defined]
