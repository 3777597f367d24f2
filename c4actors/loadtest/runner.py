"""Runs one scenario under a hard time limit and assembles its ``Summary``.

``run_load`` is what ``c4actors loadtest``, the benchmark suite and the tests call.  Whatever
happens, it returns within ``LoadSettings.hard_limit`` seconds: a run still going then is
cancelled and a ``timeout`` error recorded.
"""

from __future__ import annotations

import datetime
import resource
from collections.abc import Awaitable, Callable
from typing import Final, TypeAlias

import attrs
import trio

from . import server_metrics
from .figures import (
    ChurnFigures,
    ClientLoopFigures,
    EchoFigures,
    GamesFigures,
    IdleFigures,
    ServerFigures,
    Summary,
)
from .loadrun import LoadRun, open_loop_monitor
from .procfs import ProcessSample, cpu_share, wait_share
from .progress import show_progress
from .scenario_churn import run_churn
from .scenario_echo import run_echo
from .scenario_games import run_games
from .scenario_idle import run_idle
from .settings import LoadSettings, Scenario

Section: TypeAlias = GamesFigures | IdleFigures | ChurnFigures | EchoFigures
SCENARIO_RUNNERS: Final[dict[Scenario, Callable[[LoadRun], Awaitable[Section]]]] = {
    "games": run_games,
    "idle": run_idle,
    "churn": run_churn,
    "echo": run_echo,
}


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` towards ``wanted`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


async def run_load(settings: LoadSettings) -> Summary:
    """Run ``settings.scenario`` and return its figures (errors included, never raised)."""
    # One socket per connection, plus churners, plus some slack for the process itself.
    raise_open_file_limit(2 * settings.connection_count + 1024)
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    monitor = open_loop_monitor(settings)
    run = LoadRun(settings, monitor)
    section: Section | None = None
    if monitor is not None:
        trio.lowlevel.add_instrument(monitor)
    try:
        with trio.move_on_after(settings.hard_limit) as limit:
            async with trio.open_nursery() as nursery:
                if not settings.quiet:
                    nursery.start_soon(show_progress, run)
                section = await SCENARIO_RUNNERS[settings.scenario](run)
                nursery.cancel_scope.cancel()
    finally:
        if monitor is not None:
            trio.lowlevel.remove_instrument(monitor)
    if limit.cancelled_caught:
        run.stats.errors.add("timeout", f"the run hit its hard limit of {settings.hard_limit} s")
        run.close_window()
    return _summary(run, started, section)


def _summary(run: LoadRun, started: str, section: Section | None) -> Summary:
    settings, stats = run.settings, run.stats
    server = None
    if settings.server_pid is not None:
        server = _server_figures(
            settings.server_pid, run.server_at_start, run.server_at_open, run.server_at_close
        )
    others = [
        _server_figures(
            pid,
            run.others_at_start[index],
            run.others_at_open[index] if run.others_at_open else None,
            run.others_at_close[index] if run.others_at_close else None,
        )
        for index, pid in enumerate(settings.also_pids)
    ]
    return Summary(
        scenario=settings.scenario,
        url=settings.url,
        started_utc=started,
        settings=attrs.asdict(settings, value_serializer=_plain),
        ramp_seconds=run.ramp_seconds,
        window_seconds=run.window_seconds,
        connections_target=settings.connection_count,
        connections_opened=stats.connections_opened,
        handshake=stats.handshake.summary(),
        client_cpu_share=run.client_cpu_share,
        client_cpu_wait_share=_wait_share(run.client_at_open, run.client_at_close),
        client_loop=_client_loop(run),
        server=server,
        other_servers=others,
        games=section if isinstance(section, GamesFigures) else None,
        echo=section if isinstance(section, EchoFigures) else None,
        idle=section if isinstance(section, IdleFigures) else None,
        churn=section if isinstance(section, ChurnFigures) else None,
        server_loop=server_metrics.loop_figures(run.metrics_at_open, run.metrics_at_close),
        errors=dict(sorted(stats.errors.counts.items())),
        error_examples=dict(sorted(stats.errors.examples.items())),
    )


def _server_figures(
    pid: int,
    started: ProcessSample | None,
    opened: ProcessSample | None,
    closed: ProcessSample | None,
) -> ServerFigures:
    return ServerFigures(
        pid=pid,
        cpu_share=cpu_share(opened, closed) if opened and closed else None,
        cpu_wait_share=_wait_share(opened, closed),
        rss_kib_start=started.rss_kib if started else None,
        rss_kib_open=opened.rss_kib if opened else None,
        rss_kib_close=closed.rss_kib if closed else None,
    )


def _wait_share(opened: ProcessSample | None, closed: ProcessSample | None) -> float | None:
    return wait_share(opened, closed) if opened and closed else None


def _client_loop(run: LoadRun) -> ClientLoopFigures | None:
    """The load tester's own steps in the window, from its monitor's count and long steps."""
    monitor = run.loop_monitor
    if monitor is None or not run.window_closed.is_set():
        return None
    start, end = run.window_start, run.window_end
    inside = [step for step in monitor.long_steps if step.at < end and step.end > start]
    longest = max(inside, key=lambda step: step.seconds, default=None)
    return ClientLoopFigures(
        steps=run.loop_steps_at_close - run.loop_steps_at_open,
        over_5ms=sum(step.seconds > 0.005 for step in inside),
        over_50ms=sum(step.seconds > 0.05 for step in inside),
        longest_ms=None if longest is None else longest.seconds * 1000,
        longest_task=None if longest is None else longest.task,
    )


def _plain(instance: object, field: object, value: object) -> object:
    """Settings as JSON-ready values (paths as strings)."""
    del instance, field
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)
