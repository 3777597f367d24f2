"""The edges' replicas of the shared limits (``c4actors.cluster.shared_limits``), pure."""

from __future__ import annotations

from c4actors.cluster.shared_limits import (
    SharedConnectionLimits,
    SharedEvent,
    SharedLimits,
    SharedLoginThrottle,
    SharedRegistrationLimit,
)


def limits(published: list[SharedEvent]) -> SharedLimits:
    shared = SharedLimits(
        SharedLoginThrottle(),
        SharedRegistrationLimit(per_address=1),
        SharedConnectionLimits(total=5, per_address=2),
    )
    shared.connect(published.append)
    return shared


def test_what_an_edge_records_is_published_and_what_others_record_is_not() -> None:
    published: list[SharedEvent] = []
    shared = limits(published)
    shared.throttle.failed("Ann", "10.0.0.1", 0.0)
    assert shared.registrations.reserve("10.0.0.1", 0.0) == 0
    assert shared.registrations.reserve("10.0.0.1", 1.0) > 0  # refused: not published
    shared.connections.open("10.0.0.1")
    shared.connections.close("10.0.0.1")
    assert published == [
        ("login_failed", "Ann", "10.0.0.1"),
        ("registered", "10.0.0.1", ""),
        ("ws_open", "10.0.0.1", ""),
        ("ws_close", "10.0.0.1", ""),
    ]
    published.clear()
    for _ in range(5):
        shared.apply("edge-b", "login_failed", "ann", "10.0.0.2", 2.0)
    shared.apply("edge-b", "registered", "10.0.0.3", "", 2.0)
    shared.apply("edge-b", "no_such_kind", "", "", 2.0)
    assert published == []
    assert shared.throttle.retry_after("ann", "10.0.0.2", 3.0) > 0
    assert shared.registrations.reserve("10.0.0.3", 3.0) > 0


def test_websockets_count_every_edge_until_an_edge_is_gone() -> None:
    shared = limits([])
    connections = shared.connections
    connections.open("10.0.0.1")
    shared.apply("edge-b", "ws_open", "10.0.0.1", "", 0.0)
    assert connections.refusal("10.0.0.1") == (429, "too many connections from your address")
    assert connections.refusal("10.0.0.1", per_address=False) is None  # a trusted proxy
    shared.apply("edge-b", "ws_close", "10.0.0.1", "", 0.0)
    shared.apply("edge-b", "ws_close", "10.0.0.1", "", 0.0)  # one too many: ignored
    assert connections.refusal("10.0.0.1") is None
    connections.replace({"edge-b": {"10.0.0.9": 2}, "edge-c": {"10.0.0.8": 2}})
    assert connections.refusal("10.0.0.7") == (503, "server full: too many connections")
    shared.apply("edge-c", "edge_gone", "", "", 0.0)
    assert connections.refusal("10.0.0.7") is None
    assert connections.refusal("10.0.0.9") == (429, "too many connections from your address")
    connections.forget_others()
    assert connections.refusal("10.0.0.9") is None
    assert connections.counts() == {"10.0.0.1": 1}
