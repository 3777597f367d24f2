"""Protections against floods: a token bucket per connection, connection caps per server and
per client address.  Pure (clocks are passed in), so the tests need no waiting."""

from __future__ import annotations

import attrs


@attrs.define
class TokenBucket:
    """Allows ``rate`` messages per second on average, bursts of up to ``burst``.

    ``rate <= 0`` disables the limit."""

    rate: float
    burst: float
    _tokens: float = attrs.field(init=False)
    _updated: float = attrs.field(init=False, default=0.0)

    def __attrs_post_init__(self) -> None:
        self._tokens = self.burst

    def has_token(self, now: float) -> bool:
        """Whether ``take(now)`` would spend a token (it changes nothing)."""
        if self.rate <= 0:
            return True
        return min(self.burst, self._tokens + (now - self._updated) * self.rate) >= 1

    def take(self, now: float) -> bool:
        """Spend one token if there is one; False means "over the limit, drop it"."""
        if self.rate <= 0:
            return True
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@attrs.define
class ConnectionLimits:
    """Counts open WebSocket connections; refuses more than ``total`` or ``per_address``
    (0 disables a limit).  The web layer calls ``open``/``close`` around each connection."""

    total: int
    per_address: int
    _open: int = 0
    _by_address: dict[str, int] = attrs.field(factory=dict)

    def refusal(self, address: str, *, per_address: bool = True) -> tuple[int, str] | None:
        """(HTTP status, reason) if a new connection from ``address`` must be refused;
        ``per_address=False`` checks only the total (a trusted proxy's connections)."""
        if self.total and self._open >= self.total:
            return 503, "server full: too many connections"
        if (
            per_address
            and self.per_address
            and self._by_address.get(address, 0) >= self.per_address
        ):
            return 429, "too many connections from your address"
        return None

    def open(self, address: str) -> None:
        self._open += 1
        self._by_address[address] = self._by_address.get(address, 0) + 1

    def close(self, address: str) -> None:
        self._open -= 1
        left = self._by_address[address] - 1
        if left:
            self._by_address[address] = left
        else:
            del self._by_address[address]

    @property
    def count(self) -> int:
        return self._open


RECEIVE_LIMIT_FACTOR = 2
UNLIMITED_RECEIVE_BYTES = 1024 * 1024


def receive_limit(max_message_bytes: int) -> int:
    """The most one WebSocket message may hold while it is received (hypercorn's limit, and
    the most a compressed message may inflate to), derived from ``--max-message-bytes``.

    Twice the limit, so a frame a little too large still reaches the user actor, which closes
    the connection with a reason (1009); anything larger is cut while it arrives (1009, no
    reason) and never held whole.  ``0`` (no limit) still keeps a 1 MiB ceiling."""
    if max_message_bytes <= 0:
        return UNLIMITED_RECEIVE_BYTES
    return RECEIVE_LIMIT_FACTOR * max_message_bytes


RESERVED_DESCRIPTORS = 64
"""Descriptors kept out of the connection budget: the listening socket, the database (and its
journal), standard streams, the event loop's own, a static file being served, and the socket
accepted only to be refused with 503."""
HTTP_SHARE = 10
"""One connection in this many is kept for plain HTTP: a server full of WebSockets still
answers ``/healthz``, the page and logins."""


@attrs.frozen
class DescriptorBudget:
    """How many connections a descriptor limit (``RLIMIT_NOFILE``) allows at once.

    Every connection holds one descriptor.  Beyond ``connections`` a new TCP connection is
    refused with 503; WebSockets may take ``websockets`` of them, HTTP requests in progress
    ``http``, so that neither kind can crowd the other out."""

    limit: int

    @property
    def connections(self) -> int:
        return max(0, self.limit - RESERVED_DESCRIPTORS)

    @property
    def http(self) -> int:
        return max(1, self.connections // HTTP_SHARE)

    @property
    def websockets(self) -> int:
        return max(0, self.connections - self.http)

    def websocket_cap(self, configured: int) -> int:
        """``--max-connections`` (0: none) within what the descriptors allow."""
        return min(configured, self.websockets) if configured > 0 else self.websockets
