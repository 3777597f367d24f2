"""The server's garbage-collector policy (``c4actors.gc_policy``): an in-process server
applies the frozen start-up and the thresholds while it runs and gives them back when it
stops; collections are timed into ``c4_gc_seconds`` with exact buckets."""

from __future__ import annotations

import gc

from prometheus_client.samples import Sample

from c4actors.cli import build_parser
from c4actors.gc_policy import THRESHOLDS, CollectionTimes, timed_collections
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
