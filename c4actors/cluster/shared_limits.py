"""The limits the edges of a cluster share: failed logins, registrations, WebSockets per address.

In one process these are plain values the web application holds (``throttle.LoginThrottle``,
``throttle.RegistrationLimit``, ``limits.ConnectionLimits``).  Behind a load balancer with
no sticky sessions, per-edge copies would multiply every limit by the number of edges (a
guesser gets five tries per name on each edge), so in a cluster each edge keeps a replica:
what it records itself it applies at once and also hands to ``publish`` (the edge relay sends
it to the core, ``wire.SharedIn``), and the core passes it on to every other edge, which
applies it with its own clock (``apply``).  An event takes a few milliseconds to travel:
within that window two edges may each let one more try through; no limit is multiplied.

WebSockets per address are counts, not events in a window: the core keeps each edge's
counts, so an edge that dies (or a new one) is accounted for: the others drop the dead
edge's counts (``edge_gone``), and a new edge starts from the others' (``replace``).  An
edge that sees a new core forgets every other edge's counts (``forget_others``): the new
core knows none, and the sockets of the old core's sessions close anyway.

Pure but for ``publish`` (a callback that never blocks); the clock is passed in.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import Literal, TypeAlias

import attrs

from c4actors.limits import ConnectionLimits
from c4actors.throttle import LoginThrottle, RegistrationLimit

SharedKind: TypeAlias = Literal[
    "login_failed", "login_succeeded", "registered", "unregistered", "ws_open", "ws_close"
]
SharedEvent: TypeAlias = tuple[SharedKind, str, str]
"""``(kind, a, b)``: a login's name and address, or an address and ``""``."""
Publish: TypeAlias = Callable[[SharedEvent], None]


def _nowhere(event: SharedEvent) -> None:
    """``publish`` until an edge relay is connected."""


@attrs.define
class SharedLoginThrottle(LoginThrottle):
    publish: Publish = _nowhere

    def failed(self, name: str, address: str, now: float) -> None:
        super().failed(name, address, now)
        self.publish(("login_failed", name, address))

    def succeeded(self, name: str, address: str, now: float) -> None:
        super().succeeded(name, address, now)
        self.publish(("login_succeeded", name, address))


@attrs.define
class SharedRegistrationLimit(RegistrationLimit):
    publish: Publish = _nowhere

    def reserve(self, address: str, now: float) -> float:
        wait = super().reserve(address, now)
        if wait == 0 and self.per_address > 0:
            self.publish(("registered", address, ""))
        return wait

    def release(self, address: str) -> None:
        super().release(address)
        self.publish(("unregistered", address, ""))

    def record(self, address: str, now: float) -> None:
        """Another edge's registration: counted, never refused."""
        if self.per_address > 0:
            self._times.setdefault(address, collections.deque()).append(now)


@attrs.define
class SharedConnectionLimits(ConnectionLimits):
    """Refuses a WebSocket when this edge's own limits do, or when the cluster's (this
    edge's and the others' counts) reach ``total`` or ``per_address``."""

    publish: Publish = _nowhere
    _others: dict[str, collections.Counter[str]] = attrs.field(factory=dict)
    """Each other edge's open WebSockets by address."""

    def refusal(self, address: str, *, per_address: bool = True) -> tuple[int, str] | None:
        local = super().refusal(address, per_address=per_address)
        if local is not None:
            return local
        others = self._others.values()
        if self.total and self.count + sum(c.total() for c in others) >= self.total:
            return 503, "server full: too many connections"
        if per_address and self.per_address:
            mine = self._by_address.get(address, 0)
            if mine + sum(counts[address] for counts in others) >= self.per_address:
                return 429, "too many connections from your address"
        return None

    def open(self, address: str) -> None:
        super().open(address)
        self.publish(("ws_open", address, ""))

    def close(self, address: str) -> None:
        super().close(address)
        self.publish(("ws_close", address, ""))

    def other_opened(self, edge: str, address: str) -> None:
        self._others.setdefault(edge, collections.Counter())[address] += 1

    def other_closed(self, edge: str, address: str) -> None:
        counts = self._others.get(edge)
        if counts is not None and counts[address] > 0:
            counts[address] -= 1
            if not counts[address]:
                del counts[address]

    def edge_gone(self, edge: str) -> None:
        self._others.pop(edge, None)

    def replace(self, others: Mapping[str, Mapping[str, int]]) -> None:
        self._others = {edge: collections.Counter(counts) for edge, counts in others.items()}

    def forget_others(self) -> None:
        self._others.clear()

    def counts(self) -> dict[str, int]:
        """This edge's own open WebSockets by address (what it tells a new core)."""
        return dict(self._by_address)


@attrs.define
class SharedLimits:
    """An edge's three replicas, and the one place other edges' events are applied."""

    throttle: SharedLoginThrottle
    registrations: SharedRegistrationLimit
    connections: SharedConnectionLimits

    def connect(self, publish: Publish) -> None:
        self.throttle.publish = self.registrations.publish = publish
        self.connections.publish = publish

    def apply(self, edge: str, kind: str, a: str, b: str, now: float) -> None:
        """``edge``'s event (or ``edge_gone``: the core heard nothing from it for too long):
        applied here without being published again; an unknown kind is ignored."""
        match kind:
            case "login_failed":
                LoginThrottle.failed(self.throttle, a, b, now)
            case "login_succeeded":
                LoginThrottle.succeeded(self.throttle, a, b, now)
            case "registered":
                self.registrations.record(a, now)
            case "unregistered":
                RegistrationLimit.release(self.registrations, a)
            case "ws_open":
                self.connections.other_opened(edge, a)
            case "ws_close":
                self.connections.other_closed(edge, a)
            case "edge_gone":
                self.connections.edge_gone(edge)
