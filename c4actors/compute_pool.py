"""Where the solver runs: a bounded pool of worker processes, never the event loop.

A solver in the event loop would stall every game for as long as it searches; a solver in a
thread still costs every event-loop wakeup about 5 ms (the GIL's switch interval, measured
for issue 15).  In a worker process (``trio-parallel``) it costs the loop about 0.1 ms.

Resource handling: two lanes, each a ``trio_parallel`` worker context of its own (its
processes start on first use and retire when idle) and a ``CapacityLimiter`` with a bounded
queue in front of it: ``bot`` (a computer opponent's move: short, latency matters) and
``analysis`` (a whole game: seconds).  A lane runs at most ``workers`` jobs at once and lets
at most ``queue`` more wait; beyond that ``run`` refuses at once with ``PoolBusy`` instead of
queueing without bound.  So analyses can never take the workers bot moves need.

CPU priority: the event loop answers every move of every game, so no worker may delay it.
A lane's ``priority`` is applied in each of its worker processes as it starts:

* ``"lower"`` (the ``bot`` lane): niceness +10.  A computer's move is short and a player
  waits for it, so it should still get a fair part of a busy CPU, just less than the server;
* ``"idle"`` (the ``analysis`` lane): Linux's ``SCHED_IDLE`` policy.  Niceness alone was not
  enough (measured for issue 15: four analyses at niceness +10 on two cores still made the
  human games' p99 move round trip some 20 ms slower): a niced process keeps its CPU until
  the scheduler's next decision, while a ``SCHED_IDLE`` one is preempted at once whenever the
  server (or anything else) wakes up on its CPU, and gets only what nobody else wants.
  An analysis may take much longer on a busy machine; that is the point.

By default the analysis lane has one worker per core beyond the first, at least one and
at most two (``default_analysis_workers``): more analyses at once than spare cores only
makes each slower and the machine busier, and the rest wait in the lane's queue.

Error handling: a job that outlives its ``timeout`` is killed with its worker process
(``kill_on_cancel``) and raises ``JobTimeout``; a cancelled caller kills its job the same
way.  Any exception raised by the job itself propagates to the caller.  A worker that does
not stop within ``GRACE_PERIOD`` when the pool closes is killed and logged (WARNING), not
raised: an ``idle`` worker on a busy machine may get no CPU to exit in time, and the
server's shutdown has nothing left for it to do.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Final, Literal, TypeVar, TypeVarTuple

import attrs
import trio
import trio_parallel

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

log = logging.getLogger(__name__)

GRACE_PERIOD: Final = 5.0
"""Seconds a lane's workers get to exit when the pool closes, before they are killed."""

Lane = Literal["bot", "analysis"]
Priority = Literal["lower", "idle"]
"""How a lane's workers yield the CPU: see the module docstring."""


def default_analysis_workers(cores: int | None = None) -> int:
    """Analysis workers for a machine of ``cores`` (default: this one's): the cores beyond
    the first (the server's), at least one, at most two."""
    count = os.cpu_count() if cores is None else cores
    return max(1, min(2, (count or 1) - 1))


DEFAULT_BOT_WORKERS: Final = 2
DEFAULT_BOT_QUEUE: Final = 32
DEFAULT_ANALYSIS_WORKERS: Final = default_analysis_workers()
DEFAULT_ANALYSIS_QUEUE: Final = 8


class PoolBusy(Exception):
    """The lane's queue is full: refused at once (``error busy`` on the wire)."""


class JobTimeout(Exception):
    """The job ran past its timeout and was killed with its worker process."""


@attrs.frozen
class LaneSettings:
    """``workers`` jobs at once, ``queue`` more waiting, each killed after ``timeout`` s;
    the workers run at ``priority`` (see the module docstring; ``None``: the lane's own,
    ``"lower"`` for ``bot`` and ``"idle"`` for ``analysis``)."""

    workers: int
    queue: int
    timeout: float
    priority: Priority | None = None

    def __attrs_post_init__(self) -> None:
        if self.workers < 1 or self.queue < 0 or not self.timeout > 0:
            raise ValueError(f"invalid lane settings: {self}")
        if self.priority not in (None, "lower", "idle"):
            raise ValueError(f"invalid lane settings: {self}")


LANE_PRIORITIES: Final[dict[Lane, Priority]] = {"bot": "lower", "analysis": "idle"}
"""Each lane's priority when its settings name none."""


