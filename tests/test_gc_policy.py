"""The server's garbage-collector policy (``c4actors.gc_policy``): an in-process server
applies the frozen start-up and the thresholds while it runs and gives them back when it
stops; collections are timed into ``c4_gc_seconds`` with exact buckets."""

from __future__ import annotations

import gc

import pytest
import trio
import trio.testing
from prometheus_client.samples import Sample

from c4actors.cli import build_parser
from c4actors.gc_policy import (
    MIDDLE_EVERY,
    THRESHOLDS,
    YOUNG_EVERY,
    CollectionTimes,
    CollectOnTime,
    timed_collections,
)
from c4actors.metrics import Metrics
from tests.support import open_server


async def test_a_running_server_freezes_start_up_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    assert before != THRESHOLDS
    async with open_server():
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_middle_collections_stay_small_and_full_ones_rare() -> None:
    """A middle collection walks the survivors of up to ``young x middle`` net allocations:
    kept to CPython's 7,000, since one large step stalls every player (issue 17); a full
    collection waits for 10,000 middle ones (70 million net allocations)."""
    young, middle, full = THRESHOLDS
    assert young * middle <= 7_000
    assert young * middle * full >= 50_000_000


async def test_gc_tuning_off_leaves_the_collector_alone() -> None:
    before = gc.get_threshold()
    async with open_server(tune_gc=False):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0


def test_collection_times_render_as_a_histogram_by_generation() -> None:
    metrics = Metrics()
    metrics.gc_seconds.record(2, 0.02)
    metrics.gc_seconds.record(0, 0.00005)
    metrics.gc_seconds.record(0, 0.3)
    text = metrics.render().decode()
    assert 'c4_gc_seconds_bucket{generation="2",le="0.01"} 0.0' in text
    assert 'c4_gc_seconds_bucket{generation="2",le="0.025"} 1.0' in text
    assert 'c4_gc_seconds_count{generation="2"} 1.0' in text
    assert 'c4_gc_seconds_sum{generation="2"} 0.02' in text
    assert 'c4_gc_seconds_bucket{generation="0",le="0.0001"} 1.0' in text
    assert 'c4_gc_seconds_bucket{generation="0",le="0.25"} 1.0' in text
    assert 'c4_gc_seconds_bucket{generation="0",le="1.0"} 2.0' in text
    assert 'c4_gc_seconds_count{generation="1"} 0.0' in text


def test_every_collection_is_timed_while_active() -> None:
    times = CollectionTimes((0.001, 1.0))
    with timed_collections(times):
        gc.collect(1)
        gc.collect(2)
    timed = _counts(times)
    assert timed["1"] >= 1 and timed["2"] >= 1
    gc.collect(2)
    assert _counts(times) == timed  # no longer timed


def _counts(times: CollectionTimes) -> dict[str, float]:
    return {s.labels["generation"]: s.value for s in _samples(times, "_count")}


def _samples(times: CollectionTimes, suffix: str) -> list[Sample]:
    return [s for family in times.collect() for s in family.samples if s.name.endswith(suffix)]


def test_gc_tuning_is_on_by_default_and_can_be_turned_off() -> None:
    parse = build_parser().parse_args
    assert parse(["serve"]).gc_tuning == "on"
    assert parse(["serve", "--gc-tuning", "off"]).gc_tuning == "off"


def asked_to_collect(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The generations ``gc.collect`` is asked for from now on (CPython's own collections,
    which come whenever allocations say so, are not in it)."""
    asked: list[int] = []
    collect = gc.collect

    def recording(generation: int = 2) -> int:
        asked.append(generation)
        return collect(generation)

    monkeypatch.setattr(gc, "collect", recording)
    return asked


def test_collections_come_on_time_young_then_middle(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython's own young collections wait for net allocations, which objects replaced one
    for one never make: on time, each walks only what survived since the last."""
    asked = asked_to_collect(monkeypatch)
    now = [100.0]
    on_time = CollectOnTime(0.01, 5, clock=lambda: now[0])
    on_time.after_io_wait(0.0)
    assert asked == [], "not before the first interval"
    for _ in range(50):
        now[0] += 0.004  # turns closer than the interval: a collection every third
        on_time.after_io_wait(0.0)
    assert len(asked) == 50 * 4 // 12
    assert set(asked) == {0, 1}, "young ones and middle ones, never a full one"
    assert asked[4::5] == [1] * (len(asked) // 5), "every fifth one a middle collection"
    assert asked.count(1) == len(asked) // 5


async def test_an_idle_server_is_quiet(autojump_clock: trio.testing.MockClock) -> None:
    """No task wakes on its own for the collections: an idle server lets every task block
    (a test's ``wait_all_tasks_blocked`` with a cushion returns), and the autojump goes
    straight to the next deadline."""
    async with open_server():
        with trio.fail_after(5):
            await trio.testing.wait_all_tasks_blocked(0.05)
        start = trio.current_time()
        await trio.sleep(3600)
        assert trio.current_time() == start + 3600


async def test_a_running_server_collects_on_time(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = asked_to_collect(monkeypatch)
    async with open_server():
        for _ in range(40):  # the loop turns: real time passes between its turns
            await trio.sleep(YOUNG_EVERY / 2)
    assert asked.count(0) >= 2


async def test_no_collections_on_time_with_gc_tuning_off(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def recording(generation: int = 2) -> int:
        asked.append(generation)
        return 0

    monkeypatch.setattr(gc, "collect", recording)
    async with open_server(tune_gc=False):
        await trio.sleep(YOUNG_EVERY * MIDDLE_EVERY * 2)
    assert asked == []
