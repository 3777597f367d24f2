"""The ASGI application: the page, static files, JSON endpoints and the WebSocket.

HTTP goes through Starlette (routing, static files with ETags, JSON responses).
The WebSocket at ``/ws`` is handled by raw ASGI, the hot path: each connection
becomes a ``UserActor`` running in the task hypercorn gives it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import logging
from pathlib import Path
from typing import Any, Final

import attrs
import cattrs
import trio
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

import c4actors
from c4actors import websocket_direct
from c4actors.accounts import AccountsApi
from c4actors.actors.analyst import Analyst
from c4actors.actors.lobby import (
    LobbyInput,
    LobbyStats,
    OnlineQuery,
    SnapshotQuery,
    StatsQuery,
)
from c4actors.actors.user import ConnectionSettings, UserActor
from c4actors.http_security import BrowserGuard, origin_allowed
from c4actors.limits import ConnectionLimits, receive_limit
from c4actors.lobby_state import ColorChanged
from c4actors.metrics import Metrics
from c4actors.page_config import page_config
from c4actors.request_limits import RequestLimits
from c4actors.sessions import COOKIE_NAME, SessionSigner
from c4actors.store import Store, StoreError
from c4actors.throttle import REGISTRATIONS_PER_ADDRESS, LoginThrottle, RegistrationLimit
from c4actors.time_controls import TimeControlRules
from c4actors.websocket_compression import CompressionPolicy, use_policy
from protocol.codec import converter as protocol_converter
from protocol.messages import UserInfo

log = logging.getLogger("c4actors.web")


def find_www_dir() -> Path:
    """The folder of the page's files: the package ``c4actors.www``, wherever it is installed.

    A wheel holds it inside ``c4actors/``; an editable install maps it to the repository's
    top-level ``www/``.  An editable install made before that mapping existed finds no such
    package: then the checkout's own folder is used, so an old development venv keeps working.
    """
    spec = importlib.util.find_spec("c4actors.www")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    checkout = Path(__file__).resolve().parent.parent / "www"
    if checkout.is_dir():
        return checkout
    raise RuntimeError("the page's files (package c4actors.www) are not installed")


WWW_DIR: Final = find_www_dir()
NO_CACHE: Final = {"Cache-Control": "no-cache"}
"""The page and its files change with each release and have no hashed names: always
revalidate (cheap, thanks to ETag / Last-Modified) rather than serve stale code."""

PAGE_PATHS: Final = ("/game/{game_id}", "/players/{name}", "/replay/{game_id}", "/leaderboard")
"""The page's own addresses besides ``/`` (www/routes.js): each answers with the page, so a
reload or a copied address opens the same view; any other path is 404."""

_unstructure = cattrs.Converter().unstructure
_unstructure_user = protocol_converter.get_unstructure_hook(UserInfo)
"""A row as the protocol writes it (``time_control`` only on a seeker's row)."""


@attrs.frozen(kw_only=True)
class WebSettings:
    connection: ConnectionSettings = attrs.field(factory=ConnectionSettings)
    """What each connection's user actor allows (inbox, handshake time, size and rate)."""
    max_connections: int = 20_000
    max_per_address: int = 2_000
    max_http_requests: int = 0
    """HTTP requests in progress at once (0: no limit; the server sets the descriptor budget's
    HTTP share)."""
    body_timeout: float = 10.0
    """Seconds for an HTTP request's body to arrive (0: no limit)."""
    registrations_per_address: int = REGISTRATIONS_PER_ADDRESS
    """Accounts one client address may register per hour (0: no limit)."""
    www_dir: Path = WWW_DIR
    compression: bool = False
    """Negotiate permessage-deflate (bounded: see ``websocket_compression``) when offered."""
    allowed_origins: tuple[str, ...] = ()
    """Origins (``https://example.org``) allowed to open the WebSocket and to change things
    through the API besides the server's own host. Requests without an ``Origin``
    (non-browser clients) are always allowed (``http_security``)."""


class LobbyClient:
    """How request handlers talk to the lobby actor: only through its inbox."""

    def __init__(self, inbox: trio.MemorySendChannel[LobbyInput]) -> None:
        self.inbox = inbox

    async def snapshot(self) -> list[UserInfo]:
        send, receive = trio.open_memory_channel[list[UserInfo]](1)
        await self.inbox.send(SnapshotQuery(send))
        return await receive.receive()

    async def stats(self) -> LobbyStats:
        send, receive = trio.open_memory_channel[LobbyStats](1)
        await self.inbox.send(StatsQuery(send))
        return await receive.receive()

    async def is_online(self, name: str) -> bool:
        """Whether anyone is online (or away in a game) under ``name``, listed or not."""
        send, receive = trio.open_memory_channel[bool](1)
        await self.inbox.send(OnlineQuery(name, send))
        return await receive.receive()

    async def color_changed(self, change: ColorChanged) -> None:
        await self.inbox.send(change)


class _AsgiSocket:
    """Adapts one ASGI WebSocket connection to the ``Socket`` protocol of the user actor."""

    __slots__ = ("_receive", "_send", "closed")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.closed = False

    async def receive(self) -> str | bytes | None:
        while not self.closed:
            message = await self._receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                return text if text is not None else message.get("bytes") or b""
            if kind == "websocket.disconnect":
                self.closed = True
        return None

    async def send(self, text: str) -> None:
        if self.closed:
            return
        try:
            await self._send({"type": "websocket.send", "text": text})
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            # The peer is gone (reset); hypercorn reports the disconnect to ``receive``.
            self.closed = True

    async def close(self, code: int, reason: str) -> None:
        """Send our close frame, then wait for the peer's (the closing handshake; the caller
        bounds the wait).  Meanwhile what the peer still sends is read and dropped
        (``ClosingWSStream``): returning at once let hypercorn close the TCP connection
        with unread data, which the kernel answers with a reset that can make a client still
        sending (a flooder closed with 1008) lose our close frame and its reason."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
                while (await self._receive())["type"] != "websocket.disconnect":
                    pass


@attrs.define
class WebLimits:
    """The limits the web application keeps: failed logins, registrations per address,
    WebSockets in total and per address.  One server's own (``local``), or a cluster
    edge's replicas of what every edge records (``c4actors.cluster.shared_limits``)."""

    throttle: LoginThrottle
    registrations: RegistrationLimit
    connections: ConnectionLimits

    @classmethod
    def local(cls, settings: WebSettings) -> WebLimits:
        return cls(
            LoginThrottle(),
            RegistrationLimit(settings.registrations_per_address),
            ConnectionLimits(settings.max_connections, settings.max_per_address),
        )


def create_app(
    lobby: LobbyClient,
    settings: WebSettings,
    store: Store,
    signer: SessionSigner,
    metrics: Metrics,
    *,
    grace_seconds: float,
    time_controls: TimeControlRules | None = None,
    analyst: Analyst | None = None,
    web_limits: WebLimits | None = None,
) -> ASGIApp:
    """The whole application: ``/ws`` to the actors, everything else to Starlette.

    ``grace_seconds`` is the lobby's grace period, which the page is told (``/api/config``)."""
    conn_ids = itertools.count(1)
    www = settings.www_dir
    if web_limits is None:
        web_limits = WebLimits.local(settings)
    accounts = AccountsApi(
        store,
        signer,
        lobby.color_changed,
        lobby.is_online,
        throttle=web_limits.throttle,
        registrations=web_limits.registrations,
    )
    limits = web_limits.connections
    compression = CompressionPolicy(
        settings.compression, receive_limit(settings.connection.max_message_bytes)
    )

    async def index(request: Request) -> Response:
        return FileResponse(www / "index.html", headers=NO_CACHE)

    config = page_config(grace_seconds=grace_seconds, time_controls=time_controls)

    async def config_endpoint(request: Request) -> Response:
        return JSONResponse(config, headers=NO_CACHE)

    async def userlist(request: Request) -> Response:
        users = await lobby.snapshot()
        return JSONResponse([_unstructure_user(user) for user in users])

    async def healthz(request: Request) -> Response:
        # A server whose database fails cannot let anyone join: it is not healthy.
        try:
            await store.ping()
        except StoreError as error:
            log.warning("healthz: the store failed: %s", error)
            status, code = "store_unavailable", 503
        else:
            status, code = "ok", 200
        stats = await lobby.stats()
        return JSONResponse(
            {"status": status, "version": c4actors.__version__, **_unstructure(stats)},
            status_code=code,
        )

    async def metrics_endpoint(request: Request) -> Response:
        stats = await lobby.stats()
        metrics.users.set(stats.users)
        metrics.games_active.set(stats.games)
        metrics.lobby_inbox.set(lobby.inbox.statistics().current_buffer_used)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    starlette = Starlette(
        routes=[
            Route("/", index),
            *(Route(path, index) for path in PAGE_PATHS),
            Route("/userlist", userlist),
            Route("/api/config", config_endpoint),
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint),
            *accounts.routes(),
            Mount("/static", app=_NoCacheStatic(directory=www), name="static"),
        ]
    )
    # Security headers on every response; cross-site API writes refused before any handler;
    # then the body deadline and the cap on requests in progress.
    limited = RequestLimits(
        starlette,
        body_timeout=settings.body_timeout,
        max_requests=settings.max_http_requests,
        metrics=metrics,
    )
    http = BrowserGuard(limited, settings.allowed_origins)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await http(scope, receive, send)
            return
        if scope["path"] != "/ws":
            await send({"type": "websocket.close", "code": 1008, "reason": "unknown path"})
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if not origin_allowed(scope, settings.allowed_origins):
            log.info("websocket refused: origin not allowed")
            metrics.refused.labels("origin").inc()
            await _refuse(send, 403, "origin not allowed")
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        refusal = limits.refusal(address)
        if refusal is not None:
            status, reason = refusal
            log.warning("websocket refused address=%s status=%d: %s", address, status, reason)
            metrics.refused.labels(str(status)).inc()
            await _refuse(send, status, reason)
            return
        session = signer.session(HTTPConnection(scope).cookies.get(COOKIE_NAME))
        limits.open(address)
        try:
            use_policy(compression)  # read by hypercorn while it accepts, in this task
            await send({"type": "websocket.accept"})
            actor = UserActor(
                next(conn_ids),
                _AsgiSocket(receive, send),
                lobby.inbox,
                store,
                metrics,
                settings.connection,
                session=session,
                analyst=analyst,
                direct=websocket_direct.current_writer(),
            )
            await actor.run()
        finally:
            limits.close(address)

    return app


async def _refuse(send: Send, status: int, reason: str) -> None:
    """Refuse a WebSocket handshake with an HTTP status and a plain-text reason."""
    body = reason.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


class _NoCacheStatic(StaticFiles):
    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(NO_CACHE)
        return response
