"""Accepting TCP connections: hypercorn's trio worker loop, with a gate in front of it.

Why our own loop: ``hypercorn.trio.run.worker_serve`` accepts every connection the kernel
hands it.  Past the process's descriptor limit, ``accept`` fails and trio retries every
100 ms, so every newcomer waits in the backlog until it times out (1,050 connections from one
address made ``/healthz`` and every join time out).  Here each accepted connection passes
``ConnectionGate`` first: within the budget it is served by hypercorn's ``TCPServer`` as
before (``websocket_direct.DirectTCPServer``, which also takes direct writes); beyond it,
it gets an immediate ``503`` (or ``429`` over the per-address cap) and is closed, using one
of the descriptors ``DescriptorBudget`` keeps in reserve for this.

TLS (``--certfile``/``--keyfile``): the gate sees the plain TCP stream, before any TLS
handshake, so a refused connection costs no handshake unless it is answered: the refusal is
sent over TLS (the handshake bounded by the same short timeout), since a TLS client cannot
read a cleartext one.  An accepted stream is wrapped in ``trio.SSLStream`` for hypercorn,
which then negotiates HTTP/2 or HTTP/1.1 by ALPN.

A trusted proxy (``--forwarded-allow-ips``) carries many clients' connections: the
per-address cap does not apply to its own address here (the total cap still does); the web
layer applies it to the client address the proxy forwarded.

Resource handling: the gate counts a connection from its accept to the end of its handler,
and the handler always closes its stream, so the count is the number of sockets open.
Shutdown is hypercorn's: stop accepting, then give connections ``graceful_timeout``.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import ssl
from collections.abc import Awaitable, Callable
from functools import partial

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper, ConnectionState, LifespanState
from hypercorn.utils import ShutdownError, raise_shutdown, repr_socket_addr

from c4actors.forwarded import TrustedProxies
from c4actors.limits import ConnectionLimits
from c4actors.metrics import Metrics
from c4actors.websocket_direct import DirectTCPServer

log = logging.getLogger("c4actors.listener")

REFUSAL_SEND_TIMEOUT = 1.0
"""A refusal is a few dozen bytes into an empty socket buffer: it never waits in practice."""


class ConnectionGate:
    """Counts open TCP connections; serves them within ``limits`` and refuses the others."""

    def __init__(
        self,
        limits: ConnectionLimits,
        metrics: Metrics,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        self.proxies = proxies or TrustedProxies()

    async def serve(
        self,
        stream: trio.SocketStream,
        handler: Callable[[trio.abc.Stream], Awaitable[None]],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Serve ``stream`` with ``handler`` (over TLS when ``ssl_context`` is given), or
        refuse it."""
        try:
            address = str(stream.socket.getpeername()[0])
        except OSError:  # already reset by the peer
            await stream.aclose()
            return
        refusal = self.limits.refusal(address, per_address=not self.proxies.trusts(address))
        if refusal is not None:
            status, reason = refusal
            log.warning("connection refused address=%s status=%d: %s", address, status, reason)
            self.metrics.refused.labels(f"tcp_{status}").inc()
            await _refuse(_over_tls(stream, ssl_context), status, reason)
            return
        self.limits.open(address)
        try:
            await handler(_over_tls(stream, ssl_context))
        finally:
            self.limits.close(address)
            # TCPServer closes its stream; this covers a handler that failed before it could.
            with trio.CancelScope(shield=True):
                await stream.aclose()

    @property
    def open(self) -> int:
        return self.limits.count


def _over_tls(stream: trio.SocketStream, ssl_context: ssl.SSLContext | None) -> trio.abc.Stream:
    if ssl_context is None:
        return stream
    # https_compatible: HTTP clients often close without a TLS close_notify (as trio's own
    # ``SSLListener`` is used by hypercorn).
    return trio.SSLStream(stream, ssl_context, server_side=True, https_compatible=True)


async def _refuse(stream: trio.abc.Stream, status: int, reason: str) -> None:
    body = reason.encode()
    phrase = "Service Unavailable" if status == 503 else "Too Many Requests"
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nretry-after: 5\r\nconnection: close\r\n\r\n"
    )
    with (
        trio.move_on_after(REFUSAL_SEND_TIMEOUT),
        contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
    ):
        # Over TLS, the handshake happens here, within the same bound.
        await stream.send_all(head.encode() + body)
    with trio.CancelScope(shield=True):
        await stream.aclose()


async def serve_tcp(
    app: AppWrapper,
    config: Config,
    sockets: Sockets,
    gate: ConnectionGate,
    shutdown_trigger: Callable[[], Awaitable[None]],
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """``hypercorn.trio.run.worker_serve`` for TCP sockets, through ``gate``: the sockets
    are ``sockets.secure_sockets`` (served over TLS) when ``config`` has a certificate,
    ``sockets.insecure_sockets`` otherwise."""
    lifespan_state: LifespanState = {}
    lifespan = Lifespan(app, config, lifespan_state)
    context = WorkerContext(None)
    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as server_nursery:
            ssl_context = config.create_ssl_context()
            scheme = "http" if ssl_context is None else "https"
            listening = sockets.insecure_sockets if ssl_context is None else sockets.secure_sockets
            listeners = []
            binds = []
            for sock in listening:
                listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
                binds.append(f"{scheme}://{repr_socket_addr(sock.family, sock.getsockname())}")
            connection = partial(
                DirectTCPServer, app, config, context, ConnectionState(lifespan_state.copy())
            )

            async def handle(stream: trio.SocketStream) -> None:
                await gate.serve(stream, connection, ssl_context)

            task_status.started(binds)
            try:
                async with trio.open_nursery(strict_exception_groups=True) as nursery:
                    nursery.start_soon(raise_shutdown, shutdown_trigger)
                    nursery.start_soon(raise_shutdown, context.terminate.wait)
                    nursery.start_soon(
                        partial(
                            trio.serve_listeners,
                            handle,
                            listeners,
                            handler_nursery=server_nursery,
                        )
                    )
                    await trio.sleep_forever()
            except BaseExceptionGroup as error:
                _, other_errors = error.split((ShutdownError, KeyboardInterrupt))
                if other_errors is not None:
                    raise other_errors from None
            finally:
                await context.terminated.set()
                server_nursery.cancel_scope.deadline = trio.current_time() + config.graceful_timeout
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()


DESCRIPTOR_CEILING = 1 << 20
"""Used instead of an unlimited hard limit (the kernel's ``nr_open`` default)."""


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit: (the soft limit before, after).

    The usual soft limit, 1,024, is far below the connections a server is configured for,
    while the hard limit is what an unprivileged process may use.  Failing to raise it is
    not an error: the budget is then derived from the limit as it is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = DESCRIPTOR_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as error:
            log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, target, error)
            return soft, soft
        return soft, target
    effective = DESCRIPTOR_CEILING if soft == resource.RLIM_INFINITY else soft
    return effective, effective
