"""``c4actors loadtest``: the options, and the entry point that runs one scenario.

Exit status: 0 when the run saw no error; 1 when any protocol error, unexpected close, wrong
board or result, missed update or timeout occurred (the summary lists them by kind).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import cast

import trio
from rich.console import Console

from c4actors.gc_policy import CollectOnTime, tuned_gc

from .figures import write_json
from .report import print_summary
from .runner import run_load
from .settings import SCENARIOS, Compression, LoadSettings, Scenario, Strategy


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, not {text!r}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, not {text!r}")
    return value


def _time_control(text: str) -> tuple[float, float]:
    """``BASE+INCREMENT`` in seconds, as the page writes presets (``300+2``)."""
    base, plus, increment = text.partition("+")
    try:
        control = (float(base), float(increment) if plus else 0.0)
    except ValueError:
        control = (0.0, -1.0)
    if not (control[0] > 0 and control[1] >= 0):
        raise argparse.ArgumentTypeError(f"must be BASE+INCREMENT in seconds, not {text!r}")
    return control


def add_loadtest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario",
        choices=SCENARIOS,
        help="games: pairs playing; idle: users doing nothing; churn: users coming and going "
        "while others watch the lobby; echo: round trips against bench/echo_server.py",
    )
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws", help="server WebSocket URL")
    parser.add_argument(
        "--also-url",
        action="append",
        default=[],
        metavar="URL",
        help="another server of the same cluster (an edge; repeatable): connections are "
        "spread over --url and these in turn, a game's two players on different ones",
    )
    size = parser.add_argument_group("size")
    size.add_argument("--concurrent", type=_count, default=10, help="games: games in flight")
    size.add_argument(
        "--connections", type=_count, default=100, help="idle, echo: connections (default 100)"
    )
    size.add_argument("--watchers", type=_count, default=100, help="churn: lobby watchers")
    size.add_argument("--join-rate", type=_positive, default=5.0, help="churn: joins per second")
    size.add_argument(
        "--lifetime", type=_non_negative, default=1.0, help="churn: seconds a newcomer stays"
    )
    length = parser.add_argument_group("length (a run always ends)")
    length.add_argument(
        "--duration",
        type=_positive,
        help="seconds measured after the ramp (default 10, or until --games are played)",
    )
    length.add_argument("--games", type=_count, help="games: stop after this many games")
    length.add_argument(
        "--warmup",
        type=_non_negative,
        default=0.0,
        help="seconds the traffic runs after the ramp before measuring starts, so that the "
        "window sees steady play rather than every game starting (default 0)",
    )
    length.add_argument(
        "--ramp-timeout",
        type=_positive,
        help="seconds after which measuring starts even if connections are still joining "
        "(a slow_ramp error; default 60 + 3 x connections / ramp)",
    )
    length.add_argument("--timeout", type=_positive, help="hard limit on the whole run, seconds")
    pace = parser.add_argument_group("pace")
    pace.add_argument(
        "--ramp", type=_positive, default=1000.0, help="new connections per second (default 1000)"
    )
    pace.add_argument("--think", type=_non_negative, default=0.0, help="seconds before each move")
    pace.add_argument(
        "--move-rate", type=_positive, help="open loop: moves per second per game (games)"
    )
    pace.add_argument(
        "--stagger",
        type=_non_negative,
        default=0.0,
        help="games: spread the pairs' first challenges evenly over this many seconds after "
        "the window opens, as real players never all start in the same millisecond "
        "(default 0: all at once)",
    )
    pace.add_argument(
        "--strategy", choices=["random", "heuristic"], default="heuristic", help="how bots play"
    )
    pace.add_argument(
        "--send-rate",
        type=_non_negative,
        default=20.0,
        help="most messages per second per connection, the server's default limit "
        "(default 20; 0: no cap, for a server started without the limit)",
    )
    pace.add_argument("--seed", type=int, default=1, help="seed of the bots' choices")
    pace.add_argument(
        "--time-control",
        type=_time_control,
        metavar="BASE+INC",
        help="games: timed games, BASE seconds each plus INC per move (the server's bounds)",
    )
    pace.add_argument(
        "--flag-after",
        type=_count,
        metavar="N",
        help="games: after N moves the player to move stops and lets the flag fall; "
        "reports how late each flag came (with --time-control)",
    )
    pace.add_argument(
        "--compression",
        choices=["browser", "off"],
        default="browser",
        help="browser: offer permessage-deflate as browsers always do, so the server's "
        "policy decides (--websocket-compression); off: offer no extension "
        "(default: %(default)s)",
    )
    measure = parser.add_argument_group("measurement and output")
    measure.add_argument(
        "--server-pid", type=int, help="local server's pid: report its CPU and memory (/proc)"
    )
    measure.add_argument(
        "--also-pid",
        type=int,
        action="append",
        default=[],
        metavar="PID",
        help="another local process of the server (a cluster's core or edge, redis-server; "
        "repeatable): its CPU and memory are reported too",
    )
    measure.add_argument(
        "--settle", type=_non_negative, default=1.0, help="idle: seconds before reading memory"
    )
    measure.add_argument(
        "--echo-server", action="store_true", help="idle: the target is the bare echo app"
    )
    measure.add_argument("--json", type=Path, dest="json_path", help="also write figures here")
    measure.add_argument("--quiet", action="store_true", help="no live progress display")
    measure.add_argument(
        "--abort-at-end",
        action="store_true",
        help="after the window, drop each connection with a TCP reset instead of the "
        "WebSocket close handshake (fast teardown of thousands of connections)",
    )
    # ``c4actors.cli.main`` configures logging from this for every command.
    measure.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="logging threshold (default warning)",
    )


def settings_from_args(args: argparse.Namespace) -> LoadSettings:
    return LoadSettings(
        scenario=cast(Scenario, args.scenario),
        url=args.url,
        concurrent=args.concurrent,
        connections=args.connections,
        watchers=args.watchers,
        join_rate=args.join_rate,
        lifetime=args.lifetime,
        duration=args.duration,
        games=args.games,
        warmup=args.warmup,
        abort_at_end=args.abort_at_end,
        timeout=args.timeout,
        ramp_timeout=args.ramp_timeout,
        ramp=args.ramp,
        think=args.think,
        move_rate=args.move_rate,
        stagger=args.stagger,
        send_rate=args.send_rate,
        compression=cast(Compression, args.compression),
        time_control=args.time_control,
        flag_after=args.flag_after,
        strategy=cast(Strategy, args.strategy),
        seed=args.seed,
        server_pid=args.server_pid,
        also_urls=tuple(args.also_url),
        also_pids=tuple(args.also_pid),
        settle=args.settle,
        echo_server=args.echo_server,
        json_path=args.json_path,
        quiet=args.quiet,
    )


def run_loadtest(args: argparse.Namespace) -> int:
    """Run the scenario, print the summary (and write ``--json``); 0 when error-free.

    With the server's collector policy (``c4actors.gc_policy``: start-up frozen, full
    collections held back, young and middle ones on time): the tester times every reply, and
    with CPython's defaults its own collections (full ones of 307 and 332 ms, young and middle
    ones of 50 ms and more, in the 1,000-game open loop) were in the figures (issue 17)."""
    settings = settings_from_args(args)
    with tuned_gc():
        summary = trio.run(run_load, settings, instruments=[CollectOnTime()])
    print_summary(summary, Console())
    if settings.json_path is not None:
        write_json(summary, settings.json_path)
    return 0 if summary.ok else 1
