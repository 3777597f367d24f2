"""How long each Trio task step holds the event loop, for finding stalls (issue 17).

A task step is the code a task runs between two checkpoints; while it runs, nothing else
in the process does.  One long step (a fan-out to thousands of mailboxes, a full garbage
collection, a thread holding the GIL) delays every socket at once, which shows as tail
latency for everyone.  ``LoopMonitor`` is a ``trio.abc.Instrument`` that times every step
and keeps three things:

- a Prometheus histogram of step durations (``c4_loop_step_seconds`` on ``/metrics``), so
  an operator sees the distribution over time;
- the ``keep`` longest steps with the name of the task that ran them (a bounded min-heap,
  ``slowest()``), so a benchmark can say which task stalled;
- a WARNING log line naming the task when a step lasts ``warn_after`` seconds or more, at
  most one line per ``warn_interval`` seconds (a stalled server must not also flood its
  log), with the count of the slow steps the rate limit held back;
- optionally (``log_over``), every step at least that long with the time it started, the
  latest ``log_size`` of them (``long_steps``): the load tester uses it to say what its own
  loop was doing while its slowest moves were in flight (issue 17).

Cost: two clock reads, a histogram observation and a comparison per step, measured at
1 to 1.7 µs per step (see README's "Metrics"); that is why it is on by default.  The
histogram is ``StepHistogram``, not prometheus-client's ``Histogram``: under the 1,000-game
open loop a profile put 7 to 15% of the server's samples in the instrument, most of it in
``Histogram.observe`` (two locks taken and an ``enumerate`` object made per step, which also
fed the garbage collector); counting into a plain list on the one Trio thread costs neither.  Steps
never nest (Trio runs one task at a time on one thread), so one start time is enough.

The clock is injected so tests give exact durations; the server uses
``time.perf_counter``, not Trio's clock, because a stall is real time even under a
``MockClock``.
"""

from __future__ import annotations

import bisect
import collections
import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Final, Protocol

import attrs
import trio
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("c4actors.loop_monitor")

DEFAULT_KEEP: Final = 20
DEFAULT_WARN_AFTER: Final = 0.1
"""100 ms: a step that long is a stall every connected player feels."""
DEFAULT_WARN_INTERVAL: Final = 10.0


class StepObserver(Protocol):
    """Where step durations go: a ``prometheus_client.Histogram`` in the server."""

    def observe(self, amount: float) -> None: ...


class StepHistogram(Collector):
    """``c4_loop_step_seconds``: step durations counted into plain integers.

    Observed only from the Trio thread (the instrument) and read there too (``/metrics`` is
    served by the same loop), so it needs no lock; ``observe`` allocates no object the
    garbage collector tracks, so timing a step never brings a collection closer."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(buckets)
        self._counts = [0] * (len(self._bounds) + 1)
        """Per bucket, not cumulative; the last one is +Inf."""
        self._sum = 0.0

    def observe(self, amount: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip([*map(str, self._bounds), "+Inf"], self._counts, strict=True):
            total += count
            cumulative.append((bound, total))
        yield HistogramMetricFamily(
            self._name, self._documentation, buckets=cumulative, sum_value=self._sum
        )


@attrs.frozen(order=True)
class SlowStep:
    """One task step: how long it ran and which task ran it."""

    seconds: float
    task: str


@attrs.frozen
class TimedStep:
    """One long task step and when it started (the monitor's clock)."""

    at: float
    seconds: float
    task: str

    @property
    def end(self) -> float:
        return self.at + self.seconds


DEFAULT_LOG_SIZE: Final = 4096


class LoopMonitor(trio.abc.Instrument):
    """Times every task step; see the module docstring for what it keeps and why."""

    def __init__(
        self,
        observer: StepObserver | None = None,
        *,
        keep: int = DEFAULT_KEEP,
        warn_after: float = DEFAULT_WARN_AFTER,
        warn_interval: float = DEFAULT_WARN_INTERVAL,
        clock: Callable[[], float] = time.perf_counter,
        log_over: float | None = None,
        log_size: int = DEFAULT_LOG_SIZE,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, not {keep}")
        self._observe = observer.observe if observer is not None else None
        self._keep = keep
        self._warn_after = warn_after
        self._warn_interval = warn_interval
        self._clock = clock
        self._started: float | None = None
        """None until the first step begins: installed mid-step, the first end has no start."""
        # (seconds, tie-breaker, task name): the shortest of the kept steps on top.
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._next_warning = float("-inf")
        self._held_back = 0
        self._log_over = math.inf if log_over is None else log_over
        self.long_steps: collections.deque[TimedStep] = collections.deque(maxlen=log_size)
        """The latest steps of ``log_over`` seconds or more, oldest first."""
        self.steps = 0
        """Task steps timed so far."""

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = self._clock()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        now = self._clock()
        if self._started is None:
            return
        seconds = now - self._started
        self.steps += 1
        if self._observe is not None:
            self._observe(seconds)
        heap = self._heap
        if len(heap) < self._keep:
            heapq.heappush(heap, (seconds, next(self._order), task.name))
        elif seconds > heap[0][0]:
            heapq.heapreplace(heap, (seconds, next(self._order), task.name))
        if seconds >= self._log_over:
            self.long_steps.append(TimedStep(self._started, seconds, task.name))
        if seconds >= self._warn_after:
            self._warn(seconds, task.name, now)

    def _warn(self, seconds: float, task: str, now: float) -> None:
        if now < self._next_warning:
            self._held_back += 1
            return
        self._next_warning = now + self._warn_interval
        held_back, self._held_back = self._held_back, 0
        log.warning(
            "task %s held the event loop for %.1f ms (%d more slow steps since the last warning)",
            task,
            seconds * 1000,
            held_back,
        )

    def longest_between(self, start: float, end: float) -> TimedStep | None:
        """The longest logged step that ran at any time from ``start`` to ``end``."""
        overlapping = (s for s in self.long_steps if s.at < end and s.end > start)
        return max(overlapping, key=lambda s: s.seconds, default=None)

    def slowest(self) -> list[SlowStep]:
        """The longest steps kept, longest first."""
        return sorted((SlowStep(s, name) for s, _, name in self._heap), reverse=True)
