"""Limits on plain HTTP requests: a deadline on the body, a cap on requests in progress, and a
client that gives up treated as the ordinary event it is.

Why: hypercorn times out slow headers (its 5 s idle timeout) but never a slow body: 300
connections sending a body a byte at a time were all still open after 25 s, and 1,050 such
uploads on a 1,024-descriptor limit stopped every join.  Each abandoned upload also surfaced as
Starlette's ``ClientDisconnect`` escaping the app, which hypercorn logs as an ERROR with a
traceback.

``RequestLimits`` wraps the HTTP application (WebSockets do not pass through it):

- **Body deadline.** From the start of a request, its body must have arrived within
  ``body_timeout`` seconds.  Only the app's waits for the body are bounded (a handler that
  reads nothing, or waits for a disconnect after the body, is not); when the deadline passes
  during such a wait, the app is cancelled, the client gets ``408`` (if no response started)
  and hypercorn closes the connection, whose body was never read to the end.
- **Requests in progress.** At most ``max_requests`` at once (the HTTP share of the
  descriptor budget); beyond, ``503`` with ``Retry-After`` at once.
- **A client that gives up** (``http.disconnect`` while the app reads the body) ends the
  request with one INFO line.
"""

from __future__ import annotations

import logging
import math
from typing import Final

import trio
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from c4actors.metrics import Metrics

log = logging.getLogger("c4actors.http")

RETRY_AFTER_SECONDS: Final = 5


class RequestLimits:
    """ASGI middleware applying the module docstring's limits to HTTP requests."""

    def __init__(
        self, app: ASGIApp, *, body_timeout: float, max_requests: int, metrics: Metrics
    ) -> None:
        self.app = app
        self.body_timeout = body_timeout
        """Seconds for a request's body to arrive (0: no limit)."""
        self.max_requests = max_requests
        """Requests in progress at once (0: no limit)."""
        self.metrics = metrics
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        if self.max_requests and self.in_progress >= self.max_requests:
            log.warning("http request refused address=%s: too many requests in progress", address)
            self.metrics.refused.labels("http_503").inc()
            response = JSONResponse(
                {"error": "server_busy", "message": "too many requests in progress, try again"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await response(scope, receive, send)
            return
        self.in_progress += 1
        try:
            await self._serve(scope, receive, send, address)
        finally:
            self.in_progress -= 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send, address: str) -> None:
        deadline = trio.current_time() + self.body_timeout if self.body_timeout else math.inf
        body_done = False
        gave_up = False
        started = False

        with trio.CancelScope() as request:

            async def receive_body() -> Message:
                nonlocal body_done, gave_up
                if body_done:
                    return await receive()
                request.deadline = deadline  # only while the app waits for the body
                try:
                    message = await receive()
                finally:
                    request.deadline = math.inf
                if message["type"] == "http.disconnect":
                    gave_up = body_done = True
                elif not message.get("more_body", False):
                    body_done = True
                return message

            async def send_tracked(message: Message) -> None:
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            try:
                await self.app(scope, receive_body, send_tracked)
            except ClientDisconnect:
                if not gave_up:
                    raise
        where = f"method={scope['method']} path={scope['path']} address={address}"
        if request.cancelled_caught:
            log.info("http request body too slow: closed %s", where)
            self.metrics.refused.labels("http_408").inc()
            if not started:
                with trio.move_on_after(1):
                    await JSONResponse(
                        {"error": "timeout", "message": "request body too slow"},
                        status_code=408,
                        headers={"Connection": "close"},
                    )(scope, receive, send)
        elif gave_up:
            log.info("http request abandoned by the client %s", where)
