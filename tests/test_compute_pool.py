"""The compute pool: jobs run in other processes, a full lane refuses at once, a job past
its time (or whose caller is cancelled) is killed with its worker."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import trio
import trio.testing

from c4actors import compute_pool
from c4actors.compute_jobs import BotMove, WorkedIn, bot_move, where
from c4actors.compute_pool import (
    WORKER_NICENESS,
    JobTimeout,
    LaneSettings,
    PoolBusy,
    PoolSettings,
    default_analysis_workers,
    open_compute_pool,
)

SMALL = PoolSettings(
    bot=LaneSettings(workers=1, queue=1, timeout=30.0),
    analysis=LaneSettings(workers=1, queue=0, timeout=30.0),
)


async def test_a_job_runs_in_another_process_never_the_event_loops_thread() -> None:
    async with open_compute_pool(SMALL) as pool:
        worked_in = await pool.run("bot", where)
        move = await pool.run("bot", bot_move, (3, 3), "casual", 1, 0.1)
    assert isinstance(worked_in, WorkedIn) and isinstance(move, BotMove)
    for ran in (worked_in, move.worked_in):
        assert ran.pid != os.getpid()
    assert (worked_in.pid, worked_in.thread) != (os.getpid(), threading.get_ident())
    assert 0 <= move.column < 7


async def test_a_full_lane_refuses_at_once_and_frees_its_places() -> None:
    async with open_compute_pool(SMALL) as pool, trio.open_nursery() as nursery:
        # One job runs, one waits: the lane is full.
        for _ in range(2):
            nursery.start_soon(pool.run, "bot", time.sleep, 0.5)
        await trio.testing.wait_all_tasks_blocked()
        stats = pool.statistics("bot")
        assert (stats.running, stats.waiting) == (1, 1)
        with trio.fail_after(1), pytest.raises(PoolBusy):
            await pool.run("bot", where)
        # The other lane is not affected.
        assert (await pool.run("analysis", where)).pid != os.getpid()
    async with open_compute_pool(SMALL) as pool:
        assert pool.statistics("bot").running == 0


async def test_a_job_past_its_time_is_killed_and_the_lane_goes_on() -> None:
    async with open_compute_pool(SMALL) as pool:
        first = await pool.run("bot", where)
        started = trio.current_time()
        with pytest.raises(JobTimeout):
            await pool.run("bot", time.sleep, 30.0, time_limit=0.5)
        assert trio.current_time() - started < 5
        # Killed with its worker: the next job runs in a fresh process.
        after = await pool.run("bot", where)
        assert after.pid not in (first.pid, os.getpid())
        assert pool.statistics("bot").running == 0


async def test_a_cancelled_caller_kills_its_job() -> None:
    async with open_compute_pool(SMALL) as pool:
        first = await pool.run("analysis", where)
        with trio.move_on_after(0.5):
            await pool.run("analysis", time.sleep, 30.0)
        after = await pool.run("analysis", where)
        assert after.pid != first.pid


async def test_workers_run_below_the_servers_priority() -> None:
    async with open_compute_pool(SMALL) as pool:
        niceness = await pool.run("bot", os.nice, 0)
    assert niceness >= min(19, os.nice(0) + WORKER_NICENESS)


def scheduling(pid: int) -> tuple[int, int]:
    """A process's scheduling policy and niceness, as the kernel has them: fields 19
    (nice) and 41 (policy) of ``/proc/PID/stat``, counted after the command's parentheses."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[38]), int(fields[16])


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
async def test_analysis_workers_run_at_idle_policy_and_bot_workers_niced() -> None:
    async with open_compute_pool(SMALL) as pool:
        analysis = await pool.run("analysis", where)
        bot = await pool.run("bot", where)
        # Each lane has processes of its own: a bot move never runs at idle policy.
        assert analysis.pid != bot.pid
        assert scheduling(analysis.pid)[0] == os.SCHED_IDLE
        policy, niceness = scheduling(bot.pid)
        assert policy == os.SCHED_OTHER
        assert niceness >= min(19, os.nice(0) + WORKER_NICENESS)
        # Set in the worker, not inherited: this process is untouched.
        assert os.sched_getscheduler(0) == os.SCHED_OTHER


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
async def test_a_lane_may_name_its_priority() -> None:
    settings = PoolSettings(
        bot=LaneSettings(workers=1, queue=0, timeout=30.0, priority="idle"),
        analysis=LaneSettings(workers=1, queue=0, timeout=30.0, priority="lower"),
    )
    async with open_compute_pool(settings) as pool:
        bot = await pool.run("bot", where)
        analysis = await pool.run("analysis", where)
        assert scheduling(bot.pid)[0] == os.SCHED_IDLE
        assert scheduling(analysis.pid)[0] == os.SCHED_OTHER


def test_analysis_workers_default_to_the_cores_beyond_the_servers() -> None:
    assert [default_analysis_workers(n) for n in (1, 2, 3, 4, 16)] == [1, 1, 2, 2, 2]


def test_a_lane_refuses_an_unknown_priority() -> None:
    with pytest.raises(ValueError, match="invalid lane settings"):
        LaneSettings(workers=1, queue=0, timeout=1.0, priority="high")  # type: ignore[arg-type]


def solver_is_warm() -> bool:
    """In a worker: whether its solver tables were made before this job."""
    from c4actors.solver import verdicts

    return verdicts._tables is not None and verdicts._outcome_tables is not None


async def test_workers_make_the_solvers_tables_before_their_first_job() -> None:
    async with open_compute_pool(SMALL) as pool:
        assert await pool.run("bot", solver_is_warm)
        assert await pool.run("analysis", solver_is_warm)


async def test_a_worker_that_cannot_stop_in_time_is_killed_at_close_without_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An ``idle`` worker on a busy machine may get no CPU to exit: the pool kills it and
    logs a WARNING instead of ending the server's shutdown with an error.  A stopped
    process (SIGSTOP) is the worker that gets no CPU."""
    monkeypatch.setattr(compute_pool, "GRACE_PERIOD", 0.2)
    async with open_compute_pool(SMALL) as pool:
        worker = (await pool.run("analysis", where)).pid
        os.kill(worker, signal.SIGSTOP)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "compute workers killed at close lane=analysis reason=Graceful shutdown failed: "
        "0 nonzero exit codes and 1 forceful terminations."
    ]
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)
