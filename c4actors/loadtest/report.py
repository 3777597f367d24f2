"""The final summary table: the figures of a ``Summary``, for people."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .figures import Summary
from .metrics import LatencySummary


def latency_text(latency: LatencySummary | None) -> str:
    if latency is None:
        return "-"
    return (
        f"p50 {latency.p50_ms:,.2f}  p90 {latency.p90_ms:,.2f}  "
        f"p99 {latency.p99_ms:,.2f}  max {latency.max_ms:,.2f} ms  (n={latency.count:,})"
    )


def _send_rate(value: object) -> str:
    if isinstance(value, int | float) and value > 0:
        return f"{value:g} messages/s per connection"
    return "none"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%} of a core"


def _waiting(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%} of the window (run queue)"


def _optional(value: float | None, unit: str, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f} {unit}"


def summary_rows(summary: Summary) -> list[tuple[str, str]]:
    """``(figure, value)`` rows, scenario section first."""
    rows: list[tuple[str, str]] = []
    if summary.games is not None:
        games = summary.games
        loop = "closed loop" if games.move_rate is None else f"{games.move_rate:g} moves/s/game"
        rows += [
            ("Games in flight", f"{games.concurrent:,} ({loop})"),
            ("Moves/s", f"{games.moves_per_s:,.0f} ({games.moves:,} moves)"),
            ("Games/s", f"{games.games_per_s:,.1f} ({games.games:,} games)"),
            ("Moves per game", _optional(games.mean_moves_per_game, "", 1)),
            ("Move round trip", latency_text(games.move_latency)),
            (
                "... once all playing",
                latency_text(games.settled_move_latency)
                + (
                    ""
                    if games.all_playing_after_s is None
                    else f", from {games.all_playing_after_s:,.2f} s"
                ),
            ),
            ("Game ends", ", ".join(f"{k} {v:,}" for k, v in games.ends.items()) or "-"),
        ]
        if games.move_rate is not None:
            rows.append(("Schedule slips", f"{games.schedule_slips:,}"))
        if games.time_control is not None:
            base, increment = games.time_control
            rows.append(("Time control", f"{base:g}+{increment:g}"))
        if games.flag_lateness is not None:
            rows.append(("Flag lateness", latency_text(games.flag_lateness)))
            rows.append(("... upper bound", latency_text(games.flag_lateness_bound)))
        if games.tester_delay is not None:
            rows.append(("Tester's own delay", latency_text(games.tester_delay)))
        for index, move in enumerate(games.slowest_moves, 1):
            step = (
                "no tester step over 5 ms"
                if move.tester_longest_step_ms is None
                else f"tester's longest step {move.tester_longest_step_ms:,.1f} ms "
                f"({move.tester_longest_step_task})"
            )
            rows.append(
                (
                    f"Slowest move {index}",
                    f"{move.round_trip_ms:,.1f} ms at {move.at_s:,.2f} s; tester got it "
                    f"{move.tester_delay_ms:,.1f} ms after it arrived; {step}",
                )
            )
        rows += [
            ("Challenge -> started", latency_text(games.start_latency)),
            (
                "Longest idle pair",
                _optional(games.longest_idle_s, "s", 2)
                + f" ({games.pairs_idle_over_1s:,} pairs idle > 1 s)",
            ),
        ]
    if summary.echo is not None:
        echo = summary.echo
        rows += [
            ("Echo connections", f"{echo.connections:,}"),
            ("Round trips/s", f"{echo.round_trips_per_s:,.0f} ({echo.round_trips:,})"),
            ("Round trip", latency_text(echo.latency)),
        ]
    if summary.idle is not None:
        idle = summary.idle
        rows += [
            ("Idle connections", f"{idle.connected:,} of {idle.connections:,}"),
            ("All connected in", _optional(idle.connect_all_seconds, "s", 2)),
            ("Server memory/connection", _optional(idle.rss_per_connection_kib, "KiB", 1)),
            ("Received/connection", f"{idle.bytes_per_connection:,.0f} bytes in the window"),
        ]
    if summary.churn is not None:
        churn = summary.churn
        rows += [
            ("Watchers", f"{churn.watchers:,}"),
            ("Joins / leaves", f"{churn.joins:,} / {churn.leaves:,} ({churn.join_rate:g}/s)"),
            ("Join -> one watcher", latency_text(churn.delivery_latency)),
            ("Join -> every watcher", latency_text(churn.all_watchers_latency)),
            ("Bytes/watcher/join", _optional(churn.bytes_per_watcher_per_join, "", 0)),
            ("Bytes/watcher/change", _optional(churn.bytes_per_watcher_per_change, "", 0)),
            ("Undelivered joins", f"{churn.undelivered:,}"),
        ]
    rows += [
        (
            "Connections",
            f"{summary.connections_opened:,} opened, {summary.connections_target:,} "
            f"long-lived, ramp {_optional(summary.ramp_seconds, 's', 2)}",
        ),
        ("Handshake", latency_text(summary.handshake)),
        ("Send-rate cap", _send_rate(summary.settings.get("send_rate"))),
        ("Window", f"{summary.window_seconds:,.2f} s"),
        ("Load tester CPU", _share(summary.client_cpu_share)),
        ("Load tester waiting for a CPU", _waiting(summary.client_cpu_wait_share)),
    ]
    if summary.client_loop is not None:
        tester = summary.client_loop
        longest = (
            "none over 5 ms"
            if tester.longest_ms is None
            else f"longest {tester.longest_ms:,.1f} ms ({tester.longest_task})"
        )
        rows.append(
            (
                "Load tester loop steps",
                f"{tester.steps:,}; {tester.over_5ms:,} over 5 ms, "
                f"{tester.over_50ms:,} over 50 ms; {longest}",
            )
        )
    if summary.server is not None:
        server = summary.server
        rows += [
            ("Server CPU", _share(server.cpu_share)),
            ("Server waiting for a CPU", _waiting(server.cpu_wait_share)),
            (
                "Server RSS",
                f"start {_optional(server.rss_kib_start, 'KiB', 0)}, all connected "
                f"{_optional(server.rss_kib_open, 'KiB', 0)}, end "
                f"{_optional(server.rss_kib_close, 'KiB', 0)}",
            ),
        ]
    if summary.server_loop is not None:
        window = summary.server_loop
        gc = ", ".join(
            f"gen{g} {n:,} ({window.gc_seconds.get(g, 0.0) * 1000:,.0f} ms)"
            for g, n in window.gc_collections.items()
        )
        rows += [
            (
                "Server loop steps",
                f"{window.steps:,}; p99 <= {_optional(window.p99_ms_at_most, 'ms', 2)}, "
                f"p99.9 <= {_optional(window.p999_ms_at_most, 'ms', 2)}, longest <= "
                f"{_optional(window.longest_ms_at_most, 'ms', 0)}; {window.over_5ms:,} over 5 ms, "
                f"{window.over_50ms:,} over 50 ms",
            ),
            ("Server collections", gc or "-"),
        ]
        served = [
            (label, figures)
            for label, figures in (
                ("Server reply time, move", window.reply_move),
                ("Server reply time, lobby", window.reply_lobby),
                ("Lobby inbox wait", window.lobby_wait),
            )
            if figures is not None and figures.count
        ]
        rows += [
            (
                label,
                f"p50 <= {_optional(figures.p50_ms_at_most, 'ms', 2)}, p99 <= "
                f"{_optional(figures.p99_ms_at_most, 'ms', 2)}, max <= "
                f"{_optional(figures.max_ms_at_most, 'ms', 0)} (n={figures.count:,})",
            )
            for label, figures in served
        ]
    if summary.errors:
        for kind, count in sorted(summary.errors.items()):
            rows.append((f"ERROR {kind}", f"{count:,}: {summary.error_examples.get(kind, '')}"))
    else:
        rows.append(("Errors", "none"))
    return rows


def print_summary(summary: Summary, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"c4actors loadtest {summary.scenario} -> {summary.url}")
    table.add_column("Figure", style="bold")
    table.add_column("Value", overflow="fold")
    for figure, value in summary_rows(summary):
        style = "red" if figure.startswith("ERROR") else None
        table.add_row(figure, value, style=style)
    console.print(table)
