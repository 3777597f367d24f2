"""The ``c4actors`` command: ``c4actors serve`` runs the server."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio

import c4actors
from c4actors import logs
from c4actors.actors.lobby import DEFAULT_LIST_LIMIT
from c4actors.actors.user import ConnectionSettings
from c4actors.analysis_quota import DEFAULT_ANALYSES_PER_HOUR
from c4actors.chat_rules import DEFAULT_AFTER_GAME_SECONDS, ChatSettings
from c4actors.cluster.node import Role, run_node
from c4actors.cluster.supervisor import ClusterStartError, Supervisor, stop_when_orphaned
from c4actors.compute_pool import DEFAULT_ANALYSIS_WORKERS, DEFAULT_BOT_WORKERS, PoolSettings
from c4actors.forwarded import ForwardedHeader, TrustedProxies, parse_networks
from c4actors.game_state import DEFAULT_MOVE_TIMEOUT
from c4actors.loadtest.command import add_loadtest_arguments, run_loadtest
from c4actors.lobby_state import (
    DEFAULT_INVITATION_TIMEOUT,
    DEFAULT_MAX_GAMES_PER_MINUTE,
    DEFAULT_REMATCH_TIMEOUT,
)
from c4actors.migrate_command import add_migrate_arguments, run_migrate
from c4actors.move_gate import DEFAULT_MOVE_BUDGET
from c4actors.server import RunningServer, ServerSettings, run_server, stop_on_signal
from c4actors.server_process import ReadyInfo, write_ready_file
from c4actors.sessions import SECRET_ENV, load_secret
from c4actors.solve_command import (
    add_analyse_arguments,
    add_solve_arguments,
    run_analyse,
    run_solve,
)
from c4actors.spectators import DEFAULT_MAX_SPECTATORS, DEFAULT_MAX_WATCHING
from c4actors.store import StoreError
from c4actors.store.postgres import DEFAULT_POOL_SIZE, is_postgres_url
from c4actors.throttle import REGISTRATIONS_PER_ADDRESS
from c4actors.time_controls import (
    DEFAULT_FIRST_MOVE_SECONDS,
    MIN_BASE_SECONDS,
    TimeControlRules,
)
from c4actors.web import WebSettings
from protocol.codec import DEFAULT_MAX_MESSAGE_BYTES

log = logging.getLogger("c4actors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="c4actors", description="Real-time multi-user Connect Four server."
    )
    parser.add_argument("--version", action="version", version=f"c4actors {c4actors.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server (page, JSON endpoints, WebSocket)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    serve.add_argument(
        "--grace",
        type=_non_negative,
        default=20.0,
        help="seconds a player who dropped mid-game has to come back (0 forfeits at once)",
    )
    serve.add_argument(
        "--move-timeout",
        type=_non_negative,
        default=DEFAULT_MOVE_TIMEOUT,
        help="seconds the player to move has in an untimed game before losing on time "
        "(the game is aborted instead if not both players have moved yet; 0: no limit; "
        "default: %(default)s)",
    )
    serve.add_argument(
        "--invitation-timeout",
        type=_non_negative,
        default=DEFAULT_INVITATION_TIMEOUT,
        help="seconds an invitation waits for an answer before it expires "
        "(0: it never expires; default: %(default)s)",
    )
    serve.add_argument(
        "--rematch-timeout",
        type=_non_negative,
        default=DEFAULT_REMATCH_TIMEOUT,
        help="seconds a rematch offer on the result screen waits for an answer "
        "(0: it never expires; default: %(default)s)",
    )
    serve.add_argument(
        "--chat",
        choices=("on", "off"),
        default="on",
        help="let the two players of a game chat (default: %(default)s)",
    )
    serve.add_argument(
        "--chat-after",
        type=_non_negative,
        default=DEFAULT_AFTER_GAME_SECONDS,
        metavar="SECONDS",
        help="seconds the players may still chat once their game is over (default: %(default)s)",
    )
    serve.add_argument(
        "--first-move-seconds",
        type=_non_negative,
        default=DEFAULT_FIRST_MOVE_SECONDS,
        help="seconds each player of a timed game has for their first move, after which the "
        "game is aborted (default: %(default)s)",
    )
    serve.add_argument(
        "--min-base-seconds",
        type=_non_negative,
        default=MIN_BASE_SECONDS,
        help="shortest base time a challenge's time control may have (default: %(default)s; "
        "lower it only to test games lost on time quickly)",
    )
    serve.add_argument(
        "--max-spectators",
        type=_positive_int,
        default=DEFAULT_MAX_SPECTATORS,
        help="spectators one game may have (default: %(default)s)",
    )
    serve.add_argument(
        "--max-watching",
        type=_positive_int,
        default=DEFAULT_MAX_WATCHING,
        help="games one connection may watch at once (default: %(default)s)",
    )
    serve.add_argument(
        "--bot-workers",
        type=_positive_int,
        default=DEFAULT_BOT_WORKERS,
        help="worker processes computing the computer's moves (default: %(default)s)",
    )
    serve.add_argument(
        "--analysis-workers",
        type=_positive_int,
        default=DEFAULT_ANALYSIS_WORKERS,
        help="worker processes analysing games (default: %(default)s)",
    )
    serve.add_argument(
        "--analyses-per-hour",
        type=_positive_int,
        default=DEFAULT_ANALYSES_PER_HOUR,
        help="analyses one user may have computed per hour (default: %(default)s)",
    )
    serve.add_argument(
        "--bot-seed",
        type=int,
        default=None,
        help="make the computer reproducible: each of its moves is seeded from N, its level "
        "and the moves so far, so the same moves replay the same game (tests, demos; "
        "default: random)",
        metavar="N",
    )
    serve.add_argument(
        "--lobby-tick",
        type=_non_negative,
        default=0.05,
        help="seconds over which lobby changes are coalesced into one update (0: send each)",
    )
    serve.add_argument(
        "--lobby-list-limit",
        type=_non_negative_int,
        default=DEFAULT_LIST_LIMIT,
        help="users listed in the lobby, the first to connect; the others are counted and "
        "can be challenged by name (0: list everyone; default: %(default)s)",
    )
    serve.add_argument(
        "--db",
        default="c4actors.sqlite3",
        help="SQLite database file, or postgresql://USER@HOST[:PORT]/DB; created or migrated "
        "on start (default: %(default)s)",
    )
    serve.add_argument(
        "--db-pool-size",
        type=_positive_int,
        default=DEFAULT_POOL_SIZE,
        metavar="N",
        help="connections to a PostgreSQL --db (default: %(default)s)",
    )
    serve.add_argument(
        "--secret",
        default=None,
        help=f"key that signs session cookies (default: ${SECRET_ENV}, else a file beside --db)",
    )
    serve.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept WebSocket upgrades and API changes from this origin, e.g. "
        "https://example.org "
        "(repeatable; the server's own host is always accepted)",
    )
    serve.add_argument(
        "--websocket-compression",
        action="store_true",
        help="negotiate permessage-deflate when a client offers it, with 4 KiB windows, no "
        "state kept between messages and the size limit enforced while inflating "
        "(default: off; it costs CPU and memory for messages of a few hundred bytes)",
    )
    tls = serve.add_argument_group("TLS and reverse proxies")
    tls.add_argument(
        "--certfile",
        default=None,
        metavar="PEM",
        help="serve HTTPS and wss:// with this certificate chain (needs --keyfile); "
        "session cookies are then Secure",
    )
    tls.add_argument("--keyfile", default=None, metavar="PEM", help="the certificate's key")
    tls.add_argument(
        "--forwarded-allow-ips",
        action="append",
        default=[],
        metavar="ADDRESSES",
        help="proxies to trust, e.g. 127.0.0.1 or 10.0.0.0/8 (comma-separated or repeated; "
        "default: none): only from these is the client's address and scheme taken from the "
        "forwarding headers",
    )
    tls.add_argument(
        "--forwarded-header",
        default=ForwardedHeader.X_FORWARDED.value,
        choices=[header.value for header in ForwardedHeader],
        help="which headers the trusted proxies set: X-Forwarded-For and X-Forwarded-Proto, "
        "or Forwarded (default: %(default)s)",
    )
    limits = serve.add_argument_group("limits (0 disables a limit)")
    limits.add_argument(
        "--max-message-bytes",
        type=_non_negative_int,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help="%(default)s",
    )
    limits.add_argument(
        "--rate", type=float, default=20.0, help="messages/s per connection (%(default)s)"
    )
    limits.add_argument("--burst", type=float, default=40.0, help="burst size (%(default)s)")
    limits.add_argument(
        "--max-connections", type=int, default=20_000, help="per server (%(default)s)"
    )
    limits.add_argument(
        "--max-per-address", type=int, default=2_000, help="per client address (%(default)s)"
    )
    limits.add_argument(
        "--max-games-per-minute",
        type=_non_negative_int,
        default=DEFAULT_MAX_GAMES_PER_MINUTE,
        help="games one connection may start per minute (%(default)s)",
    )
    limits.add_argument(
        "--registrations-per-address",
        type=_non_negative_int,
        default=REGISTRATIONS_PER_ADDRESS,
        help="accounts one client address may register per hour (%(default)s)",
    )
    limits.add_argument(
        "--handshake-timeout",
        type=_non_negative,
        default=10.0,
        help="seconds to send new_connection (%(default)s)",
    )
    limits.add_argument(
        "--body-timeout",
        type=_non_negative,
        default=10.0,
        help="seconds for an HTTP request body to arrive, else 408 and closed (%(default)s)",
    )
    serve.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="once listening, write the bound address as JSON to PATH "
        "(host, port, http_url, ws_url, pid): how scripts learn a --port 0 server's port",
    )
    cluster = serve.add_argument_group("cluster (one lobby across processes, through Redis)")
    cluster.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="redis://HOST:PORT/DB (Valkey recommended): without --role, run one machine's "
        "cluster: a core, a standby and --workers edges sharing --port, supervised",
    )
    cluster.add_argument(
        "--workers",
        type=_positive_int,
        default=2,
        metavar="N",
        help="edges (processes serving the WebSockets) on this machine (default: %(default)s)",
    )
    cluster.add_argument(
        "--role",
        choices=("core", "edge"),
        default=None,
        help="run one process of a cluster (needs --redis): an edge (listens with "
        "SO_REUSEPORT), or a core (runs the lobby and the games once it holds the lease; a "
        "standby until then)",
    )
    serve.add_argument(
        "--loop-monitor",
        choices=("on", "off"),
        default="on",
        help="time every event-loop step: c4_loop_step_seconds on /metrics and a WARNING "
        "naming the task when one holds the loop 100 ms or more (default: %(default)s)",
    )
    serve.add_argument(
        "--move-budget",
        type=_non_negative,
        default=DEFAULT_MOVE_BUDGET,
        metavar="SECONDS",
        help="moves start only in the first SECONDS of each event-loop turn; later ones wait "
        "a turn, so at saturation the lobby (challenges, accepts) stays quick; 0: no limit "
        "(default: %(default)s)",
    )
    serve.add_argument(
        "--gc-tuning",
        choices=("on", "off"),
        default="on",
        help="once started, freeze the objects alive and run the garbage collector less "
        "often, so full collections stop stalling the loop (default: %(default)s)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="logging threshold",
    )
    serve.add_argument(
        "--log-format", default="text", choices=["text", "json"], help="log line format"
    )
    loadtest = commands.add_parser(
        "loadtest", help="simulate many players against a server and report figures"
    )
    add_loadtest_arguments(loadtest)
    migrate = commands.add_parser(
        "migrate",
        help="copy a SQLite database into an empty PostgreSQL one",
        description="Copy every account and game of a SQLite database into an empty "
        "PostgreSQL database, in one transaction. Stop the servers using the file first.",
    )
    add_migrate_arguments(migrate)
    solve = commands.add_parser(
        "solve",
        help="print a position's perfect-play verdict and every move's score, as JSON",
        description="The verdict for the side to move (win/draw/loss, plies to the end, "
        "Pons' score) and each legal move's verdict for the player making it.",
    )
    add_solve_arguments(solve)
    analyse = commands.add_parser(
        "analyse",
        help="print every move's perfect-play verdict and grade, as JSON",
        description="For each move of a game: the verdict before it, the best moves, the "
        "verdict after the move played, and a grade (best, inaccuracy, mistake, blunder).",
    )
    add_analyse_arguments(analyse)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, not {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, not {text!r}")
    return value


async def _serve(
    settings: ServerSettings,
    ready_file: Path | None,
    redis: str | None = None,
    role: Role | None = None,
) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_on_signal, stop)
        nursery.start_soon(stop_when_orphaned, stop)

        async def serve(*, task_status: trio.TaskStatus[RunningServer]) -> None:
            try:
                if redis is not None and role is not None:
                    await run_node(settings, role, redis, stop, task_status=task_status)
                else:
                    await run_server(settings, stop, task_status=task_status)
            finally:
                nursery.cancel_scope.cancel()  # the server has stopped: so does the signal task

        running: RunningServer = await nursery.start(serve)
        if ready_file is not None:
            write_ready_file(
                ready_file, ReadyInfo.listening(running.host, running.port, tls=running.tls)
            )


async def _supervise(supervisor: Supervisor, ready_file: Path | None) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_on_signal, stop)
        info = await nursery.start(supervisor.run, stop)
        if ready_file is not None:
            write_ready_file(ready_file, info)
        await stop.wait()


def _run_cluster(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """The parent of one machine's cluster (``c4actors.cluster.supervisor``)."""
    try:
        if not (args.secret or os.environ.get(SECRET_ENV) or is_postgres_url(args.db)):
            # Every process signs with the key in the file beside the database: made here,
            # once, before any of them starts (two making it at once could differ).
            load_secret(None, Path(args.db))
        supervisor = Supervisor(
            argv[argv.index("serve") + 1 :],
            host=args.host,
            port=args.port,
            workers=args.workers,
            tls=args.certfile is not None,
        )
        trio.run(_supervise, supervisor, args.ready_file)
    except (OSError, ClusterStartError, ExceptionGroup) as error:
        cause = _find(error, (OSError, ClusterStartError))
        if cause is None:
            raise
        log.error("cannot start the cluster: %s", cause)
        return 1
    return 0


