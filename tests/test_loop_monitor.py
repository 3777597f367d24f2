"""The event-loop step timer (``c4actors.loop_monitor``): exact durations from a fake
clock and fake steps, then the real instrument in an in-process server, where an injected
blocking step must come out as the longest, by its task's name, on ``/metrics`` and in a
WARNING (expected: a warning is not an error, so the error-log guard lets it pass)."""

from __future__ import annotations

import logging
import threading
import time
from typing import cast

import httpx
import prometheus_client.values
import pytest
import trio

from c4actors.cli import build_parser
from c4actors.loop_monitor import LoopMonitor, SlowStep, TimedStep
from c4actors.metrics import Metrics
from protocol import GameState, Move
from tests.support import connect, open_server, start_game


class FakeTask:
    def __init__(self, name: str) -> None:
        self.name = name


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.observed: list[float] = []

    def observe(self, amount: float) -> None:
        self.observed.append(amount)


def step(monitor: LoopMonitor, clock: FakeClock, name: str, seconds: float) -> None:
    """One fake task step of exactly ``seconds``."""
    task = cast(trio.lowlevel.Task, FakeTask(name))
    monitor.before_task_step(task)
    clock.now += seconds
    monitor.after_task_step(task)


def test_long_steps_are_logged_with_their_start_and_found_by_time() -> None:
    clock = FakeClock()
    monitor = LoopMonitor(clock=clock, log_over=2**-8, log_size=3)
    # Durations in powers of two, so the fake clock's sums are exact.
    for index, seconds in enumerate([2**-10, 2**-7, 2**-9, 2**-5, 2**-8, 2**-6]):
        clock.now = 10.0 * index
        step(monitor, clock, f"task-{index}", seconds)
    # The two steps under 2**-8 s are not logged; the oldest logged one fell out.
    assert list(monitor.long_steps) == [
        TimedStep(30.0, 2**-5, "task-3"),
        TimedStep(40.0, 2**-8, "task-4"),
        TimedStep(50.0, 2**-6, "task-5"),
    ]
    assert monitor.longest_between(30.02, 50.001) == TimedStep(30.0, 2**-5, "task-3")
    assert monitor.longest_between(40.001, 50.0) == TimedStep(40.0, 2**-8, "task-4")
    assert monitor.longest_between(40.005, 49.99) is None
    assert LoopMonitor(clock=clock).long_steps.maxlen is not None  # bounded even when off


def test_every_step_is_observed_and_the_longest_are_kept_with_their_task() -> None:
    clock, recorder = FakeClock(), Recorder()
    monitor = LoopMonitor(recorder, keep=3, clock=clock)
    durations = [0.002, 0.0005, 0.03, 0.001, 0.004, 0.0001, 0.02]
    for index, seconds in enumerate(durations):
        step(monitor, clock, f"task-{index}", seconds)
        clock.now += 5.0  # time between steps is not a step
    assert recorder.observed == pytest.approx(durations)
    assert monitor.steps == len(durations)
    slowest = monitor.slowest()
    assert all(isinstance(s, SlowStep) for s in slowest)
    assert [s.task for s in slowest] == ["task-2", "task-6", "task-4"]
    assert [s.seconds for s in slowest] == pytest.approx([0.03, 0.02, 0.004])


def test_installed_mid_step_the_first_step_end_is_not_a_step() -> None:
    clock, recorder = FakeClock(), Recorder()
    monitor = LoopMonitor(recorder, clock=clock)
    clock.now += 50.0
    monitor.after_task_step(cast(trio.lowlevel.Task, FakeTask("installer")))
    assert recorder.observed == [] and monitor.slowest() == []
    step(monitor, clock, "next", 0.001)
    assert recorder.observed == pytest.approx([0.001])


def test_keep_must_be_positive() -> None:
    with pytest.raises(ValueError, match="keep must be >= 1"):
        LoopMonitor(keep=0)


def test_a_slow_step_is_a_rate_limited_warning_naming_the_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    monitor = LoopMonitor(warn_after=0.1, warn_interval=10.0, clock=clock)
    caplog.set_level(logging.WARNING, logger="c4actors.loop_monitor")
    step(monitor, clock, "fast", 0.099)
    assert caplog.records == []
    step(monitor, clock, "lobby", 0.25)
    step(monitor, clock, "flush", 0.15)  # within 10 s of the last warning: held back
    step(monitor, clock, "flush", 0.12)
    clock.now += 10.0
    step(monitor, clock, "game", 0.1)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "task lobby held the event loop for 250.0 ms (0 more slow steps since the last warning)",
        "task game held the event loop for 100.0 ms (2 more slow steps since the last warning)",
    ]
    assert all(record.levelno == logging.WARNING for record in caplog.records)


