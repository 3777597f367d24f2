"""The coalescing buffer behind both lobby broadcasts: what a batch keeps, and when it is due."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c4actors.coalescer import Batch, Coalescer

Row = tuple[str, int]
"""A row of the tests' own list: a key and a version."""


def _key(row: Row) -> str:
    return row[0]


KEYS = st.sampled_from(["a", "b", "c", "d"])
CHANGES = st.tuples(
    st.lists(st.tuples(KEYS, st.integers(0, 9)), max_size=3),
    st.lists(KEYS, max_size=2),
    st.integers(0, 5),
    st.booleans(),  # take a batch after this change
)


def test_a_batch_keeps_each_keys_latest_row_and_its_removals() -> None:
    rows = Coalescer(_key)
    assert rows.take() is None and rows.due is None
    rows.add([("a", 1), ("b", 1)], [], 2, now=0)
    rows.add([("a", 2)], ["b"], 1, now=0)
    assert rows.take() == Batch(rows=[("a", 2)], removed=["b"], count=1)
    assert rows.take() is None
    # Removed, then back within the batch: in both, and present once applied.
    rows.add([], ["a"], 0, now=1)
    rows.add([("a", 3)], [], 1, now=1)
    assert rows.take() == Batch(rows=[("a", 3)], removed=["a"], count=1)


def test_a_count_that_came_back_is_no_batch() -> None:
    rows = Coalescer(_key)
    rows.add([], [], 3, now=0)
    assert rows.count_only
    assert rows.take() == Batch(rows=[], removed=[], count=3)
    rows.add([], [], 4, now=0)
    rows.add([], [], 3, now=0)
    assert not rows and rows.due is None and rows.take() is None


def test_rows_are_due_a_tick_after_the_first_change_and_a_count_alone_later() -> None:
    rows = Coalescer(_key, tick=0.05)
    rows.add([], [], 1, now=10.0)
    assert rows.due == pytest.approx(11.0)  # the count tick
    rows.add([("a", 1)], [], 1, now=10.5)
    assert rows.due == pytest.approx(10.55)  # a row brings it forward
    rows.add([("b", 1)], [], 2, now=10.54)
    assert rows.due == pytest.approx(10.55)  # later changes ride along
    rows.take()
    rows.reached(2_000)
    assert rows.effective_tick == pytest.approx(0.3)
    assert rows.count_tick == pytest.approx(10.0)
    rows.add([], ["a"], 1, now=20.0)
    assert rows.due == pytest.approx(20.3)


def test_tick_zero_makes_every_change_due_at_once() -> None:
    rows = Coalescer(_key, tick=0)
    rows.add([], [], 1, now=5.0)
    assert rows.due == 5.0


@given(st.lists(CHANGES, max_size=30))
def test_applying_the_batches_reproduces_the_list(
    changes: list[tuple[list[Row], list[str], int, bool]],
) -> None:
    """A client that applies each batch (``removed`` first, then ``rows``) ends with the
    list as it is, and the last count, whatever the changes and wherever batches are cut."""
    rows = Coalescer(_key, tick=0.05)
    truth: dict[str, int] = {}
    seen: dict[str, int] = {}
    seen_count = 0

    def apply(batch: Batch[Row] | None) -> None:
        nonlocal seen_count
        if batch is None:
            return
        assert len(set(batch.removed)) == len(batch.removed)
        assert len({_key(row) for row in batch.rows}) == len(batch.rows)
        for key in batch.removed:
            seen.pop(key, None)
        seen.update(batch.rows)
        seen_count = batch.count

    count = 0
    since = rows_since = 0.0
    for now, (changed, removed, count, cut) in enumerate(changes):
        for key in removed:
            truth.pop(key, None)
        truth.update(changed)
        pending, count_only = bool(rows), rows.count_only
        rows.add(changed, removed, count, now=float(now))
        since = since if pending else now
        if (changed or removed) and (not pending or count_only):
            rows_since = now
        # Due within a count tick of the batch's first change, a row within a row tick.
        due = rows.due
        assert due is None or since <= due <= since + rows.count_tick
        assert due is None or rows.count_only or due <= rows_since + rows.effective_tick
        if cut:
            apply(rows.take())
    apply(rows.take())
    assert seen == truth
    assert seen_count == count
    assert not rows and rows.due is None
