"""The life of one connection as a small guarded state machine: no socket, no task, no clock.

A connection first has no session: it must send ``new_connection`` before its handshake
deadline.  The accounts are then looked up (in the store) and the lobby is asked; the
lobby opens a session under a name or refuses (the client may try again, with a fresh
deadline).  However the connection ends, it is closed once, and the lobby must hear of it
if it may have registered the connection.

``Connection.apply(event)`` returns the next value or raises ``IllegalTransition``: an
event that does not fit the phase is a bug in the actor, never a client's doing (the
actor answers a client's out-of-turn frames with ``error`` before getting here).  The
user actor's reader task is the only code that applies events, so one task owns the
connection's name, deadline and phase.

::

    AWAITING_HELLO --Hello--> IDENTIFYING --Identified--> JOINING --Opened--> IN_LOBBY
          ^                        |                         |                  |
          +------LookupFailed------+                         |                  |
          +------Refused (fresh deadline)--------------------+                  |
          +------SessionEnded (``leave``; fresh deadline)-----------------------+
    any phase but CLOSED --Left--> CLOSED
"""

from __future__ import annotations

import enum
import math
from typing import TypeAlias

import attrs


class Phase(enum.Enum):
    AWAITING_HELLO = "awaiting hello"
    """No session: the socket must send ``new_connection`` before the handshake deadline."""
    IDENTIFYING = "identifying"
    """``new_connection`` received: the store is asked about the accounts (no deadline)."""
    JOINING = "joining"
    """The lobby was asked for a session and decides (no deadline)."""
    IN_LOBBY = "in lobby"
    """A session is open under ``name``: lobby requests and moves are routed."""
    CLOSED = "closed"
    """The connection ended; nothing more happens to it."""


@attrs.frozen
class Hello:
    """The socket sent ``new_connection``."""


@attrs.frozen
class Identified:
    """The accounts were looked up; the lobby is about to be asked (it may now know us)."""


@attrs.frozen
class LookupFailed:
    """The store could not answer: back to waiting, under the deadline as it was."""


@attrs.frozen
class Opened:
    """The lobby opened a session under ``name``."""

    name: str


@attrs.frozen
class Refused:
    """The lobby refused the session at time ``now``: the client may try again, in time."""

    now: float


@attrs.frozen
class SessionEnded:
    """The lobby ended the session at time ``now``, as the client asked (``leave``): the
    socket has no session again and may join anew, in time.  The lobby still counts the
    games this socket started, so it must still hear when the socket closes."""

    now: float


@attrs.frozen
class Left:
    """The connection ended, whatever the reason (peer closed, server closed, crash)."""


Event: TypeAlias = Hello | Identified | LookupFailed | Opened | Refused | SessionEnded | Left


class IllegalTransition(Exception):
    """``event`` does not fit ``phase``: the actor driving the connection has a bug."""

    def __init__(self, phase: Phase, event: Event) -> None:
        super().__init__(f"{event!r} is not allowed while {phase.value}")
        self.phase = phase
        self.event = event


_ALLOWED: dict[type[Event], frozenset[Phase]] = {
    Hello: frozenset({Phase.AWAITING_HELLO}),
    Identified: frozenset({Phase.IDENTIFYING}),
    LookupFailed: frozenset({Phase.IDENTIFYING}),
    Opened: frozenset({Phase.JOINING}),
    Refused: frozenset({Phase.JOINING}),
    SessionEnded: frozenset({Phase.IN_LOBBY}),
    Left: frozenset(set(Phase) - {Phase.CLOSED}),
}


@attrs.frozen
class Connection:
    """One connection's phase and what goes with it; see the module docstring.

    Start with ``Connection.start(now, handshake_timeout)``.
    """

    phase: Phase
    handshake_timeout: float
    handshake_deadline: float
    """When a socket without a session must have sent ``new_connection`` by; it runs only
    while ``AWAITING_HELLO`` (see ``deadline``)."""
    name: str | None = None
    """The session's name, from ``IN_LOBBY`` on."""
    lobby_knows: bool = False
    """The lobby may have registered this connection (it was asked and did not refuse), so
    it must be told when the connection ends."""

    @classmethod
    def start(cls, now: float, handshake_timeout: float) -> Connection:
        return cls(Phase.AWAITING_HELLO, handshake_timeout, now + handshake_timeout)

    @property
    def deadline(self) -> float:
        """The handshake deadline now in force: infinite unless awaiting ``new_connection``."""
        return self.handshake_deadline if self.phase is Phase.AWAITING_HELLO else math.inf

    def apply(self, event: Event) -> Connection:
        """The connection after ``event``; ``IllegalTransition`` if it does not fit."""
        if self.phase not in _ALLOWED[type(event)]:
            raise IllegalTransition(self.phase, event)
        match event:
            case Hello():
                return attrs.evolve(self, phase=Phase.IDENTIFYING)
            case Identified():
                return attrs.evolve(self, phase=Phase.JOINING, lobby_knows=True)
            case LookupFailed():
                return attrs.evolve(self, phase=Phase.AWAITING_HELLO)
            case Opened(name=name):
                return attrs.evolve(self, phase=Phase.IN_LOBBY, name=name)
            case Refused(now=now) | SessionEnded(now=now):
                deadline = now + self.handshake_timeout
                return attrs.evolve(
                    self,
                    phase=Phase.AWAITING_HELLO,
                    handshake_deadline=deadline,
                    name=None,
                    # After a leave the lobby still counts this socket's games (the cap is
                    # the socket's): it must hear when the socket closes.
                    lobby_knows=isinstance(event, SessionEnded),
                )
            case Left():
                return attrs.evolve(self, phase=Phase.CLOSED)
