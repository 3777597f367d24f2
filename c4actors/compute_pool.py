"""Where the solver runs: a bounded pool of worker processes, never the event loop.

A solver in the event loop would stall every game for as long as it searches; a solver in a
thread still costs every event-loop wakeup about 5 ms (the GIL's switch interval, measured
for issue 15).  In a worker process (``trio-parallel``) it costs the loop about 0.1 ms.

Resource handling: one ``trio_parallel`` worker context (its processes start on first use
and retire when idle) and two lanes, each a ``CapacityLimiter`` with a bounded queue in
front of it: ``bot`` (a computer opponent's move: short, latency matters) and ``analysis``
(a whole game: seconds).  A lane runs at most ``workers`` jobs at once and lets at most
``queue`` more wait; beyond that ``run`` refuses at once with ``PoolBusy`` instead of
queueing without bound.  So analyses can never take the workers bot moves need.

Error handling: a job that outlives its ``timeout`` is killed with its worker process
(``kill_on_cancel``) and raises ``JobTimeout``; a cancelled caller kills its job the same
way.  Any exception raised by the job itself propagates to the caller.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final, Literal, TypeVar, TypeVarTuple

import attrs
import trio
import trio_parallel

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

Lane = Literal["bot", "analysis"]

DEFAULT_BOT_WORKERS: Final = 2
DEFAULT_BOT_QUEUE: Final = 32
DEFAULT_ANALYSIS_WORKERS: Final = 2
DEFAULT_ANALYSIS_QUEUE: Final = 8


class PoolBusy(Exception):
    """The lane's queue is full: refused at once (``error busy`` on the wire)."""


class JobTimeout(Exception):
    """The job ran past its timeout and was killed with its worker process."""


@attrs.frozen
class LaneSettings:
    """``workers`` jobs at once, ``queue`` more waiting, each killed after ``timeout`` s."""

    workers: int
    queue: int
    timeout: float

    def __attrs_post_init__(self) -> None:
        if self.workers < 1 or self.queue < 0 or not self.timeout > 0:
            raise ValueError(f"invalid lane settings: {self}")


@attrs.frozen
class PoolSettings:
    bot: LaneSettings = LaneSettings(DEFAULT_BOT_WORKERS, DEFAULT_BOT_QUEUE, 5.0)
    analysis: LaneSettings = LaneSettings(DEFAULT_ANALYSIS_WORKERS, DEFAULT_ANALYSIS_QUEUE, 120.0)


@attrs.frozen
class LaneStatistics:
    running: int
    waiting: int


class _Lane:
    def __init__(self, settings: LaneSettings) -> None:
        self.settings = settings
        self.limiter = trio.CapacityLimiter(settings.workers)
        self.admitted = 0
        """Jobs running or waiting for a worker."""

    def admit(self) -> None:
        if self.admitted >= self.settings.workers + self.settings.queue:
            raise PoolBusy(f"{self.admitted} jobs running or waiting: try again later")
        self.admitted += 1


class ComputePool:
    """See the module docstring.  Open with ``async with open_compute_pool(...) as pool``."""

    def __init__(self, context: trio_parallel.WorkerContext, settings: PoolSettings) -> None:
        self._context = context
        self._lanes: dict[Lane, _Lane] = {
            "bot": _Lane(settings.bot),
            "analysis": _Lane(settings.analysis),
        }

    def statistics(self, lane: Lane) -> LaneStatistics:
        state = self._lanes[lane]
        running = state.limiter.borrowed_tokens
        return LaneStatistics(running=running, waiting=state.admitted - running)

    def timeout(self, lane: Lane) -> float:
        return self._lanes[lane].settings.timeout

    async def run(
        self,
        lane: Lane,
        job: Callable[[*Ts], T],
        *args: *Ts,
        time_limit: float | None = None,
    ) -> T:
        """Run ``job(*args)`` in a worker process of ``lane`` (``job`` and its arguments are
        pickled: a module-level function and plain values).  Raises ``PoolBusy`` at once
        when the lane is full, ``JobTimeout`` after ``time_limit`` (default: the lane's)."""
        state = self._lanes[lane]
        state.admit()
        limit = state.settings.timeout if time_limit is None else time_limit
        try:
            with trio.move_on_after(limit) as scope:
                result: T = await self._context.run_sync(
                    job, *args, kill_on_cancel=True, limiter=state.limiter
                )
                return result
            assert scope.cancelled_caught
            raise JobTimeout(f"the job ran longer than {limit:g} s")
        finally:
            state.admitted -= 1


WORKER_NICENESS: Final = 10
"""Worker processes run at a lower CPU priority than the server: on a machine with fewer
cores than busy workers, the event loop (every move of every game) still gets the CPU first
and an analysis waits instead."""


def lower_priority() -> None:
    """Run in each worker process as it starts (``trio_parallel``'s ``init``)."""
    os.nice(WORKER_NICENESS)


@asynccontextmanager
async def open_compute_pool(settings: PoolSettings | None = None) -> AsyncIterator[ComputePool]:
    """A pool whose worker processes live as long as the ``async with`` block (started on
    first use, retired after a minute idle)."""
    async with trio_parallel.open_worker_context(
        idle_timeout=60.0, grace_period=5.0, init=lower_priority
    ) as ctx:
        yield ComputePool(ctx, settings or PoolSettings())
