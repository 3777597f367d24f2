"""The server's garbage-collector policy: fewer, cheaper collections (issue 17).

CPython's cyclic collector runs in whatever task step happens to allocate, and a full
(generation 2) collection walks every tracked object alive: measured on this machine, about
19 ms over 300,000 small containers, which at a few thousand connections is a stall every
player feels.  Two remedies, applied once the server has started:

- ``gc.freeze()`` moves everything alive after start-up (modules, tables, the app) to a
  permanent generation that no collection walks again (the same 300,000 objects frozen:
  0.1 ms per full collection);
- ``gc.set_threshold(*THRESHOLDS)``: CPython's young thresholds (a young collection every
  700 net allocations, a middle one every 10 young ones), but a full collection only after
  10,000 middle ones (CPython also waits until the survivors grow by 25% of the old
  generation, which after the freeze they always have).  Under the 1,000-game open loop a
  middle collection ran about 5 times a second, so a full one (about 300 ms of CPU over that
  many players' objects) comes about every half hour instead of every few minutes.  The
  server's state is mostly acyclic (reference counting frees it): under the 1,000-game open
  loop, full collections found about 10 cyclic objects each, so making them rare leaks next
  to nothing.

Why not fewer, larger young collections: a middle collection walks every survivor of the
young ones since the last, and the cost of one step is what players feel.  Measured under
the 1,000-game open loop in CPU time (``time.thread_time``, so not inflated by a busy
machine's preemption): with ``(10_000, 50, 100)`` the middle collections reached 246 ms,
with ``(10_000, 2, 1_000)`` 126 ms, with ``(700, 10, ...)`` 39 to 51 ms at most (3.5 to 3.9
ms median), for about 1.5 more percent of a core in young collections.  CPython's defaults
``(700, 10, 10)`` without the freeze ran 16 full collections in the same run, 318 ms each.

Young and middle collections on time, too (``CollectOnTime``): CPython counts a young
generation's objects as allocations minus deallocations, whatever generation the freed
objects were in.  A server in steady play replaces old objects with new ones (each move's
immutable game state, frames, timers): the count barely moves while the young generation's
list grows, and the collection that finally comes walks all of it.  Measured under the
1,000-game open loop (``gc.callbacks``, ``time.thread_time``): young collections of up to
98,656 objects, **80 ms of CPU**, and middle ones of up to 93 ms.  A collection every
``YOUNG_EVERY`` seconds, a middle one every ``MIDDLE_EVERY``-th, walks only what survived
since the last.  The price is paid where allocation is fast: in the 100-game closed loop
middle collections came about 4 times as often and cost about 0.2 s more per 10 s (2 to 3%
of the server); every 50 ms it was 0.3 s.  Measured in the open loop with middle ones every
50 ms: the longest young collection 51 -> 5.4 ms, the longest middle one 84 -> 12 ms.

``tuned_gc`` restores the previous thresholds and unfreezes on exit, so a process that
embeds servers (the tests run many) gets its collector back.

``CollectionTimes`` measures the remedy: ``timed_collections`` feeds it the duration of
each collection, and it exports them as ``c4_gc_seconds`` (a histogram by generation).  It
keeps plain counters rather than a ``prometheus_client.Histogram`` because a collection
can start inside any allocation, including one made while prometheus-client holds a
metric's (non-reentrant) lock; observing that metric from the callback would deadlock.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import trio
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

THRESHOLDS: Final = (700, 10, 10_000)
GENERATIONS: Final = 3
YOUNG_EVERY: Final = 0.01
"""Seconds between the young collections made on time (``CollectOnTime``)."""
MIDDLE_EVERY: Final = 10
"""Every this many of them is a middle collection (every 100 ms, CPython's own ratio)."""


class CollectOnTime(trio.abc.Instrument):
    """Collect the young generation at most every ``interval`` seconds and the middle one
    every ``middle_every``-th time, besides CPython's own collections (module docstring: its
    count misses objects replaced one for one, so its collections come late and long).

    An instrument, not a task: it runs between scheduler turns (``after_io_wait``), by the
    wall clock, only while the loop turns.  A task waking every 10 ms would keep an idle
    server from ever being quiet (``trio.testing.wait_all_tasks_blocked`` with a cushion
    never returned) and, under the tests' ``MockClock``, would make the autojump go from
    tick to tick."""

    def __init__(
        self,
        interval: float = YOUNG_EVERY,
        middle_every: int = MIDDLE_EVERY,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._interval, self._middle_every, self._clock = interval, middle_every, clock
        self._due = clock() + interval
        self._ticks = 0

    def after_io_wait(self, timeout: float) -> None:
        now = self._clock()
        if now < self._due:
            return
        self._due = now + self._interval
        self._ticks += 1
        gc.collect(1 if self._ticks % self._middle_every == 0 else 0)


@contextmanager
def tuned_gc() -> Iterator[None]:
    """Freeze what is alive and raise the thresholds; undo both on exit."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


class CollectionTimes(Collector):
    """Durations of garbage collections by generation, as a Prometheus histogram."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self._buckets = tuple(buckets)
        # Per generation: counts per bucket (the last one is +Inf, not cumulative) and sum.
        self._counts = [[0] * (len(self._buckets) + 1) for _ in range(GENERATIONS)]
        self._sums = [0.0] * GENERATIONS

    def record(self, generation: int, seconds: float) -> None:
        """Count one collection; allocates no tracked object, so it is safe in a gc callback."""
        self._counts[generation][bisect.bisect_left(self._buckets, seconds)] += 1
        self._sums[generation] += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            "c4_gc_seconds",
            "Garbage collections while the server runs, by generation (2 is a full collection)",
            labels=["generation"],
        )
        for generation in range(GENERATIONS):
            counts = self._counts[generation]
            cumulative: list[tuple[str, float]] = []
            total = 0
            for bound, count in zip([*map(str, self._buckets), "+Inf"], counts, strict=True):
                total += count
                cumulative.append((bound, total))
            family.add_metric([str(generation)], cumulative, self._sums[generation])
        yield family


@contextmanager
def timed_collections(times: CollectionTimes) -> Iterator[None]:
    """Record every collection's duration in ``times`` while active."""
    started = 0.0

    def on_collection(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            times.record(info["generation"], time.perf_counter() - started)

    gc.callbacks.append(on_collection)
    try:
        yield
    finally:
        gc.callbacks.remove(on_collection)
