"""The connection's phases: every legal path, every illegal (phase, event) pair, no sockets."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c4actors.connection_phase import (
    Connection,
    Event,
    Hello,
    Identified,
    IllegalTransition,
    Left,
    LookupFailed,
    Opened,
    Phase,
    Refused,
    SessionEnded,
)

EVENTS: list[Event] = [
    Hello(),
    Identified(),
    LookupFailed(),
    Opened("ann"),
    Refused(5.0),
    SessionEnded(7.0),
    Left(),
]

LEGAL: dict[Phase, set[type[Event]]] = {
    Phase.AWAITING_HELLO: {Hello, Left},
    Phase.IDENTIFYING: {Identified, LookupFailed, Left},
    Phase.JOINING: {Opened, Refused, Left},
    Phase.IN_LOBBY: {SessionEnded, Left},
    Phase.CLOSED: set(),
}


def in_phase(phase: Phase) -> Connection:
    """A connection driven to ``phase`` along the ordinary path, started at time 0."""
    path: dict[Phase, list[Event]] = {
        Phase.AWAITING_HELLO: [],
        Phase.IDENTIFYING: [Hello()],
        Phase.JOINING: [Hello(), Identified()],
        Phase.IN_LOBBY: [Hello(), Identified(), Opened("ann")],
        Phase.CLOSED: [Left()],
    }
    connection = Connection.start(now=0.0, handshake_timeout=10.0)
    for event in path[phase]:
        connection = connection.apply(event)
    assert connection.phase is phase
    return connection


def test_the_ordinary_path_opens_a_session_under_the_lobby_s_name() -> None:
    connection = Connection.start(now=100.0, handshake_timeout=10.0)
    assert connection.phase is Phase.AWAITING_HELLO
    assert connection.deadline == 110.0
    assert not connection.lobby_knows
    connection = connection.apply(Hello())
    assert connection.deadline == math.inf, "no deadline while the store is asked"
    connection = connection.apply(Identified())
    assert connection.phase is Phase.JOINING and connection.lobby_knows
    assert connection.deadline == math.inf, "no deadline while the lobby decides"
    connection = connection.apply(Opened("Ann"))
    assert (connection.phase, connection.name) == (Phase.IN_LOBBY, "Ann")
    assert connection.deadline == math.inf
    connection = connection.apply(Left())
    assert connection.phase is Phase.CLOSED and connection.lobby_knows


def test_a_refusal_restarts_the_deadline_and_the_lobby_forgets_the_connection() -> None:
    connection = in_phase(Phase.JOINING).apply(Refused(now=50.0))
    assert connection.phase is Phase.AWAITING_HELLO
    assert connection.deadline == 60.0
    assert not connection.lobby_knows, "a refused connection need not be reported as gone"
    assert connection.name is None


def test_a_session_ended_by_leave_waits_for_a_new_hello_under_a_fresh_deadline() -> None:
    connection = in_phase(Phase.IN_LOBBY).apply(SessionEnded(now=70.0))
    assert connection.phase is Phase.AWAITING_HELLO
    assert connection.deadline == 80.0
    assert connection.name is None
    assert connection.lobby_knows, "the lobby still counts its games: it must hear it close"
    # The same socket joins again, under another name.
    connection = connection.apply(Hello()).apply(Identified()).apply(Opened("bob"))
    assert (connection.phase, connection.name) == (Phase.IN_LOBBY, "bob")


def test_a_failed_lookup_keeps_the_deadline_it_had() -> None:
    connection = in_phase(Phase.IDENTIFYING).apply(LookupFailed())
    assert connection.phase is Phase.AWAITING_HELLO
    assert connection.deadline == 10.0
    assert not connection.lobby_knows


def test_leaving_while_joining_still_tells_the_lobby() -> None:
    """The Join may be in the lobby's inbox already: it must hear the connection went."""
    assert in_phase(Phase.JOINING).apply(Left()).lobby_knows
    assert not in_phase(Phase.IDENTIFYING).apply(Left()).lobby_knows


@pytest.mark.parametrize(
    ("phase", "event"),
    [(phase, event) for phase in Phase for event in EVENTS if type(event) not in LEGAL[phase]],
    ids=str,
)
def test_an_event_that_does_not_fit_the_phase_is_a_typed_error(phase: Phase, event: Event) -> None:
    connection = in_phase(phase)
    with pytest.raises(IllegalTransition) as refused:
        connection.apply(event)
    assert refused.value.phase is phase
    assert refused.value.event is event
    assert phase.value in str(refused.value)


@given(st.lists(st.sampled_from(EVENTS), max_size=12))
def test_any_sequence_moves_only_along_legal_edges(events: list[Event]) -> None:
    connection = Connection.start(now=0.0, handshake_timeout=10.0)
    for event in events:
        legal = type(event) in LEGAL[connection.phase]
        try:
            after = connection.apply(event)
        except IllegalTransition:
            assert not legal
            continue
        assert legal
        assert (after.name is not None) == (after.phase is Phase.IN_LOBBY) or (
            after.phase is Phase.CLOSED
        )
        connection = after
