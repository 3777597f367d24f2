"""The load tester's reading of the server's step and gc histograms over its window
(``c4actors/loadtest/server_metrics.py``): the difference of two scrapes, bucket bounds as
percentiles, and a live server's ``/metrics`` read through a games run."""

from __future__ import annotations

from c4actors.loadtest import LoadSettings, run_load
from c4actors.loadtest.server_metrics import ServerLatency, loop_figures, metrics_url, parse
from tests.support import open_server

BOUNDS = ("0.001", "0.005", "0.01", "0.05", "1.0")


def histogram(counts: tuple[int, ...], gc_full: int, gc_seconds: float) -> str:
    """A ``/metrics`` text: step bucket counts (cumulative) and one gc generation."""
    lines = [
        f'c4_loop_step_seconds_bucket{{le="{b}"}} {c}.0'
        for b, c in zip(BOUNDS, counts, strict=True)
    ]
    lines += [
        f'c4_loop_step_seconds_bucket{{le="+Inf"}} {counts[-1]}.0',
        f"c4_loop_step_seconds_count {counts[-1]}.0",
        f'c4_gc_seconds_count{{generation="2"}} {gc_full}.0',
        f'c4_gc_seconds_sum{{generation="2"}} {gc_seconds}',
        "# HELP something else",
    ]
    return "\n".join(lines)


def test_the_window_is_the_difference_of_two_scrapes() -> None:
    before = parse(histogram((100, 100, 100, 100, 100), 1, 0.3))
    # 1,000 steps in the window: 985 under 1 ms, 10 under 5 ms, 4 under 10 ms, 1 under 1 s.
    after = parse(histogram((1085, 1095, 1099, 1099, 1100), 3, 0.9))
    figures = loop_figures(before, after)
    assert figures is not None
    assert figures.steps == 1000
    assert figures.p99_ms_at_most == 5.0  # 995 of 1,000 under 5 ms, 985 under 1 ms
    assert figures.p999_ms_at_most == 10.0
    assert figures.longest_ms_at_most == 1000.0
    assert (figures.over_5ms, figures.over_50ms) == (5, 1)
    assert figures.gc_collections == {"2": 2}
    assert figures.gc_seconds == {"2": 0.6}


def test_no_step_histogram_gives_no_figures() -> None:
    assert loop_figures(parse("echo_only 1.0"), parse("echo_only 2.0")) is None
    assert loop_figures(None, parse(histogram((1, 1, 1, 1, 1), 0, 0.0))) is None


def test_the_metrics_address_is_the_websockets_origin() -> None:
    assert metrics_url("ws://127.0.0.1:8000/ws") == "http://127.0.0.1:8000/metrics"
    assert metrics_url("wss://example.test/ws") == "https://example.test/metrics"


async def test_a_games_run_reports_the_servers_steps_in_its_window() -> None:
    async with open_server() as server:
        settings = LoadSettings(
            scenario="games", url=server.ws_url, quiet=True, concurrent=2, duration=1.0
        )
        summary = await run_load(settings)
    assert summary.ok, summary.error_examples
    loop = summary.server_loop
    assert loop is not None and loop.steps > 0
    assert loop.p99_ms_at_most is not None and loop.longest_ms_at_most is not None
    assert loop.p99_ms_at_most <= loop.longest_ms_at_most
    assert set(loop.gc_collections) == {"0", "1", "2"}
    # The server's own time per reply, from the same scrapes: every move of the window.
    assert loop.reply_move is not None and loop.reply_move.count > 0
    assert loop.reply_move.p99_ms_at_most is not None
    assert loop.lobby_wait is not None


def test_the_servers_reply_times_are_read_per_path() -> None:
    def text(move: tuple[int, int], lobby: tuple[int, int]) -> str:
        lines = [histogram((0, 0, 0, 0, 0), 0, 0.0)]
        for path, (fast, total) in (("move", move), ("lobby", lobby)):
            lines += [
                f'c4_reply_seconds_bucket{{le="0.001",path="{path}"}} {fast}.0',
                f'c4_reply_seconds_bucket{{le="0.25",path="{path}"}} {total}.0',
                f'c4_reply_seconds_bucket{{le="+Inf",path="{path}"}} {total}.0',
                f'c4_reply_seconds_count{{path="{path}"}} {total}.0',
            ]
        return "\n".join(lines)

    figures = loop_figures(parse(text((10, 10), (0, 0))), parse(text((110, 120), (0, 3))))
    assert figures is not None
    assert figures.reply_move == ServerLatency(110, 1.0, 250.0, 250.0)
    assert figures.reply_lobby == ServerLatency(3, 250.0, 250.0, 250.0)
    assert figures.lobby_wait is None, "no such histogram in these scrapes"
