"""The spectator-count notice's timing, with the clock passed in as plain numbers."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from c4actors.spectator_count import CountNotice


def test_the_first_change_goes_out_at_once_then_changes_are_coalesced() -> None:
    notice = CountNotice(interval=1.0)
    assert notice.due is None and notice.take(0.0) is None
    notice.set(1)
    assert notice.take(10.0) == 1  # a quiet second before: at once
    notice.set(2)
    notice.set(3)
    assert notice.due == 11.0
    assert notice.take(10.5) is None  # within the interval: wait
    assert notice.take(11.0) == 3  # the latest count, once
    assert notice.due is None and notice.take(20.0) is None


def test_a_change_undone_before_it_was_due_sends_nothing() -> None:
    notice = CountNotice(interval=1.0)
    notice.set(1)
    assert notice.take(0.0) == 1
    notice.set(2)
    notice.set(1)
    assert notice.due is None and notice.take(5.0) is None


@given(
    st.lists(
        st.tuples(st.floats(0.0, 3.0), st.integers(0, 5), st.booleans()),
        max_size=40,
    )
)
def test_notices_are_an_interval_apart_and_the_last_count_is_always_told(
    steps: list[tuple[float, int, bool]],
) -> None:
    """Driven like the actor drives it: changes at increasing times, a notice taken when
    due; the notices are at least ``interval`` apart, and once the changes stop, the
    players end up told the latest count."""
    notice = CountNotice(interval=1.0)
    now, told = 0.0, 0
    sent_at: list[float] = []
    for wait, count, change in steps:
        now += wait
        due = notice.due
        if due is not None and due <= now:
            # The actor wakes at ``due``, before handling what arrived after it.
            taken = notice.take(max(due, 0.0))
            assert taken is not None
            told = taken
            sent_at.append(max(due, 0.0))
        if change:
            notice.set(count)
            taken = notice.take(now)
            if taken is not None:
                told = taken
                sent_at.append(now)
    due = notice.due
    if due is not None:
        taken = notice.take(max(due, now))
        assert taken is not None
        told = taken
        sent_at.append(max(due, now))
    assert told == notice.count
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(sent_at))
