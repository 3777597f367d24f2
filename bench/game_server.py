"""The game server as the benchmarks start it: ``run_server`` with the flood limits lifted.

``c4actors serve`` caps every connection at 20 messages per second and every client address
at 2,000 connections: a load tester on one machine exceeds both by design.  This runs the very
same server (``c4actors.server.run_server``, same defaults otherwise, a SQLite file in a fresh
temporary directory as ``c4actors serve`` would use) with:

* the rate limit set so high it never drops a message, so its per-message cost is still paid;
* no connection caps;
* no cap on the games a connection starts per minute (a pair of bots plays faster);
* the open-file limit raised to the hard limit;
* logging at ``warning`` (``info`` logs every connection and game).

``--loop-report PATH`` writes the event-loop instrument's longest steps and the task of each
when the server stops; ``--min-base-seconds`` lowers the shortest base time of a timed game
(the timed-games benchmark lets flags fall within seconds).

With ``--ready-file PATH`` it writes its address there once listening, as ``c4actors serve``
does (``c4actors.server_process``); it also prints ``listening on http://H:P (WebSocket
ws://H:P/ws)`` for a person at a terminal.  It serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import trio

from c4actors.actors.lobby import DEFAULT_LIST_LIMIT
from c4actors.actors.user import ConnectionSettings
from c4actors.loadtest.runner import raise_open_file_limit
from c4actors.loop_monitor import LoopMonitor
from c4actors.server import RunningServer, ServerSettings, run_server, stop_on_signal
from c4actors.server_process import ReadyInfo, write_ready_file
from c4actors.time_controls import MIN_BASE_SECONDS, TimeControlRules
from c4actors.web import WebSettings

log = logging.getLogger("bench.game_server")


def web_settings() -> WebSettings:
    """``WebSettings()`` with the flood limits lifted: the rate limit so high it never drops
    a message (its per-message cost is still paid), and no connection caps."""
    return WebSettings(
        connection=ConnectionSettings(rate=1e9, burst=1e9),
        max_connections=0,
        max_per_address=0,
    )


async def serve(
    host: str,
    port: int,
    lobby_tick: float,
    list_limit: int,
    grace: float,
    db_path: Path,
    ready_file: Path | None,
    loop_report: Path | None = None,
    min_base_seconds: float = MIN_BASE_SECONDS,
) -> None:
    settings = ServerSettings(
        host=host,
        port=port,
        grace_seconds=grace,
        lobby_tick=lobby_tick,
        lobby_list_limit=list_limit or None,
        web=web_settings(),
        max_games_per_minute=None,
        db_path=str(db_path),
        time_controls=TimeControlRules(min_base_seconds=min_base_seconds),
    )
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_on_signal, stop)
        running: RunningServer = await nursery.start(run_server, settings, stop)
        if ready_file is not None:
            write_ready_file(ready_file, ReadyInfo.listening(running.host, running.port))
        print(f"listening on {running.http_url} (WebSocket {running.ws_url})", flush=True)
        await stop.wait()
        if loop_report is not None and running.loop_monitor is not None:
            write_loop_report(loop_report, running.loop_monitor)


def write_loop_report(path: Path, monitor: LoopMonitor) -> None:
    """The instrument's longest steps and the task that ran each, as JSON, for the suite."""
    slowest = [{"seconds": step.seconds, "task": step.task} for step in monitor.slowest()]
    path.write_text(json.dumps({"steps": monitor.steps, "slowest": slowest}, indent=1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--lobby-tick", type=float, default=0.05)
    parser.add_argument(
        "--lobby-list-limit", type=int, default=DEFAULT_LIST_LIMIT, help="0: list everyone"
    )
    parser.add_argument("--grace", type=float, default=20.0)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--ready-file", type=Path, help="write the address here once listening")
    parser.add_argument(
        "--min-base-seconds",
        type=float,
        default=MIN_BASE_SECONDS,
        help="shortest base time a timed game may ask for (the timed-games benchmark's flags)",
    )
    parser.add_argument(
        "--loop-report", type=Path, help="at exit, write the longest event-loop steps here (JSON)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    raise_open_file_limit(1 << 20)
    with tempfile.TemporaryDirectory(prefix="c4bench-") as directory:
        db_path = Path(directory) / "c4actors.sqlite3"
        limit = args.lobby_list_limit
        options = (args.lobby_tick, limit, args.grace, db_path, args.ready_file, args.loop_report)
        trio.run(serve, args.host, args.port, *options, args.min_base_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
