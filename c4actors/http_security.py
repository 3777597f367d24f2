"""What the server promises browsers, and which browser requests it refuses.

Two rules, applied to every HTTP request by ``BrowserGuard`` (an ASGI middleware around
the Starlette app; the WebSocket handshake applies the same origin rule in ``web.py``):

* **Security headers on every response** (``security_headers``): a Content-Security-Policy
  that allows only the server's own files (the page has no inline script or style, and
  its only connections are ``fetch`` to itself and the WebSocket to the same host), no
  framing (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` against clickjacking),
  no content sniffing, and no ``Referer`` sent to other sites.
* **No cross-site state changes** (``refusal``): a POST, PATCH, PUT or DELETE under
  ``/api`` must say ``Content-Type: application/json`` and, if it carries an ``Origin``,
  an origin the server accepts: its own host or an ``--allowed-origin``, exactly the
  WebSocket's rule. Otherwise 403 with a JSON error, before the handler runs. A hostile
  page can post a ``text/plain`` or form body across sites without a CORS preflight
  (login CSRF: signing a visitor into the attacker's account); it cannot send a JSON
  content type without one, which this server never grants, and a browser always sends
  ``Origin`` on such requests. A request without ``Origin`` comes from a non-browser client
  (curl, a script, the tests), which no hostile page controls: it is accepted, as on the
  WebSocket.

The decisions are pure functions of the request's method, path and headers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATE_CHANGING: Final = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_HOST_RE: Final = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
"""A Host header safe to repeat inside the CSP (no spaces, quotes or ``;``)."""

STATIC_HEADERS: Final = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def content_security_policy(host: str) -> str:
    """The policy for a response to a request for ``host`` (its ``Host`` header).

    ``connect-src`` names the WebSocket's own origins (``ws://`` and ``wss://``) as well as
    ``'self'``: CSP level 3 lets ``'self'`` match them, older browsers do not."""
    sockets = f" ws://{host} wss://{host}" if _HOST_RE.fullmatch(host) else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src 'self'{sockets}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(host: str) -> dict[str, str]:
    """Every header ``BrowserGuard`` adds to a response (see the module docstring)."""
    return {"Content-Security-Policy": content_security_policy(host), **STATIC_HEADERS}


_PAGE_SCHEMES: Final = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
"""The scheme of the page that may open a request of each ASGI scheme: a WebSocket over TLS
(``wss``) comes from an ``https`` page."""


def origin_accepted(origin: str | None, host: str, scheme: str, allowed: tuple[str, ...]) -> bool:
    """The origin rule of the WebSocket and the API: no ``Origin`` (not a browser), the
    server's own origin (its host *and* the request's scheme: ``http://host`` is another
    origin than ``https://host``), or one of the ``allowed`` origins.

    ``scheme`` is the ASGI scope's (``http``, ``https``, ``ws`` or ``wss``).  Behind a proxy
    that terminates TLS it is the scheme the trusted proxy forwarded (``forwarded``; from an
    untrusted peer, the connection's own)."""
    if origin is None:
        return True
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    own_scheme = _PAGE_SCHEMES.get(scheme)
    return bool(host) and parts.netloc == host and parts.scheme == own_scheme


def origin_allowed(scope: Scope, allowed: tuple[str, ...]) -> bool:
    """``origin_accepted`` for an ASGI connection (the WebSocket handshake)."""
    headers = _headers(scope)
    scheme = str(scope.get("scheme", "ws"))
    return origin_accepted(headers.get("origin"), headers.get("host", ""), scheme, allowed)


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def refusal(
    method: str,
    path: str,
    headers: Mapping[str, str],
    allowed: tuple[str, ...],
    scheme: str = "http",
) -> tuple[str, str] | None:
    """Why a request must be refused (``(code, message)``), or None to let it through.

    ``headers`` has lower-case names; ``scheme`` is the request's (``http`` or ``https``)."""
    if method.upper() not in STATE_CHANGING or not (path == "/api" or path.startswith("/api/")):
        return None
    if not origin_accepted(headers.get("origin"), headers.get("host", ""), scheme, allowed):
        return ("cross_site", "requests from another site may not change anything here")
    if not _is_json(headers.get("content-type")):
        return ("json_required", "send the request body as Content-Type: application/json")
    return None


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers, names lower-cased; the last of repeated ones wins."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }


class BrowserGuard:
    """ASGI middleware applying the module docstring's two rules to HTTP requests."""

    def __init__(self, app: ASGIApp, allowed_origins: tuple[str, ...]) -> None:
        self.app = app
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        added = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in security_headers(headers.get("host", "")).items()
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in added if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        scheme = str(scope.get("scheme", "http"))
        refused = refusal(scope["method"], scope["path"], headers, self.allowed_origins, scheme)
        if refused is not None:
            code, text = refused
            response = JSONResponse({"error": code, "message": text}, status_code=403)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
