"""Assembles the running server: the lobby actor plus hypercorn serving the ASGI app.

``run_server`` is what ``c4actors serve`` and the tests both call, so the tests
exercise the real wiring on an ephemeral port.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Final, Protocol, cast

import attrs
import trio
from hypercorn.config import Config, Sockets
from hypercorn.typing import Framework
from hypercorn.utils import wrap_app

from c4actors import cleartext_http2, websocket_compression, websocket_direct, websocket_stream
from c4actors.actors.analyst import Analyst
from c4actors.actors.lobby import (
    DEFAULT_LIST_LIMIT,
    Audience,
    LobbyActor,
    LobbyInput,
    Shutdown,
)
from c4actors.actors.mailbox import Mailbox
from c4actors.analysis_quota import DEFAULT_ANALYSES_PER_HOUR, AnalysisQuota
from c4actors.chat_rules import ChatSettings
from c4actors.compute_pool import ComputePool, PoolSettings, open_compute_pool
from c4actors.forwarded import ForwardedLayer, TrustedProxies
from c4actors.game_state import DEFAULT_MOVE_TIMEOUT
from c4actors.gc_policy import (
    MIDDLE_EVERY,
    YOUNG_EVERY,
    CollectOnTime,
    timed_collections,
    tuned_gc,
)
from c4actors.limits import ConnectionLimits, DescriptorBudget, receive_limit
from c4actors.listener import ConnectionGate, raise_descriptor_limit, serve_tcp
from c4actors.lobby_state import (
    DEFAULT_INVITATION_TIMEOUT,
    DEFAULT_MAX_GAMES_PER_MINUTE,
    DEFAULT_REMATCH_TIMEOUT,
)
from c4actors.loop_monitor import LoopMonitor
from c4actors.metrics import Metrics
from c4actors.move_gate import DEFAULT_MOVE_BUDGET, GateCollector, MoveGate
from c4actors.sessions import SessionSigner, load_secret
from c4actors.spectators import DEFAULT_MAX_SPECTATORS, DEFAULT_MAX_WATCHING
from c4actors.store import Store, open_store
from c4actors.store.postgres import DEFAULT_POOL_SIZE, is_postgres_url
from c4actors.time_controls import DEFAULT_FIRST_MOVE_SECONDS, TimeControlRules
from c4actors.web import LobbyClient, WebLimits, WebSettings, create_app

log = logging.getLogger("c4actors.server")

TCP_OPTIONS: Final = (
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 10),
    (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 5),
    (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3),
    (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 30_000),
)
"""Set on the listening socket, inherited by every accepted one.  Keepalive notices a
vanished peer (a half-open connection) within about 25 s, which hypercorn's own pings do
not under Trio (hypercorn #210).  The user timeout ends a connection whose data has not
been acknowledged, or whose peer advertised a zero window (it stopped reading), for 30 s:
hypercorn shields its socket writes, so nothing else can end them."""


def open_listening_sockets(config: Config) -> Sockets:
    sockets = config.create_sockets()
    for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
        for level, option, value in TCP_OPTIONS:
            sock.setsockopt(level, option, value)
        sock.listen(config.backlog)
    return sockets


@attrs.frozen
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    grace_seconds: float = 20.0
    move_timeout: float = DEFAULT_MOVE_TIMEOUT
    """Seconds the player to move has in an untimed game before losing on time; 0: no limit."""
    first_move_seconds: float = DEFAULT_FIRST_MOVE_SECONDS
    """Seconds each player of a timed game has for their first move."""
    time_controls: TimeControlRules = attrs.field(factory=TimeControlRules)
    """The bounds of the time controls a challenge may ask for."""
    lobby_tick: float = 0.05
    lobby_list_limit: int | None = DEFAULT_LIST_LIMIT
    """Users listed in the lobby (the first to connect); None lists everyone."""
    max_games_per_minute: int | None = DEFAULT_MAX_GAMES_PER_MINUTE
    """Games one connection may start per minute; None: no cap."""
    invitation_timeout: float | None = DEFAULT_INVITATION_TIMEOUT
    """Seconds an invitation stays pending before it expires; None: forever."""
    rematch_timeout: float | None = DEFAULT_REMATCH_TIMEOUT
    """Seconds a rematch offer stays pending before it expires; None: forever."""
    chat: ChatSettings = attrs.field(factory=ChatSettings)
    """Whether games have a chat (``--chat``) and how long it outlives a game (``--chat-after``)."""
    max_spectators: int = DEFAULT_MAX_SPECTATORS
    """Spectators one game may have (``--max-spectators``)."""
    max_watching: int = DEFAULT_MAX_WATCHING
    """Games one connection may watch at once (``--max-watching``)."""
    web: WebSettings = attrs.field(factory=WebSettings)
    ping_interval: float | None = None
    """hypercorn's own WebSocket pings. Off: they do not detect a vanished peer under Trio
    (hypercorn #210) and keep each closed connection's task alive until the next ping."""
    shutdown_timeout: float = 3.0
    db_path: str = ":memory:"
    """The SQLite file (``c4actors serve`` defaults to ``./c4actors.sqlite3``), or a
    ``postgresql://`` URL."""
    db_pool_size: int = DEFAULT_POOL_SIZE
    """Connections in the pool of a PostgreSQL store."""
    secret: str | None = None
    """Signs session cookies; see ``sessions.load_secret`` for the fallbacks."""
    certfile: str | None = None
    """With ``keyfile``: serve HTTPS and ``wss://`` only (PEM certificate chain)."""
    keyfile: str | None = None
    proxies: TrustedProxies = attrs.field(factory=TrustedProxies)
    """Peers whose ``X-Forwarded-*`` / ``Forwarded`` headers are believed (``forwarded``)."""
    loop_monitor: bool = True
    """Time every event-loop step (``loop_monitor``): about 1.5 µs a step, so on by default."""
    move_budget: float = DEFAULT_MOVE_BUDGET
    """Seconds of each scheduler turn in which moves may start (``--move-budget``; 0: no
    limit): at saturation later moves wait a turn, so the lobby path stays quick
    (``move_gate``)."""
    tune_gc: bool = True
    """Freeze start-up objects and collect less often once started (``gc_policy``)."""
    collect_every: tuple[float, int] = (YOUNG_EVERY, MIDDLE_EVERY)
    """With ``tune_gc``: seconds between young collections on time, and every how many of
    them is a middle one (``gc_policy.CollectOnTime``; a cluster's edge collects less
    often: ``cluster.node``)."""
    reuse_port: bool = False
    """Listen with ``SO_REUSEPORT``, so several processes (a cluster's edges) share the port."""
    compute: PoolSettings = attrs.field(factory=PoolSettings)
    """The solver's worker processes: the computer's moves and the analyses (``compute_pool``)."""
    analyses_per_hour: int = DEFAULT_ANALYSES_PER_HOUR
    """Analyses one user may have computed per hour (``--analyses-per-hour``)."""
    bot_seed: int | None = None
    """``--bot-seed``: the computer's moves reproducible (``actors.computer.move_seed``)."""

    def __attrs_post_init__(self) -> None:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("TLS needs both a certificate file and a key file")

    @property
    def tls(self) -> bool:
        return self.certfile is not None


class LobbyBackend(Protocol):
    """What the web application talks to as its lobby: the lobby actor itself, or, in a
    cluster's edge, the relay to the core (``c4actors.cluster.edge``), which also gives
    the web application the limits it shares with the other edges (``web_limits``)."""

    @property
    def inbox_send(self) -> trio.MemorySendChannel[LobbyInput]: ...

    def web_limits(self, settings: WebSettings) -> WebLimits: ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...


class LobbyCompanion(Protocol):
    """A task beside the lobby actor that feeds its inbox (a cluster's core relay), and
    carries the lobby's broadcasts to their targets (``actors.lobby.Broadcaster``)."""

    move_gate: MoveGate | None
    """The lobby's move gate, given to the companion too (the core's relay hands the
    players' moves to their games and asks the gate for each)."""

    def broadcast(
        self, audience: Audience, frame: str, targets: list[Mailbox]
    ) -> list[Mailbox]: ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...


@attrs.frozen
class RunningServer:
    """What a started server tells its caller: where it listens."""

    host: str
    port: int
    lobby: LobbyClient
    store: Store
    tls: bool = False
    loop_monitor: LoopMonitor | None = None
    """The server's step timer (None with ``--loop-monitor off``): ``slowest()`` names the
    tasks that held the event loop longest."""
    analyst: Analyst | None = None
    """Computes and serves analyses (tests look at where its jobs ran)."""
    compute: ComputePool | None = None

    @property
    def http_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}/ws"


async def stop_on_signal(stop: trio.Event) -> None:
    """Set ``stop`` at the first SIGINT or SIGTERM (for ``run_server`` in a command)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("received %s", signal.Signals(signum).name)
            stop.set()
            return


async def run_server(
    settings: ServerSettings,
    stop: trio.Event | None = None,
    *,
    task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED,
    edge: Callable[[], LobbyBackend] | None = None,
    core: Callable[[trio.MemorySendChannel[LobbyInput]], LobbyCompanion] | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever), then shut down gracefully.

    Shutdown: every client gets ``error server_shutdown`` and a close 1001, then
    hypercorn stops accepting and waits up to ``shutdown_timeout`` for connections.

    In a cluster (``c4actors.cluster``): ``edge`` makes the lobby the web application
    talks to, instead of a lobby actor; ``core`` makes a task that runs beside this
    server's lobby actor, given its inbox.  Without either, one process serves alone.
    """
    if stop is None:
        stop = trio.Event()
    store = await open_store(settings.db_path, pool_size=settings.db_pool_size)
    try:
        await _serve(settings, stop, store, task_status, edge, core)
    finally:
        # Game actors saved their last results while being cancelled; now the file can close.
        with trio.CancelScope(shield=True):
            await store.aclose()
    log.info("server stopped")


async def _serve(
    settings: ServerSettings,
    stop: trio.Event,
    store: Store,
    task_status: trio.TaskStatus[RunningServer],
    edge: Callable[[], LobbyBackend] | None = None,
    core: Callable[[trio.MemorySendChannel[LobbyInput]], LobbyCompanion] | None = None,
) -> None:
    websocket_compression.install()
    cleartext_http2.install()  # HTTP/2 only over TLS (by ALPN), never in cleartext
    websocket_stream.install()
    websocket_direct.install()  # after websocket_stream's: its HTTP/1.1 class extends that one
    metrics = Metrics()
    async with open_compute_pool(settings.compute) as pool:
        await _serve_with(settings, stop, store, task_status, metrics, pool, edge, core)


async def _serve_with(
    settings: ServerSettings,
    stop: trio.Event,
    store: Store,
    task_status: trio.TaskStatus[RunningServer],
    metrics: Metrics,
    pool: ComputePool,
    edge: Callable[[], LobbyBackend] | None,
    core: Callable[[trio.MemorySendChannel[LobbyInput]], LobbyCompanion] | None,
) -> None:
    analyst = Analyst(store, pool, metrics, AnalysisQuota(settings.analyses_per_hour))
    no_file = settings.db_path == ":memory:" or is_postgres_url(settings.db_path)
    secret = load_secret(settings.secret, None if no_file else Path(settings.db_path))
    backend = None if edge is None else edge()
    # The gate holds the game actors' moves; an edge runs none (they are the core's), and
    # its instrument would only cost each of the edge's scheduler turns.
    gated = settings.move_budget > 0 and backend is None
    move_gate = MoveGate(settings.move_budget) if gated else None
    if move_gate is not None:
        metrics.registry.register(GateCollector(move_gate))
    lobby_actor = (
        backend
        if backend is not None
        else LobbyActor(
            store,
            metrics,
            grace_seconds=settings.grace_seconds,
            move_timeout=settings.move_timeout,
            first_move_seconds=settings.first_move_seconds,
            time_controls=settings.time_controls,
            tick=settings.lobby_tick,
            list_limit=settings.lobby_list_limit,
            max_games_per_minute=settings.max_games_per_minute,
            invitation_timeout=settings.invitation_timeout,
            rematch_timeout=settings.rematch_timeout,
            chat=settings.chat,
            max_spectators=settings.max_spectators,
            max_watching=settings.max_watching,
            compute=pool,
            bot_seed=settings.bot_seed,
            move_gate=move_gate,
        )
    )
    lobby = LobbyClient(lobby_actor.inbox_send)
    before, descriptor_limit = raise_descriptor_limit()
    budget = DescriptorBudget(descriptor_limit)
    web = attrs.evolve(
        settings.web,
        max_connections=budget.websocket_cap(settings.web.max_connections),
        max_http_requests=budget.http,
    )
    log.info(
        "descriptor limit %d (was %d): at most %d connections at once, %d of them WebSockets, "
        "%d HTTP requests in progress",
        descriptor_limit,
        before,
        budget.connections,
        web.max_connections,
        web.max_http_requests,
    )
    gate = ConnectionGate(
        ConnectionLimits(budget.connections, web.max_per_address), metrics, settings.proxies
    )
    signer = SessionSigner(secret)
    app = ForwardedLayer(
        create_app(
            lobby,
            web,
            store,
            signer,
            metrics,
            grace_seconds=settings.grace_seconds,
            time_controls=settings.time_controls,
            analyst=analyst,
            web_limits=None if backend is None else backend.web_limits(web),
        ),
        settings.proxies,
    )

    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.websocket_max_message_size = receive_limit(settings.web.connection.max_message_bytes)
    config.websocket_ping_interval = settings.ping_interval
    config.graceful_timeout = settings.shutdown_timeout
    config.backlog = 2048  # hypercorn's 100 drops connections when thousands arrive at once
    config.certfile = settings.certfile
    if settings.reuse_port:
        # hypercorn sets SO_REUSEPORT on the sockets it makes when it has several workers;
        # nothing else of ours reads ``workers`` (our processes are c4actors.cluster's).
        config.workers = 2
    config.keyfile = settings.keyfile

    async def shutdown_trigger() -> None:
        await stop.wait()
        log.info("shutting down: closing every connection")
        await lobby_actor.inbox_send.send(Shutdown())

    async with trio.open_nursery() as nursery:
        companion = None
        if core is not None:
            assert isinstance(lobby_actor, LobbyActor)  # a core has no edge relay
            companion = core(lobby_actor.inbox_send)
            lobby_actor.broadcast = companion.broadcast
            companion.move_gate = move_gate
        await nursery.start(lobby_actor.run)
        if companion is not None:
            await nursery.start(companion.run)
        await nursery.start(analyst.run)

        async def serve_http(*, task_status: trio.TaskStatus[list[str]]) -> None:
            try:
                # hypercorn's worker loop, on sockets with our TCP options, through the gate.
                await serve_tcp(
                    wrap_app(cast(Framework, app), config.wsgi_max_body_size, None),
                    config,
                    open_listening_sockets(config),
                    gate,
                    shutdown_trigger,
                    task_status=task_status,
                )
            finally:
                # hypercorn has closed every connection: the actors can stop now.
                nursery.cancel_scope.cancel()

        binds: list[str] = await nursery.start(serve_http)
        host, _, port = binds[0].partition("://")[2].rpartition(":")
        monitor = await nursery.start(_operate, settings, metrics, move_gate)
        running = RunningServer(
            host, int(port), lobby, store, settings.tls, monitor, analyst=analyst, compute=pool
        )
        log.info("listening on %s (WebSocket %s)", running.http_url, running.ws_url)
        task_status.started(running)


async def _operate(
    settings: ServerSettings,
    metrics: Metrics,
    move_gate: MoveGate | None = None,
    *,
    task_status: trio.TaskStatus[LoopMonitor | None],
) -> None:
    """Once the server has started: time every event-loop step and tune the garbage
    collector, until the server's nursery is cancelled (after hypercorn has closed every
    connection, so shutdown is still watched); then undo both, since a process embedding
    servers (the tests) lives on.  A task of its own, so the supervision stays in one place."""
    monitor = LoopMonitor(metrics.loop_step_seconds) if settings.loop_monitor else None
    with ExitStack() as undo:
        if monitor is not None:
            trio.lowlevel.add_instrument(monitor)
            undo.callback(trio.lowlevel.remove_instrument, monitor)
        if move_gate is not None:
            trio.lowlevel.add_instrument(move_gate)
            undo.callback(trio.lowlevel.remove_instrument, move_gate)
        undo.enter_context(timed_collections(metrics.gc_seconds))
        if settings.tune_gc:
            undo.enter_context(tuned_gc())
            on_time = CollectOnTime(*settings.collect_every)
            trio.lowlevel.add_instrument(on_time)
            undo.callback(trio.lowlevel.remove_instrument, on_time)
        task_status.started(monitor)
        await trio.sleep_forever()
