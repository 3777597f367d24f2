"""The limits, pure (``c4actors.limits``): the token bucket, the connection caps, the
receive limit and the descriptor budget, with the time passed in, no server, no waiting.

How a live server applies them is in ``test_hardening.py``, ``test_descriptors.py`` and
``test_request_limits.py``.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from c4actors.limits import (
    RESERVED_DESCRIPTORS,
    UNLIMITED_RECEIVE_BYTES,
    ConnectionLimits,
    DescriptorBudget,
    TokenBucket,
    receive_limit,
)


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.05) is False
    assert bucket.take(0.1) is True
    assert TokenBucket(rate=0, burst=0).take(0.0) is True


def test_connection_limits_count_per_address_and_in_total() -> None:
    limits = ConnectionLimits(total=3, per_address=2)
    limits.open("a")
    limits.open("a")
    assert limits.refusal("a") == (429, "too many connections from your address")
    assert limits.refusal("b") is None
    limits.open("b")
    assert limits.refusal("c") == (503, "server full: too many connections")
    limits.close("a")
    assert limits.refusal("a") is None
    assert ConnectionLimits(total=0, per_address=0).refusal("x") is None


def test_the_budget_keeps_a_reserve_and_a_share_for_http() -> None:
    budget = DescriptorBudget(400)
    assert budget.connections == 336
    assert budget.http == 33
    assert budget.websockets == 303
    assert budget.websocket_cap(20_000) == 303
    assert budget.websocket_cap(100) == 100
    assert budget.websocket_cap(0) == 303
    assert DescriptorBudget(10).connections == 0


@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 2), max_size=60),
)
def test_a_bucket_never_allows_more_than_its_burst_and_its_rate(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """Over any run of requests, the allowed ones are at most the burst plus what the rate
    refilled meanwhile; and a request after a full refill is always allowed (a microsecond
    more than the refill takes: the tokens are floats)."""
    bucket = TokenBucket(rate=rate, burst=burst)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += bucket.take(now)
        assert allowed <= burst + rate * now + 1e-9
    assert bucket.take(now + burst / rate + 1e-6)


def test_connection_limits_forget_an_address_with_no_connection_left() -> None:
    limits = ConnectionLimits(total=0, per_address=1)
    limits.open("a")
    assert limits.count == 1
    limits.close("a")
    assert limits.count == 0
    assert limits.refusal("a") is None


def test_the_receive_limit_leaves_room_for_a_frame_a_little_too_large() -> None:
    """Twice ``--max-message-bytes``, so the user actor can still close such a frame with a
    reason; no limit of its own still means a ceiling."""
    assert receive_limit(4096) == 8192
    assert receive_limit(1) == 2
    assert receive_limit(0) == receive_limit(-1) == UNLIMITED_RECEIVE_BYTES


@given(st.integers(0, 1_000_000))
def test_the_budget_splits_every_descriptor_beyond_the_reserve(limit: int) -> None:
    budget = DescriptorBudget(limit)
    assert budget.connections == max(0, limit - RESERVED_DESCRIPTORS)
    assert budget.http >= 1
    assert budget.websockets + budget.http == max(budget.connections, budget.http)
    assert budget.websocket_cap(0) == budget.websockets
    assert budget.websocket_cap(10**9) == budget.websockets