def _values(text: str) -> dict[str, float]:
    return {
        line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


async def test_metrics_carry_the_step_histogram_after_some_traffic() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await bob.send(Move(game_id=game_id, column=3))  # the challenged player moves first
        await ann.expect(GameState)
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            values = _values((await http.get("/metrics")).text)
    assert server.loop_monitor is not None
    count = values["c4_loop_step_seconds_count"]
    assert count >= 20  # the handshakes, joins, challenge, accept and move took many steps
    assert values['c4_loop_step_seconds_bucket{le="0.0001"}'] <= count
    assert values['c4_loop_step_seconds_bucket{le="+Inf"}'] == count
    assert values["c4_loop_step_seconds_sum"] > 0
    assert 'c4_gc_seconds_count{generation="2"}' in values


STALL = 1.1
"""The injected stall, seconds: beyond the histogram's last finite bucket (1 s)."""


async def test_an_injected_blocking_step_is_the_longest_by_its_task_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="c4actors.loop_monitor")

    def injected_stall() -> None:
        # Injected: a task step that blocks the event loop for 1.1 s.  Long, so that it stays
        # the longest step on a loaded machine, where a step preempted for 200 ms happens.
        time.sleep(STALL)

    async def blocking_task() -> None:
        await trio.lowlevel.checkpoint()
        injected_stall()

    async with open_server() as server, trio.open_nursery() as nursery:
        nursery.start_soon(blocking_task, name="injected-stall")
        async with connect(server, "ann"):
            pass
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            values = _values((await http.get("/metrics")).text)
    assert server.loop_monitor is not None
    longest = server.loop_monitor.slowest()[0]
    assert longest.task == "injected-stall" and longest.seconds >= STALL
    over_a_second = (
        values['c4_loop_step_seconds_bucket{le="+Inf"}']
        - values['c4_loop_step_seconds_bucket{le="1.0"}']
    )
    assert over_a_second >= 1
    assert values["c4_loop_step_seconds_sum"] >= STALL
    assert any(
        "task injected-stall held the event loop for" in record.getMessage()
        for record in caplog.records
    )


async def test_loop_monitor_off_installs_nothing() -> None:
    async with (
        open_server(loop_monitor=False) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        values = _values((await http.get("/metrics")).text)
    assert server.loop_monitor is None
    assert values["c4_loop_step_seconds_count"] == 0


def test_loop_monitor_is_on_by_default_and_can_be_turned_off() -> None:
    parse = build_parser().parse_args
    assert parse(["serve"]).loop_monitor == "on"
    assert parse(["serve", "--loop-monitor", "off"]).loop_monitor == "off"
    with pytest.raises(SystemExit):
        parse(["serve", "--loop-monitor", "maybe"])


class CountingLock:
    """A lock that counts how often it is taken (stands in for prometheus-client's)."""

    taken = 0

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> bool:
        CountingLock.taken += 1
        return self._lock.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._lock.__exit__(None, None, None)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        CountingLock.taken += 1
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()


def test_the_step_histogram_counts_exact_buckets_without_a_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Observed on every task step, so it must be cheap: prometheus-client's
    ``Histogram.observe`` takes two locks per call, a profile's 7 to 15% of the server."""
    monkeypatch.setattr(prometheus_client.values, "Lock", CountingLock)
    metrics = Metrics()
    histogram = metrics.loop_step_seconds
    CountingLock.taken = 0
    histogram.observe(0.00005)
    histogram.observe(0.003)
    histogram.observe(2.0)
    assert CountingLock.taken == 0
    values = _values(metrics.render().decode())
    assert values['c4_loop_step_seconds_bucket{le="0.0001"}'] == 1
    assert values['c4_loop_step_seconds_bucket{le="0.0025"}'] == 1
    assert values['c4_loop_step_seconds_bucket{le="0.005"}'] == 2
    assert values['c4_loop_step_seconds_bucket{le="1.0"}'] == 2
    assert values['c4_loop_step_seconds_bucket{le="+Inf"}'] == 3
    assert values["c4_loop_step_seconds_count"] == 3
    assert values["c4_loop_step_seconds_sum"] == pytest.approx(2.00305)
