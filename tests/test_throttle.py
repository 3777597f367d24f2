"""The failed-login throttle's rules (``c4actors/throttle.py``), on an injected clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c4actors.throttle import LoginThrottle, RegistrationLimit

ADDRESS = "10.0.0.1"


def fail(throttle: LoginThrottle, name: str, address: str, times: int, now: float) -> None:
    for _ in range(times):
        assert throttle.retry_after(name, address, now) == 0
        throttle.failed(name, address, now)


def test_a_pair_that_keeps_failing_waits_but_not_the_owner_elsewhere() -> None:
    throttle = LoginThrottle(window=60, per_pair=3, per_address=10, free_per_name=5)
    fail(throttle, "Ann", ADDRESS, 3, now=0)
    assert throttle.retry_after("ANN", ADDRESS, 1) == pytest.approx(59)
    assert throttle.retry_after("ann", "10.0.0.2", 1) == 0, "the owner, elsewhere"
    assert throttle.retry_after("bob", ADDRESS, 1) == 0, "another name from the same address"
    assert throttle.retry_after("ann", ADDRESS, 60) == 0, "the window has passed"


def test_an_address_trying_many_names_waits() -> None:
    throttle = LoginThrottle(window=60, per_pair=3, per_address=4)
    for second, name in enumerate(["a", "b", "c", "d"]):
        fail(throttle, name, ADDRESS, 1, now=second)
    assert throttle.retry_after("e", ADDRESS, 4) == pytest.approx(56)
    assert throttle.retry_after("e", "10.0.0.2", 4) == 0


def test_a_success_forgets_the_pairs_failures() -> None:
    throttle = LoginThrottle(window=60, per_pair=3, per_address=10)
    fail(throttle, "ann", ADDRESS, 2, now=0)
    throttle.succeeded("Ann", ADDRESS, 1)
    fail(throttle, "ann", ADDRESS, 2, now=2)
    assert throttle.retry_after("ann", ADDRESS, 3) == 0


def test_a_name_attacked_from_everywhere_is_slowed_not_locked() -> None:
    throttle = LoginThrottle(
        window=900, per_pair=5, per_address=20, free_per_name=10, name_delay_cap=60
    )
    throttle.succeeded("ann", "10.9.9.9", 0)  # the owner's usual address
    # 10 failures from 10 addresses: the name's free budget.
    for attacker in range(10):
        fail(throttle, "ann", f"10.1.0.{attacker}", 1, now=1)
    # The 11th waits a second after the last failure, the next two, then four...
    assert throttle.retry_after("ann", "10.2.0.1", 1) == pytest.approx(1)
    delays = []
    now = 1.0
    for attacker in range(12):
        now += throttle.retry_after("ann", f"10.3.0.{attacker}", now)
        delays.append(now - throttle._names["ann"][-1])
        throttle.failed("ann", f"10.3.0.{attacker}", now)
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60, 60]
    # However long the attack, the owner on a new device waits at most the cap...
    assert 0 < throttle.retry_after("ann", "10.4.0.1", now) <= 60
    # ...and not at all from an address they signed in from.
    assert throttle.retry_after("ANN", "10.9.9.9", now) == 0
    # Other names are untouched; the window ends the slow-down.
    assert throttle.retry_after("bob", "10.4.0.1", now) == 0
    assert throttle.retry_after("ann", "10.4.0.1", now + 900) == 0


def test_known_addresses_are_bounded_and_forgotten() -> None:
    throttle = LoginThrottle(
        window=60, free_per_name=0, known_per_name=2, known_for=1000, name_delay_cap=10
    )
    for index in range(3):
        throttle.succeeded("ann", f"10.0.0.{index}", index)
    throttle.failed("ann", "10.5.5.5", 5)
    assert throttle.retry_after("ann", "10.0.0.0", 5) > 0, "the oldest of three is forgotten"
    assert throttle.retry_after("ann", "10.0.0.2", 5) == 0
    throttle.failed("ann", "10.5.5.5", 1001)
    assert throttle.retry_after("ann", "10.0.0.1", 1001) > 0, "a sign-in is remembered 1000 s"


def test_expired_records_are_swept() -> None:
    throttle = LoginThrottle(window=60, known_for=100)
    for index in range(3000):
        throttle.failed(f"name{index}", f"10.0.{index // 250}.{index % 250}", index / 100)
    throttle.succeeded("ann", ADDRESS, 0)
    assert throttle.size() > 0
    throttle.failed("late", "10.200.0.1", 1000)
    throttle.sweep(1000)
    assert throttle.size() == 3, "only the last failure's pair, address and name remain"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["ann", "bob"]),
            st.sampled_from(["a1", "a2", "a3"]),
            st.floats(min_value=0, max_value=5),
        ),
        max_size=200,
    )
)
def test_no_one_ever_waits_longer_than_a_window(
    attempts: list[tuple[str, str, float]],
) -> None:
    throttle = LoginThrottle(window=60, per_pair=2, per_address=5, free_per_name=3)
    now = 0.0
    for name, address, step in attempts:
        now += step
        wait = throttle.retry_after(name, address, now)
        assert 0 <= wait <= max(60, throttle.name_delay_cap)
        if wait == 0:
            throttle.failed(name, address, now)


def test_registrations_per_address_in_a_sliding_window() -> None:
    limit = RegistrationLimit(per_address=2, window=3600)
    assert limit.reserve(ADDRESS, 0) == 0
    assert limit.reserve(ADDRESS, 10) == 0
    assert limit.reserve(ADDRESS, 20) == pytest.approx(3580)
    assert limit.reserve("10.0.0.2", 20) == 0, "another address"
    limit.release(ADDRESS)  # the second one was not created after all
    assert limit.reserve(ADDRESS, 30) == 0
    assert limit.reserve(ADDRESS, 3599) == pytest.approx(1)
    assert limit.reserve(ADDRESS, 3600) == 0, "the first has left the window"


def test_registration_limit_zero_disables_it_and_memory_is_swept() -> None:
    unlimited = RegistrationLimit(per_address=0)
    assert all(unlimited.reserve(ADDRESS, now) == 0 for now in range(100))
    assert unlimited.size() == 0
    # 100 new addresses a second, for 100 s, kept 10 s each: about 1,000 live at a time.
    limit = RegistrationLimit(per_address=1, window=10)
    peak = 0
    for index in range(10_000):
        limit.reserve(f"10.{index // 62500}.{index // 250 % 250}.{index % 250}", index / 100)
        peak = max(peak, limit.size())
    assert peak <= 2 * 1001 + 1, "expired records are swept once the records double"