@attrs.frozen
class PoolSettings:
    bot: LaneSettings = LaneSettings(DEFAULT_BOT_WORKERS, DEFAULT_BOT_QUEUE, 5.0)
    analysis: LaneSettings = LaneSettings(DEFAULT_ANALYSIS_WORKERS, DEFAULT_ANALYSIS_QUEUE, 120.0)


@attrs.frozen
class LaneStatistics:
    running: int
    waiting: int


class _Lane:
    def __init__(self, settings: LaneSettings, context: trio_parallel.WorkerContext) -> None:
        self.settings = settings
        self.context = context
        self.limiter = trio.CapacityLimiter(settings.workers)
        self.admitted = 0
        """Jobs running or waiting for a worker."""

    def admit(self) -> None:
        if self.admitted >= self.settings.workers + self.settings.queue:
            raise PoolBusy(f"{self.admitted} jobs running or waiting: try again later")
        self.admitted += 1


class ComputePool:
    """See the module docstring.  Open with ``async with open_compute_pool(...) as pool``."""

    def __init__(
        self, contexts: dict[Lane, trio_parallel.WorkerContext], settings: PoolSettings
    ) -> None:
        self._lanes: dict[Lane, _Lane] = {
            "bot": _Lane(settings.bot, contexts["bot"]),
            "analysis": _Lane(settings.analysis, contexts["analysis"]),
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
                result: T = await state.context.run_sync(
                    job, *args, kill_on_cancel=True, limiter=state.limiter
                )
                return result
            assert scope.cancelled_caught
            raise JobTimeout(f"the job ran longer than {limit:g} s")
        finally:
            state.admitted -= 1


WORKER_NICENESS: Final = 10
"""The ``"lower"`` priority: worker processes run at a lower CPU priority than the server,
so on a machine with fewer cores than busy workers the event loop still gets the CPU first."""


def lower_priority() -> None:
    """The ``"lower"`` priority, run in each worker process as it starts."""
    os.nice(WORKER_NICENESS)


def idle_priority() -> None:
    """The ``"idle"`` priority, run in each worker process as it starts: ``SCHED_IDLE``
    where the system has it (Linux), else the lowest niceness."""
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:  # pragma: no cover - not Linux
        os.nice(19)


_PRIORITIES: Final[dict[Priority, Callable[[], None]]] = {
    "lower": lower_priority,
    "idle": idle_priority,
}


def _start_worker(priority: Priority) -> None:
    """A worker process's start: its priority, then the solver imported and its tables and
    books made (some 0.2 s), so that the first job does not pay for them: the first move of
    a ``perfect`` computer lost that much of its 0.9 s."""
    _PRIORITIES[priority]()
    from c4actors.solver import warm_up

    warm_up()


@asynccontextmanager
async def open_compute_pool(settings: PoolSettings | None = None) -> AsyncIterator[ComputePool]:
    """A pool whose worker processes live as long as the ``async with`` block (started on
    first use, retired after a minute idle), each lane's in a worker context of its own."""
    settings = settings or PoolSettings()
    async with AsyncExitStack() as stack:
        contexts: dict[Lane, trio_parallel.WorkerContext] = {}
        lanes: dict[Lane, LaneSettings] = {"bot": settings.bot, "analysis": settings.analysis}
        for lane, lane_settings in lanes.items():
            priority = lane_settings.priority or LANE_PRIORITIES[lane]
            init = functools.partial(_start_worker, priority)
            contexts[lane] = await stack.enter_async_context(_lane_workers(lane, init))
        yield ComputePool(contexts, settings)


@asynccontextmanager
async def _lane_workers(
    lane: Lane, init: Callable[[], None]
) -> AsyncIterator[trio_parallel.WorkerContext]:
    """One lane's worker context whose close kills a worker that does not stop in time
    with a WARNING instead of raising ``BrokenWorkerProcessError`` (see the module
    docstring).  What the block itself raises propagates as before."""
    workers = trio_parallel.open_worker_context(
        idle_timeout=60.0, grace_period=GRACE_PERIOD, init=init
    )
    context = await workers.__aenter__()
    try:
        yield context
    except BaseException as error:
        if not await workers.__aexit__(type(error), error, error.__traceback__):
            raise
    else:
        try:
            await workers.__aexit__(None, None, None)
        except trio_parallel.BrokenWorkerError as error:
            log.warning("compute workers killed at close lane=%s reason=%s", lane, error.args[0])
