"""The shared state of one run: settings, live stats, the measured window and its samples.

A run has three phases.  Ramp-up: every long-lived connection is opened (paced by the
``Ramp``) and joins the lobby.  The window: once every connection attempt has finished, the
scenario's traffic starts and is measured, until ``--duration`` runs out or the game count is
reached.  Wind-down: clients finish what they are doing and close.  Only the window counts
towards rates and latencies, so a slow ramp does not dilute the figures.  With ``--warmup S``
the traffic starts at the end of the ramp and the window opens S seconds later (the games
scenario waits for ``traffic_open``): a thousand games all starting at once are then behind
the window, not in it.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from typing import Final

import trio

from c4actors.loop_monitor import LoopMonitor

from . import procfs, server_metrics
from .failures import RampCutShort, classify
from .frames import FrameDecoder
from .metrics import RunStats
from .pacing import Ramp
from .settings import DRAIN_SECONDS, LoadSettings

LOG_STEPS_OVER: Final = 0.005
"""The load tester's own task steps logged with their time (``LoopMonitor.long_steps``)."""


def open_loop_monitor(settings: LoadSettings) -> LoopMonitor | None:
    """A ``LoopMonitor`` for the load tester's own loop in an open loop, else None.

    An open loop's figure is its tail, and the tester's long steps are what to rule out
    there.  Not in a closed loop: its figure is throughput, the tester is often the
    bottleneck, and Trio's dispatch of two hooks per step costs it a few percent."""
    if settings.scenario != "games" or settings.move_rate is None:
        return None
    return LoopMonitor(clock=trio.current_time, warn_after=math.inf, log_over=LOG_STEPS_OVER)


