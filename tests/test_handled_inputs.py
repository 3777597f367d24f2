"""``HandledInputs``: every input entry of an edge handled exactly once, whatever the order
and the number of its copies in the stream, across a failover too (issue 16)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c4actors.cluster.handled_inputs import REORDER_SPAN, HandledInputs


def handled_in(handled: HandledInputs, stream: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(edge, seq) for edge, seq in stream if handled.first_time(edge, seq)]


def test_in_order_each_once_and_a_copy_dropped() -> None:
    handled = HandledInputs()
    stream = [("a", 1), ("a", 2), ("b", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)]
    assert handled_in(handled, stream) == [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("b", 2)]
    assert (handled.upto, handled.above) == ({"a": 3, "b": 2}, {})
    assert handled.to_json() == '{"a":3,"b":2}', "one number per edge, as before"


def test_an_entry_refused_and_sent_again_after_the_next_one_is_handled_late_once() -> None:
    """Redis refused entry 3 (OOM, BUSY...) and applied 4, written behind it; the edge
    sends 3 again, and 4 with it: 3 is handled when it comes, 4 only once.  (Keeping only
    the highest number handled dropped 3 as a copy: the input was lost.)"""
    handled = HandledInputs()
    stream = [("e", 1), ("e", 2), ("e", 4), ("e", 3), ("e", 4), ("e", 5)]
    assert handled_in(handled, stream) == [("e", 1), ("e", 2), ("e", 4), ("e", 3), ("e", 5)]
    assert (handled.upto, handled.above) == ({"e": 5}, {})


def test_a_gap_open_at_a_failover_is_still_filled_once() -> None:
    first = HandledInputs()
    assert handled_in(first, [("e", 1), ("e", 3), ("e", 4)]) == [("e", 1), ("e", 3), ("e", 4)]
    assert first.to_json() == '{"e":[1,[3,4]]}'
    standby = HandledInputs.from_json(first.to_json())
    assert standby == first
    assert handled_in(standby, [("e", 3), ("e", 2), ("e", 4), ("e", 5)]) == [("e", 2), ("e", 5)]


def test_an_older_core_s_numbers_load_as_they_are() -> None:
    handled = HandledInputs.from_json('{"edge-a":7}')
    assert not handled.first_time("edge-a", 7)
    assert handled.first_time("edge-a", 8)


@pytest.mark.parametrize(
    "text",
    ["[]", '{"e":"7"}', '{"e":-1}', '{"e":true}', '{"e":[3]}', '{"e":[3,[2]]}', '{"e":[3,4]}', "{"],
)
def test_a_state_of_another_shape_is_refused_clearly(text: str) -> None:
    with pytest.raises(ValueError, match="not the inputs handled"):
        HandledInputs.from_json(text)


def test_a_gap_wider_than_the_span_is_given_up_and_said_once() -> None:
    """Entries trimmed before they were read: the gap is given up rather than kept open
    for ever, and said once, however many entries came past it."""
    handled = HandledInputs()
    assert all(handled.first_time("e", seq) for seq in (1, 3, 5, *range(6, 2 + REORDER_SPAN)))
    assert handled.given_up == [] and handled.upto["e"] == 1, "2 and 4 may still come"
    assert handled.first_time("e", 2 + REORDER_SPAN)  # 2 is too far behind now
    assert handled.given_up == [("e", 2, 2)]
    assert (handled.upto["e"], min(handled.above["e"])) == (3, 5)
    assert handled.first_time("e", 4 + REORDER_SPAN)  # and then 4
    assert handled.given_up == [("e", 2, 2), ("e", 4, 4)]
    assert (handled.upto["e"], handled.above["e"]) == (2 + REORDER_SPAN, {4 + REORDER_SPAN})
    handled.given_up.clear()
    far = 4 + 2 * REORDER_SPAN + 5
    assert handled.first_time("e", far)
    assert handled.given_up == [
        ("e", 3 + REORDER_SPAN, 3 + REORDER_SPAN),
        ("e", 5 + REORDER_SPAN, far - 1),
    ]
    assert (handled.upto, handled.above) == ({"e": far}, {})
    assert not handled.first_time("e", 2), "given up: it never will be handled now"


def test_an_edge_is_known_by_its_announcement_only() -> None:
    """An entry of a name the core never heard from is handled only if it is the edge's
    announcement (1): anything else is an edge declared dead (forgotten) or one whose
    announcement never came, far on in its numbers or not."""
    handled = HandledInputs()
    assert not handled.admits("e", 2) and not handled.first_time("e", 2)
    assert not handled.first_time("e", 5000)
    assert (handled.upto, handled.above) == ({}, {}), "nothing kept of a stranger"
    assert handled.admits("e", 1) and handled.first_time("e", 1)
    assert handled.admits("e", 5000) and handled.first_time("e", 3)
    assert (handled.upto, handled.above) == ({"e": 1}, {"e": {3}})


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[int, list[int]]:
    """``n`` entries numbered 1..n and a stream of copies of them: each entry at least
    once, any order within ``REORDER_SPAN`` (the appender and the core keep it so), but
    the edge's announcement (1) and its copies before any other entry: the edge sends
    nothing else until one is in the stream (its copies were sent before), and even one a
    deposed core read is claimed within a sweep, long before the edge could be declared
    dead (``handled_inputs``)."""
    n = draw(st.integers(1, 60))
    copies = [draw(st.integers(1, 3)) for _ in range(n)]
    stream = [seq for seq in range(2, n + 1) for _ in range(copies[seq - 1])]
    return n, [1] * copies[0] + draw(st.permutations(stream))


@given(deliveries(), st.data())
def test_every_entry_is_handled_exactly_once_in_any_order_across_failovers(
    delivery: tuple[int, list[int]], data: st.DataObject
) -> None:
    n, stream = delivery
    failovers = set(data.draw(st.lists(st.integers(0, len(stream)), max_size=3)))
    handled = HandledInputs()
    seen: list[int] = []
    for at, seq in enumerate(stream):
        if at in failovers:  # another core takes over with what was committed
            handled = HandledInputs.from_json(handled.to_json())
        if handled.first_time("e", seq):
            seen.append(seq)
    assert sorted(seen) == list(range(1, n + 1))
    assert seen == list(dict.fromkeys(stream)), "each handled when its first copy comes"
    assert (handled.upto, handled.above, handled.given_up) == ({"e": n}, {}, [])


def test_an_edge_declared_dead_is_fenced_its_copies_and_new_entries_dropped() -> None:
    """The core declared the edge dead (silent too long) and it was only stalled: its
    appender sends again entries the core handled (numbered like a new edge's first ones)
    and new ones.  None is handled: forgetting the numbers took it for a new edge, and
    handled the copies a second time."""
    handled = HandledInputs()
    assert handled_in(handled, [("e", 1), ("e", 2), ("e", 4), ("f", 1)]) == [
        ("e", 1),
        ("e", 2),
        ("e", 4),
        ("f", 1),
    ]
    assert handled.forget("e") and not handled.forget("e")
    assert handled_in(handled, [("e", 2), ("e", 3), ("e", 5000), ("f", 2)]) == [("f", 2)]
    assert (handled.upto, handled.above) == ({"f": 2}, {}), "nothing kept of the dead edge"
    assert handled.to_json() == '{"f":2}', "the numbers committed at every batch stay short"


def test_the_fence_survives_a_failover() -> None:
    handled = HandledInputs()
    handled_in(handled, [("a", 1), ("a", 2), ("b", 1), ("c", 1)])
    handled.forget("b")
    handled.forget("a")
    standby = HandledInputs.from_json(handled.to_json())
    assert standby == handled
    assert handled_in(standby, [("a", 2), ("a", 3), ("b", 2), ("c", 2)]) == [("c", 2)]


def test_the_fence_has_no_limit_in_number_of_deaths() -> None:
    """An edge stalled while more than 1,024 others died (the limit of the names the core
    kept): its entries are still dropped, and nothing of the dead edges is kept.  (The
    core kept the 1,024 latest names and took the edge for a new one: its copies of
    entries numbered up to ``REORDER_SPAN`` were handled a second time.)"""
    handled = HandledInputs()
    assert handled_in(handled, [("stalled", 1), ("stalled", 2), ("stalled", 3)]) == [
        ("stalled", 1),
        ("stalled", 2),
        ("stalled", 3),
    ]
    handled.forget("stalled")
    for n in range(1025):
        assert handled.first_time(f"edge-{n}", 1)
        handled = HandledInputs.from_json(handled.to_json()) if n % 300 == 0 else handled
        assert handled.forget(f"edge-{n}")
    assert handled_in(handled, [("stalled", 2), ("stalled", 3), ("stalled", 4)]) == []
    assert (handled.upto, handled.above, handled.to_json()) == ({}, {}, "{}")


@given(deliveries(), st.data())
def test_nothing_of_an_edge_is_handled_after_its_death_across_failovers(
    delivery: tuple[int, list[int]], data: st.DataObject
) -> None:
    """Whatever the order and copies, and wherever the death (once the core heard the
    edge: its announcement) and the failovers fall: every entry of the edge handled before
    its death exactly once, none after it, and the other edge's entries each exactly once."""
    n, stream = delivery
    death = data.draw(st.integers(stream.count(1), len(stream)))
    failovers = set(data.draw(st.lists(st.integers(0, len(stream)), max_size=3)))
    handled = HandledInputs()
    seen: list[tuple[str, int]] = []
    for at, seq in enumerate(stream):
        if at in failovers:
            handled = HandledInputs.from_json(handled.to_json())
        if at == death:
            handled.forget("dying")
        for edge in ("dying", "living"):
            if handled.first_time(edge, seq):
                seen.append((edge, seq))
    if death == len(stream):
        handled.forget("dying")
    before = list(dict.fromkeys(stream[:death]))
    assert [seq for edge, seq in seen if edge == "dying"] == before
    assert sorted(seq for edge, seq in seen if edge == "living") == list(range(1, n + 1))
    assert "dying" not in handled.upto and "dying" not in handled.above