def _find(error: BaseException, kinds: tuple[type[Exception], ...]) -> Exception | None:
    """The first exception of ``kinds`` in ``error``, possibly inside exception groups."""
    if isinstance(error, kinds):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if (found := _find(inner, kinds)) is not None:
                return found
    return None


def _store_error(error: BaseException) -> StoreError | None:
    """The ``StoreError`` that stopped the server, possibly inside exception groups."""
    if isinstance(error, StoreError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if (found := _store_error(inner)) is not None:
                return found
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if argv is None:
        argv = sys.argv[1:]
    args = parser.parse_args(argv)
    if args.command == "serve":
        if (args.certfile is None) != (args.keyfile is None):
            parser.error("--certfile and --keyfile go together")
        if args.role is not None and args.redis is None:
            parser.error("--role needs --redis")
        try:
            networks = parse_networks(args.forwarded_allow_ips)
        except ValueError as error:
            parser.error(f"--forwarded-allow-ips: {error}")
        logs.configure(args.log_level, args.log_format)
        settings = ServerSettings(
            host=args.host,
            port=args.port,
            grace_seconds=args.grace,
            move_timeout=args.move_timeout,
            first_move_seconds=args.first_move_seconds,
            time_controls=TimeControlRules(min_base_seconds=args.min_base_seconds),
            lobby_tick=args.lobby_tick,
            lobby_list_limit=args.lobby_list_limit or None,
            max_games_per_minute=args.max_games_per_minute or None,
            invitation_timeout=args.invitation_timeout or None,
            rematch_timeout=args.rematch_timeout or None,
            chat=ChatSettings(enabled=args.chat == "on", after_game_seconds=args.chat_after),
            max_spectators=args.max_spectators,
            max_watching=args.max_watching,
            compute=PoolSettings(
                bot=attrs.evolve(PoolSettings().bot, workers=args.bot_workers),
                analysis=attrs.evolve(PoolSettings().analysis, workers=args.analysis_workers),
            ),
            analyses_per_hour=args.analyses_per_hour,
            bot_seed=args.bot_seed,
            web=WebSettings(
                connection=ConnectionSettings(
                    max_message_bytes=args.max_message_bytes,
                    rate=args.rate,
                    burst=args.burst,
                    handshake_timeout=args.handshake_timeout,
                ),
                allowed_origins=tuple(args.allowed_origin),
                compression=args.websocket_compression,
                body_timeout=args.body_timeout,
                max_connections=args.max_connections,
                max_per_address=args.max_per_address,
                registrations_per_address=args.registrations_per_address,
            ),
            db_path=args.db,
            db_pool_size=args.db_pool_size,
            secret=args.secret,
            certfile=args.certfile,
            keyfile=args.keyfile,
            proxies=TrustedProxies(networks, ForwardedHeader(args.forwarded_header)),
            loop_monitor=args.loop_monitor == "on",
            tune_gc=args.gc_tuning == "on",
            move_budget=args.move_budget,
            reuse_port=args.role == "edge",
        )
        if is_postgres_url(args.db) and not (args.secret or os.environ.get(SECRET_ENV)):
            # No file beside the database to keep a key in, and every server sharing the
            # database must sign with the same key: a random one would log everyone out.
            log.error(
                "cannot start: with a PostgreSQL --db, give the session key with --secret or "
                "$%s (the same on every server sharing the database)",
                SECRET_ENV,
            )
            return 1
        if args.redis is not None and args.role is None:
            return _run_cluster(args, argv)
        try:
            trio.run(_serve, settings, args.ready_file, args.redis, args.role)
        except (StoreError, ExceptionGroup) as error:
            cause = _store_error(error)
            if cause is None:
                raise
            log.error("cannot start: %s", cause)
            return 1
        return 0
    if args.command == "loadtest":
        return run_loadtest(args)
    if args.command == "migrate":
        return run_migrate(args)
    if args.command == "solve":
        return run_solve(args)
    if args.command == "analyse":
        return run_analyse(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