class LoadRun:
    """See the module docstring.  Everything here lives in the one Trio thread."""

    def __init__(self, settings: LoadSettings, loop_monitor: LoopMonitor | None = None) -> None:
        self.settings = settings
        self.loop_monitor = loop_monitor
        """The load tester's own step timer, installed by the caller (``open_loop_monitor``)."""
        self.loop_steps_at_open = 0
        self.loop_steps_at_close = 0
        self.stats = RunStats()
        self.decoder = FrameDecoder()
        self.ramp = Ramp(settings.ramp, settings.max_connecting)
        self.rng = random.Random(settings.seed)
        self.traffic_open = trio.Event()
        """Set when the scenario's traffic starts: with the window, or ``--warmup`` s before."""
        self.traffic_start = 0.0
        self.window_open = trio.Event()
        self.window_closed = trio.Event()
        self.ramp_started = trio.current_time()
        self.ramp_seconds: float | None = None
        """From the first connection attempt until the last one finished; None if it never did."""
        self.window_start = 0.0
        self.window_end = 0.0
        self._settled = 0
        self._active = 0
        self._all_done = trio.Event()
        self._client_cpu_at_open = 0.0
        self.client_cpu_share: float | None = None
        self.client_at_open: procfs.ProcessSample | None = None
        self.client_at_close: procfs.ProcessSample | None = None
        self.server_at_start: procfs.ProcessSample | None = None
        self.server_at_open: procfs.ProcessSample | None = None
        self.server_at_close: procfs.ProcessSample | None = None
        self.metrics_at_open: server_metrics.Samples | None = None
        self.metrics_at_close: server_metrics.Samples | None = None
        """The server's ``/metrics`` around the window (``server_metrics``; games only)."""
        if settings.server_pid is not None:
            self.server_at_start = procfs.sample(settings.server_pid, time.monotonic())
        self.others_at_start = [procfs.sample(pid, time.monotonic()) for pid in settings.also_pids]
        self.others_at_open: list[procfs.ProcessSample] = []
        self.others_at_close: list[procfs.ProcessSample] = []
        """``also_pids``' samples, in their order."""

    @property
    def measuring(self) -> bool:
        """True inside the window, where operations and latencies count."""
        return self.window_open.is_set() and not self.window_closed.is_set()

    def connection_settled(self) -> None:
        """One long-lived connection attempt finished (joined or failed).

        The window opens when all of them have, i.e. at the end of the ramp.
        """
        self._settled += 1
        if self._settled == self.settings.connection_count:
            self.ramp_seconds = trio.current_time() - self.ramp_started
            self._start_traffic()
            if self.settings.warmup <= 0:
                self.open_window()

    def _start_traffic(self) -> None:
        if not self.traffic_open.is_set():
            self.traffic_start = trio.current_time()
            self.traffic_open.set()

    def open_window(self) -> None:
        if self.window_open.is_set():
            return
        self._start_traffic()
        self.window_start = trio.current_time()
        self._client_cpu_at_open = time.process_time()
        self.client_at_open = procfs.sample(os.getpid(), time.monotonic())
        if self.loop_monitor is not None:
            self.loop_steps_at_open = self.loop_monitor.steps
        if self.settings.server_pid is not None:
            self.server_at_open = procfs.sample(self.settings.server_pid, time.monotonic())
        self.others_at_open = [procfs.sample(p, time.monotonic()) for p in self.settings.also_pids]
        self.window_open.set()

    def close_window(self) -> None:
        if self.window_closed.is_set():
            return
        if not self.window_open.is_set():
            self.open_window()
        self.window_end = trio.current_time()
        elapsed = self.window_end - self.window_start
        if elapsed > 0:
            self.client_cpu_share = (time.process_time() - self._client_cpu_at_open) / elapsed
        self.client_at_close = procfs.sample(os.getpid(), time.monotonic())
        if self.loop_monitor is not None:
            self.loop_steps_at_close = self.loop_monitor.steps
        if self.settings.server_pid is not None:
            self.server_at_close = procfs.sample(self.settings.server_pid, time.monotonic())
        self.others_at_close = [
            procfs.sample(pid, time.monotonic()) for pid in self.settings.also_pids
        ]
        self.window_closed.set()

    @property
    def window_seconds(self) -> float:
        if not self.window_open.is_set():
            return 0.0
        end = self.window_end if self.window_closed.is_set() else trio.current_time()
        return max(end - self.window_start, 0.0)

    def fail(self, error: BaseException) -> None:
        """Count an expected kind of failure; anything else is a bug and propagates."""
        if isinstance(error, RampCutShort):
            return
        classified = classify(error)
        if classified is None:
            raise error
        self.stats.errors.add(*classified)

    def client_started(self) -> None:
        """Call before starting a client task that ends with ``client_finished``."""
        self._active += 1

    def client_finished(self) -> None:
        """A client task ended; once none is left the window closes (nothing to measure)."""
        self._active -= 1
        if self._active <= 0:
            self.close_window()
            self._all_done.set()

    async def run_until_window_closes(self) -> None:
        """Close the window ``--duration`` after it opens, or wait for the scenario to."""
        with trio.move_on_after(self.settings.ramp_limit):
            await self.traffic_open.wait()
        ramped = self.traffic_open.is_set()
        if not ramped:
            self.stats.errors.add(
                "slow_ramp",
                f"{self._settled:,} of {self.settings.connection_count:,} connection attempts "
                f"done after {self.settings.ramp_limit:.0f} s: measuring without the rest",
            )
            self._start_traffic()
        if not self.window_open.is_set():  # the warm-up (a game count may end it sooner)
            with trio.move_on_at(self.traffic_start + self.settings.warmup):
                await self.window_closed.wait()
            self.open_window()
        scraping = self.settings.scenario == "games"
        if scraping and ramped:
            self.metrics_at_open = await server_metrics.scrape(self.settings.url)
        window = self.settings.window
        with trio.move_on_after(math.inf if window is None else window):
            await self.window_closed.wait()
        self.close_window()
        if scraping and self.metrics_at_open is not None:
            self.metrics_at_close = await server_metrics.scrape(self.settings.url)

    async def drive(self, start_clients: Callable[[trio.Nursery], None]) -> None:
        """Run the clients ``start_clients`` starts through the window, then wind down.

        Clients get ``DRAIN_SECONDS`` after the window closes to finish; any still busy
        then are cancelled and counted as one ``timeout`` error.
        """
        async with trio.open_nursery() as nursery:
            start_clients(nursery)
            await self.run_until_window_closes()
            with trio.move_on_after(DRAIN_SECONDS):
                await self._all_done.wait()
            if not self._all_done.is_set():
                stuck = f"{self._active} clients still busy {DRAIN_SECONDS:.0f} s after the end"
                self.stats.errors.add("timeout", stuck)
                nursery.cancel_scope.cancel()
