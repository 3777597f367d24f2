"""The live progress display: one small table, redrawn four times a second on stderr.

Drawn from the Trio task that owns the stats (``Live`` is driven with ``auto_refresh`` off, so
rich starts no thread of its own), and cheap: a handful of counters and the p99 of the latency
samples recorded since the previous redraw.  ``--quiet`` turns it off.
"""

from __future__ import annotations

from typing import Final

import trio
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .loadrun import LoadRun

REFRESH_SECONDS: Final = 0.25
_OPERATION_NAMES: Final = {
    "games": "moves/s",
    "echo": "round trips/s",
    "churn": "deliveries/s",
    "idle": "ops/s",
}


def _phase(run: LoadRun) -> str:
    if not run.traffic_open.is_set():
        return "ramping up"
    if not run.window_open.is_set():
        return "warming up"
    if not run.window_closed.is_set():
        return f"measuring {run.window_seconds:5.1f} s"
    return "winding down"


def render(run: LoadRun, operations_per_s: float, p99: float | None) -> Table:
    stats = run.stats
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    columns = ["phase", "connections", "games in flight"]
    columns += [_OPERATION_NAMES[run.settings.scenario], "p99 (ms)", "errors"]
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row(
        _phase(run),
        f"{stats.connections_open:,}/{run.settings.connection_count:,}",
        f"{stats.games_in_flight:,}",
        f"{operations_per_s:,.0f}",
        "-" if p99 is None else f"{p99 * 1000:,.1f}",
        f"{stats.errors.total():,}",
    )
    return table


async def show_progress(run: LoadRun, console: Console | None = None) -> None:
    """Redraw until cancelled."""
    console = console or Console(stderr=True)
    stats = run.stats
    last_operations, last_at = stats.operations, trio.current_time()
    with Live(
        render(run, 0.0, None),
        console=console,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as live:
        while True:
            await trio.sleep(REFRESH_SECONDS)
            now = trio.current_time()
            operations_per_s = (stats.operations - last_operations) / (now - last_at)
            last_operations, last_at = stats.operations, now
            live.update(render(run, operations_per_s, stats.latency.recent_p99()), refresh=True)
